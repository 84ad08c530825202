"""therabak side by side with the tools users would pick instead (run by hand, not in CI).

    python tests/bench/run.py            # default: ~2 GB practice, 3 runs each, ~10-15 min
    python tests/bench/run.py --quick    # small practice, 2 runs: a smoke test (~2 min)
    python tests/bench/run.py --only backup,list --runs 5 --keep

Run it with the Python of the venv therabak is installed in (it runs
``sys.executable -m therabak``). It makes a demo practice with ``therabak demo`` (kept
in the work folder and, with --keep, reused while its options stay the same), installs missing
peers (age, restic, borgbackup, GNU time) with apt-get when it can and skips a peer with
a note when it cannot, then times every command several times with the page cache warm:
whole-process wall time and peak RSS (``os.wait4``). Runs are interleaved (round-robin
over the commands of a group) and the written output is synced and deleted between
runs, so the ratios therabak / peer come from the same minutes of the same machine.

The result is one table of ratios with the targets of issue 6, plus a JSON file in
``tests/bench/results/<timestamp>.json`` (git-ignored) with every run, to compare runs.

Fairness notes (also in the JSON): therabak, restic and borg fsync what they write;
``cp -r`` and ``tar | age`` do not (their data may still be in the page cache when they
exit). The numbers are only as good as the machine is quiet: the load average before
and after is printed and stored.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PASSWORD = "bench-password-not-secret"
PEER_PACKAGES = {"age": "age", "age-keygen": "age", "restic": "restic", "borg": "borgbackup"}


# ---------------------------------------------------------------------------------------
# options


@dataclass
class Size:
    audio_mb: float
    audio_files: int
    clients: int
    sessions_per_client: int
    documents_per_client: int
    preview_files: int  # files in the practice for preview vs du
    big_file_mb: int  # the single large file for the peak-RSS run
    list_points: int


DEFAULT = Size(
    audio_mb=1800,
    audio_files=45,
    clients=1000,
    sessions_per_client=20,
    documents_per_client=2,
    preview_files=100_000,
    big_file_mb=4096,
    list_points=200,
)
QUICK = Size(
    audio_mb=160,
    audio_files=8,
    clients=120,
    sessions_per_client=20,
    documents_per_client=2,
    preview_files=20_000,
    big_file_mb=512,
    list_points=200,
)
GROUPS = ("backup", "restore", "folder", "preview", "list", "rss")

TARGETS = {  # ratio name -> (target, hard limit or None, description)
    "backup/tar|age": (1.0, 1.5, "manual backup vs tar | age"),
    "backup/restic": (0.25, None, "manual backup vs restic first backup"),
    "backup/borg": (0.25, None, "manual backup vs borg first backup (lz4)"),
    "backup/cp -r": (None, None, "manual backup vs cp -r (the floor)"),
    "backup --verify/tar|age": (None, None, "backup --verify vs tar | age"),
    "backup/tar|age+fsync": (None, None, "manual backup vs tar | age + fsync"),
    "restore/cp -r back": (1.3, None, "restore vs cp -r back"),
    "restore/restic restore": (None, None, "restore vs restic restore"),
    "folder-backup/cp -r": (1.1, None, "folder backup (with its check) vs cp -r"),
    "folder-backup --no-verify/cp -r": (None, None, "folder backup --no-verify vs cp -r"),
    "preview/du -sb": (1.0, None, "preview vs du -sb"),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Benchmark therabak against cp -r, tar | age, restic and borg.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="small practice, 2 runs: smoke test")
    p.add_argument(
        "--workdir",
        type=Path,
        default=Path(os.environ.get("TMPDIR", "/tmp")) / "therabak-bench",
        help="where practices and outputs go (needs ~3x the practice size free, "
        "plus 2x --big-file-mb)",
    )
    p.add_argument("--runs", type=int, help="timed runs per command (default 3, quick 2)")
    p.add_argument("--only", help=f"comma-separated groups to run: {','.join(GROUPS)}")
    p.add_argument("--skip", help="comma-separated groups to leave out")
    p.add_argument("--audio-mb", type=float, help="total audio in the practice (MiB)")
    p.add_argument("--audio-files", type=int)
    p.add_argument("--clients", type=int)
    p.add_argument("--sessions-per-client", type=int)
    p.add_argument("--preview-files", type=int, help="files in the preview practice")
    p.add_argument("--big-file-mb", type=int, help="size of the one file of the RSS run")
    p.add_argument("--list-points", type=int, help="restore points for the list run")
    p.add_argument("--no-install", action="store_true", help="never run apt-get")
    p.add_argument("--fresh", action="store_true", help="recreate the demo practices")
    p.add_argument(
        "--keep",
        action="store_true",
        help="keep the demo practices in the work folder for the next run "
        "(default: remove the work folder at the end)",
    )
    p.add_argument(
        "--json-out",
        type=Path,
        help="where to write the JSON (default: tests/bench/results/<timestamp>.json)",
    )
    args = p.parse_args(argv)
    base = QUICK if args.quick else DEFAULT
    args.size = Size(
        **{
            k: (getattr(args, k) if getattr(args, k, None) is not None else v)
            for k, v in asdict(base).items()
        }
    )
    args.runs = args.runs or (2 if args.quick else 3)
    groups = set(GROUPS)
    if args.only:
        groups = {g.strip() for g in args.only.split(",")}
    if args.skip:
        groups -= {g.strip() for g in args.skip.split(",")}
    unknown = groups - set(GROUPS)
    if unknown:
        p.error(f"unknown group(s): {', '.join(sorted(unknown))}")
    args.groups = [g for g in GROUPS if g in groups]
    return args


# ---------------------------------------------------------------------------------------
# running and measuring


@dataclass
class Run:
    wall_s: float
    rss_mb: float
    user_s: float
    sys_s: float
    rc: int


@dataclass
class Timing:
    name: str
    runs: list[Run] = field(default_factory=list)
    note: str = ""

    @property
    def ok_runs(self) -> list[Run]:
        return [r for r in self.runs if r.rc == 0]

    @property
    def median(self) -> float | None:
        ok = self.ok_runs
        return statistics.median(r.wall_s for r in ok) if ok else None

    @property
    def spread(self) -> tuple[float, float] | None:
        ok = self.ok_runs
        return (min(r.wall_s for r in ok), max(r.wall_s for r in ok)) if ok else None

    @property
    def peak_rss_mb(self) -> float | None:
        ok = self.ok_runs
        return max(r.rss_mb for r in ok) if ok else None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "median_s": self.median,
            "spread_s": self.spread,
            "peak_rss_mb": self.peak_rss_mb,
            "note": self.note,
            "runs": [asdict(r) for r in self.runs],
        }


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work: Path = args.workdir.absolute()
        self.out = self.work / "out"
        self.timings: dict[str, Timing] = {}
        self.notes: list[str] = []
        self.extra: dict[str, object] = {}
        self.therabak = [sys.executable, "-m", "therabak"]
        self.env = dict(os.environ)
        self.env.update(
            THERABAK_CONFIG=str(self.work / "config" / "settings.toml"),
            THERABAK_STATE_DIR=str(self.work / "state"),
            RESTIC_PASSWORD_FILE=str(self.work / "password"),
            RESTIC_CACHE_DIR=str(self.out / "restic-cache"),
            BORG_PASSPHRASE=PASSWORD,
            BORG_BASE_DIR=str(self.out / "borg-base"),
            BORG_RELOCATED_REPO_ACCESS_IS_OK="yes",
            BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK="yes",
            BORG_CHECK_I_KNOW_WHAT_I_AM_DOING="YES",
        )
        for var in (
            "THERABAK_FAILPOINTS",
            "THERABAK_DATA_DIR",
            "THERABAK_ACCOUNT_KEY",
            "THERABAK_RULES",
        ):
            self.env.pop(var, None)

    # -- helpers ----------------------------------------------------------------------

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  note: {text}", flush=True)

    def sh(
        self, cmd: list[str] | str, *, check: bool = True, quiet: bool = True, **kw
    ) -> subprocess.CompletedProcess:
        """Run an untimed helper command."""
        shell = isinstance(cmd, str)
        r = subprocess.run(
            cmd,
            shell=shell,
            env=kw.pop("env", self.env),
            text=True,
            stdout=subprocess.PIPE if quiet else None,
            stderr=subprocess.PIPE if quiet else None,
            **kw,
        )
        if check and r.returncode != 0:
            raise RuntimeError(f"command failed ({r.returncode}): {cmd}\n{r.stderr or ''}"[:2000])
        return r

    def measure(
        self, cmd: list[str] | str, *, env: dict | None = None, stdin: Path | None = None
    ) -> Run:
        """Wall time and peak RSS of one process (and its waited-for children)."""
        shell = isinstance(cmd, str)
        with contextlib.ExitStack() as stack:
            fin = stack.enter_context(open(stdin, "rb")) if stdin else subprocess.DEVNULL
            errf = stack.enter_context(open(self.work / "last-stderr.txt", "wb"))
            t0 = time.perf_counter()
            proc = subprocess.Popen(
                cmd,
                shell=shell,
                env=env or self.env,
                stdin=fin,
                stdout=subprocess.DEVNULL,
                stderr=errf,
                executable="/bin/sh" if shell else None,
            )
            _, status, ru = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - t0
            proc.returncode = os.waitstatus_to_exitcode(status)
        rc = proc.returncode
        if rc != 0:
            err = (self.work / "last-stderr.txt").read_text(errors="replace").strip()
            print(
                f"    ! exit {rc}: {' '.join(cmd) if not shell else cmd}\n      {err[-600:]}",
                flush=True,
            )
        return Run(
            wall_s=round(wall, 3),
            rss_mb=round(ru.ru_maxrss / 1024, 1),
            user_s=round(ru.ru_utime, 2),
            sys_s=round(ru.ru_stime, 2),
            rc=rc,
        )

    def settle(self) -> None:
        """Flush what earlier runs wrote (and let the file system finish deleting their
        output), so that work does not land in the next run."""
        os.sync()
        time.sleep(1.0)
        os.sync()

    def clear_out(self) -> None:
        if self.out.exists():
            shutil.rmtree(self.out, ignore_errors=True)
        self.out.mkdir(parents=True)

    def warm(self, folder: Path) -> None:
        """Read every file once so the page cache holds the data (untimed)."""
        buf = bytearray(1 << 20)
        if folder.is_file():
            with open(folder, "rb", buffering=0) as f:
                while f.readinto(buf):
                    pass
            return
        for root, _dirs, files in os.walk(folder):
            for name in files:
                with (
                    contextlib.suppress(OSError),
                    open(os.path.join(root, name), "rb", buffering=0) as f,
                ):
                    while f.readinto(buf):
                        pass

    def timing(self, name: str) -> Timing:
        return self.timings.setdefault(name, Timing(name))

    def round_robin(
        self,
        cases: list[tuple[str, object, object]],
        warm: list[Path] | dict[str, list[Path]] | None = None,
    ) -> None:
        """cases: (name, prepare() -> command | None, cleanup()). Interleaved runs.

        *warm* (files or folders; or per case name) are read again right before every
        run: a VM that
        reclaims cold page-cache pages (as the one these figures come from does)
        would otherwise let one command find the data cold that the previous one
        found warm.
        """
        for i in range(self.args.runs):
            for name, prepare, cleanup in cases:
                self.clear_out()
                cmd = prepare()
                if cmd is None:
                    continue
                self.settle()
                paths = warm.get(name, []) if isinstance(warm, dict) else warm or []
                for path in paths:
                    self.warm(path)
                run = self.measure(cmd)
                self.timing(name).runs.append(run)
                print(
                    f"    run {i + 1}/{self.args.runs} {name:<26} {run.wall_s:8.2f} s "
                    f"{run.rss_mb:8.1f} MB  (user {run.user_s:.1f} s, sys {run.sys_s:.1f} s)"
                    + ("" if run.rc == 0 else f"  EXIT {run.rc}"),
                    flush=True,
                )
                if cleanup is not None:
                    cleanup()
                self.clear_out()

    def has_command(self, *words: str) -> bool:
        r = subprocess.run(
            [*self.therabak, *words, "--help"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return r.returncode == 0

    # -- setup ------------------------------------------------------------------------

    def install_peers(self) -> None:
        missing = sorted({pkg for tool, pkg in PEER_PACKAGES.items() if not shutil.which(tool)})
        if not Path("/usr/bin/time").exists():
            missing.append("time")
        if not missing:
            return
        if self.args.no_install:
            self.note(f"not installing {', '.join(missing)} (--no-install)")
            return
        apt = shutil.which("apt-get")
        prefix: list[str] = []
        if os.geteuid() != 0:
            if (
                shutil.which("sudo")
                and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0
            ):
                prefix = ["sudo", "-n"]
            else:
                apt = None
        if apt is None:
            self.note(f"cannot install {', '.join(missing)} (no apt-get or not root)")
            return
        print(f"  installing {', '.join(missing)} with apt-get ...", flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        if (
            subprocess.run(
                [*prefix, apt, "install", "-y", "-q", *missing], env=env, capture_output=True
            ).returncode
            != 0
        ):
            subprocess.run([*prefix, apt, "update", "-q"], env=env, capture_output=True)
            subprocess.run(
                [*prefix, apt, "install", "-y", "-q", *missing], env=env, capture_output=True
            )
        still = sorted({pkg for tool, pkg in PEER_PACKAGES.items() if not shutil.which(tool)})
        if still:
            self.note(f"could not install {', '.join(still)}: those peers are skipped")

    def demo(self, name: str, **opts: object) -> Path:
        """A demo practice made by ``therabak demo`` (reused while its options are equal)."""
        target = self.work / name
        stamp = target / "bench-spec.json"
        spec = json.dumps(opts, sort_keys=True)
        if target.exists() and not self.args.fresh and stamp.exists() and stamp.read_text() == spec:
            return target
        shutil.rmtree(target, ignore_errors=True)
        args = [f"--{k.replace('_', '-')}={v}" for k, v in opts.items()]
        print(f"  creating demo practice {name} ({' '.join(args)}) ...", flush=True)
        t0 = time.perf_counter()
        self.sh([*self.therabak, "demo", str(target), *args])
        stamp.write_text(spec)
        print(f"    done in {time.perf_counter() - t0:.1f} s", flush=True)
        return target

    def practice_facts(self, practice: Path) -> dict:
        files = total = 0
        for root, _d, names in os.walk(practice / "Data"):
            for n in names:
                files += 1
                total += os.lstat(os.path.join(root, n)).st_size
        return {"files": files, "bytes": total}

    # -- groups -----------------------------------------------------------------------

    def backup_cmd(self, practice: Path, dest: Path, *extra: str) -> list[str]:
        return [
            *self.therabak,
            "backup",
            "--dest",
            str(dest),
            "--data-dir",
            str(practice / "Data"),
            "--account-key",
            str(practice / "account.key"),
            "--password-file",
            str(self.work / "password"),
            "--json",
            *extra,
        ]

    def group_backup(self, practice: Path) -> None:
        data = practice / "Data"
        cases: list[tuple[str, object, object]] = [
            ("backup", lambda: self.backup_cmd(practice, self.out), None),
            ("backup --verify", lambda: self.backup_cmd(practice, self.out, "--verify"), None),
            ("cp -r", lambda: ["cp", "-r", str(data), str(self.out / "Data")], None),
        ]
        if shutil.which("age") and shutil.which("age-keygen"):
            key = self.work / "age.key"
            if not key.exists():
                self.sh(["age-keygen", "-o", str(key)])
            recipient = next(
                line.split(":", 1)[1].strip()
                for line in key.read_text().splitlines()
                if line.startswith("# public key:")
            )
            cases.append(
                (
                    "tar|age",
                    lambda: (
                        f"tar -cf - -C '{practice}' Data | age -r {recipient} "
                        f"> '{self.out}/data.tar.age'"
                    ),
                    None,
                )
            )
            # The same, made durable like therabak's archive (sync FILE = fsync).
            cases.append(
                (
                    "tar|age+fsync",
                    lambda: (
                        f"tar -cf - -C '{practice}' Data | age -r {recipient} "
                        f"> '{self.out}/data.tar.age' && sync '{self.out}/data.tar.age'"
                    ),
                    None,
                )
            )
        else:
            self.note("age not available: tar | age skipped")
        if shutil.which("restic"):

            def restic() -> list[str]:
                self.sh(["restic", "init", "--repo", str(self.out / "restic")])
                return [
                    "restic",
                    "backup",
                    "--repo",
                    str(self.out / "restic"),
                    "--quiet",
                    str(data),
                ]

            cases.append(("restic backup", restic, None))
        else:
            self.note("restic not available: skipped")
        if shutil.which("borg"):

            def borg() -> list[str]:
                self.sh(["borg", "init", "--encryption", "repokey", str(self.out / "borg")])
                return [
                    "borg",
                    "create",
                    "--compression",
                    "lz4",
                    f"{self.out / 'borg'}::first",
                    str(data),
                ]

            cases.append(("borg create", borg, None))
        else:
            self.note("borg not available: skipped")
        self.round_robin(cases, warm=[data])

    def make_archive(self, practice: Path, where: Path) -> Path:
        where.mkdir(parents=True, exist_ok=True)
        self.sh(self.backup_cmd(practice, where))
        return next(where.glob("*.therabak"))

    def group_restore(self, practice: Path) -> None:
        if not self.has_command("restore"):
            self.note("therabak restore does not exist yet: restore benchmark skipped")
            return
        keep = self.work / "restore-src"
        shutil.rmtree(keep, ignore_errors=True)
        archive = self.make_archive(practice, keep / "archive")
        self.warm(archive.parent)
        cases: list[tuple[str, object, object]] = [
            ("restore", lambda: self.restore_cmd(practice, archive, self.out / "target"), None),
            (
                "cp -r back",
                lambda: ["cp", "-r", str(practice / "Data"), str(self.out / "Data")],
                None,
            ),
        ]
        if shutil.which("restic"):
            repo = keep / "restic"
            self.sh(["restic", "init", "--repo", str(repo)])
            self.sh(["restic", "backup", "--repo", str(repo), "--quiet", str(practice / "Data")])
            self.warm(repo)
            cases.append(
                (
                    "restic restore",
                    lambda: [
                        "restic",
                        "restore",
                        "latest",
                        "--repo",
                        str(repo),
                        "--quiet",
                        "--target",
                        str(self.out / "restic-target"),
                    ],
                    None,
                )
            )
        data = practice / "Data"
        warm = {"restore": [archive, data], "cp -r back": [data]}
        if shutil.which("restic"):
            warm["restic restore"] = [keep / "restic"]
        self.round_robin(cases, warm=warm)
        shutil.rmtree(keep, ignore_errors=True)

    def restore_cmd(self, practice: Path, archive: Path, target: Path) -> list[str]:
        # Into a new folder (--to): staging, re-encryption with the account key and the
        # read-back check run as in a real restore; the practice's Data stays untouched.
        return [
            *self.therabak,
            "restore",
            str(archive),
            "--to",
            str(target),
            "--yes",
            "--password-file",
            str(self.work / "password"),
            "--data-dir",
            str(practice / "Data"),
            "--account-key",
            str(practice / "account.key"),
            "--json",
        ]

    def group_folder(self, practice: Path) -> None:
        if not self.has_command("folder-backup"):
            self.note("therabak folder-backup does not exist yet: folder benchmark skipped")
            return

        def folder_backup(*extra: str) -> list[str]:
            return [
                *self.therabak,
                "folder-backup",
                "--dest",
                str(self.out),
                "--data-dir",
                str(practice / "Data"),
                "--account-key",
                str(practice / "account.key"),
                "--json",
                *extra,
            ]

        self.round_robin(
            [
                ("folder-backup", lambda: folder_backup(), None),
                ("folder-backup --no-verify", lambda: folder_backup("--no-verify"), None),
                (
                    "cp -r (folder)",
                    lambda: ["cp", "-r", str(practice / "Data"), str(self.out / "Data")],
                    None,
                ),
            ],
            warm=[practice / "Data"],
        )

    def group_preview(self) -> None:
        n = self.args.size.preview_files
        # ~33 files per client with 20 sessions (profile, sessions, invoices, payments).
        clients = max(1, round(n / 30.4))
        practice = self.demo(
            "practice-preview",
            clients=clients,
            sessions_per_client=20,
            audio_files=0,
            audio_mb=0,
            documents_per_client=0,
        )
        facts = self.practice_facts(practice)
        self.extra["preview_practice"] = facts
        print(f"  preview practice: {facts['files']:,} files", flush=True)
        data = practice / "Data"
        self.warm(data)
        self.round_robin(
            [
                (
                    "preview",
                    lambda: [
                        *self.therabak,
                        "preview",
                        "--json",
                        "--data-dir",
                        str(data),
                        "--account-key",
                        str(practice / "account.key"),
                    ],
                    None,
                ),
                ("du -sb", lambda: ["du", "-sb", str(data)], None),
            ],
            warm=[data],
        )

    def group_list(self) -> None:
        if not self.has_command("list"):
            self.note("therabak list does not exist yet: list benchmark skipped")
            return
        n = self.args.size.list_points
        practice = self.demo(
            "practice-tiny",
            clients=3,
            sessions_per_client=2,
            audio_files=0,
            audio_mb=0,
            documents_per_client=0,
        )
        folder = self.work / "points"
        made = self.make_points(practice, folder, n)
        self.extra["list_points"] = made
        self.round_robin([("list", lambda: self.list_cmd(practice, folder), None)], warm=[folder])

    def make_points(self, practice: Path, folder: Path, n: int) -> int:
        """n archives (three quarters automatic, one quarter manual), made through the engine
        API with an account slot (no Argon2id per archive, so this takes seconds)."""
        stamp = folder / "bench-points.json"
        if stamp.exists() and stamp.read_text() == str(n):
            return n
        shutil.rmtree(folder, ignore_errors=True)
        code = f"""
