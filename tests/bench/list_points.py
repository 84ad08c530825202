"""Benchmark (not a test): listing 200 restore points.

    python tests/bench/list_points.py [--points 200] [--runs 7] [--dir DIR]

Creates DIR (default: a temporary folder, removed afterwards) holding a small demo
practice and --points restore points spread over four places the listing searches:
a remembered destination, the automatic-backup folder, a folder given with --in and a
"removable medium" (THERABAK_MEDIA_ROOTS) with a Backups subfolder. Most points are
archives (manual and automatic, copies of real ones), one in ten is a folder backup
(its manifest lists every file, so listing must read only its first line), plus a few
damaged files. Then it times, --runs times each, median reported:

* ``list_points`` in-process (what the app calls), page cache warm;
* the whole ``python -m therabak list --json`` process (interpreter start included).
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


def build(base: Path, n_points: int) -> dict[str, str]:
    from therabak.archive.writer import Protection
    from therabak.jobs.backup import BackupRequest, run_backup
    from therabak.jobs.folder import FolderBackupRequest, run_folder_backup
    from therabak.practice.account import AccountKey
    from therabak.practice.categories import BackupKind, Rules
    from therabak.practice.demo import DemoSpec, create_demo

    env = {
        "THERABAK_CONFIG": str(base / "settings.toml"),
        "THERABAK_STATE_DIR": str(base / "state"),
        "THERABAK_MEDIA_ROOTS": str(base / "usb" / "STICK"),
    }
    os.environ.update(env)
    demo = create_demo(
        base / "practice", DemoSpec(clients=6, sessions_per_client=4, audio_files=2, audio_mb=0.5)
    )
    key = AccountKey.load(demo.account_key)
    rules = Rules.load()
    seeds = base / "seeds"
    manual = run_backup(
        BackupRequest(
            data_dir=demo.data_dir,
            account=key,
            dest_dir=seeds,
            rules=rules,
            selection=rules.selection(BackupKind.MANUAL),
            protection=Protection("bench password"),
            remember_destination=False,
        )
    ).archive
    auto = run_backup(
        BackupRequest(
            data_dir=demo.data_dir,
            account=key,
            dest_dir=seeds,
            rules=rules,
            selection=rules.default_selection(BackupKind.AUTOMATIC),
            kind=BackupKind.AUTOMATIC,
            protection=Protection(account_key=key.key, account_key_id=key.key_id),
            remember_destination=False,
        )
    ).archive
    folder = run_folder_backup(
        FolderBackupRequest(
            data_dir=demo.data_dir, dest_dir=seeds, account_key_id=key.id_hex, rules=rules
        )
    ).folder
    places = [
        base / "remembered",
        base / "practice" / "TheraPsy-Auto-Backups",
        base / "given",
        base / "usb" / "STICK" / "Backups",
    ]
    for p in places:
        p.mkdir(parents=True, exist_ok=True)
    for i in range(n_points):
        place = places[i % len(places)]
        if i % 10 == 9:
            shutil.copytree(folder, place / f"TheraPsy-Data-2026-01-01_{i:06d}")
        elif i % 50 == 49:
            (place / f"damaged-{i}.therabak").write_bytes(b"THERABAK" + os.urandom(200))
        elif place.name == "TheraPsy-Auto-Backups":
            shutil.copy2(auto, place / f"TheraPsy-Auto-2026-01-01_{i:06d}.therabak")
        else:
            shutil.copy2(manual, place / f"TheraPsy-Backup-2026-01-01_{i:06d}.therabak")
    (base / "settings.toml").write_text(
        f'[destinations]\nremembered = ["{places[0].as_posix()}"]\n', encoding="utf-8"
    )
    env.update(data_dir=str(demo.data_dir), account_key=str(demo.account_key), given=str(places[2]))
    return env


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=200)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--dir")
    args = ap.parse_args()
    base = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="therabak-list-"))
    try:
        env = build(base, args.points)
        from therabak.points.discovery import list_points, search_places
        from therabak.practice.account import AccountKey
        from therabak.settings import Settings

        settings = Settings.load()
        key_id = AccountKey.load(Path(env["account_key"])).id_hex
        data_dir = Path(env["data_dir"])

        def in_process() -> int:
            places = search_places(
                remembered=settings.remembered_destinations,
                auto_folder=settings.auto_folder(data_dir),
                given=[env["given"]],
            )
            return len(list_points(data_dir=data_dir, account_key_id=key_id, places=places).points)

        found = in_process()  # warm the cache
        engine = []
        for _ in range(args.runs):
            t = time.perf_counter()
            in_process()
            engine.append(time.perf_counter() - t)
        cli = []
        cmd = [
            sys.executable,
            "-m",
            "therabak",
            "list",
            "--json",
            "--data-dir",
            env["data_dir"],
            "--account-key",
            env["account_key"],
            "--in",
            env["given"],
        ]
        for _ in range(args.runs):
            t = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, env=os.environ.copy())
            cli.append(time.perf_counter() - t)
        print(f"points found: {found} (of {args.points} made)")
        print(
            f"list_points in-process: median {statistics.median(engine) * 1000:.1f} ms "
            f"(min {min(engine) * 1000:.1f} ms)"
        )
        print(
            f"therabak list --json (whole process): median {statistics.median(cli):.3f} s "
            f"(min {min(cli):.3f} s)"
        )
    finally:
        if not args.dir:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
