"""Secrets: the password, the account key and the archive keys never appear anywhere but
where they must be (the user's password file, ``account.key``), and what therabak writes
is private.

One practice goes through everything a user does, with a known password and account
key: backup (password from a file and from stdin, with --verify), verify, show, diff,
passwd, restore (over Data and --to), auto, folder-backup, a wrong password, a failing
backup, a killed restore; backups into a store (the app's way, with a recovery code on
the job's stdin) and its recovery code replaced and removed. Then every byte is
searched: stdout and stderr (text and JSON), the running job's ``/proc/<pid>/cmdline``
and ``environ``, every file below the test's folder (archives and their headers, a
store's objects, partial files, staging, journals, locks, settings, history, the data)
and every temporary file the jobs made (their TMPDIR). The needles: each password
(UTF-8 and UTF-16), the account key (raw, hex, base64, base64url), the key of every
archive and store made (raw, hex, base64) and every recovery code. The child processes
run with umask 000, so a file that is private is private because therabak made it so: files
0600, folders 0700; the staging folder of a restore holds only sealed files (except
those plain in the source): restored plaintext never touches the disk.
"""

from __future__ import annotations

import base64
import contextlib
import os
import stat
from pathlib import Path

import pytest

from cli_support import frozen, wait_for_event
from conftest import IS_WINDOWS, Practice, record_figure, run_cli, start_cli
from restore_helpers import leftovers, practice_args
from schedule_support import fake_tools
from therabak.app.runner import JobRunner, JobState
from therabak.archive.reader import ArchiveReader
from therabak.crypto.recovery import RecoveryCode
from therabak.errors import ExitCode
from therabak.practice.envelope import has_magic

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(IS_WINDOWS, reason="/proc, umask and POSIX modes"),
]

PASSWORD = "Geheimes Passwort: Sitzungsnotizen 2026 ß€"
NEW_PASSWORD = "Ein ganz anderes Passwort 4711 ü"


def needles_for(secret: bytes | str, what: str) -> dict[bytes, str]:
    if isinstance(secret, str):
        return {secret.encode("utf-8"): what, secret.encode("utf-16-le"): f"{what} (UTF-16)"}
    return {
        secret: f"{what} (raw)",
        secret.hex().encode(): f"{what} (hex)",
        secret.hex().upper().encode(): f"{what} (HEX)",
        base64.b64encode(secret).rstrip(b"="): f"{what} (base64)",
        base64.urlsafe_b64encode(secret).rstrip(b"="): f"{what} (base64url)",
    }


class Scan:
    """Collects what was searched, and the hits."""

    def __init__(self) -> None:
        self.needles: dict[bytes, str] = {}
        self.places = 0
        self.hits: list[str] = []

    def add(self, secret: bytes | str, what: str) -> None:
        self.needles.update(needles_for(secret, what))

    def search(self, blob: bytes | str, where: str) -> None:
        if isinstance(blob, str):
            blob = blob.encode("utf-8", "surrogateescape")
        self.places += 1
        for needle, what in self.needles.items():
            if needle in blob:
                self.hits.append(f"{what} in {where}")


def add_code(scan: Scan, code: RecoveryCode, what: str) -> None:
    """A recovery code as people and programs write it, and the bits it carries."""
    for text in (code.display(), code.compact()):
        scan.add(text, what)
        scan.add(text.lower(), what)
    scan.add(code.secret_bytes(), f"{what} (its bits)")


def archive_key(path: Path, *, password: str | None = None, account=None) -> bytes:
    with ArchiveReader.open(path) as reader:
        reader.unlock(password=password, account=account)
        assert reader.archive_key is not None
        return reader.archive_key


def store_key(folder: Path, *, password=None, account=None, code=None) -> bytes:
    """The store key of the store in *folder* (opened with what is given)."""
    from therabak.storage.local import LocalStorage
    from therabak.store.core import Store
    from therabak.store.keyfile import Unlock

    unlock = Unlock(password=password, account=account, recovery_code=code)
    return Store.open(LocalStorage(folder), unlock).keys.master


def private(path: Path) -> bool:
    mode = stat.S_IMODE(path.lstat().st_mode)
    return mode & 0o077 == 0


