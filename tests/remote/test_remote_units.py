"""The parts without a server: URLs, the retry schedule, the upload limit, where
credentials are looked for, the settings file's [s3] and [remote]."""

from __future__ import annotations

import io
import random
import stat
from pathlib import Path

import pytest

from remote.conftest import use_keyring
from therabak.errors import ConfigError, ExitCode, UsageError
from therabak.settings import Settings
from therabak.storage.base import StorageError, UnreachableError
from therabak.storage.credentials import Credential, CredentialPlace, CredentialStore
from therabak.storage.local import LocalStorage
from therabak.storage.network import (
    NetworkOptions,
    RetryPolicy,
    SourceSlice,
    TokenBucket,
    Transient,
    with_retries,
)
from therabak.storage.url import Location, S3Endpoint, StorageKind, open_storage, parse_location

# ---- URLs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,kind,fields,shown",
    [
        (
            "s3://praxis-backup/therabak/anna",
            StorageKind.S3,
            {"bucket": "praxis-backup", "path": "therabak/anna"},
            "s3://praxis-backup/therabak/anna",
        ),
        (
            "s3://praxis-backup",
            StorageKind.S3,
            {"bucket": "praxis-backup", "path": ""},
            "s3://praxis-backup",
        ),
        (
            "sftp://anna@nas.local/volume1/backup",
            StorageKind.SFTP,
            {"user": "anna", "host": "nas.local", "port": 22, "path": "/volume1/backup"},
            "sftp://anna@nas.local/volume1/backup",
        ),
        (
            "sftp://u123@u123.your-storagebox.de:23/~/therabak",
            StorageKind.SFTP,
            {"port": 23, "path": "/~/therabak"},
            "sftp://u123@u123.your-storagebox.de:23/~/therabak",
        ),
        (
            "SFTP://anna@[::1]:2222/x",
            StorageKind.SFTP,
            {"host": "::1", "port": 2222},
            "sftp://anna@[::1]:2222/x",
        ),
        (
            "webdavs://anna@cloud.example.de/remote.php/dav/files/anna/therabak",
            StorageKind.WEBDAV,
            {"tls": True, "port": 443, "user": "anna"},
            "webdavs://anna@cloud.example.de/remote.php/dav/files/anna/therabak",
        ),
        (
            "webdav://nas:5005/backup",
            StorageKind.WEBDAV,
            {"tls": False, "port": 5005, "user": ""},
            "webdav://nas:5005/backup",
        ),
        (
            "/media/anna/STICK/therabak",
            StorageKind.LOCAL,
            {"path": "/media/anna/STICK/therabak"},
            "/media/anna/STICK/therabak",
        ),
        ("E:\\Sicherung", StorageKind.LOCAL, {"path": "E:\\Sicherung"}, "E:\\Sicherung"),
        ("relative/folder", StorageKind.LOCAL, {}, "relative/folder"),
    ],
)
def test_locations(text: str, kind: StorageKind, fields: dict, shown: str) -> None:
    location = parse_location(text)
    assert location.kind is kind
    for key, value in fields.items():
        assert getattr(location, key) == value, key
    assert str(location) == shown
    assert parse_location(str(location)) == location


def test_sftp_without_a_user_is_the_local_user(monkeypatch) -> None:
    monkeypatch.setenv("USER", "praxis")
    monkeypatch.setenv("LOGNAME", "praxis")
    assert parse_location("sftp://nas/backup").user == "praxis"


