"""therabak side by side with the tools users would pick instead (run by hand, not in CI).

    python tests/bench/run.py                  # ~2 GB demo practice, 3 runs each
    python tests/bench/run.py --quick          # small practice, 2 runs: a smoke test
    python tests/bench/run.py --practice /tmp/sread/bench2g/practice --workers 2
    python tests/bench/run.py --only backup,restore --runs 5 --keep

The one entry point for the benchmark tables of issue 19 (speed: the first backup beside
``tar | age`` and restic, restore beside ``restic restore`` and ``cp -r``, the folder
backup beside ``cp -r``, peak RSS, the cores used) and issue 16 (the backup store: second
backup, a backup after a change, the first beside ``--single-file``, 20 backups of a
growing practice, prune after forget, peak RSS for 100k files), with the older targets
of issue 6 (preview, list). The target rows are in ``targets.py``.

Run it with the Python of the venv therabak is installed in (it runs
``sys.executable -m therabak``, always the real CLI). It uses ``--practice DIR`` (a folder
with ``Data`` and ``account.key``; read only, copied where a group changes it) or makes a
demo practice with ``therabak demo`` (kept in the work folder with --keep and reused while
its options stay the same), installs missing peers (age, restic, borgbackup, GNU time)
with apt-get when it can and skips a peer with a note when it cannot.

Every timed command is one process: wall time, peak RSS and CPU time from ``os.wait4``;
the wall time includes a ``sync`` right after the command (so tools that do not fsync,
``cp -r`` and ``restic restore``, pay for writing their data out as therabak does; the
sync is also stored apart). The page cache is the same for every tool of a row: with
``--cache cold`` (the default where ``/proc/sys/vm/drop_caches`` can be written: root on
Linux) it is dropped before each timed command; with ``--cache warm`` (the default
elsewhere, with a note) the command's input is read right before each run. Runs are
interleaved (round-robin over the commands of a group), and written output is synced
and deleted between runs, so the ratios come from the same minutes of the same machine.
``--workers N`` runs therabak with ``THERABAK_WORKERS=N``. ``os.cpu_count()`` is printed
and stored; issue 19's 4-core run needs a machine with 4 cores (the script says when it
is not one).

The result is the timings, one table of ratios with the targets of issues 19, 16 and 6,
and a JSON file in ``tests/bench/results/<timestamp>.json`` (git-ignored) with every run.
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

import practice_changes  # beside this script (its folder is sys.path[0])
import targets as T

HERE = Path(__file__).resolve().parent

RESULTS = HERE / "results"
PASSWORD = "bench-password-not-secret"
PEER_PACKAGES = {"age": "age", "age-keygen": "age", "restic": "restic", "borg": "borgbackup"}
DROP_CACHES = Path("/proc/sys/vm/drop_caches")
# Runs argv[2:] and writes its peak RSS (KiB), user and system seconds to argv[1].
LAUNCHER = (
    "import os, subprocess, sys\n"
    "p = subprocess.Popen(sys.argv[2:])\n"
    "_, st, ru = os.wait4(p.pid, 0)\n"
    "open(sys.argv[1], 'w').write(f'{ru.ru_maxrss} {ru.ru_utime} {ru.ru_stime}')\n"
    "sys.exit(os.waitstatus_to_exitcode(st))\n"
)


# ---------------------------------------------------------------------------------------
# options


@dataclass
class Size:
    audio_mb: float
    audio_files: int
    clients: int
    sessions_per_client: int
    documents_per_client: int
    change_audio_mb: float  # new audio before the "after a change" backup
    change_notes: int  # session notes changed before it
    backups: int  # backups of the growing practice
    growth: float  # share the practice grows by between them
    preview_files: int  # files of the practice for preview vs du and the 100k-files RSS
    big_file_mb: int  # the single large file for the peak-RSS run
    list_points: int


DEFAULT = Size(
    audio_mb=1800,
    audio_files=45,
    clients=1000,
    sessions_per_client=20,
    documents_per_client=2,
    change_audio_mb=100,
    change_notes=500,
    backups=20,
    growth=0.02,
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
    change_audio_mb=10,
    change_notes=50,
    backups=20,
    growth=0.02,
    preview_files=20_000,
    big_file_mb=512,
    list_points=200,
)
GROUPS = ("backup", "incremental", "restore", "folder", "growth", "preview", "list", "rss")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Benchmark therabak against cp -r, tar | age, restic and borg "
        "(issues 19, 16 and 6).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="small practice, 2 runs: smoke test")
    p.add_argument(
        "--workdir",
        type=Path,
        default=Path(os.environ.get("TMPDIR", "/tmp")) / "therabak-bench",
        help="where practices and outputs go (needs about 4x the practice size free, "
        "plus 2x --big-file-mb)",
    )
    p.add_argument(
        "--practice",
        type=Path,
        help="an existing practice (a folder with Data and account.key), read only, "
        "instead of a demo practice (the size options then apply to the other practices)",
    )
    p.add_argument("--runs", type=int, help="timed runs per command (default 3, quick 2)")
    p.add_argument("--only", help=f"comma-separated groups to run: {','.join(GROUPS)}")
    p.add_argument("--skip", help="comma-separated groups to leave out")
    p.add_argument(
        "--workers", type=int, help="run therabak with THERABAK_WORKERS=N (default: its own)"
    )
    p.add_argument(
        "--cache",
        choices=("cold", "warm"),
        help="drop the page cache before each timed command (cold; needs root on Linux) "
        "or read each command's input right before it (warm). Default: cold where allowed",
    )
    p.add_argument(
        "--growth-restic",
        action="store_true",
        help="also back the growing practice up with restic (its repository size; needs "
        "the disk space of another store)",
    )
    p.add_argument("--audio-mb", type=float, help="total audio in the practice (MiB)")
    p.add_argument("--audio-files", type=int)
    p.add_argument("--clients", type=int)
    p.add_argument("--sessions-per-client", type=int)
    p.add_argument("--change-audio-mb", type=float, help="new audio before 'after a change'")
    p.add_argument("--change-notes", type=int, help="session notes changed before it")
    p.add_argument("--backups", type=int, help="backups of the growing practice")
    p.add_argument("--growth", type=float, help="share the practice grows by between them")
    p.add_argument("--preview-files", type=int, help="files in the preview and 100k practice")
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
    if args.practice is not None:
        args.practice = args.practice.absolute()
        if not (args.practice / "Data").is_dir() or not (args.practice / "account.key").is_file():
            p.error(f"{args.practice} holds no Data folder and account.key")
    return args


def _disk_activity() -> tuple[int, int, int] | None:
    """Sectors written, sectors discarded and I/Os in flight, summed over the block
    devices of /proc/diskstats (Linux; None elsewhere)."""
    try:
        lines = Path("/proc/diskstats").read_text().splitlines()
    except OSError:
        return None
    written = discarded = in_flight = 0
    for line in lines:
        f = line.split()
        if len(f) < 14 or f[2].startswith(("loop", "ram")):
            continue
        written += int(f[9])
        in_flight += int(f[11])
        if len(f) >= 18:
            discarded += int(f[16])
    return written, discarded, in_flight


def can_drop_caches() -> bool:
    try:
        with open(DROP_CACHES, "w") as f:
            f.write("3\n")
    except OSError:
        return False
    return True


# ---------------------------------------------------------------------------------------
# running and measuring


@dataclass
class Run:
    wall_s: float  # the command and the sync after it
    cmd_s: float
    sync_s: float
    rss_mb: float
    user_s: float
    sys_s: float
    rc: int


@dataclass
class Timing:
    name: str
    runs: list[Run] = field(default_factory=list)
    ours: bool = False  # a therabak command (its RSS counts for the RSS targets)

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
            "therabak": self.ours,
            "median_s": self.median,
            "spread_s": self.spread,
            "peak_rss_mb": self.peak_rss_mb,
            "runs": [asdict(r) for r in self.runs],
        }


def find_value(text: str, key: str) -> object | None:
    """The last value of *key* in any JSON object of the JSON Lines *text*."""
    found = None

    def walk(o: object) -> None:
        nonlocal found
        if isinstance(o, dict):
            for k, v in o.items():
                if k == key:
                    found = v
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                walk(json.loads(line))
    return found


@dataclass
class Case:
    """One command of a group: *prepare* (untimed) returns the command, or None to skip
    this run; *warm* are the files it reads (read before it with --cache warm)."""

    name: str
    prepare: object  # Callable[[], list[str] | str | None]
    warm: list[Path] = field(default_factory=list)
    ours: bool = False


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work: Path = args.workdir.absolute()
        self.out = self.work / "out"
        self.timings: dict[str, Timing] = {}
        self.notes: list[str] = []
        self.extra: dict[str, object] = {}
        self.values: dict[str, float | None] = {}  # sizes and peaks for the targets
        self.therabak = [sys.executable, "-m", "therabak"]
        self.env = dict(os.environ)
        self.env.update(
            THERABAK_CONFIG=str(self.work / "config" / "settings.toml"),
            THERABAK_STATE_DIR=str(self.work / "state"),
            RESTIC_PASSWORD_FILE=str(self.work / "password"),
            RESTIC_CACHE_DIR=str(self.work / "restic-cache"),
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
            "THERABAK_WORKERS",
        ):
            self.env.pop(var, None)
        if args.workers is not None:
            self.env["THERABAK_WORKERS"] = str(args.workers)
        self.cold = args.cache == "cold"
        self.practice: Path | None = None
        self.mutable: Path | None = None  # a copy of the practice that groups change

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

    def measure(self, cmd: list[str] | str) -> tuple[Run, str]:
        """Wall time (with a sync after), peak RSS and CPU time of one process and its
        waited-for children; also its standard output.

        The command runs under a small launcher (GNU time, else a Python one) that reports
        the command's own rusage: a process spawned by this script would count this
        script's memory at the fork as its own peak RSS."""
        argv = ["/bin/sh", "-c", cmd] if isinstance(cmd, str) else cmd
        usage = self.work / "last-usage.txt"
        if Path("/usr/bin/time").exists():
            launched = ["/usr/bin/time", "-f", "%M %U %S", "-o", str(usage), *argv]
        else:
            launched = [sys.executable, "-c", LAUNCHER, str(usage), *argv]
        if self.cold:
            os.sync()
            DROP_CACHES.write_text("3\n")
        outp, errp = self.work / "last-stdout.txt", self.work / "last-stderr.txt"
        with open(outp, "wb") as outf, open(errp, "wb") as errf:
            t0 = time.perf_counter()
            proc = subprocess.Popen(
                launched, env=self.env, stdin=subprocess.DEVNULL, stdout=outf, stderr=errf
            )
            _, status, _ru = os.wait4(proc.pid, 0)
            t1 = time.perf_counter()
            os.sync()
            t2 = time.perf_counter()
        rc = os.waitstatus_to_exitcode(status)
        if rc != 0:
            err = errp.read_text(errors="replace").strip()
            print(f"    ! exit {rc}: {' '.join(argv)}\n      {err[-600:]}", flush=True)
        try:
            words = usage.read_text().split()[-3:]
            rss_kb, user, system = int(words[0]), float(words[1]), float(words[2])
        except (OSError, ValueError, IndexError):
            rss_kb, user, system = 0, 0.0, 0.0
        run = Run(
            wall_s=round(t2 - t0, 3),
            cmd_s=round(t1 - t0, 3),
            sync_s=round(t2 - t1, 3),
            rss_mb=round(rss_kb / 1024, 1),
            user_s=round(user, 2),
            sys_s=round(system, 2),
            rc=rc,
        )
        return run, outp.read_text(errors="replace")

    def settle(self) -> None:
        """Flush what earlier runs wrote and let the file system finish deleting their
        output, so that work does not land in the next run: on a file system mounted with
        ``discard`` (this VM's root) deleting a round's ~10 GB of outputs goes on as
        discards after the ``rm``. So: wait until the disks have written and discarded
        nothing, with nothing in flight, for a second (at most a minute). (It did not
        remove the store's first backup's swings in system time, 2.5-5.8 s between rounds
        of the same code: their cause is not known.)"""
        os.sync()
        started = time.monotonic()
        last, quiet_since = _disk_activity(), started
        while last is not None and time.monotonic() - started < 60:
            time.sleep(0.25)
            now = _disk_activity()
            if now != last or (now is not None and now[2]):
                last, quiet_since = now, time.monotonic()
            elif time.monotonic() - quiet_since >= 1.0:
                break
        else:
            time.sleep(1.0)
        os.sync()
        waited = time.monotonic() - started
        if waited > 5:
            print(f"    (waited {waited:.0f} s for the disk to finish earlier work)", flush=True)

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

    def timing(self, name: str, ours: bool = False) -> Timing:
        t = self.timings.setdefault(name, Timing(name))
        t.ours = t.ours or ours
        return t

    def record(self, case: Case, cmd: list[str] | str, label: str = "") -> str:
        """Time *cmd* once as a run of *case*; returns its standard output."""
        self.settle()
        if not self.cold:
            for path in case.warm:
                self.warm(path)
        run, out = self.measure(cmd)
        self.timing(case.name, case.ours).runs.append(run)
        print(
            f"    {label:<9} {case.name:<34} {run.wall_s:8.2f} s (sync {run.sync_s:.2f}) "
            f"{run.rss_mb:7.1f} MB  (user {run.user_s:.1f} s, sys {run.sys_s:.1f} s)"
            + ("" if run.rc == 0 else f"  EXIT {run.rc}"),
            flush=True,
        )
        return out

    def round_robin(self, cases: list[Case], runs: int | None = None) -> None:
        """Interleaved runs: each case once per round, *runs* rounds."""
        runs = self.args.runs if runs is None else runs
        for i in range(runs):
            for case in cases:
                self.clear_out()
                cmd = case.prepare()
                if cmd is None:
                    continue
                self.record(case, cmd, f"run {i + 1}/{runs}")
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

    def practice_facts(self, data: Path) -> dict:
        files = total = 0
        for root, _d, names in os.walk(data):
            for n in names:
                files += 1
                total += os.lstat(os.path.join(root, n)).st_size
        return {"files": files, "bytes": total}

    def main_practice(self) -> Path:
        if self.practice is None:
            if self.args.practice is not None:
                self.practice = self.args.practice
            else:
                s = self.args.size
                self.practice = self.demo(
                    "practice",
                    clients=s.clients,
                    sessions_per_client=s.sessions_per_client,
                    audio_files=s.audio_files,
                    audio_mb=s.audio_mb,
                    documents_per_client=s.documents_per_client,
                )
            facts = self.practice_facts(self.practice / "Data")
            self.extra["practice"] = {"path": str(self.practice), **facts}
            print(
                f"  practice {self.practice}: {facts['files']:,} files, "
                f"{facts['bytes'] / 1e9:.2f} GB",
                flush=True,
            )
        return self.practice

    def mutable_data(self) -> Path:
        """A copy of the practice's Data that the incremental and growth groups change."""
        if self.mutable is None:
            self.mutable = self.work / "mutable" / "Data"
            shutil.rmtree(self.mutable.parent, ignore_errors=True)
            self.mutable.parent.mkdir(parents=True)
            self.sh(["cp", "-a", str(self.main_practice() / "Data"), str(self.mutable)])
        return self.mutable

    @property
    def key(self) -> Path:
        return self.main_practice() / "account.key"

    # -- commands ---------------------------------------------------------------------

    def practice_opts(self, data: Path, key: Path) -> list[str]:
        return ["--data-dir", str(data), "--account-key", str(key)]

    def backup_cmd(self, data: Path, key: Path, dest: Path, *extra: str) -> list[str]:
        return [
            *self.therabak,
            "backup",
            "--dest",
            str(dest),
            *self.practice_opts(data, key),
            "--password-file",
            str(self.work / "password"),
            "--json",
            *extra,
        ]

    def store_cmd(self, command: str, dest: Path, data: Path, *extra: str) -> list[str]:
        """forget, prune: a store's command."""
        return [
            *self.therabak,
            command,
            str(dest),
            *extra,
            *self.practice_opts(data, self.key),
            "--password-file",
            str(self.work / "password"),
            "--json",
        ]

    def restic(self, repo: Path, *args: str) -> list[str]:
        return ["restic", "--repo", str(repo), "--quiet", *args]

    # -- groups -----------------------------------------------------------------------

    def group_backup(self) -> None:
        """Issue 19 and 16: the first backup into an empty store beside tar | age (to a
        file, fsynced), restic's and borg's first backup and --single-file."""
        practice = self.main_practice()
        data = practice / "Data"
        key = practice / "account.key"
        cases = [
            Case(T.FIRST, lambda: self.backup_cmd(data, key, self.out), [data], True),
            Case(
                T.SINGLE,
                lambda: self.backup_cmd(data, key, self.out, "--single-file"),
                [data],
                True,
            ),
        ]
        if shutil.which("age") and shutil.which("age-keygen"):
            age_key = self.work / "age.key"
            if not age_key.exists():
                self.sh(["age-keygen", "-o", str(age_key)])
            recipient = next(
                line.split(":", 1)[1].strip()
                for line in age_key.read_text().splitlines()
                if line.startswith("# public key:")
            )
            cases.append(
                Case(
                    T.TAR_AGE,
                    lambda: (
                        f"tar -cf - -C '{practice}' Data | age -r {recipient} "
                        f"> '{self.out}/data.tar.age' && sync '{self.out}/data.tar.age'"
                    ),
                    [data],
                )
            )
        else:
            self.note("age not available: tar | age skipped")
        if shutil.which("restic"):

            def restic_first() -> list[str]:
                self.sh(self.restic(self.out / "restic", "init"))
                return self.restic(self.out / "restic", "backup", str(data))

            cases.append(Case(T.RESTIC_FIRST, restic_first, [data]))
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
                    f"{self.out}/borg::first",
                    str(data),
                ]

            cases.append(Case(T.BORG, borg, [data]))
        else:
            self.note("borg not available: skipped")
        self.round_robin(cases)

    def incremental_repos(self) -> tuple[Path, Path | None]:
        """A store and a restic repository with a first backup of the mutable copy,
        shared by the incremental and restore groups. Timed as a first backup only when
        the backup group did not run (--only), so the ratios to the first backup have
        their base."""
        dest, repo = self.work / "inc" / "dest", self.work / "inc" / "restic"
        if not dest.exists():
            data = self.mutable_data()
            dest.mkdir(parents=True)
            timed = T.FIRST not in self.timings
            print(f"  first backups of the copy ({'timed' if timed else 'untimed'}) ...")
            first = self.backup_cmd(data, self.key, dest)
            if timed:
                self.record(Case(T.FIRST, None, [data], True), first, "once")
            else:
                self.sh(first)
            if shutil.which("restic"):
                self.sh(self.restic(repo, "init"))
                first = self.restic(repo, "backup", str(data))
                if T.RESTIC_FIRST not in self.timings:
                    self.record(Case(T.RESTIC_FIRST, None, [data]), first, "once")
                else:
                    self.sh(first)
        return dest, (repo if repo.exists() else None)

    def group_incremental(self) -> None:
        """Issue 16: a second backup with nothing changed, and one after new audio and
        changed session notes, each beside restic's of the same data."""
        dest, repo = self.incremental_repos()
        data = self.mutable_data()
        cases = [Case(T.SECOND, lambda: self.backup_cmd(data, self.key, dest), [data], True)]
        if repo:
            cases.append(
                Case(T.RESTIC_SECOND, lambda: self.restic(repo, "backup", str(data)), [data])
            )
        self.round_robin(cases)
        s = self.args.size
        made: list[dict] = []

        def changed() -> list[str]:
            made.append(
                practice_changes.change(
                    data, self.key, s.change_audio_mb, s.change_notes, 1000 + len(made)
                )
            )
            return self.backup_cmd(data, self.key, dest)

        cases = [Case(T.CHANGE, changed, [data], True)]
        if repo:
            cases.append(
                Case(T.RESTIC_CHANGE, lambda: self.restic(repo, "backup", str(data)), [data])
            )
        print(
            f"  before each '{T.CHANGE}': {s.change_audio_mb:g} MiB of new audio, "
            f"{s.change_notes} session notes changed",
            flush=True,
        )
        self.round_robin(cases)
        self.extra["changes"] = made

    def group_restore(self) -> None:
        """Issue 19 and 16: restore of the store's newest point into a new folder beside
        restic restore and cp -r of the same data."""
        if not self.has_command("restore"):
            self.note("therabak restore does not exist yet: restore benchmark skipped")
            return
        dest, repo = self.incremental_repos()
        data = self.mutable_data()
        cases = [
            Case(
                T.RESTORE,
                lambda: [
                    *self.therabak,
                    "restore",
                    f"{dest}@latest",
                    "--to",
                    str(self.out / "target"),
                    "--yes",
                    "--password-file",
                    str(self.work / "password"),
                    *self.practice_opts(data, self.key),
                    "--json",
                ],
                [dest],
                True,
            ),
            Case(T.CP_BACK, lambda: ["cp", "-r", str(data), str(self.out / "Data")], [data]),
        ]
        if repo:
            cases.append(
                Case(
                    T.RESTIC_RESTORE,
                    lambda: self.restic(
                        repo, "restore", "latest", "--target", str(self.out / "restic-target")
                    ),
                    [repo],
                )
            )
        self.round_robin(cases)

    def group_folder(self) -> None:
        """Issue 19: the folder backup (with its device check, and without) beside cp -r."""
        if not self.has_command("folder-backup"):
            self.note("therabak folder-backup does not exist yet: folder benchmark skipped")
            return
        practice = self.main_practice()
        data, key = practice / "Data", practice / "account.key"

        def folder_backup(*extra: str) -> list[str]:
            return [
                *self.therabak,
                "folder-backup",
                "--dest",
                str(self.out),
                *self.practice_opts(data, key),
                "--json",
                *extra,
            ]

        self.round_robin(
            [
                Case(T.FOLDER, lambda: folder_backup(), [data], True),
                Case(T.FOLDER_NOVERIFY, lambda: folder_backup("--no-verify"), [data], True),
                Case(T.CP_FOLDER, lambda: ["cp", "-r", str(data), str(self.out / "Data")], [data]),
            ]
        )

    def group_growth(self) -> None:
        """Issue 16: backups of a practice growing between them (the store's size against
        one full backup), then forget the older half and prune (timed)."""
        s = self.args.size
        # The incremental store and repository are not needed any more: free their space.
        shutil.rmtree(self.work / "inc", ignore_errors=True)
        data = self.mutable_data()
        dest, repo = self.work / "growth" / "dest", self.work / "growth" / "restic"
        shutil.rmtree(dest.parent, ignore_errors=True)
        dest.mkdir(parents=True)
        with_restic = self.args.growth_restic and shutil.which("restic")
        if with_restic:
            self.sh(self.restic(repo, "init"))
        sizes: list[dict] = []
        grow = Case("store backup of the growing practice", None, [data], True)
        for i in range(s.backups):
            if i:
                practice_changes.grow(data, self.key, s.growth, 100 + i)
            out = self.record(grow, self.backup_cmd(data, self.key, dest), f"{i + 1}/{s.backups}")
            if with_restic:
                self.record(
                    Case("restic backup of the growing practice", None, [data]),
                    self.restic(repo, "backup", str(data)),
                    f"{i + 1}/{s.backups}",
                )
            bytes_in = find_value(out, "bytes_in")
            sizes.append(
                {
                    "data": practice_changes.dir_size(data),
                    "plaintext": bytes_in,
                    "store": practice_changes.dir_size(dest),
                    "restic": practice_changes.dir_size(repo) if with_restic else None,
                }
            )
        last = sizes[-1]
        print(
            f"  after {s.backups} backups: store {last['store'] / 1e9:.3f} GB, one full backup "
            f"(plaintext of the last) {(last['plaintext'] or 0) / 1e9:.3f} GB, "
            f"Data {last['data'] / 1e9:.3f} GB",
            flush=True,
        )
        self.extra["growth"] = sizes
        self.values[T.GROWTH_STORE] = last["store"]
        self.values[T.GROWTH_FULL] = last["plaintext"]
        half = s.backups // 2
        self.record(
            Case(T.FORGET, None, [dest], True),
            self.store_cmd("forget", dest, data, "--keep-last", str(s.backups - half)),
        )
        self.record(Case(T.PRUNE, None, [dest], True), self.store_cmd("prune", dest, data))
        self.extra["store_after_prune"] = practice_changes.dir_size(dest)
        if with_restic:
            self.record(
                Case("restic forget", None, [repo]),
                self.restic(repo, "forget", "--keep-last", str(s.backups - half)),
            )
            self.record(Case("restic prune", None, [repo]), self.restic(repo, "prune"))
            self.extra["restic_after_prune"] = practice_changes.dir_size(repo)
        # The last group that needs the copy: free its space for the practices to come.
        shutil.rmtree(dest.parent, ignore_errors=True)
        shutil.rmtree(data.parent, ignore_errors=True)
        self.mutable = None

    def many_files_practice(self) -> Path:
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
        if "preview_practice" not in self.extra:
            facts = self.practice_facts(practice / "Data")
            self.extra["preview_practice"] = facts
            print(f"  practice of many files: {facts['files']:,} files", flush=True)
        return practice

    def group_preview(self) -> None:
        practice = self.many_files_practice()
        data = practice / "Data"
        self.round_robin(
            [
                Case(
                    T.PREVIEW,
                    lambda: [
                        *self.therabak,
                        "preview",
                        "--json",
                        *self.practice_opts(data, practice / "account.key"),
                    ],
                    [data],
                    True,
                ),
                Case(T.DU, lambda: ["du", "-sb", str(data)], [data]),
            ]
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
        self.round_robin([Case(T.LIST, lambda: self.list_cmd(practice, folder), [folder], True)])

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
        """Peak RSS: the first store backup of the practice of many files (issue 16: 100k
        files) and of one large file (issue 19: whatever the file sizes)."""
        many = self.many_files_practice()
        mb = self.args.size.big_file_mb
        big = self.demo(
            "practice-bigfile",
            clients=1,
            sessions_per_client=1,
            audio_files=1,
            audio_mb=mb,
            documents_per_client=0,
        )
        cases = [
            Case(
                T.BACKUP_100K,
                lambda: self.backup_cmd(many / "Data", many / "account.key", self.out),
                [many / "Data"],
                True,
            ),
            Case(
                f"store first backup, one {mb} MiB file",
                lambda: self.backup_cmd(big / "Data", big / "account.key", self.out),
                [big / "Data"],
                True,
            ),
        ]
        self.round_robin(cases, runs=1)

    # -- report -----------------------------------------------------------------------

    def target_values(self) -> dict[str, float | None]:
        values: dict[str, float | None] = {n: t.median for n, t in self.timings.items()}
        values.update(self.values)
        ours = [t for t in self.timings.values() if t.ours and t.peak_rss_mb is not None]
        if ours:
            values[T.PEAK_RSS] = max(t.peak_rss_mb for t in ours)
        many = self.timings.get(T.BACKUP_100K)
        if many and many.peak_rss_mb is not None:
            values[T.PEAK_RSS_100K] = many.peak_rss_mb
        return values

    def report(self, started: float, load_before: tuple) -> dict:
        print(
            "\nTimings (wall seconds including the sync after each command: median and "
            "min-max of the runs; peak RSS; CPU user+sys of the median run):"
        )
        for t in self.timings.values():
            if t.median is None:
                print(f"  {t.name:<40} failed")
                continue
            lo, hi = t.spread
            cpu = statistics.median(r.user_s + r.sys_s for r in t.ok_runs)
            print(
                f"  {t.name:<40} {t.median:8.2f} s  [{lo:.2f}-{hi:.2f}]  "
                f"{t.peak_rss_mb:7.1f} MB  cpu {cpu:6.2f} s  x{len(t.ok_runs)}"
            )
        values = self.target_values()
        results = T.evaluate(T.ROWS, values)
        if any(t.ours and t.peak_rss_mb is not None for t in self.timings.values()):
            worst = max(
                (t for t in self.timings.values() if t.ours and t.peak_rss_mb is not None),
                key=lambda t: t.peak_rss_mb,
            )
            self.extra["peak_rss_worst"] = worst.name
        cpus = os.cpu_count() or 1
        workers = self.args.workers
        print(
            f"\nTargets (lower is better; medians; cache {self.args.cache}: "
            + (
                "dropped before each timed command"
                if self.cold
                else "warm, each command's input read right before it"
            )
            + f"; {cpus} CPUs; THERABAK_WORKERS="
            + (str(workers) if workers is not None else "therabak's default")
            + "):"
        )
        for line in T.format_table(results):
            print(line)
        if "peak_rss_worst" in self.extra:
            print(f"  (largest therabak RSS: {self.extra['peak_rss_worst']})")
        load_after = os.getloadavg()
        print(
            f"\nLoad average before {load_before[0]:.2f} {load_before[1]:.2f} "
            f"{load_before[2]:.2f}, after {load_after[0]:.2f} {load_after[1]:.2f} "
            f"{load_after[2]:.2f} on {cpus} CPUs; "
            f"{(time.perf_counter() - started) / 60:.1f} min in all."
        )
        for n in self.notes:
            print(f"Note: {n}")
        return {
            "timestamp": datetime.now().astimezone().isoformat(timespec="seconds"),
            "git": self._git(),
            "machine": {
                "cpus": cpus,
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
                "practice": str(self.args.practice) if self.args.practice else None,
                "workers": workers,
                "cache": self.args.cache,
            },
            "practice": self.extra.get("practice"),
            "extra": self.extra,
            "timings": [t.to_dict() for t in self.timings.values()],
            "values": values,
            "targets": T.to_dicts(results),
            "notes": self.notes,
            "fairness": "Each wall time includes a sync right after the command (also stored "
            "as sync_s): tools that do not fsync pay for writing out as therabak does. Page "
            + (
                "cache dropped before each timed command."
                if self.cold
                else "cache warm: each command's input read right before it."
            ),
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
    cpus = os.cpu_count() or 1
    if args.cache is None:
        args.cache = "cold" if can_drop_caches() else "warm"
    elif args.cache == "cold" and not can_drop_caches():
        print(f"cannot write {DROP_CACHES} (root on Linux only): use --cache warm", file=sys.stderr)
        return 2
    bench = Bench(args)
    bench.work.mkdir(parents=True, exist_ok=True)
    pw = bench.work / "password"
    pw.write_text(PASSWORD + "\n")
    pw.chmod(0o600)
    free = shutil.disk_usage(bench.work).free
    print(
        f"therabak benchmark: {', '.join(args.groups)}; {args.runs} runs each; work folder "
        f"{bench.work} ({free / 1e9:.0f} GB free); load {load_before[0]:.2f}; "
        f"os.cpu_count() = {cpus}; THERABAK_WORKERS="
        f"{args.workers if args.workers is not None else '(therabak default)'}",
        flush=True,
    )
    if cpus < 4:
        bench.note(
            f"this machine has {cpus} CPUs: issue 19's 4-core run of this benchmark cannot "
            "be made here (run it with --workers 4 on a machine with 4 or more cores)"
        )
    if args.cache == "warm":
        bench.note(
            f"the page cache cannot be dropped here ({DROP_CACHES} not writable) or --cache "
            "warm was asked for: every command runs with its input warm in the cache"
            if not can_drop_caches()
            else "--cache warm: every command runs with its input warm in the cache"
        )
    practice_mb = 0 if args.practice else args.size.audio_mb * 1.05
    need = (args.size.audio_mb * 1.05 * 4 + practice_mb + 2 * args.size.big_file_mb) * 2**20
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
    groups = {
        "backup": bench.group_backup,
        "incremental": bench.group_incremental,
        "restore": bench.group_restore,
        "folder": bench.group_folder,
        "growth": bench.group_growth,
        "preview": bench.group_preview,
        "list": bench.group_list,
        "rss": bench.group_rss,
    }
    try:
        for group in args.groups:
            print(f"\n== {group}", flush=True)
            groups[group]()
    except KeyboardInterrupt:
        print("\ninterrupted: partial results follow", flush=True)
    finally:
        shutil.rmtree(bench.out, ignore_errors=True)
        for scratch in ("mutable", "inc", "growth"):
            shutil.rmtree(bench.work / scratch, ignore_errors=True)
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