@contextlib.contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def test_no_secret_anywhere_and_everything_private(
    practice: Practice, tmp_path: Path, isolated_env: Path, record_property
) -> None:
    key = practice.key
    scan = Scan()
    scan.add(PASSWORD, "password")
    scan.add(NEW_PASSWORD, "new password")
    scan.add(key.key, "account key")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    pw_file = tmp_path / "secret" / "pw.txt"
    pw_file.parent.mkdir()
    pw_file.write_text(PASSWORD + "\n", encoding="utf-8")
    new_pw = tmp_path / "secret" / "new.txt"
    new_pw.write_text(NEW_PASSWORD + "\n", encoding="utf-8")
    env = {"TMPDIR": str(tmp), "THERABAK_MEDIA_ROOTS": ""}
    prac = practice_args(practice)
    usb = tmp_path / "usb"
    outputs: list[tuple[str, str]] = []

    def cli(*args, input=None, extra_env=None, codes=(0,)):
        r = run_cli(*args, input=input, env={**env, **(extra_env or {})})
        assert r.returncode in codes, (args, r.returncode, r.stderr)
        outputs.append((" ".join(map(str, args)), r.stdout + r.stderr))
        return r

    def running(proc, what: str, *, stdin_password: bool) -> None:
        """The job's argv and environment while it runs."""
        for part in ("cmdline", "environ"):
            blob = Path(f"/proc/{proc.pid}/{part}").read_bytes()
            scan.search(blob, f"/proc/{proc.pid}/{part} of {what}")
        assert PASSWORD.encode() not in Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        if stdin_password:
            assert PASSWORD.encode() not in Path(f"/proc/{proc.pid}/environ").read_bytes()

    with umask(0):
        # a manual backup, password from stdin; looked at while it writes
        proc = start_cli(
            "backup",
            "--single-file",
            "--dest",
            usb,
            "--password-stdin",
            "--json",
            "--verify",
            *prac,
            env={**env, "THERABAK_FAILPOINTS": "delay-ms=20"},
            input=PASSWORD + "\n",
        )
        try:
            wait_for_event(proc, "progress")
            with frozen(proc):
                running(proc, "backup", stdin_password=True)
                [partial] = usb.glob("*.partial")
                assert private(partial) and private(usb)
        finally:
            out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outputs.append(("backup --password-stdin", out + err))
        [archive] = usb.glob("*.therabak")
        scan.add(archive_key(archive, password=PASSWORD), "archive key (manual)")

        # a second one, password from a file, as text
        cli(
            "backup",
            "--single-file",
            "--dest",
            tmp_path / "usb2",
            "--password-file",
            pw_file,
            *prac,
        )
        for a in (tmp_path / "usb2").glob("*.therabak"):
            scan.add(archive_key(a, password=PASSWORD), "archive key (manual 2)")

        for args in (["verify"], ["show", "--files"], ["diff"]):
            for mode in ([], ["--json"]):
                cli(*args, archive, "--password-file", pw_file, *mode, *prac)
        cli("verify", archive, "--password-stdin", "--json", input=PASSWORD + "\n")
        wrong = tmp_path / "secret" / "wrong.txt"
        wrong.write_text(PASSWORD + "!\n", encoding="utf-8")
        cli("verify", archive, "--password-file", wrong, "--json", codes=(4,))
        cli(
            "backup",
            "--single-file",
            "--dest",
            tmp_path / "full",
            "--password-file",
            pw_file,
            "--json",
            *prac,
            extra_env={"THERABAK_FAILPOINTS": "enospc-after=20000"},
            codes=(6,),
        )

        # automatic and folder backups (the account key; the automatic ones into a store)
        cli("auto", "--json", *prac)
        auto_store = practice.root / "TheraPsy-Auto-Backups" / "TheraPsy-Backups"
        scan.add(store_key(auto_store, account=key), "store key (auto)")
        cli("folder-backup", "--dest", tmp_path / "folder", "--json", *prac)

        # automatic backups set up with the scheduler (its recording stand-ins): the
        # systemd units, the crontab, the calls and the status hold no secret either
        scheduler = fake_tools(
            tmp_path / "scheduler", programs=("systemctl", "loginctl", "crontab"), linger="no"
        )
        sched = {
            "THERABAK_SCHEDULER_TOOLS": str(scheduler.folder),
            "SSH_CONNECTION": "10.0.0.2 50000 10.0.0.1 22",
        }
        cli("schedule", "install", "--json", *prac, extra_env=sched, codes=(3,))
        cli("schedule", "install", *prac, extra_env={**sched, "THERABAK_SCHEDULER": "cron"})
        cli("schedule", "status", "--json", *prac, extra_env=sched, codes=(0, 3))
        assert (scheduler.folder / "crontab.txt").exists()

        # a restore that is killed once everything is staged: its staging folder stays
        cli(
            "restore",
            archive,
            "--yes",
            "--password-file",
            pw_file,
            *prac,
            extra_env={"THERABAK_FAILPOINTS": "crash-at=restore.staged"},
            codes=(-9,),
        )
        [staging] = [p for p in practice.root.iterdir() if p.name.endswith(".partial")]
        staged_files = [p for p in staging.rglob("*") if p.is_file()]
        assert staged_files and private(staging)
        for f in staged_files:
            assert private(f), f
            source = practice.data_dir / f.relative_to(staging)
            assert has_magic(f.read_bytes()) == has_magic(source.read_bytes()), f
            scan.search(f.read_bytes(), f"staged {f.name}")
        for p in staging.rglob("*"):
            if p.is_dir():
                assert private(p), p
        cli("status", *prac, codes=(0, 3))  # cleans the staging up
        assert leftovers(practice.root) == []

        # the restore itself, looked at while it stages; then --to
        proc = start_cli(
            "restore",
            archive,
            "--yes",
            "--json",
            "--password-stdin",
            *prac,
            env={**env, "THERABAK_FAILPOINTS": "delay-ms=20"},
            input=PASSWORD + "\n",
        )
        try:
            wait_for_event(proc, "progress")
            with frozen(proc):
                running(proc, "restore", stdin_password=True)
        finally:
            out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outputs.append(("restore --password-stdin", out + err))
        (tmp_path / "elsewhere").mkdir()
        cli(
            "restore",
            archive,
            "--yes",
            "--to",
            tmp_path / "elsewhere" / "Restored",
            "--password-file",
            pw_file,
            *prac,
        )

        # the app's way: a job of its own, started by the runner, the password on its stdin
        runner = JobRunner(isolated_env / "state" / "jobs")
        job = runner.start(
            "backup",
            ["--single-file", "--dest", str(tmp_path / "usb3"), *map(str, prac)],
            password=PASSWORD,
            data_dir=practice.data_dir,
            env={**env, "THERABAK_FAILPOINTS": "delay-ms=20"},
        )
        looked = False
        for batch in runner.follow(job):
            if not looked and any(e.type == "progress" for e in batch):
                running(job.record, "a runner's backup job", stdin_password=True)
                looked = True
        assert looked and runner.get(job.id).state is JobState.DONE
        [runner_archive] = (tmp_path / "usb3").glob("*.therabak")
        scan.add(archive_key(runner_archive, password=PASSWORD), "archive key (runner)")
        assert private(runner.root) and all(private(f) for f in runner.root.iterdir())

        # a new password
        cli("passwd", archive, "--password-file", pw_file, "--new-password-file", new_pw)
        cli("verify", archive, "--password-file", new_pw)
        assert archive_key(archive, password=NEW_PASSWORD) in scan.needles

        # recovery codes: made by the caller (the app's way: on stdin after the password),
        # made by therabak into a file the user names, handed to a job by the runner
        code1, code3 = RecoveryCode.generate(), RecoveryCode.generate()
        add_code(scan, code1, "recovery code 1")
        add_code(scan, code3, "recovery code 3")
        usb4 = tmp_path / "usb4"
        cli(
            "backup", "--single-file", "--dest", usb4, "--password-stdin",
            "--recovery-code-stdin", "--json", *prac, input=f"{PASSWORD}\n{code1.display()}\n",
        )  # fmt: skip
        [coded] = usb4.glob("*.therabak")
        scan.add(archive_key(coded, password=PASSWORD), "archive key (with a code)")
        cli("verify", coded, "--recovery-code-env", "RC", extra_env={"RC": code1.display()})
        cli("show", coded, "--recovery-code-stdin", "--json", input=code1.compact() + "\n")
        typo = code1.compact()[:-1] + ("X" if code1.compact()[-1] != "X" else "Y")
        cli("verify", coded, "--recovery-code-env", "RC", extra_env={"RC": typo}, codes=(4,))
        cli(
            "verify", coded, "--recovery-code-env", "RC", "--json",
            extra_env={"RC": code3.display()}, codes=(4,),
        )  # fmt: skip
        code_file = tmp_path / "secret" / "code2.txt"
        cli(
            "recovery", "create", coded, "--password-file", pw_file,
            "--recovery-code-out", code_file, "--json",
        )  # fmt: skip
        code2 = RecoveryCode.parse(code_file.read_text("utf-8"))
        add_code(scan, code2, "recovery code 2")
        proc = start_cli(
            "restore", coded, "--yes", "--json", "--recovery-code-stdin",
            "--to", tmp_path / "elsewhere" / "ByCode", *prac,
            env={**env, "THERABAK_FAILPOINTS": "delay-ms=20"}, input=code2.display() + "\n",
        )  # fmt: skip
        try:
            wait_for_event(proc, "progress")
            with frozen(proc):
                for part in ("cmdline", "environ"):
                    blob = Path(f"/proc/{proc.pid}/{part}").read_bytes()
                    scan.search(blob, f"/proc/{proc.pid}/{part} of a restore with a code")
        finally:
            out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outputs.append(("restore --recovery-code-stdin", out + err))
        job = runner.start(
            "recovery",
            ["create", str(coded)],
            password=PASSWORD,
            new_recovery_code=code3,
            env=env,
        )
        for _batch in runner.follow(job):
            pass
        assert runner.get(job.id).state is JobState.DONE
        cli("verify", coded, "--recovery-code-stdin", input=code3.display() + "\n")
        sheet_with_code = tmp_path / "sheets" / "with-code.pdf"
        sheet_with_code.parent.mkdir()
        cli(
            "emergency-sheet", "--out", sheet_with_code, "--include-code",
            "--recovery-code-stdin", "--in", usb4, *prac, input=code3.display() + "\n",
        )  # fmt: skip
        cli("emergency-sheet", "--out", tmp_path / "sheets", "--json", "--in", usb4, *prac)
        cli("passwd", coded, "--recovery-code-env", "RC", "--new-password-file", new_pw,
            extra_env={"RC": code3.display()})  # fmt: skip
        cli("recovery", "remove", coded, "--password-file", new_pw)

        # backups into a store: the app's way (a runner's job, the password and the code
        # it made on the job's stdin), a second one by the CLI (the password once, from
        # stdin), the store's recovery code replaced into a file and by a job, removed
        code4, code6 = RecoveryCode.generate(), RecoveryCode.generate()
        add_code(scan, code4, "recovery code 4 (store)")
        add_code(scan, code6, "recovery code 6 (store)")
        usb5 = tmp_path / "usb5"
        job = runner.start(
            "backup",
            ["--dest", str(usb5), "--verify", *map(str, prac)],
            password=PASSWORD,
            recovery_code=code4,
            data_dir=practice.data_dir,
            env={**env, "THERABAK_FAILPOINTS": "delay-ms=20"},
        )
        looked = False
        for batch in runner.follow(job):
            if not looked and any(e.type == "progress" for e in batch):
                running(job.record, "a runner's store backup job", stdin_password=True)
                looked = True
        assert looked and runner.get(job.id).state is JobState.DONE
        store_dir = usb5 / "TheraPsy-Backups"
        scan.add(store_key(store_dir, password=PASSWORD), "store key (manual)")
        assert store_key(store_dir, code=code4) in scan.needles
        cli("backup", "--dest", usb5, "--password-stdin", "--json", *prac, input=PASSWORD + "\n")
        code_file5 = tmp_path / "secret" / "code5.txt"
        cli(
            "recovery", "create", store_dir, "--recovery-code-stdin",
            "--recovery-code-out", code_file5, "--json", input=code4.display() + "\n",
        )  # fmt: skip
        code5 = RecoveryCode.parse(code_file5.read_text("utf-8"))
        add_code(scan, code5, "recovery code 5 (store)")
        job = runner.start(
            "recovery", ["create", str(usb5)], password=PASSWORD, new_recovery_code=code6, env=env
        )
        for _batch in runner.follow(job):
            pass
        assert runner.get(job.id).state is JobState.DONE
        assert store_key(store_dir, code=code6) in scan.needles
        cli("recovery", "remove", usb5, "--password-file", pw_file, "--json")
        cli("backup", "--dest", usb5, "--recovery-code-env", "RC", *prac,
            extra_env={"RC": code6.display()}, codes=(2,))  # fmt: skip

    # -- search everything
    for what, text in outputs:
        scan.search(text, f"output of {what}")
    # where the user asked for a code: the file they named, the sheet they asked for
    allowed = {pw_file, new_pw, wrong, practice.key_path, code_file, code_file5, sheet_with_code}
    for p in tmp_path.rglob("*"):
        if p.is_file() and not p.is_symlink() and p not in allowed:
            scan.search(p.read_bytes(), str(p.relative_to(tmp_path)))
    assert scan.hits == []
    record_figure(record_property, "secrets scan: places searched", scan.places)
    record_figure(record_property, "secrets scan: needles", len(scan.needles))
    record_figure(record_property, "secrets scan: hits", len(scan.hits))

    # -- and what therabak made is private (created under umask 000)
    made = [
        *usb.rglob("*"),
        *(tmp_path / "usb2").rglob("*"),
        *(tmp_path / "usb4").rglob("*"),
        *(tmp_path / "usb5").rglob("*"),
        code_file5,
        *(tmp_path / "sheets").rglob("*"),
        code_file,
        *(tmp_path / "elsewhere" / "ByCode").rglob("*"),
        *(tmp_path / "folder").rglob("*"),
        *(tmp_path / "elsewhere" / "Restored").rglob("*"),
        tmp_path / "elsewhere" / "Restored",
        *(practice.root / "TheraPsy-Auto-Backups").rglob("*"),
        *practice.data_dir.rglob("*"),  # restored: every file was made by the restore
        *(isolated_env / "state").rglob("*"),
        *(isolated_env / "xdg").rglob("*"),  # the systemd units and every folder made for them
        *[d / "therabak-manifest.json" for d in practice.root.glob("Data.before-restore-*")],
    ]
    assert made
    loose = [str(p.relative_to(tmp_path)) for p in made if not private(p)]
    assert loose == []
    made += [*(tmp_path / "usb3").rglob("*")]
    assert [str(p) for p in made if not private(p)] == []
    for folder in (usb, tmp_path / "usb2", tmp_path / "folder", isolated_env / "state"):
        assert private(folder), folder


