"""Benchmark the backup store beside restic, in one run, on the same demo practice.

    python tests/bench/store.py            # ~2 GB practice (32,000 files), 20 growth backups
    python tests/bench/store.py --quick    # a small practice: a smoke test (~1-2 min)
    python tests/bench/store.py --only first,second,change --keep

Until part 2 of issue 16 wires the store into ``therabak backup``, the store side is
driven through the library exactly as the tests do (``tests/store_support.py``: scan,
decrypt with ``practice/source.py``, reuse unchanged files, pack, commit), each operation
in a process of its own (wall time and peak RSS from ``os.wait4``). restic (installed
with ``apt-get install -y restic`` when missing, or skipped with a note) backs up the same
``Data`` folder. restic stores the envelopes as they are; therabak decrypts every file it
reads (that is what a manual backup is), so the first backup does more work.

Measured:

* ``first``: first backup into an empty store; the single-file archive backup
  (``therabak backup``, password from a file) of the same data; restic's first backup
* ``second``: a second backup with nothing changed
* ``change``: after 100 MB of new audio and 500 changed session notes (``--quick``: less)
* ``growth``: 20 backups of a practice that grows by 2 % between them: the store's and
  restic's repository size after each, against the size of one full backup
* ``prune``: forget the 10 oldest of those 20, then prune
* ``chunks``: what finer chunking could save on the change (the bound for any
  content-defined chunking: only the bytes that differ)
* ``restore``: ``therabak restore STORE@ID --to DIR`` of the newest point (the real CLI:
  every file decrypted, sealed again with the account key, read back and checked) beside
  ``restic restore latest --target DIR`` of the same data and ``cp -r`` of ``Data``

Targets (issue 16): second <= 0.1 x first and faster than restic's second; change <=
0.2 x first; first <= 1.1 x the single-file backup; 20 x 2 % growth: store <= 1.45 x one
full backup; prune <= one full backup; restore <= 1.0 x restic restore and <= 1.3 x
cp -r; peak RSS < 150 MB. Results go to
``tests/bench/results/store-<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
sys.path.insert(0, str(TESTS))
PASSWORD = "bench password for the store"


@dataclass
class Run:
    wall_s: float
    rss_mb: float
    rc: int
    out: dict


# ---- the operations, each run in a child process ---------------------------------------------


def _op(args: list[str]) -> dict:
    """One measured operation (in the child)."""
    from store_support import CheapPassword, backup_data
    from therabak.crypto.kdf import Argon2Params
    from therabak.crypto.slots import Slot
    from therabak.memtune import tune_for_streaming
    from therabak.practice.account import AccountKey
    from therabak.storage.local import LocalStorage
    from therabak.store.core import Store
    from therabak.store.keyfile import Unlock

    tune_for_streaming()
    op, store_dir = args[0], Path(args[1])
    storage = LocalStorage(store_dir)
    if op == "backup":
        data_dir, key_path = Path(args[2]), Path(args[3])
        account = AccountKey.load(key_path)
        if storage.size("config") is None:

            class RealPassword(CheapPassword):  # the default Argon2id, as a user gets
                def slots(self, key: bytes) -> list[Slot]:
                    return [Slot.password(key, self.password, Argon2Params.new())]

            store = Store.create(storage, RealPassword(PASSWORD))
        else:
            store = Store.open(storage, Unlock(password=PASSWORD))
        outcome = backup_data(store, data_dir, account)
        s = outcome.writer.stats
        return {
            "files": s.files,
            "reused": s.files_reused,
            "bytes_in": s.bytes_in,
            "bytes_read": s.bytes_read,
            "bytes_new": s.bytes_new,
            "bytes_added": s.bytes_added,
        }
    store = Store.open(storage, Unlock(password=PASSWORD))
    if op == "forget-oldest":
        from therabak.store.prune import ForgetPlan, forget

        infos = store.snapshots()
        n = int(args[2])
        forget(store, ForgetPlan(keep=infos[n:], forget=infos[:n]))
        return {"forgotten": n}
    if op == "prune":
        from therabak.store.prune import prune

        return prune(store).to_dict()
    raise SystemExit(f"unknown op {op}")


# ---- the bench ----------------------------------------------------------------------------------


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = args.workdir.absolute()
        self.env = dict(os.environ)
        for var in ("THERABAK_FAILPOINTS", "THERABAK_DATA_DIR", "THERABAK_ACCOUNT_KEY"):
            self.env.pop(var, None)
        self.env.update(
            THERABAK_CONFIG=str(self.work / "config" / "settings.toml"),
            THERABAK_STATE_DIR=str(self.work / "state"),
            RESTIC_PASSWORD_FILE=str(self.work / "password"),
            RESTIC_CACHE_DIR=str(self.work / "restic-cache"),
        )
        self.results: dict[str, object] = {}
        self.restic = None if args.no_restic else self.find_restic()

    def find_restic(self) -> str | None:
        if shutil.which("restic"):
            return "restic"
        if not self.args.no_install:
            subprocess.run(
                ["apt-get", "install", "-y", "restic"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
        if shutil.which("restic"):
            return "restic"
        print("  note: restic is not available: its figures are skipped", flush=True)
        return None

    def timed(self, cmd: list[str]) -> Run:
        """Wall time and peak RSS (``os.wait4``, through a small launcher, so pytest's or
        this script's own memory is not counted) of one process; its last stdout line
        parsed as JSON when it is."""
        report = self.work / "usage.txt"
        launcher = (
            "import os, subprocess, sys, json\n"
            "p = subprocess.Popen(sys.argv[2:], stdout=subprocess.PIPE)\n"
            "out = p.stdout.read()\n"
            "_, status, ru = os.wait4(p.pid, 0)\n"
            "open(sys.argv[1], 'w').write(json.dumps([ru.ru_maxrss, out.decode()]))\n"
            "sys.exit(os.waitstatus_to_exitcode(status))\n"
        )
        os.sync()
        t0 = time.perf_counter()
        r = subprocess.run(
            [sys.executable, "-c", launcher, str(report), *cmd],
            env=self.env,
            stderr=subprocess.PIPE,
            text=True,
        )
        wall = time.perf_counter() - t0
        if r.returncode:
            print(f"    ! exit {r.returncode}: {' '.join(cmd)}\n{r.stderr[-1500:]}", flush=True)
        peak, out = json.loads(report.read_text())
        data = {}
        last = out.strip().splitlines()[-1] if out.strip() else ""
        if last.startswith("{"):
            data = json.loads(last)
        return Run(round(wall, 3), round(peak / 1024, 1), r.returncode, data)

    def run_op(self, *args: str) -> Run:
        """A store operation in a child process of its own."""
        return self.timed([sys.executable, __file__, "_op", *args])

    def restic_cmd(self, *args: str) -> list[str]:
        return [self.restic, "--repo", str(self.work / "restic"), "--quiet", *args]

    def restic_run(self, *args: str) -> Run:
        return self.timed(self.restic_cmd(*args))

    # ---- the practice ------------------------------------------------------------------------

    def make_practice(self) -> tuple[Path, Path]:
        a = self.args
        root = self.work / "practice"
        if not (root / "Data").is_dir():
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "therabak",
                    "demo",
                    str(root),
                    "--clients",
                    str(a.clients),
                    "--sessions-per-client",
                    str(a.sessions_per_client),
                    "--audio-files",
                    str(a.audio_files),
                    "--audio-mb",
                    str(a.audio_mb),
                ],
                env=self.env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
        (self.work / "password").write_text(PASSWORD + "\n")
        return root / "Data", root / "account.key"

    def warm(self, folder: Path) -> None:
        buf = bytearray(1 << 20)
        for p in folder.rglob("*"):
            if p.is_file():
                with open(p, "rb", buffering=0) as f:
                    while f.readinto(buf):
                        pass

    def change(self, data: Path, key_path: Path, audio_mb: float, notes: int, seed: int) -> dict:
        """New audio (random bytes, sealed) and changed session notes (a sentence added)."""
        from therabak.practice.account import AccountKey
        from therabak.practice.envelope import open_bytes, seal_bytes

        key = AccountKey.load(key_path)
        rng = random.Random(seed)
        folder = data / "audio" / f"bench-{seed}"
        folder.mkdir(parents=True, exist_ok=True)
        left = int(audio_mb * (1 << 20))
        n = 0
        while left > 0:
            size = min(left, 25 << 20)
            (folder / f"recording-{n}.opus").write_bytes(seal_bytes(key, rng.randbytes(size)))
            left -= size
            n += 1
        sessions = sorted((data / "sessions").rglob("*.json"))
        changed = rng.sample(sessions, min(notes, len(sessions)))
        before = after = 0
        for p in changed:
            plain = open_bytes(key, p.read_bytes())
            new = plain[:-1] + f' , "nachtrag": "Ergänzung {seed}"}}'.encode()
            before += len(plain)
            after += len(new)
            p.write_bytes(seal_bytes(key, new))
        return {"audio_files": n, "notes": len(changed), "notes_bytes": after, "was": before}

    def grow(self, data: Path, key_path: Path, share: float, seed: int) -> None:
        """The practice grows by *share* of its size: new sessions and a new recording."""
        size = dir_size(data)
        from therabak.practice.account import AccountKey
        from therabak.practice.envelope import seal_bytes

        key = AccountKey.load(key_path)
        rng = random.Random(seed)
        add = int(size * share)
        folder = data / "sessions" / f"grow-{seed}"
        folder.mkdir(parents=True, exist_ok=True)
        notes = max(1, add // 200_000)  # a few notes...
        for i in range(notes):
            text = json.dumps({"note": "Sitzung " + " ".join(rng.choices(WORDS, k=80)), "i": i})
            (folder / f"{i:04d}.json").write_bytes(seal_bytes(key, text.encode()))
        audio = data / "audio" / f"grow-{seed}.opus"  # ...and the rest as a recording
        audio.write_bytes(seal_bytes(key, rng.randbytes(max(0, add - notes * 700))))

    # ---- scenarios ---------------------------------------------------------------------------

    def run(self) -> None:
        a = self.args
        self.work.mkdir(parents=True, exist_ok=True)
        data, key = self.make_practice()
        practice_bytes = dir_size(data)
        print(f"practice: {data} ({practice_bytes / 1e6:.0f} MB)", flush=True)
        store = self.work / "store"
        r = self.results
        only = set(a.only.split(",")) if a.only else None

        def want(name: str) -> bool:
            return only is None or name in only

        for p in (store, self.work / "restic", self.work / "archive"):
            shutil.rmtree(p, ignore_errors=True)
        if self.restic:
            subprocess.run(self.restic_cmd("init"), env=self.env, check=True)
        self.warm(data)

        # first backup: store, single-file archive, restic
        r["first"] = asdict(self.run_op("backup", str(store), str(data), str(key)))
        print(f"  store first backup: {r['first']}", flush=True)
        if want("first"):
            (self.work / "archive").mkdir(exist_ok=True)
            r["single_file"] = asdict(
                self.timed(
                    [
                        sys.executable,
                        "-m",
                        "therabak",
                        "backup",
                        "--dest",
                        str(self.work / "archive"),
                        "--password-file",
                        str(self.work / "password"),
                        "--data-dir",
                        str(data),
                        "--account-key",
                        str(key),
                    ]
                )
            )
            shutil.rmtree(self.work / "archive", ignore_errors=True)
            print(f"  single-file backup: {r['single_file']}", flush=True)
        if self.restic:
            r["restic_first"] = asdict(self.restic_run("backup", str(data)))
            print(f"  restic first: {r['restic_first']}", flush=True)
        r["store_size_1"] = dir_size(store)

        if want("second"):
            r["second"] = asdict(self.run_op("backup", str(store), str(data), str(key)))
            print(f"  store second (nothing changed): {r['second']}", flush=True)
            if self.restic:
                r["restic_second"] = asdict(self.restic_run("backup", str(data)))
                print(f"  restic second: {r['restic_second']}", flush=True)

        if want("change"):
            r["change_made"] = self.change(data, key, a.change_audio_mb, a.change_notes, 1)
            self.warm(data)
            r["change"] = asdict(self.run_op("backup", str(store), str(data), str(key)))
            print(f"  store after a change {r['change_made']}: {r['change']}", flush=True)
            if self.restic:
                r["restic_change"] = asdict(self.restic_run("backup", str(data)))
                print(f"  restic after the change: {r['restic_change']}", flush=True)
            r["chunks"] = {
                "whole_file_bytes": r["change_made"]["notes_bytes"],
                "lower_bound_bytes": r["change_made"]["notes_bytes"] - r["change_made"]["was"],
                "audio_bytes": int(a.change_audio_mb * (1 << 20)),
            }

        if want("restore"):
            self.restore(store, data, key)
        if want("growth") or want("prune"):
            self.growth(data, key)
        self.report(practice_bytes)

    def restore(self, store: Path, data: Path, key: Path) -> None:
        """The newest point restored into an empty folder: therabak, restic, cp -r (each
        target removed and the disk synced in between; the store warm in the cache as the
        practice was for the backups)."""
        r = self.results
        target = self.work / "restored"
        self.warm(store)
        shutil.rmtree(target, ignore_errors=True)
        r["restore"] = asdict(
            self.timed(
                [
                    sys.executable,
                    "-m",
                    "therabak",
                    "restore",
                    f"{store}@latest",
                    "--to",
                    str(target),
                    "--yes",
                    "--json",
                    "--password-file",
                    str(self.work / "password"),
                    "--data-dir",
                    str(data),
                    "--account-key",
                    str(key),
                ]
            )
        )
        print(f"  store restore: {r['restore']}", flush=True)
        shutil.rmtree(target, ignore_errors=True)
        if self.restic:
            self.warm(self.work / "restic")
            r["restic_restore"] = asdict(
                self.restic_run("restore", "latest", "--target", str(target))
            )
            print(f"  restic restore: {r['restic_restore']}", flush=True)
            shutil.rmtree(target, ignore_errors=True)
        r["cp_restore"] = asdict(self.timed(["cp", "-r", str(data), str(target)]))
        print(f"  cp -r: {r['cp_restore']}", flush=True)
        shutil.rmtree(target, ignore_errors=True)

    def growth(self, data: Path, key: Path) -> None:
        """20 backups of a practice growing 2 % between them (in fresh repositories)."""
        a, r = self.args, self.results
        store = self.work / "store-growth"
        repo = self.work / "restic"
        shutil.rmtree(store, ignore_errors=True)
        grow_data = self.work / "growth" / "Data"
        shutil.rmtree(grow_data.parent, ignore_errors=True)
        shutil.copytree(data, grow_data)
        if self.restic:
            shutil.rmtree(repo, ignore_errors=True)
            subprocess.run(self.restic_cmd("init"), env=self.env, check=True)
        sizes = []
        for i in range(a.backups):
            if i:
                self.grow(grow_data, key, a.growth, 100 + i)
            run = self.run_op("backup", str(store), str(grow_data), str(key))
            if self.restic:
                self.restic_run("backup", str(grow_data))
            sizes.append(
                {
                    "data": dir_size(grow_data),
                    "plaintext": run.out.get("bytes_in"),
                    "store": dir_size(store),
                    "restic": dir_size(repo) if self.restic else None,
                    "wall_s": run.wall_s,
                    "rss_mb": run.rss_mb,
                }
            )
            print(f"  growth backup {i + 1}: {sizes[-1]}", flush=True)
        r["growth"] = sizes
        if self.args.only and "prune" not in self.args.only:
            return
        half = a.backups // 2
        r["forget"] = asdict(self.run_op("forget-oldest", str(store), str(half)))
        r["prune"] = asdict(self.run_op("prune", str(store)))
        r["store_after_prune"] = dir_size(store)
        print(f"  store forget {half} + prune: {r['forget']} {r['prune']}", flush=True)
        if self.restic:
            ids = json.loads(
                subprocess.run(
                    self.restic_cmd("snapshots", "--json"),
                    env=self.env,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            ids = [s["id"] for s in sorted(ids, key=lambda s: s["time"])][:half]
            r["restic_forget"] = asdict(self.restic_run("forget", *ids))
            r["restic_prune"] = asdict(self.restic_run("prune"))
            r["restic_after_prune"] = dir_size(repo)
            print(f"  restic forget + prune: {r['restic_forget']} {r['restic_prune']}", flush=True)

    def report(self, practice_bytes: int) -> None:
        r = self.results
        first = r["first"]["wall_s"]
        rows = []

        def ratio(name: str, value: float | None, base: float | None, target: str) -> None:
            if value is None or not base:
                return
            rows.append((name, value, base, value / base, target))

        if "single_file" in r:
            ratio("first store / single-file backup", first, r["single_file"]["wall_s"], "<= 1.1")
        if "restic_first" in r:
            ratio("first store / restic first", first, r["restic_first"]["wall_s"], "-")
        if "second" in r:
            ratio("second / first", r["second"]["wall_s"], first, "<= 0.1")
            if "restic_second" in r:
                ratio(
                    "second / restic second",
                    r["second"]["wall_s"],
                    r["restic_second"]["wall_s"],
                    "< 1",
                )
        if "change" in r:
            ratio("after change / first", r["change"]["wall_s"], first, "<= 0.2")
            if "restic_change" in r:
                ratio(
                    "after change / restic after change",
                    r["change"]["wall_s"],
                    r["restic_change"]["wall_s"],
                    "-",
                )
        if "restore" in r:
            if "restic_restore" in r:
                ratio(
                    "restore / restic restore",
                    r["restore"]["wall_s"],
                    r["restic_restore"]["wall_s"],
                    "<= 1.0",
                )
            if "cp_restore" in r:
                ratio(
                    "restore / cp -r", r["restore"]["wall_s"], r["cp_restore"]["wall_s"], "<= 1.3"
                )
        if "growth" in r:
            g = r["growth"]
            full = g[-1]["plaintext"] or g[-1]["data"]
            ratio("store after growth / one full backup (last)", g[-1]["store"], full, "<= 1.45")
            ratio("store after growth / first store", g[-1]["store"], g[0]["store"], "-")
            if g[-1]["restic"]:
                ratio("restic after growth / one full backup (last)", g[-1]["restic"], full, "-")
        if "prune" in r:
            ratio("prune / first backup", r["prune"]["wall_s"], first, "<= 1.0")
            if "restic_prune" in r:
                ratio(
                    "prune / restic prune", r["prune"]["wall_s"], r["restic_prune"]["wall_s"], "-"
                )
        peaks = {k: v["rss_mb"] for k, v in r.items() if isinstance(v, dict) and "rss_mb" in v}
        print("\npeak RSS (MB):", json.dumps(peaks))
        print(f"\n{'ratio':<48} {'value':>12} {'base':>12} {'ratio':>7}  target")
        for name, value, base, q, target in rows:
            print(f"{name:<48} {value:>12.3f} {base:>12.3f} {q:>7.3f}  {target}")
        out = {
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(self.args).items()},
            "practice_bytes": practice_bytes,
            "load": os.getloadavg(),
            "results": r,
            "ratios": [
                dict(zip(("name", "value", "base", "ratio", "target"), row, strict=True))
                for row in rows
            ],
        }
        folder = HERE / "results"
        folder.mkdir(exist_ok=True)
        path = self.args.json_out or folder / f"store-{time.strftime('%Y%m%d-%H%M%S')}.json"
        Path(path).write_text(json.dumps(out, indent=2))
        print(f"\nwritten: {path}")


WORDS = [
    "Klientin",
    "berichtet",
    "über",
    "Schlaf",
    "Stimmung",
    "Arbeit",
    "Familie",
    "Ziele",
    "Übung",
    "Woche",
    "Gespräch",
    "Fortschritt",
    "Angst",
    "Ressourcen",
    "Hausaufgabe",
    "Termin",
    "nächste",
]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_op":
        print(json.dumps(_op(argv[1:])))
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a small practice: a smoke test")
    p.add_argument("--workdir", type=Path, default=None)
    p.add_argument("--keep", action="store_true", help="keep the work folder")
    p.add_argument("--no-restic", action="store_true")
    p.add_argument("--no-install", action="store_true")
    p.add_argument("--only", default="", help="first,second,change,restore,growth,prune")
    p.add_argument("--backups", type=int, default=20)
    p.add_argument("--growth", type=float, default=0.02)
    p.add_argument("--clients", type=int)
    p.add_argument("--sessions-per-client", type=int)
    p.add_argument("--audio-files", type=int)
    p.add_argument("--audio-mb", type=float)
    p.add_argument("--change-audio-mb", type=float)
    p.add_argument("--change-notes", type=int)
    p.add_argument("--json-out", type=Path)
    a = p.parse_args(argv)
    full = dict(clients=1000, sessions_per_client=20, audio_files=45, audio_mb=1843)
    quick = dict(clients=100, sessions_per_client=10, audio_files=8, audio_mb=150)
    for k, v in (quick if a.quick else full).items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    if a.change_audio_mb is None:
        a.change_audio_mb = 10 if a.quick else 100
    if a.change_notes is None:
        a.change_notes = 50 if a.quick else 500
    if a.workdir is None:
        import tempfile

        a.workdir = Path(tempfile.gettempdir()) / "therabak-bench-store"
    bench = Bench(a)
    try:
        bench.run()
    finally:
        if not a.keep:
            shutil.rmtree(a.workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
