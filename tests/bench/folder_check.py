"""Benchmark (not a test): a folder backup's device check alone, on 1, 2 and 4 threads.

    python tests/bench/folder_check.py FOLDER [--runs 3]

FOLDER is a finished folder backup (``therabak folder-backup --no-verify`` makes one).
Before each run: ``sync`` and the page cache dropped (Linux, as root), so the copy is read
back from the device, as after a folder backup. Interleaved; prints wall time and the
process's CPU time per run and the medians, with the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from therabak.datafolder.manifest import iter_manifest_files
from therabak.jobs.folder_copy import verify_copy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", default="1,2,4")
    args = ap.parse_args()
    folder = Path(args.folder)
    files = list(iter_manifest_files(folder))
    got: dict[int, list[tuple[float, float]]] = {}
    for _ in range(args.runs):
        for w in map(int, args.threads.split(",")):
            os.sync()
            Path("/proc/sys/vm/drop_caches").write_text("3\n")
            t, c = time.perf_counter(), time.process_time()
            assert verify_copy(folder, files, workers=w) == []
            got.setdefault(w, []).append((time.perf_counter() - t, time.process_time() - c))
            wall, cpu = got[w][-1]
            load = os.getloadavg()[0]
            print(f"{w} threads: {wall:.2f} s wall, {cpu:.2f} s CPU, load {load:.1f}", flush=True)
    for w, runs in got.items():
        wall = statistics.median(x for x, _ in runs)
        cpu = statistics.median(y for _, y in runs)
        print(f"{w} threads: median {wall:.2f} s wall, {cpu:.2f} s CPU")


if __name__ == "__main__":
    main()
