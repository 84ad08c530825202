"""Benchmark (not a test): ``therabak folder-backup`` vs ``cp -r`` of the same Data folder.

    python tests/bench/folder_vs_cp.py [--audio-mb 200] [--runs 5] [--dir DIR]

Creates a demo practice with --audio-mb MiB of audio (default 200) in DIR (default: a
temporary folder, removed afterwards), warms the page cache, then times, alternating,
--runs times each (medians reported):

* ``cp -r Data copy``                                (GNU cp: copy_file_range / reflink)
* ``run_folder_backup(verify=False)`` in-process     (copy + SHA-256 in the same pass,
                                                      manifest, sync)
* ``run_folder_backup(verify=True)`` in-process      (the default: also reads every
                                                      copied file back and checks it)
* ``python -m therabak folder-backup`` (whole process, default settings)

and prints each as a ratio to ``cp -r`` (1.0 = as fast). The cp run is followed by a
``sync`` so both sides pay for writing the data out (folder-backup syncs before it
renames its copy into place). Needs ``cp`` and ``sync`` (coreutils).
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--audio-mb", type=float, default=200.0)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dir")
    args = ap.parse_args()
    base = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="therabak-folder-"))
    os.environ["THERABAK_CONFIG"] = str(base / "settings.toml")
    os.environ["THERABAK_STATE_DIR"] = str(base / "state")
    from therabak.jobs.folder import FolderBackupRequest, run_folder_backup
    from therabak.practice.account import AccountKey
    from therabak.practice.categories import Rules
    from therabak.practice.demo import DemoSpec, create_demo

    try:
        demo = create_demo(base / "practice", DemoSpec(audio_mb=args.audio_mb))
        key = AccountKey.load(demo.account_key)
        rules = Rules.load()
        out = base / "out"
        out.mkdir()
        size = sum(p.stat().st_size for p in demo.data_dir.rglob("*") if p.is_file())
        subprocess.run(
            ["cat", *map(str, demo.data_dir.rglob("*.opus"))], stdout=subprocess.DEVNULL, check=True
        )  # warm the cache

        def cp() -> None:
            subprocess.run(["cp", "-r", str(demo.data_dir), str(out / "cp")], check=True)
            subprocess.run(["sync"], check=True)

        def engine(verify: bool):
            def run() -> None:
                run_folder_backup(
                    FolderBackupRequest(
                        data_dir=demo.data_dir,
                        dest_dir=out / "fb",
                        account_key_id=key.id_hex,
                        rules=rules,
                        verify=verify,
                    )
                )

            return run

        def cli() -> None:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "therabak",
                    "folder-backup",
                    "--dest",
                    str(out / "cli"),
                    "--data-dir",
                    str(demo.data_dir),
                    "--account-key",
                    str(demo.account_key),
                    "--json",
                ],
                check=True,
                capture_output=True,
            )

        variants = {
            "cp -r + sync": cp,
            "folder-backup, no verify": engine(False),
            "folder-backup (verify)": engine(True),
            "therabak folder-backup CLI": cli,
        }
        times: dict[str, list[float]] = {k: [] for k in variants}
        for _ in range(args.runs):
            for name, fn in variants.items():
                subprocess.run(["sync"], check=True)
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
                shutil.rmtree(out)
                out.mkdir()
        base_t = statistics.median(times["cp -r + sync"])
        print(f"Data folder: {size / 1e6:.1f} MB, runs: {args.runs}")
        for name, ts in times.items():
            m = statistics.median(ts)
            print(
                f"{name:<28} median {m:6.3f} s  {size / m / 1e6:7.1f} MB/s  "
                f"ratio to cp {m / base_t:4.2f}"
            )
    finally:
        if not args.dir:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
