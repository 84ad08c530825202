"""Benchmark (not a test): what splitting a backup into volumes costs.

    python tests/bench/volumes.py [--audio-mb 200] [--volume-size 20M] [--runs 5] [--dir DIR]

Creates a demo practice with --audio-mb MiB of audio (default 200) in DIR (default: a
temporary folder, removed afterwards), warms the page cache, then, alternating, --runs
times each (medians reported):

* ``therabak backup --no-password``                       one file
* ``therabak backup --no-password --volume-size 20M``     about ten volumes

timing each whole process (wall clock, and its CPU time from ``wait4``; on a shared
machine the CPU time is the steadier figure), and prints the split's overhead in
percent (target: under 5 %). Then the sinks alone, in-process, on the same stream (a
real archive's writes replayed: header, entry heads, 1 MiB chunks, index, trailer):
``FileSink`` (a single file, as before volumes existed), ``VolumeSink`` without a size
(what every backup uses now) and ``VolumeSink`` at the volume size, each synced.
Unprotected backups, so that Argon2id does not blur the figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed_child(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(args)}: {proc.stderr.read().decode()}")
    proc.stderr.close()
    return wall, usage.ru_utime + usage.ru_stime


class Recorder:
    """A ByteSink that keeps what a real archive writes (to replay it into each sink)."""

    copies_data = False

    def __init__(self) -> None:
        self.ops: list[tuple[str, object]] = []
        self.pos = 0

    def write(self, data) -> None:
        self.ops.append(("w", bytes(data)))
        self.pos += len(data)

    def tell(self) -> int:
        return self.pos

    def truncate(self, offset: int) -> None:
        self.ops.append(("t", offset))
        self.pos = offset

    def sync(self) -> None:
        pass

    def close(self) -> None:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--audio-mb", type=float, default=200.0)
    ap.add_argument("--volume-size", default="20M")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dir")
    args = ap.parse_args()
    base = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="therabak-volumes-"))
    os.environ["THERABAK_CONFIG"] = str(base / "settings.toml")
    os.environ["THERABAK_STATE_DIR"] = str(base / "state")
    os.environ.pop("THERABAK_FAILPOINTS", None)
    from therabak.formatting import parse_size
    from therabak.practice.demo import DemoSpec, create_demo

    volume_size = parse_size(args.volume_size)
    try:
        demo = create_demo(base / "practice", DemoSpec(audio_mb=args.audio_mb))
        size = sum(p.stat().st_size for p in demo.data_dir.rglob("*") if p.is_file())
        subprocess.run(
            ["cat", *map(str, demo.data_dir.rglob("*.opus"))], stdout=subprocess.DEVNULL, check=True
        )  # warm the cache
        out = base / "out"
        out.mkdir()
        env = dict(os.environ)
        command = [
            sys.executable, "-m", "therabak", "backup", "--no-password",
            "--data-dir", str(demo.data_dir), "--account-key", str(demo.account_key),
            "--dest", str(out),
        ]  # fmt: skip
        variants = {
            "one file": command,
            f"volumes of {args.volume_size}": [*command, "--volume-size", args.volume_size],
        }
        walls: dict[str, list[float]] = {k: [] for k in variants}
        cpus: dict[str, list[float]] = {k: [] for k in variants}
        volumes = {}
        for _ in range(args.runs):
            for name, argv in variants.items():
                subprocess.run(["sync"], check=True)
                wall, cpu = timed_child(argv, env)
                walls[name].append(wall)
                cpus[name].append(cpu)
                volumes[name] = len(list(out.iterdir()))
                shutil.rmtree(out)
                out.mkdir()
        print(f"Data folder: {size / 1e6:.1f} MB, runs: {args.runs} (medians)")
        first = next(iter(variants))
        for name in variants:
            w, c = statistics.median(walls[name]), statistics.median(cpus[name])
            w0, c0 = statistics.median(walls[first]), statistics.median(cpus[first])
            print(
                f"  backup, {name:<20} {volumes[name]:>3} file(s)  wall {w:6.2f} s "
                f"({(w / w0 - 1) * 100:+5.1f} %)  CPU {c:6.2f} s ({(c / c0 - 1) * 100:+5.1f} %)"
            )
        sink_bench(demo, base, volume_size, args.runs)
    finally:
        if not args.dir:
            shutil.rmtree(base, ignore_errors=True)


def sink_bench(demo, base: Path, volume_size: int, runs: int) -> None:
    from therabak.archive.byteio import FileSink
    from therabak.archive.volumes import VolumeSink
    from therabak.archive.writer import ArchiveWriter, Protection
    from therabak.practice.account import AccountKey
    from therabak.practice.categories import BackupKind, Rules
    from therabak.practice.scan import scan
    from therabak.practice.source import read_plaintext

    rules = Rules.load()
    key = AccountKey.load(demo.account_key)
    recorder = Recorder()
    writer = ArchiveWriter(
        recorder, protection=Protection(unprotected=True), kind="manual", categories=("x",)
    )
    for f in scan(demo.data_dir, rules).selected_files(rules.selection(BackupKind.MANUAL)):
        ew = writer.begin(path=f.path, category=f.category, mtime_ns=f.mtime_ns)
        read_plaintext(demo.data_dir / f.path, f.path, key, ew.write)
        ew.finish()
    writer.finish()
    total = recorder.pos
    folder = base / "sinks"
    makers = {
        "FileSink (single file)": lambda p: FileSink(p),
        "VolumeSink, no size": lambda p: VolumeSink(p, volume_size=None),
        f"VolumeSink, {volume_size >> 20} MiB": lambda p: VolumeSink(p, volume_size=volume_size),
    }
    times: dict[str, list[float]] = {k: [] for k in makers}
    for _ in range(runs):
        for name, make in makers.items():
            folder.mkdir()
            subprocess.run(["sync"], check=True)
            start = time.perf_counter()
            sink = make(folder / "a.therabak")
            for op, arg in recorder.ops:
                if op == "w":
                    sink.write(arg)
                else:
                    sink.truncate(arg)
            sink.sync()
            sink.close()
            times[name].append(time.perf_counter() - start)
            shutil.rmtree(folder)
    print(f"Sinks alone, the same {total / 1e6:.1f} MB archive stream, synced (medians):")
    first = statistics.median(next(iter(times.values())))
    for name, ts in times.items():
        m = statistics.median(ts)
        change = (m / first - 1) * 100
        print(f"  {name:<24} {m:6.3f} s  {total / m / 1e6:7.1f} MB/s  ({change:+5.1f} %)")


if __name__ == "__main__":
    main()
