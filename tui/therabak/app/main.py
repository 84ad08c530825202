"""``therabak-tui [--data-dir DIR] [--account-key FILE] [--demo]``; also ``python -m therabak.app``.

Keeps the work before the first frame small: argument parsing, path resolution and
(with ``--demo``, once) creating the demo practice. Scanning happens after the home
screen is up.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from therabak import __version__

#: The gentle fault injection of the demo: a few files fail to decrypt twice, then work.
DEMO_FAILPOINTS = "transient=0.03,transient-times=2,seed=demo"


def demo_root() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("therabak", appauthor=False)) / "demo"


def ensure_demo(root: Path) -> tuple[Path, Path]:
    """Create the demo practice under *root* once; reuse it afterwards."""
    data, key = root / "Data", root / "account.key"
    if not (data.is_dir() and key.is_file()):
        from therabak.practice.demo import create_demo

        if data.exists() or key.exists():
            raise SystemExit(
                f"therabak-tui: the demo folder {root} is incomplete; delete it and start again."
            )
        print(f"Creating the demo practice in {root} (once) …", file=sys.stderr)
        create_demo(root)
    return data, key


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="therabak-tui",
        description="Back up and restore the TheraPsy data folder (keyboard-first terminal app).",
    )
    p.add_argument("--version", action="version", version=f"therabak-tui {__version__}")
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help="the practice's Data folder (default: THERABAK_DATA_DIR or the "
        "TheraPsy folder of this user)",
    )
    p.add_argument(
        "--account-key",
        metavar="FILE",
        help="the account key file (default: account.key beside Data)",
    )
    p.add_argument(
        "--demo",
        action="store_true",
        help="open a demo practice (created once in the cache folder) with a few "
        "simulated decryption failures",
    )
    return p


def make_context(args: argparse.Namespace):
    from therabak.app.context import AppContext
    from therabak.settings import PracticePaths

    if args.demo:
        root = demo_root()
        data, key = ensure_demo(root)
        # The demo keeps its settings, history and jobs to itself.
        os.environ.setdefault("THERABAK_CONFIG", str(root / "settings.toml"))
        os.environ.setdefault("THERABAK_STATE_DIR", str(root / "state"))
        paths = PracticePaths.resolve(args.data_dir or data, args.account_key or key)
        return AppContext(paths=paths, demo=True, job_env={"THERABAK_FAILPOINTS": DEMO_FAILPOINTS})
    return AppContext(paths=PracticePaths.resolve(args.data_dir, args.account_key))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    ctx = make_context(args)
    from therabak.app.app import TherabakApp

    TherabakApp(ctx).run()
    return 0