@pytest.mark.parametrize(
    "text,message",
    [
        ("sftp://anna:Geheim4711@nas/backup", "never holds a password"),
        ("webdavs://anna:Geheim4711@cloud.example.de/x", "never holds a password"),
        ("s3://KEY:Geheim4711@bucket/x", "never holds a password"),
        ("ftp://nas/backup", "Unknown kind of destination"),
        ("s3://Not_A_Bucket/x", "Not a bucket name"),
        ("sftp:///nohost", "names no server"),
        ("webdav://nas/a/../b", "Not a valid folder"),
        ("sftp://nas:99999/x", "Not a valid address"),
        ("s3://bucket/x?endpoint=evil", "has no .query"),
    ],
)
def test_refused_locations(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as e:
        parse_location(text)
    assert "Geheim4711" not in str(e.value)


def test_credential_ids_ignore_the_path() -> None:
    a = parse_location("sftp://anna@nas:2222/a")
    b = parse_location("sftp://anna@nas:2222/b/c")
    assert a.credential_id() == b.credential_id() == "sftp://anna@nas:2222"
    s3 = parse_location("s3://bkt/prefix")
    assert (
        s3.credential_id(S3Endpoint("https://s3.example", None, None))
        == "s3:https://s3.example/bkt"
    )
    assert s3.credential_id(S3Endpoint(None, None, None)) == "s3:aws/bkt"
    with pytest.raises(ValueError):
        Location(StorageKind.LOCAL, "/x").credential_id()


def test_a_plain_path_opens_a_local_storage(tmp_path: Path) -> None:
    s = open_storage(str(tmp_path / "stick"))
    assert isinstance(s, LocalStorage) and s.root == tmp_path / "stick"


def test_s3_endpoint_from_the_environment_wins(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(
        '[s3]\nendpoint = "https://from-settings"\nregion = "eu-central-1"\npath_style = true\n'
    )
    settings = Settings.load(path)
    assert S3Endpoint.resolve(settings) == S3Endpoint("https://from-settings", "eu-central-1", True)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://generic")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "https://s3-specific")
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    assert S3Endpoint.resolve(settings) == S3Endpoint("https://s3-specific", "eu-west-3", True)


@pytest.mark.parametrize(
    "text,problem",
    [
        ('[s3]\nendpoint = "s3.example.com"\n', "must start with https://"),
        ("[s3]\npath_style = 1\n", "must be true or false"),
        ("[remote]\ntries = 0\n", "out of range"),
    ],
)
def test_settings_refuse_bad_remote_values(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "settings.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=problem):
        Settings.load(path)


def test_remote_settings_round_trip(tmp_path: Path) -> None:
    settings = Settings(path=tmp_path / "settings.toml")
    assert "[s3]" not in settings.to_toml() and "[remote]" not in settings.to_toml()
    settings.s3.endpoint = "https://s3.eu-central-003.backblazeb2.com"
    settings.s3.path_style = False
    settings.remote.tries = 3
    settings.save()
    again = Settings.load(tmp_path / "settings.toml")
    assert again.s3 == settings.s3 and again.remote == settings.remote


# ---- retries --------------------------------------------------------------------------------


def test_the_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    policy = RetryPolicy(tries=8, initial_delay_s=0.5, max_delay_s=30)
    rng = random.Random(1)
    for retry, cap in [(1, 0.5), (2, 1), (3, 2), (4, 4), (5, 8), (6, 16), (7, 30), (12, 30)]:
        delays = [policy.delay(retry, rng) for _ in range(200)]
        assert all(cap / 2 <= d <= cap for d in delays), retry
        assert max(delays) - min(delays) > cap / 4  # jitter: they differ


def test_with_retries_gives_up_after_the_tries_and_reports_each_retry() -> None:
    slept: list[float] = []
    notices = []
    options = NetworkOptions(
        retry=RetryPolicy(tries=4, initial_delay_s=1, max_delay_s=2),
        on_retry=notices.append,
        sleep=slept.append,
    )
    calls = []

    def call():
        calls.append(1)
        raise ConnectionResetError()

    with pytest.raises(UnreachableError) as e:
        with_retries(
            call,
            translate=lambda e: Transient("connection dropped"),
            options=options,
            location="sftp://x",
            operation="put",
        )
    assert len(calls) == 4 and len(slept) == 3 and len(notices) == 3
    assert [n.attempt for n in notices] == [1, 2, 3]
    assert e.value.exit_code is ExitCode.REMOTE_UNREACHABLE
    assert "no answer after 4 tries (connection dropped)" in str(e.value)


def test_a_final_answer_is_not_retried() -> None:
    calls = []

    def call():
        calls.append(1)
        raise PermissionError()

    with pytest.raises(StorageError, match="refused"):
        with_retries(
            call,
            translate=lambda e: StorageError("refused"),
            options=NetworkOptions(sleep=lambda s: None),
            location="x",
            operation="put",
        )
    assert calls == [1]


def test_a_transient_failure_then_success() -> None:
    results = iter([ConnectionResetError(), TimeoutError(), "done"])
    rewound = []

    def call():
        r = next(results)
        if isinstance(r, BaseException):
            raise r
        return r

    assert (
        with_retries(
            call,
            translate=lambda e: Transient(type(e).__name__),
            options=NetworkOptions(sleep=lambda s: None),
            location="x",
            operation="get",
            before_retry=lambda: rewound.append(1),
        )
        == "done"
    )
    assert rewound == [1, 1]


# ---- the upload limit -----------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_token_bucket_holds_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(100_000, burst=20_000, clock=clock, sleep=clock.sleep)
    for _ in range(100):
        bucket.take(10_000)  # 1 MB in steps of 10 kB
    # the burst goes at once, the rest at 100 kB/s
    assert clock.now == pytest.approx((1_000_000 - 20_000) / 100_000)
    clock.now += 100  # idle: the bucket fills only up to its burst
    start = clock.now
    bucket.take(20_000)
    assert clock.now == start
    bucket.take(50_000)  # larger than the bucket: waited off
    assert clock.now == pytest.approx(start + 0.5)


def test_a_source_slice_reads_its_part_and_pays_for_it() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1000, burst=1, clock=clock, sleep=clock.sleep)
    data = bytes(range(256)) * 10
    part = SourceSlice(io.BytesIO(data), 100, 1000, bucket)
    assert len(part) == 1000
    got = b""
    while chunk := part.read(300):
        got += chunk
    assert got == data[100:1100]
    assert clock.now == pytest.approx(1.0, abs=0.01)
    part.seek(0)
    assert part.read() == data[100:1100]
    short = SourceSlice(io.BytesIO(b"abc"), 0, 10)
    assert short.read(3) == b"abc"
    with pytest.raises(StorageError, match="ended before its size"):
        short.read(3)


# ---- credentials ----------------------------------------------------------------------------


def test_credentials_come_from_the_environment_the_store_then_the_file(
    tmp_path: Path, monkeypatch
) -> None:
    use_keyring(monkeypatch, "keyrings.alt.file.PlaintextKeyring")
    store = CredentialStore(tmp_path / "creds" / "credentials.json")
    ident = "sftp://anna@nas:22"
    assert store.find(ident, s3=False) is None
    store.store(ident, Credential("in the file"), CredentialPlace.FILE)
    assert store.find(ident, s3=False) == (Credential("in the file"), CredentialPlace.FILE)
    mode = stat.S_IMODE((tmp_path / "creds" / "credentials.json").stat().st_mode)
    assert mode == 0o600
    assert stat.S_IMODE((tmp_path / "creds").stat().st_mode) == 0o700
    store.store(ident, Credential("in the keyring"), CredentialPlace.KEYRING)
    assert store.find(ident, s3=False) == (Credential("in the keyring"), CredentialPlace.KEYRING)
    monkeypatch.setenv("THERABAK_REMOTE_PASSWORD", "for this run")
    assert store.find(ident, s3=False) == (Credential("for this run"), CredentialPlace.ENVIRONMENT)
    monkeypatch.delenv("THERABAK_REMOTE_PASSWORD")
    removed = store.forget(ident)
    assert len(removed) == 2 and str(tmp_path / "creds" / "credentials.json") in removed
    assert store.forget(ident) == []
    assert store.find(ident, s3=False) is None


def test_s3_credentials_from_the_aws_variables(tmp_path: Path, monkeypatch) -> None:
    use_keyring(monkeypatch, "keyring.backends.fail.Keyring")
    store = CredentialStore(tmp_path / "credentials.json")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    assert store.find("s3:aws/b", s3=True) is None  # both or neither
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    assert store.find("s3:aws/b", s3=True) == (
        Credential("secret", "AKIAEXAMPLE"),
        CredentialPlace.ENVIRONMENT,
    )


def test_no_credential_store_is_said_and_nothing_is_written(tmp_path: Path, monkeypatch) -> None:
    use_keyring(monkeypatch, "keyring.backends.fail.Keyring")
    store = CredentialStore(tmp_path / "credentials.json")
    with pytest.raises(ConfigError, match="no credential store") as e:
        store.store("x", Credential("Geheim4711"), CredentialPlace.KEYRING)
    assert "Geheim4711" not in str(e.value)
    assert not (tmp_path / "credentials.json").exists()


def test_a_credential_never_shows_its_secret() -> None:
    c = Credential("Geheim4711", "AKIAEXAMPLE")
    assert "Geheim4711" not in repr(c) and "Geheim4711" not in str(c)
    assert "AKIAEXAMPLE" not in repr(c)
