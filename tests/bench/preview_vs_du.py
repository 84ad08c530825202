"""Benchmark (not a test): ``therabak preview`` on 100k files vs ``du -sb``.

    python tests/bench/preview_vs_du.py [--files 100000] [--runs 7] [--dir DIR] [--profile]

Creates DIR/Data (default: a temporary folder, removed afterwards) holding --files
small plain files in the layout of a practice's Data folder (mostly session notes,
as in a real practice), warms the page cache, then times the whole process of

    python -m therabak preview --data-dir DIR/Data --json
    du -sb DIR/Data

--runs times each, alternating, and prints the medians and their ratio (preview/du;
below 1.0 means preview is faster). --profile also prints a cProfile of one
in-process preview. Needs ``du`` (GNU coreutils).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXPORT_KINDS = ["invoices", "short-protocols", "long-protocols", "confirmations", "finance-exports"]


def layout(n_files: int) -> list[str]:
    """*n_files* relative paths shaped like a large practice's Data folder."""
    paths: list[str] = []
    fixed = [f"settings/session-templates/t{i}.json" for i in range(8)]
    fixed += [f"templates/export/{k}/{k}.docx" for k in EXPORT_KINDS]
    fixed += ["autocomplete/phrases.json", "settings/preferences.json", "Notizen.txt"]
    fixed += [f"backgrounds/b{i}.jpg" for i in range(5)] + ["icd10/icd10gm.xml"]
    fixed += [f"therapists/T{i:02d}.json" for i in range(1, 6)]
    clients = max(1, n_files // 50)
    per_client = ["profile", *["session"] * 40, *["invoice"] * 5, "payment", "audio", "document"]
    c = 0
    while len(paths) + len(fixed) < n_files:
        c += 1
        cid = f"K{c:05d}"
        for i, what in enumerate(per_client):
            if len(paths) + len(fixed) >= n_files:
                break
            year = 2020 + c % 6
            paths.append(
                {
                    "profile": f"profiles/{cid}.json",
                    "session": f"sessions/{cid}/{year}-{i:03d}.json",
                    "invoice": f"finances/invoices/{year}/R-{cid}-{i}.json",
                    "payment": f"finances/payments/{year}/Z-{cid}.json",
                    "audio": f"audio/{cid}/{year}-001.opus",
                    "document": f"documents/{cid}/Befund.pdf",
                }[what]
            )
    del clients
    return (fixed + paths)[:n_files]


def create(data: Path, n_files: int) -> None:
    made: set[str] = set()
    filler = os.urandom(4096)
    for i, rel in enumerate(layout(n_files)):
        path = data / rel
        parent = path.parent
        key = parent.as_posix()
        if key not in made:
            parent.mkdir(parents=True, exist_ok=True)
            made.add(key)
        path.write_bytes(filler[: 200 + (i * 37) % 3000])


def timed(cmd: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr.strip()}")
    return elapsed, proc.stdout


def profile_preview(data: Path) -> None:
    from therabak.cli import main

    sink = io.StringIO()
    real_stdout, sys.stdout = sys.stdout, sink
    prof = cProfile.Profile()
    try:
        prof.enable()
        main(["preview", "--data-dir", str(data), "--json"])
        prof.disable()
    finally:
        sys.stdout = real_stdout
    pstats.Stats(prof).sort_stats("cumulative").print_stats(18)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--dir", type=Path, help="reuse or create the practice here (kept)")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of one preview")
    args = ap.parse_args()
    if shutil.which("du") is None:
        raise SystemExit("du not found (GNU coreutils needed)")

    tmp = None
    if args.dir is None:
        tmp = tempfile.mkdtemp(prefix="therabak-bench-")
        root = Path(tmp)
    else:
        root = args.dir
    data = root / "Data"
    try:
        marker = root / f".bench-{args.files}"
        if not marker.exists():
            if data.exists():
                shutil.rmtree(data)
            t0 = time.perf_counter()
            create(data, args.files)
            marker.touch()
            print(f"created {args.files} files in {time.perf_counter() - t0:.1f} s", flush=True)

        preview = [sys.executable, "-m", "therabak", "preview", "--data-dir", str(data), "--json"]
        du = ["du", "-sb", str(data)]
        _, out = timed(preview)  # warm the page cache (and check the count)
        timed(du)
        doc = json.loads(out)
        if doc["total"]["files"] != args.files:
            raise SystemExit(f"preview counted {doc['total']['files']} files, not {args.files}")

        t_preview, t_du = [], []
        for _ in range(args.runs):
            t_preview.append(timed(preview)[0])
            t_du.append(timed(du)[0])
        mp, md = statistics.median(t_preview), statistics.median(t_du)
        print(f"files:            {args.files}")
        print(
            f"preview --json:   median {mp * 1000:7.1f} ms  (runs: "
            + ", ".join(f"{t * 1000:.0f}" for t in t_preview)
            + ")"
        )
        print(
            f"du -sb:           median {md * 1000:7.1f} ms  (runs: "
            + ", ".join(f"{t * 1000:.0f}" for t in t_du)
            + ")"
        )
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        print(
            f"python -c pass:   {(time.perf_counter() - start) * 1000:7.1f} ms (interpreter start)"
        )
        print(f"ratio preview/du: {mp / md:.2f}")
        if args.profile:
            profile_preview(data)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