def test_remote_credentials_never_leak(tmp_path: Path, isolated_env: Path, practice) -> None:
    """The credentials of off-site destinations (a WebDAV password, an S3 access key, an SSH
    password) go through login, test, a refused login and logout, backups to them and
    reading those back (list --in, verify STORE@ID), in text and JSON: they
    are only in the credential store (keyring's file backend here) and the fallback file,
    never in an output, a log, the settings file or a temporary file."""
    from remote.servers import sshd_missing, start_s3, start_sshd, start_webdav

    servers = tmp_path / "servers"
    servers.mkdir()
    webdav_root = servers / "dav"
    (webdav_root / "praxis").mkdir(parents=True)
    webdav = start_webdav(servers, webdav_root)
    s3 = start_s3(servers)
    ssh = None if sshd_missing() else start_sshd(servers / "sshd")
    try:
        scan = Scan()
        scan.add(webdav.password, "WebDAV password")
        scan.add(s3.secret, "S3 secret access key")
        scan.add(s3.key_id, "S3 access key id")
        ssh_password = "SSH-Passwort der Praxis 2026 ß"
        scan.add(ssh_password, "SSH password")
        bucket = s3.new_bucket("praxis-secrets")
        tmp = tmp_path / "tmp"
        tmp.mkdir()
        (isolated_env / "settings.toml").write_text(
            f'[s3]\nendpoint = "{s3.endpoint}"\npath_style = true\n\n'
            "[remote]\ntries = 2\ninitial_delay_s = 0.01\nmax_delay_s = 0.02\n"
        )
        keyring_env = {
            "TMPDIR": str(tmp),
            "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
        }
        file_env = {"TMPDIR": str(tmp), "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
        dav = f"webdav://{webdav.user}@127.0.0.1:{webdav.port}/praxis"
        s3_url = f"s3://{bucket}/therabak"
        outputs: list[tuple[str, str]] = []

        def cli(*args, input=None, env, codes=(0,)):
            r = run_cli(*args, input=input, env=env)
            assert r.returncode in codes, (args, r.returncode, r.stderr)
            outputs.append((" ".join(map(str, args)), r.stdout + r.stderr))
            return r

        for env in (keyring_env, file_env):
            store = [] if env is keyring_env else ["--store", "file"]
            cli("remote", "login", dav, "--stdin", *store, input=webdav.password + "\n", env=env)
            cli(
                "remote",
                "login",
                s3_url,
                "--stdin",
                "--json",
                *store,
                input=f"{s3.key_id}\n{s3.secret}\n",
                env=env,
            )
            for mode in ([], ["--json"]):
                cli("remote", "test", dav, *mode, env=env)
                cli("remote", "test", s3_url, *mode, env=env)
            cli("remote", "logout", dav, env=env)
            cli("remote", "logout", s3_url, "--json", env=env)
        # named destinations: added, logged in by name, listed, in status, removed
        cli("destination", "add", "Nextcloud", dav, "--limit-upload", "1M", env=file_env)
        cli("destination", "add", "Offsite", s3_url, "--json", env=file_env)
        cli(
            "remote",
            "login",
            "Nextcloud",
            "--stdin",
            "--store",
            "file",
            input=webdav.password + "\n",
            env=file_env,
        )
        cli(
            "remote",
            "login",
            "Offsite",
            "--stdin",
            "--store",
            "file",
            input=f"{s3.key_id}\n{s3.secret}\n",
            env=file_env,
        )
        for mode in ([], ["--json"]):
            cli("destination", "list", *mode, env=file_env)
            cli("remote", "test", "Nextcloud", *mode, env=file_env)
            cli("status", *mode, env=file_env, codes=(0, 3))
        # backups off-site (by name and by URL) and reading them back
        backup_pw = tmp_path / "backup-pw.txt"
        backup_pw.write_text("Praxis-Passwort 2026\n", encoding="utf-8")
        for dest, mode in (("Offsite", []), (dav, ["--json"])):
            pw = ("--password-file", backup_pw)
            cli("backup", "--dest", dest, "--data-dir", practice.data_dir, *pw, *mode, env=file_env)
            cli("list", "--in", dest, "--no-media", *mode, env=file_env)
            cli("verify", f"{dest}@latest", *pw, *mode, env=file_env)
        cli("destination", "remove", "Nextcloud", env=file_env)
        cli("destination", "remove", "Offsite", "--json", env=file_env)
        # refused: a wrong password and wrong secret (each a prefix of the real one plus more)
        wrong = {**file_env, "THERABAK_REMOTE_PASSWORD": webdav.password + "!"}
        cli("remote", "test", dav, "--json", env=wrong, codes=(ExitCode.REMOTE_LOGIN,))
        wrong_s3 = {
            **file_env,
            "AWS_ACCESS_KEY_ID": s3.key_id,
            "AWS_SECRET_ACCESS_KEY": s3.secret + "x",
        }
        cli("remote", "test", s3_url, env=wrong_s3, codes=(ExitCode.REMOTE_LOGIN,))
        if ssh is not None:
            sftp = f"sftp://{ssh.user}@127.0.0.1:{ssh.port}{ssh.folder}"
            ssh.known_hosts(isolated_env / "known_hosts")
            cli(
                "remote",
                "login",
                sftp,
                "--stdin",
                "--store",
                "file",
                input=ssh_password + "\n",
                env=file_env,
            )
            cli(
                "remote",
                "test",
                sftp,
                env={**file_env, "HOME": str(tmp_path / "nohome")},
                codes=(ExitCode.REMOTE_LOGIN,),
            )
            assert f"Failed password for {ssh.user}" in ssh.server.log.read_text()
        # a URL with a password is refused without repeating it
        cli(
            "remote",
            "test",
            f"webdav://{webdav.user}:{webdav.password}@127.0.0.1:{webdav.port}/x",
            env=file_env,
            codes=(ExitCode.USAGE,),
        )
        outputs[-1] = ("(url with a password)", outputs[-1][1])

        credentials = isolated_env / "credentials.json"
        assert credentials.exists() and private(credentials)
        keyring_files = list((isolated_env / "xdg" / "data").rglob("*"))
        assert any(p.is_file() for p in keyring_files)
        for what, text in outputs:
            scan.search(text, f"output of {what}")
        allowed = {credentials, *keyring_files}
        for p in tmp_path.rglob("*"):
            if (
                p.is_file()
                and not p.is_symlink()
                and p not in allowed
                and servers not in p.parents  # the servers' own files (their logs, data)
            ):
                scan.search(p.read_bytes(), str(p.relative_to(tmp_path)))
        assert scan.hits == []
        assert scan.places > 20
    finally:
        webdav.server.kill()
        s3.server.kill()
        if ssh is not None:
            ssh.server.kill()
