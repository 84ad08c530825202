"""Where things live (platformdirs) and the shared TOML settings file.

Environment overrides (all optional):

* ``THERABAK_DATA_DIR``     the practice's ``Data`` folder
* ``THERABAK_ACCOUNT_KEY``  the account key file (default: ``account.key`` beside ``Data``)
* ``THERABAK_CONFIG``       the settings file
                            (default: ``<user config dir>/therabak/settings.toml``)
* ``THERABAK_RULES``        a user rules file (default: ``rules.toml`` beside the settings file)
* ``THERABAK_STATE_DIR``    job logs and backup history (default: platformdirs user state dir)
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from therabak.errors import ConfigError
from therabak.fsutil import followed_root, write_private
from therabak.i18n import (
    LANGUAGE_CHOICES,
    N_,
    SOURCE_LANGUAGE,
    _,
    option_value,
    set_language,
)

APP_NAME = "therabak"
PRACTICE_APP = "TheraPsy"


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(PRACTICE_APP, appauthor=False)) / "Data"


@dataclass(frozen=True)
class PracticePaths:
    data_dir: Path
    account_key: Path

    @classmethod
    def resolve(
        cls, data_dir: str | os.PathLike | None = None, account_key: str | os.PathLike | None = None
    ) -> PracticePaths:
        data = Path(data_dir or os.environ.get("THERABAK_DATA_DIR") or default_data_dir())
        data = data.expanduser().absolute()
        key = account_key or os.environ.get("THERABAK_ACCOUNT_KEY")
        key_path = Path(key) if key else data.parent / "account.key"  # beside the name given
        # A data folder that is a link (moved to another disk and linked back) is the
        # folder it leads to: every job works there, and a restore keeps the link.
        return cls(followed_root(data), key_path.expanduser().absolute())


def config_file() -> Path:
    env = os.environ.get("THERABAK_CONFIG")
    if env:
        return Path(env)
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "settings.toml"


def user_rules_file() -> Path | None:
    env = os.environ.get("THERABAK_RULES")
    if env:
        return Path(env)
    candidate = config_file().parent / "rules.toml"
    return candidate if candidate.exists() else None


def state_dir() -> Path:
    env = os.environ.get("THERABAK_STATE_DIR")
    if env:
        return Path(env)
    return Path(platformdirs.user_state_dir(APP_NAME, appauthor=False))


RETRY_POLICIES = ("raw", "skip", "abort")


@dataclass
class RetrySettings:
    attempts: int = 5
    initial_delay_s: float = 0.5
    max_delay_s: float = 8.0
    on_failure: str = "raw"


@dataclass
class AutoSettings:
    interval_hours: float = 24.0
    folder: str = ""  # empty: "TheraPsy-Auto-Backups" beside Data
    keep_daily: int = 7
    keep_weekly: int = 4
    keep_monthly: int = 6


@dataclass
class S3Settings:
    """[s3]: where an S3-compatible provider is (the AWS_* variables win, see README)."""

    endpoint: str = ""  # e.g. "https://s3.eu-central-003.backblazeb2.com"; empty: AWS
    region: str = ""  # empty: AWS_REGION, AWS_DEFAULT_REGION, else "us-east-1"
    path_style: bool | None = None  # None: botocore decides (virtual-hosted where it can)


@dataclass
class RemoteSettings:
    """[remote]: how patient therabak is with a remote destination."""

    tries: int = 8
    initial_delay_s: float = 0.5
    max_delay_s: float = 30.0
    timeout_s: float = 30.0


@dataclass
class DestinationEntry:
    """One ``[[destination]]``: a place backups go to, by the name people give it.

    *where* is a folder or a URL (``s3://``, ``sftp://``, ``webdav(s)://``) and never
    holds a secret (credentials live in the credential store, see
    ``therabak.storage.credentials``); *limit_upload* is a rate as people write it
    (``2M``, ``500k``: bytes per second; empty: no limit). ``therabak.destinations``
    turns an entry into a storage."""

    name: str
    where: str
    limit_upload: str = ""


#: A URL that carries a password (``scheme://user:secret@host``): never in the settings.
_URL_WITH_PASSWORD = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@]*:[^/@]*@")


def parse_rate(text: str) -> int | None:
    """Bytes per second in a rate written by a person (``2M``, ``500k``, ``2M/s``,
    ``64000``; K/M/G are powers of 1024, KB/MB/GB powers of 1000); None for "" (no
    limit). ValueError (a translated message) for anything else, and for zero."""
    from therabak.formatting import parse_size

    text = text.strip()
    if not text:
        return None
    if text.lower().endswith("/s"):
        text = text[:-2]
    try:
        value = parse_size(text)
    except ValueError:
        raise ValueError(
            _("not an upload rate: {text} (e.g. 2M or 500k, bytes per second)").format(
                text=repr(text)
            )
        ) from None
    if value < 1024:
        raise ValueError(_("an upload limit must be at least 1k (1024 bytes per second)"))
    return value


def check_destination_where(where: str) -> str | None:
    """Why *where* cannot be a destination's place in the settings file, or None.
    (The full check of a URL is ``therabak.storage.url.parse_location``.)"""
    if not where.strip():
        return _("is empty")
    if _URL_WITH_PASSWORD.match(where.strip()):
        return _(
            "holds a password; it never goes into the settings file (therabak remote login "
            "keeps it in the credential store)"
        )
    return None


@dataclass
class Settings:
    remembered_destinations: list[str] = field(default_factory=list)
    searched_folders: list[str] = field(default_factory=list)  # searched for restore points
    destinations: list[DestinationEntry] = field(default_factory=list)  # [[destination]]
    reminder_days: int = 14
    language: str = "auto"  # [ui] language: "auto" (from the system), "de" or "en"
    auto: AutoSettings = field(default_factory=AutoSettings)
    retry: RetrySettings = field(default_factory=RetrySettings)
    s3: S3Settings = field(default_factory=S3Settings)
    remote: RemoteSettings = field(default_factory=RemoteSettings)
    path: Path | None = None

    # ---- load / save -----------------------------------------------------------

    @classmethod
    def load(cls, path: Path | None = None) -> Settings:
        path = path or config_file()
        try:
            text = path.read_text("utf-8")
        except FileNotFoundError:
            return cls(path=path)
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(
                _("Settings file {path} cannot be read: {error}").format(path=path, error=e)
            ) from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(
                _("Settings file {path} is broken: {error}").format(path=path, error=e)
            ) from None
        settings = cls(path=path)
        settings._apply(data, text, path)
        return settings

    def _apply(self, data: dict, text: str, path: Path) -> None:
        """Take the settings from the parsed file *data* (*text* names a bad key's line);
        ConfigError naming the first thing that is wrong, in the file's section order."""
        f = _SettingsFile(text, path)
        _check_sections(data, f)
        self.remembered_destinations, self.searched_folders = _folders(
            data.get("destinations", {}), f
        )
        self.destinations = _destination_entries(data.get("destination", []), f.fail)
        ui = data.get("ui", {})
        self.language = f.get(
            ui,
            "ui",
            "language",
            str,
            "auto",
            lambda v: v in LANGUAGE_CHOICES,
            _('must be "auto", "de" or "en"'),
        )
        rem = data.get("reminder", {})
        self.reminder_days = f.get(rem, "reminder", "days", int, 14, lambda v: 1 <= v <= 365)
        self.auto = _auto_settings(data.get("auto", {}), f)
        self.retry = _retry_settings(data.get("retry", {}), f)
        self.s3 = _s3_settings(data.get("s3", {}), f)
        self.remote = _remote_settings(data.get("remote", {}), f)

    def to_toml(self) -> str:
        def q(s: str) -> str:
            return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

        dests = ", ".join(q(d) for d in self.remembered_destinations)
        searched = ", ".join(q(d) for d in self.searched_folders)
        a, r = self.auto, self.retry
        return (
            "# therabak settings (edited by therabak and therabak-tui; hand edits are fine)\n\n"
            f"[destinations]\nremembered = [{dests}]\nsearched = [{searched}]\n\n"
            f"[ui]\nlanguage = {q(self.language)}\n\n"
            f"[reminder]\ndays = {self.reminder_days}\n\n"
            f"[auto]\ninterval_hours = {a.interval_hours}\nfolder = {q(a.folder)}\n"
            f"keep_daily = {a.keep_daily}\nkeep_weekly = {a.keep_weekly}\n"
            f"keep_monthly = {a.keep_monthly}\n\n"
            f"[retry]\nattempts = {r.attempts}\ninitial_delay_s = {r.initial_delay_s}\n"
            f"max_delay_s = {r.max_delay_s}\non_failure = {q(r.on_failure)}\n"
            + self._remote_toml(q)
            + "".join(
                f"\n[[destination]]\nname = {q(d.name)}\nwhere = {q(d.where)}\n"
                + (f"limit_upload = {q(d.limit_upload)}\n" if d.limit_upload else "")
                for d in self.destinations
            )
        )

    def _remote_toml(self, q) -> str:
        """[s3] and [remote], written only when they hold something."""
        text = ""
        s3 = self.s3
        if s3 != S3Settings():
            text += f"\n[s3]\nendpoint = {q(s3.endpoint)}\nregion = {q(s3.region)}\n"
            if s3.path_style is not None:
                text += f"path_style = {'true' if s3.path_style else 'false'}\n"
        rm = self.remote
        if rm != RemoteSettings():
            text += (
                f"\n[remote]\ntries = {rm.tries}\ninitial_delay_s = {rm.initial_delay_s}\n"
                f"max_delay_s = {rm.max_delay_s}\ntimeout_s = {rm.timeout_s}\n"
            )
        return text

    def validate(self) -> None:
        """Raise ConfigError if these settings would not load back (the checks of load)."""
        text = self.to_toml()
        Settings(path=self.path)._apply(tomllib.loads(text), text, self.path or config_file())

    def save(self) -> None:
        path = self.path or config_file()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_private(path, self.to_toml().encode("utf-8"))

    def remember_destination(self, folder: Path) -> bool:
        """Add *folder* to the remembered destinations; True when it was new."""
        folder_s = str(Path(folder).absolute())
        if folder_s in self.remembered_destinations:
            return False
        self.remembered_destinations.append(folder_s)
        return True

    def remember_searched(self, folder: Path) -> bool:
        """Add *folder* to the folders searched for restore points; True when it was new."""
        folder_s = str(Path(folder).expanduser().absolute())
        if folder_s in self.searched_folders or folder_s in self.remembered_destinations:
            return False
        self.searched_folders.append(folder_s)
        return True

    def auto_folder(self, data_dir: Path) -> Path:
        if self.auto.folder:
            return Path(self.auto.folder).expanduser()
        return Path(data_dir).parent / "TheraPsy-Auto-Backups"


_KINDS = {
    int: N_("must be a whole number"),
    float: N_("must be a number"),
    str: N_("must be text in quotes"),
    bool: N_("must be true or false"),
}
_SECTIONS = {"destinations", "auto", "retry", "reminder", "ui", "s3", "remote"}


@dataclass(frozen=True)
class _SettingsFile:
    """The settings file being read: its errors name the section, the key and its line."""

    text: str
    path: Path

    def fail(self, section: str, key: str, problem: str) -> ConfigError:
        line = _line_of(self.text, section, key)
        if line:
            message = _("Settings file {path}, line {line}: [{section}] {key} {problem}")
        else:
            message = _("Settings file {path}: [{section}] {key} {problem}")
        return ConfigError(
            message.format(path=self.path, line=line, section=section, key=key, problem=problem)
        )

    def get(self, section: dict, name: str, key: str, kind: type, default, check=None, why=None):
        """*key* of the table *section* (named *name*), of *kind* (a whole number stands
        for a number) and passing *check*; *default* when it is not there."""
        if key not in section:
            return default
        value = section[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            raise self.fail(name, key, _(_KINDS[kind]))
        if check is not None and not check(value):
            raise self.fail(name, key, why or _("has a value out of range"))
        return value


def _check_sections(data: dict, f: _SettingsFile) -> None:
    """No unknown section; each known one a table."""
    known = _SECTIONS
    unknown = set(data) - known - {"destination"}
    if unknown:
        raise ConfigError(
            _("Settings file {path}: unknown section(s) {names}").format(
                path=f.path, names=", ".join(sorted(unknown))
            )
        )
    for name in known:
        if name in data and not isinstance(data[name], dict):
            raise f.fail(name, name, _("must be a table"))


def _folders(dest: dict, f: _SettingsFile) -> tuple[list[str], list[str]]:
    """[destinations]: the remembered destinations and the folders searched for points."""
    remembered = dest.get("remembered", [])
    if not isinstance(remembered, list) or not all(isinstance(x, str) for x in remembered):
        raise f.fail("destinations", "remembered", _("must be a list of folder paths"))
    searched = dest.get("searched", [])
    if not isinstance(searched, list) or not all(isinstance(x, str) for x in searched):
        raise f.fail("destinations", "searched", _("must be a list of folder paths"))
    return list(remembered), list(searched)


def _auto_settings(a: dict, f: _SettingsFile) -> AutoSettings:
    get = f.get
    return AutoSettings(
        interval_hours=get(a, "auto", "interval_hours", float, 24.0, lambda v: 0 < v <= 24 * 90),
        folder=get(a, "auto", "folder", str, ""),
        keep_daily=get(a, "auto", "keep_daily", int, 7, lambda v: 0 <= v <= 1000),
        keep_weekly=get(a, "auto", "keep_weekly", int, 4, lambda v: 0 <= v <= 1000),
        keep_monthly=get(a, "auto", "keep_monthly", int, 6, lambda v: 0 <= v <= 1000),
    )


def _retry_settings(r: dict, f: _SettingsFile) -> RetrySettings:
    get = f.get
    return RetrySettings(
        attempts=get(r, "retry", "attempts", int, 5, lambda v: 1 <= v <= 100),
        initial_delay_s=get(r, "retry", "initial_delay_s", float, 0.5, lambda v: 0 <= v <= 600),
        max_delay_s=get(r, "retry", "max_delay_s", float, 8.0, lambda v: 0 <= v <= 3600),
        on_failure=get(r, "retry", "on_failure", str, "raw", lambda v: v in RETRY_POLICIES),
    )


def _s3_settings(s3: dict, f: _SettingsFile) -> S3Settings:
    get = f.get
    return S3Settings(
        endpoint=get(
            s3,
            "s3",
            "endpoint",
            str,
            "",
            lambda v: v == "" or v.startswith(("http://", "https://")),
            _("must start with https:// (or http://)"),
        ),
        region=get(s3, "s3", "region", str, ""),
        path_style=get(s3, "s3", "path_style", bool, None),
    )


def _remote_settings(rm: dict, f: _SettingsFile) -> RemoteSettings:
    get = f.get
    return RemoteSettings(
        tries=get(rm, "remote", "tries", int, 8, lambda v: 1 <= v <= 100),
        initial_delay_s=get(rm, "remote", "initial_delay_s", float, 0.5, lambda v: 0 <= v <= 600),
        max_delay_s=get(rm, "remote", "max_delay_s", float, 30.0, lambda v: 0 <= v <= 3600),
        timeout_s=get(rm, "remote", "timeout_s", float, 30.0, lambda v: 0 < v <= 3600),
    )


def _destination_entries(raw: object, fail) -> list[DestinationEntry]:
    """The ``[[destination]]`` tables: each a name (unique, case-insensitive), a place,
    an optional upload limit; nothing else (no secret has a key to go in)."""
    if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
        raise fail("destination", "destination", _("must be a list of [[destination]] tables"))
    out: list[DestinationEntry] = []
    seen: set[str] = set()
    for table in raw:
        extra = set(table) - {"name", "where", "limit_upload"}
        if extra:
            raise fail(
                "destination",
                sorted(extra)[0],
                _("is not a setting of a destination (name, where, limit_upload)"),
            )
        values = {}
        for key in ("name", "where", "limit_upload"):
            value = table.get(key, "")
            if not isinstance(value, str):
                raise fail("destination", key, _("must be text in quotes"))
            values[key] = value.strip()
        if not values["name"]:
            raise fail("destination", "name", _("is missing or empty"))
        if values["name"].casefold() in seen:
            raise fail("destination", "name", _("names two destinations"))
        seen.add(values["name"].casefold())
        problem = check_destination_where(values["where"])
        if problem:
            raise fail("destination", "where", problem)
        try:
            parse_rate(values["limit_upload"])
        except ValueError as e:
            raise fail("destination", "limit_upload", str(e)) from None
        out.append(DestinationEntry(**values))
    return out


_TABLE = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


def _line_of(text: str, section: str, key: str) -> int | None:
    """The line of *key* in the table *section* (the first one of an array of tables),
    or None when it is not written there (a key of the same name in another table is
    not it: ``max_delay_s`` is in both [retry] and [remote]). A section written as a
    plain value (``reminder = 3``) is found before the first table."""
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
    table = ""
    for number, line in enumerate(text.splitlines(), 1):
        header = _TABLE.match(line)
        if header is not None:
            table = header.group(1)
        elif (table == section or not table and key == section) and pattern.match(line):
            return number
    return None


def choose_language(argv: list[str]) -> str:
    """The language of a run of therabak or therabak-tui, made current: ``--lang`` in
    *argv*, else the settings file's ``[ui] language``, else the system's. English for
    ``--json`` (JSON output and its one-line error stay English and stable). Here, not
    in i18n, so that i18n stays a leaf that imports nothing of therabak's."""
    if "--json" in argv:
        return set_language(SOURCE_LANGUAGE)
    lang = option_value(argv, "--lang")
    if lang not in LANGUAGE_CHOICES or lang == "auto":
        try:
            lang = Settings.load().language
        except ConfigError:
            lang = "auto"  # whatever needs the settings says what is wrong with them
    return set_language(lang)
