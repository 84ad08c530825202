"""Benchmark (not a test): ``therabak folder-backup`` vs ``cp -r`` + ``sync`` of the same Data.

    python tests/bench/folder_vs_cp.py [--practice DIR] [--audio-mb 200] [--runs 3]
        [--workers 1,2] [--drop-caches] [--dir DIR]

The practice is ``--practice DIR`` (a folder with ``Data`` and ``account.key``, e.g. the
one ``therabak demo`` made; only read), else a demo practice with --audio-mb MiB of audio
made in DIR (default: a temporary folder, removed afterwards). Each round times, back to
back, whole processes:

* ``cp -r Data copy && sync``                         (GNU cp: copy_file_range / reflink)
* ``therabak folder-backup --no-verify``              (copy + SHA-256 in the same pass,
                                                       manifest, sync), per --workers
* ``therabak folder-backup``                          (the default: also the device check,
                                                       every copied file read back), per
                                                       --workers

``--workers 1,2`` runs the therabak commands with ``THERABAK_WORKERS`` 1 and 2 (``default``:
unset);
``--tree before=/tmp/old/tui --tree after=tui`` runs them from those trees instead of
the installed therabak (``PYTHONPATH``; repeatable). Before
each command: ``sync`` and, with ``--drop-caches`` (Linux, as root), the page cache
dropped (``/proc/sys/vm/drop_caches``), so every command reads Data from the device;
without it the cache is warmed once. Prints the median wall time, user + sys CPU
(``os.wait4``) and each as a ratio to ``cp -r`` + ``sync``, with the load average.
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


def drop_caches() -> None:
    subprocess.run(["sync"], check=True)
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time and user + sys CPU of one process (which must succeed)."""
    t = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read() if proc.stderr else b""
    if proc.returncode not in (0,):
        sys.exit(f"{argv[:3]} failed ({proc.returncode}): {err.decode(errors='replace')}")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--practice", help="an existing practice (Data + account.key), read only")
    ap.add_argument("--audio-mb", type=float, default=200.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", default="1", help="THERABAK_WORKERS values, e.g. 1,2")
    ap.add_argument("--drop-caches", action="store_true")
    ap.add_argument("--no-verify-too", action="store_true", help="also time --no-verify")
    ap.add_argument(
        "--tree",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="run therabak from DIR instead of the installed one (a checkout's tui/ "
        "folder, e.g. an older commit exported with git archive) as NAME",
    )
    ap.add_argument("--dir")
    args = ap.parse_args()
    base = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="therabak-folder-"))
    base.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["THERABAK_CONFIG"] = str(base / "settings.toml")
    env["THERABAK_STATE_DIR"] = str(base / "state")
    env["XDG_STATE_HOME"] = str(base / "xdg-state")
    env["XDG_CONFIG_HOME"] = str(base / "xdg-config")
    try:
        if args.practice:
            data_dir = Path(args.practice) / "Data"
            key = Path(args.practice) / "account.key"
        else:
            os.environ.update(env)
            from therabak.practice.demo import DemoSpec, create_demo

            demo = create_demo(base / "practice", DemoSpec(audio_mb=args.audio_mb))
            data_dir, key = demo.data_dir, demo.account_key
        out = base / "out"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        files = [p for p in data_dir.rglob("*") if p.is_file()]
        size = sum(p.stat().st_size for p in files)
        if not args.drop_caches:
            subprocess.run(["cat", *map(str, files)], stdout=subprocess.DEVNULL, check=True)

        def therabak(dest: str, *extra: str) -> list[str]:
            return [
                sys.executable,
                "-m",
                "therabak",
                "folder-backup",
                "--dest",
                str(out / dest),
                "--data-dir",
                str(data_dir),
                "--account-key",
                str(key),
                "--json",
                *extra,
            ]

        variants: dict[str, tuple[list[str], dict[str, str]]] = {
            "cp -r + sync": (
                ["sh", "-c", 'cp -r "$0" "$1" && sync', str(data_dir), str(out / "cp")],
                env,
            )
        }
        trees = [tuple(t.split("=", 1)) for t in args.tree] or [("", None)]
        for label, tree in trees:
            tenv = env if tree is None else {**env, "PYTHONPATH": tree}
            for w in args.workers.split(","):
                wenv = {k: v for k, v in tenv.items() if k != "THERABAK_WORKERS"}
                if w.strip() != "default":  # default: as the machine's cores say
                    wenv["THERABAK_WORKERS"] = w.strip()
                if args.no_verify_too:
                    variants[f"{label} folder-backup --no-verify, {w} w".strip()] = (
                        therabak("nv", "--no-verify"),
                        wenv,
                    )
                variants[f"{label} folder-backup (check), {w} w".strip()] = (therabak("fb"), wenv)
        walls: dict[str, list[float]] = {k: [] for k in variants}
        cpus: dict[str, list[float]] = {k: [] for k in variants}
        load_before = os.getloadavg()
        for _ in range(args.runs):
            for name, (argv, venv) in variants.items():
                if args.drop_caches:
                    drop_caches()
                else:
                    subprocess.run(["sync"], check=True)
                wall, cpu = timed(argv, venv)
                walls[name].append(wall)
                cpus[name].append(cpu)
                print(f"  {name:<34} {wall:6.2f} s wall, {cpu:6.2f} s CPU", flush=True)
                shutil.rmtree(out)
                out.mkdir()
        base_t = statistics.median(walls["cp -r + sync"])
        print(
            f"Data: {size / 1e6:.1f} MB in {len(files)} files, runs: {args.runs}, "
            f"caches dropped: {args.drop_caches}, load before {load_before[0]:.2f}, "
            f"after {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores"
        )
        for name in variants:
            m = statistics.median(walls[name])
            print(
                f"{name:<34} median {m:6.2f} s (min {min(walls[name]):6.2f}, max "
                f"{max(walls[name]):6.2f}), CPU {statistics.median(cpus[name]):6.2f} s, "
                f"ratio to cp {m / base_t:4.2f}"
            )
    finally:
        if not args.dir:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