import sys
from datetime import datetime, timedelta
from pathlib import Path
from therabak.archive.writer import Protection
from therabak.jobs.backup import BackupRequest, run_backup
from therabak.practice.account import AccountKey
from therabak.practice.categories import BackupKind, Rules
practice, folder, n = Path({str(practice)!r}), Path({str(folder)!r}), {n}
key = AccountKey.load(practice / "account.key")
rules = Rules.load()
start = datetime(2025, 1, 1, 3, 0).astimezone()
for i in range(n):
    kind = BackupKind.MANUAL if i % 4 == 0 else BackupKind.AUTOMATIC
    sub = folder / ("manual" if kind is BackupKind.MANUAL else "auto")
    sub.mkdir(parents=True, exist_ok=True)
    run_backup(BackupRequest(
        data_dir=practice / "Data", account=key, dest_dir=sub, rules=rules,
        selection=rules.default_selection(kind),
        protection=Protection(account_key=key.key, account_key_id=key.key_id), kind=kind,
        remember_destination=False, created=start + timedelta(hours=12 * i)))
"""
        t0 = time.perf_counter()
        self.sh([sys.executable, "-c", code])
        stamp.write_text(str(n))
        print(f"  made {n} restore points in {time.perf_counter() - t0:.1f} s", flush=True)
        return n

    def list_cmd(self, practice: Path, folder: Path) -> list[str]:
        return [
            *self.therabak,
            "list",
            "--json",
            "--no-media",
            "--data-dir",
            str(practice / "Data"),
            "--account-key",
            str(practice / "account.key"),
            "--in",
            str(folder / "manual"),
            "--in",
            str(folder / "auto"),
        ]

    def group_rss(self) -> None:
        mb = self.args.size.big_file_mb
        practice = self.demo(
            "practice-bigfile",
            clients=1,
            sessions_per_client=1,
            audio_files=1,
            audio_mb=mb,
            documents_per_client=0,
        )
        self.warm(practice / "Data")
        cases: list[tuple[str, object, object]] = [
            (f"backup one {mb} MiB file", lambda: self.backup_cmd(practice, self.out), None)
        ]
        runs, self.args.runs = self.args.runs, 1
        try:
            self.round_robin(cases, warm=[practice / "Data"])
        finally:
            self.args.runs = runs

    # -- report -----------------------------------------------------------------------

    def ratio(self, a: str, b: str) -> float | None:
        ta, tb = self.timings.get(a), self.timings.get(b)
        if not ta or not tb or ta.median is None or tb.median is None or tb.median == 0:
            return None
        return ta.median / tb.median

    def ratios(self) -> list[dict]:
        pairs = [
            ("backup/tar|age", "backup", "tar|age"),
            ("backup/restic", "backup", "restic backup"),
            ("backup/borg", "backup", "borg create"),
            ("backup/cp -r", "backup", "cp -r"),
            ("backup --verify/tar|age", "backup --verify", "tar|age"),
            ("backup/tar|age+fsync", "backup", "tar|age+fsync"),
            ("restore/cp -r back", "restore", "cp -r back"),
            ("restore/restic restore", "restore", "restic restore"),
            ("folder-backup/cp -r", "folder-backup", "cp -r (folder)"),
            ("folder-backup --no-verify/cp -r", "folder-backup --no-verify", "cp -r (folder)"),
            ("preview/du -sb", "preview", "du -sb"),
        ]
        out = []
        for key, a, b in pairs:
            r = self.ratio(a, b)
            if r is None:
                continue
            target, limit, what = TARGETS[key]
            ok = None if target is None else r <= target
            out.append(
                {
                    "name": key,
                    "what": what,
                    "therabak_s": self.timings[a].median,
                    "peer_s": self.timings[b].median,
                    "ratio": round(r, 3),
                    "target": target,
                    "limit": limit,
                    "met": ok,
                }
            )
        t = self.timings.get("list")
        if t and t.median is not None:
            out.append(
                {
                    "name": "list",
                    "what": f"list of {self.extra.get('list_points')} restore points (s)",
                    "therabak_s": t.median,
                    "peer_s": None,
                    "ratio": None,
                    "target": 0.5,
                    "limit": None,
                    "met": t.median < 0.5,
                }
            )
        rss = [
            t
            for n, t in self.timings.items()
            if n in ("backup", "backup --verify", "restore", "preview", "list")
            or n.startswith(("backup one", "folder-backup"))
        ]
        if rss:
            peak = max((t.peak_rss_mb or 0) for t in rss)
            worst = max(rss, key=lambda t: t.peak_rss_mb or 0)
            out.append(
                {
                    "name": "peak RSS",
                    "what": f"therabak peak RSS (MB), worst: {worst.name}",
                    "therabak_s": None,
                    "peer_s": None,
                    "ratio": None,
                    "peak_rss_mb": peak,
                    "target": 100,
                    "limit": None,
                    "met": peak < 100,
                }
            )
        return out

    def report(self, started: float, load_before: tuple) -> dict:
        print("\nTimings (wall seconds, median and min-max of the runs; peak RSS):")
        for t in self.timings.values():
            if t.median is None:
                print(f"  {t.name:<28} failed")
                continue
            lo, hi = t.spread
            print(
                f"  {t.name:<28} {t.median:8.2f} s  [{lo:.2f}-{hi:.2f}]  "
                f"{t.peak_rss_mb:8.1f} MB  x{len(t.ok_runs)}"
            )
        ratios = self.ratios()
        print("\nRatios therabak / peer (lower is better):")
        print(f"  {'':<42} {'therabak':>9} {'peer':>9} {'ratio':>7} {'target':>8}  ")
        for r in ratios:
            met = {True: "ok", False: "MISSED", None: ""}[r["met"]]
            if r["ratio"] is not None:
                tgt = "" if r["target"] is None else f"<= {r['target']:.2f}"
                print(
                    f"  {r['what']:<42} {r['therabak_s']:8.2f}s {r['peer_s']:8.2f}s "
                    f"{r['ratio']:7.2f} {tgt:>8}  {met}"
                )
            elif r["name"] == "list":
                print(
                    f"  {r['what']:<42} {r['therabak_s']:8.2f}s {'':>9} {'':>7} "
                    f"{'< 0.5 s':>8}  {met}"
                )
            else:
                print(
                    f"  {r['what']:<42} {r['peak_rss_mb']:8.1f}MB {'':>9} {'':>7} "
                    f"{'< 100 MB':>8}  {met}"
                )
        load_after = os.getloadavg()
        print(
            f"\nLoad average before {load_before[0]:.2f} {load_before[1]:.2f} "
            f"{load_before[2]:.2f}, after {load_after[0]:.2f} {load_after[1]:.2f} "
            f"{load_after[2]:.2f} on {os.cpu_count()} CPUs; "
            f"{(time.perf_counter() - started) / 60:.1f} min in all."
        )
        for n in self.notes:
            print(f"Note: {n}")
        return {
            "timestamp": datetime.now().astimezone().isoformat(timespec="seconds"),
            "git": self._git(),
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "python": platform.python_version(),
                "load_before": load_before,
                "load_after": load_after,
            },
            "options": {
                "runs": self.args.runs,
                "quick": self.args.quick,
                "groups": self.args.groups,
                "size": asdict(self.args.size),
            },
            "practice": self.extra.get("practice"),
            "extra": self.extra,
            "timings": [t.to_dict() for t in self.timings.values()],
            "ratios": ratios,
            "notes": self.notes,
            "fairness": "therabak, restic and borg fsync their output; cp -r and tar | age "
            "do not. Output is synced (untimed) between runs.",
            "duration_min": round((time.perf_counter() - started) / 60, 2),
        }

    def _git(self) -> str:
        r = subprocess.run(
            ["git", "-C", str(HERE), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
        )
        return r.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    load_before = os.getloadavg()
    bench = Bench(args)
    bench.work.mkdir(parents=True, exist_ok=True)
    pw = bench.work / "password"
    pw.write_text(PASSWORD + "\n")
    pw.chmod(0o600)
    free = shutil.disk_usage(bench.work).free
    print(
        f"therabak benchmark: {', '.join(args.groups)}; {args.runs} runs each; work folder "
        f"{bench.work} ({free / 1e9:.0f} GB free); load {load_before[0]:.2f}",
        flush=True,
    )
    need = (args.size.audio_mb * 1.05 * 3 + 2 * args.size.big_file_mb) * 2**20
    if free < need:
        print(f"  warning: {free / 1e9:.1f} GB free, about {need / 1e9:.1f} GB needed", flush=True)
    bench.install_peers()
    if not bench.has_command("backup"):
        print(
            "therabak backup cannot be run with this Python: install therabak into its "
            "venv and run the script with that venv's python.",
            file=sys.stderr,
        )
        return 2
    practice = None
    try:
        if {"backup", "restore", "folder"} & set(args.groups):
            s = args.size
            practice = bench.demo(
                "practice",
                clients=s.clients,
                sessions_per_client=s.sessions_per_client,
                audio_files=s.audio_files,
                audio_mb=s.audio_mb,
                documents_per_client=s.documents_per_client,
            )
            facts = bench.practice_facts(practice)
            bench.extra["practice"] = facts
            print(
                f"  practice: {facts['files']:,} files, {facts['bytes'] / 1e9:.2f} GB", flush=True
            )
            bench.warm(practice / "Data")
        for group in args.groups:
            print(f"\n== {group}", flush=True)
            if group == "backup":
                bench.group_backup(practice)
            elif group == "restore":
                bench.group_restore(practice)
            elif group == "folder":
                bench.group_folder(practice)
            elif group == "preview":
                bench.group_preview()
            elif group == "list":
                bench.group_list()
            elif group == "rss":
                bench.group_rss()
    except KeyboardInterrupt:
        print("\ninterrupted: partial results follow", flush=True)
    finally:
        shutil.rmtree(bench.out, ignore_errors=True)
    result = bench.report(started, load_before)
    out = args.json_out or RESULTS / f"{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"JSON: {out}")
    if not args.keep:
        shutil.rmtree(bench.work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
