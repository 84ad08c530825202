"""Benchmark (not a test): a folder backup's device check beside the copy, in batches.

    python tests/bench/folder_overlap.py [--practice DIR] [--workdir DIR] [--runs 2]

Not the job's code: the engine's ``copy_files`` and ``verify_copy`` driven three ways, page
cache dropped before each (Linux, as root), interleaved: ``seq`` (copy everything,
``sync``, check everything: what ``folder-backup`` does), ``ovsync`` (batches of 256 MB or
4,096 files: each batch copied, ``sync``, then checked on 4 threads while the next batch
is copied) and ``ovfd`` (the same with ``fdatasync`` per file of the batch). Prints wall
and CPU time per run with the load average. README "Benchmarks" says what it found and
why the job does not check beside the copy (a counterfeit stick).
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from therabak.cli.common import load_rules
from therabak.datafolder.manifest import ManifestFile
from therabak.events import ignore
from therabak.jobkit.cancel import NEVER
from therabak.jobkit.progress import ProgressTracker
from therabak.jobs.folder_copy import copy_files, verify_copy
from therabak.practice.scan import scan

BATCH_BYTES = 256 << 20
BATCH_FILES = 4096


class Outcomes:
    def __init__(self) -> None:
        self.recopied: list[str] = []
        self.unstable: list[str] = []
        self.skipped: list[tuple[str, str]] = []


def copy(src: Path, out: Path, rels: list[str]) -> list[ManifestFile]:
    progress = ProgressTracker(ignore, "copying", bytes_total=1, files_total=1)
    return copy_files(src, out, [(r, r) for r in rels], progress, NEVER, Outcomes(), ignore)


def batches(src: Path, rels: list[str]) -> list[list[str]]:
    got: list[list[str]] = [[]]
    size = 0
    for r in rels:
        got[-1].append(r)
        size += (src / r).stat().st_size
        if size >= BATCH_BYTES or len(got[-1]) >= BATCH_FILES:
            got.append([])
            size = 0
    return [b for b in got if b]


def run(mode: str, src: Path, out: Path, rels: list[str]) -> None:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")
    t0, c0 = time.perf_counter(), os.times()
    if mode == "seq":
        copied = copy(src, out, rels)
        os.sync()
        assert verify_copy(out, copied, workers=4) == []
    else:
        with ThreadPoolExecutor(1) as checker:
            pending = []
            for batch in batches(src, rels):
                copied = copy(src, out, batch)
                if mode == "ovsync":
                    os.sync()
                else:
                    for c in copied:
                        fd = os.open(out / c.stored, os.O_RDONLY)
                        try:
                            os.fdatasync(fd)
                        finally:
                            os.close(fd)
                pending.append(checker.submit(verify_copy, out, copied, workers=4))
            for p in pending:
                assert p.result() == []
        os.sync()
    c1 = os.times()
    cpu = c1.user - c0.user + c1.system - c0.system
    load = os.getloadavg()[0]
    print(f"{mode:7} {time.perf_counter() - t0:6.2f} s wall, {cpu:5.2f} s CPU, load {load:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--practice", default="/tmp/sread/bench2g/practice")
    ap.add_argument("--workdir", default="/tmp/therabak-overlap")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--modes", default="seq,ovsync,ovfd")
    args = ap.parse_args()
    src = Path(args.practice) / "Data"
    rels = sorted(f.path for f in scan(src, load_rules()).files)
    out = Path(args.workdir) / "copy"
    try:
        for _ in range(args.runs):
            for mode in args.modes.split(","):
                run(mode, src, out, rels)
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
