"""Named destinations (``[[destination]]`` in the settings file, ``therabak destination``,
``therabak.destinations``) and what ``status`` says about each: its last backup, and the
reminder for an off-site copy that is overdue. No servers here (tests/remote/ has them)."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from conftest import Practice, run_cli
from restore_helpers import practice_args
from therabak import destinations as dests
from therabak.errors import ConfigError, ExitCode, UsageError
from therabak.jobkit import history
from therabak.settings import DestinationEntry, Settings, parse_rate
from therabak.storage.url import StorageKind

NC = "webdavs://anna@cloud.example.de/remote.php/dav/files/anna/therabak"


def _settings_file() -> Path:
    return Path(os.environ["THERABAK_CONFIG"])


# ---- the settings file ---------------------------------------------------------------------


def test_destinations_round_trip_through_the_settings_file(tmp_path: Path) -> None:
    s = Settings.load()
    dests.add(s, "USB-Stick", str(tmp_path / "stick"))
    dests.add(s, "Nextcloud", NC, "2M")
    s.save()
    text = _settings_file().read_text()
    assert "[[destination]]" in text and 'limit_upload = "2M"' in text
    back = dests.destinations(Settings.load())
    assert [d.name for d in back] == ["USB-Stick", "Nextcloud"]
    assert back[0].location.kind is StorageKind.LOCAL and not back[0].is_remote
    assert back[1].location.kind is StorageKind.WEBDAV and back[1].location.tls
    assert back[1].limit_upload == 2 * 1024 * 1024
    assert back[1].where == NC


@pytest.mark.parametrize(
    "text, problem",
    [
        ('[[destination]]\nname = "x"\nwhere = "webdav://anna:Geheim4711@h/x"\n', "password"),
        ('[[destination]]\nname = "x"\nwhere = "s3://b/p"\npassword = "Geheim4711"\n', "not a"),
        ('[[destination]]\nname = ""\nwhere = "/x"\n', "missing or empty"),
        (
            '[[destination]]\nname = "a"\nwhere = "/x"\n'
            '[[destination]]\nname = "A"\nwhere = "/y"\n',
            "names two",
        ),
        ('[[destination]]\nname = "x"\nwhere = "/x"\nlimit_upload = "fast"\n', "upload rate"),
        ('[[destination]]\nname = "x"\nwhere = ""\n', "is empty"),
        ("destination = 3\n", "list of [[destination]]"),
    ],
)
def test_the_settings_file_refuses_bad_destinations(text: str, problem: str) -> None:
    _settings_file().write_text(text)
    with pytest.raises(ConfigError) as e:
        Settings.load()
    assert problem in e.value.message
    assert "Geheim4711" not in e.value.message


def test_a_destination_with_a_password_in_its_url_is_never_saved(tmp_path: Path) -> None:
    s = Settings.load()
    with pytest.raises(UsageError) as e:
        dests.add(s, "Cloud", "webdav://anna:Geheim4711@cloud.example.de/x")
    assert "Geheim4711" not in e.value.message and "remote login" in e.value.message
    assert s.destinations == []


@pytest.mark.parametrize(
    "text, rate",
    [
        ("2M", 2 * 1024**2),
        ("500k", 500 * 1024),
        ("500K/s", 500 * 1024),
        ("2MB", 2_000_000),
        ("64000", 64000),
        ("", None),
    ],
)
def test_upload_rates_as_people_write_them(text: str, rate: int | None) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["fast", "0", "100", "-2M", "2M/h"])
def test_bad_upload_rates_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rate(text)


def test_names_are_unique_and_an_upload_limit_needs_a_remote_place(tmp_path: Path) -> None:
    s = Settings.load()
    dests.add(s, "Stick", str(tmp_path / "a"))
    with pytest.raises(UsageError, match="called Stick already"):
        dests.add(s, "stick", str(tmp_path / "b"))
    with pytest.raises(UsageError, match="is the destination Stick already"):
        dests.add(s, "Other", str(tmp_path / "a"))
    with pytest.raises(UsageError, match="only for off-site"):
        dests.add(s, "Local", str(tmp_path / "c"), "1M")
    with pytest.raises(UsageError, match="needs a name"):
        dests.add(s, "  ", NC)


def test_resolve_takes_a_name_or_a_place(tmp_path: Path) -> None:
    s = Settings.load()
    dests.add(s, "Nextcloud", NC, "1M")
    assert dests.resolve("nextcloud", s).where == NC
    same = dests.resolve(NC, s)  # the same place lends its name and limit
    assert same.name == "Nextcloud" and same.limit_upload == 1024**2
    other = dests.resolve("s3://bucket/prefix", s)
    assert other.name == "" and other.label == "s3://bucket/prefix"


def test_open_destination_gives_the_limit_to_the_storage(tmp_path: Path) -> None:
    s = Settings.load()
    d = dests.add(s, "Nextcloud", NC, "1M")
    storage = dests.open_destination(d, s)
    assert storage.options.limit_upload == 1024**2
    assert dests.open_destination(d, s, limit_upload=4096).options.limit_upload == 4096
    local = dests.open_destination(dests.make("x", str(tmp_path))[0], s, subfolder="sub")
    assert Path(local.location) == tmp_path / "sub"


def test_child_locations() -> None:
    from therabak.storage.url import parse_location

    for url, child in [
        ("s3://bucket", "s3://bucket/TheraPsy-Backups"),
        ("s3://bucket/a/b", "s3://bucket/a/b/TheraPsy-Backups"),
        ("sftp://u@h/srv/x/", "sftp://u@h/srv/x/TheraPsy-Backups"),
        ("webdavs://u@h:8443/dav", "webdavs://u@h:8443/dav/TheraPsy-Backups"),
    ]:
        assert str(dests.child_location(parse_location(url), "TheraPsy-Backups")) == child


# ---- the CLI -------------------------------------------------------------------------------


def test_destination_add_list_remove(tmp_path: Path, isolated_env: Path) -> None:
    r = run_cli("destination", "add", "USB-Stick", tmp_path / "stick")
    assert r.returncode == 0, r.stderr
    r = run_cli("destination", "add", "Nextcloud", NC, "--limit-upload", "500k")
    assert r.returncode == 0 and "therabak remote login Nextcloud" in r.stdout
    r = run_cli("destination", "list", "--json")
    doc = json.loads(r.stdout)["destinations"]
    assert [(d["name"], d["kind"], d["credentials"]) for d in doc] == [
        ("USB-Stick", "local", None),
        ("Nextcloud", "remote", None),
    ]
    assert doc[1]["limit_upload"] == 500 * 1024
    r = run_cli("destination", "add", "X", "webdav://a:Geheim4711@h/x")
    assert r.returncode == ExitCode.USAGE and "Geheim4711" not in r.stderr + r.stdout
    r = run_cli("destination", "remove", "nextcloud")
    assert r.returncode == 0 and "stay there" in r.stdout
    assert "Nextcloud" not in _settings_file().read_text()
    r = run_cli("destination", "remove", "nextcloud")
    assert r.returncode == ExitCode.USAGE and "no destination called" in r.stderr


def test_removing_a_destination_forgets_its_credentials(isolated_env: Path) -> None:
    env = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    assert run_cli("destination", "add", "Cloud", NC).returncode == 0
    r = run_cli("remote", "login", "Cloud", "--stdin", "--store", "file", env=env, input="pw1\n")
    assert r.returncode == 0, r.stderr
    creds = isolated_env / "credentials.json"
    assert list(json.loads(creds.read_text())) == ["webdavs://anna@cloud.example.de:443"]
    assert "pw1" not in _settings_file().read_text()
    r = run_cli("destination", "list", env=env)
    assert "credentials in the credentials file" in r.stdout
    assert run_cli("destination", "remove", "Cloud", env=env).returncode == 0
    assert json.loads(creds.read_text()) == {}


# ---- status: each destination's last backup, the off-site reminder -------------------------


def _record(path: str, age: timedelta, data_dir: Path, kind: str = "manual") -> None:
    when = (datetime.now().astimezone() - age).isoformat(timespec="seconds")
    history.append(
        history.BackupRecord(
            kind=kind, path=path, created=when, verified=True, data_dir=str(data_dir)
        )
    )


def _named(tmp_path: Path) -> None:
    s = Settings.load()
    s.destinations = [
        DestinationEntry("USB-Stick", str(tmp_path / "stick")),
        DestinationEntry("Nextcloud", NC),
    ]
    s.save()


def test_status_shows_each_destination_and_reminds_of_an_old_offsite_copy(
    practice: Practice, tmp_path: Path
) -> None:
    _named(tmp_path)
    stick_backup = tmp_path / "stick" / "TheraPsy-Backup-x.therabak"
    _record(str(stick_backup), timedelta(days=2), practice.data_dir)
    _record(f"{NC}/TheraPsy-Backups#0123abcd", timedelta(days=20), practice.data_dir)
    _record(str(tmp_path / "elsewhere" / "b.therabak"), timedelta(days=1), practice.data_dir)
    _record("s3://other/x#1", timedelta(hours=1), practice.data_dir)  # not a named one
    r = run_cli("status", "--json", *practice_args(practice))
    doc = json.loads(r.stdout)
    assert r.returncode == 3
    by_name = {d["name"]: d for d in doc["destinations"]}
    assert by_name["USB-Stick"]["last"]["where"] == str(stick_backup)
    assert by_name["USB-Stick"]["overdue"] is False
    assert by_name["Nextcloud"]["last"]["age_days"] >= 20 and by_name["Nextcloud"]["overdue"]
    # the local copy is fresh (1 day, "elsewhere"): only the off-site one reminds, by name
    assert doc["manual"]["where"] == str(tmp_path / "elsewhere" / "b.therabak")
    assert len(doc["reminders"]) == 1
    assert "off-site copy in Nextcloud is 20 days old" in doc["reminders"][0]
    text = run_cli("status", *practice_args(practice)).stdout
    assert text.splitlines()[0].startswith("REMINDER: The off-site copy in Nextcloud is 20 days")
    assert "Destination Nextcloud (off-site):" in text


def test_an_offsite_backup_is_not_the_local_copy(practice: Practice, tmp_path: Path) -> None:
    """A recent off-site backup does not silence the reminder for the USB stick, and the
    other way round; each says which copy is overdue."""
    _named(tmp_path)
    _record(f"{NC}/TheraPsy-Backups#0123abcd", timedelta(days=1), practice.data_dir)
    doc = json.loads(run_cli("status", "--json", *practice_args(practice)).stdout)
    assert doc["manual"] is None
    assert [r[:30] for r in doc["reminders"]] == ["No manual backup has been made"]
    history.history_path().write_text("")  # start over: only old off-site, fresh local
    _record(str(tmp_path / "stick" / "b.therabak"), timedelta(days=1), practice.data_dir)
    doc = json.loads(run_cli("status", "--json", *practice_args(practice)).stdout)
    assert len(doc["reminders"]) == 1
    assert "No backup has gone to the off-site destination Nextcloud yet" in doc["reminders"][0]


def test_without_named_destinations_status_is_as_before(practice: Practice, tmp_path: Path):
    _record(str(tmp_path / "usb" / "b.therabak"), timedelta(days=1), practice.data_dir)
    doc = json.loads(run_cli("status", "--json", *practice_args(practice)).stdout)
    assert doc["destinations"] == [] and doc["reminders"] == [] and doc["reminder"] is None
