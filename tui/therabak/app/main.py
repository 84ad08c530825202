"""``therabak-tui [--data-dir DIR] [--account-key FILE] [--demo]``: start the app.

Resolves the practice (or creates the demo practice once, in therabak's cache
folder), asks the engine for a preview, and shows it; every problem the engine
reports becomes a friendly message screen, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import platformdirs

from therabak import __version__
from therabak.app.model import PracticeView, Problem, load_practice
from therabak.errors import DataFolderError, TherabakError
from therabak.settings import APP_NAME, PracticePaths


def demo_root() -> Path:
    """Where ``--demo`` keeps its practice: ``<user cache dir>/therabak/demo``."""
    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)) / "demo"


def ensure_demo(root: Path | None = None) -> tuple[PracticePaths, bool]:
    """The demo practice under *root*, created on first use; (paths, created now?).

    It is built beside *root* under a temporary name and renamed when complete, so an
    interrupted first start never leaves a half demo that later starts would reuse.
    """
    from therabak.practice.demo import create_demo  # the crypto stack, only when needed

    root = Path(root or demo_root())
    paths = PracticePaths(root / "Data", root / "account.key")
    if paths.data_dir.is_dir() and paths.account_key.is_file():
        return paths, False
    if root.exists():
        raise DataFolderError(
            f"{root} exists but holds no complete demo practice.",
            hint="Delete that folder and start therabak-tui --demo again.",
        )
    partial = root.with_name(f"{root.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    create_demo(partial)
    try:
        partial.rename(root)
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)
        if not (paths.data_dir.is_dir() and paths.account_key.is_file()):
            raise
        return paths, False  # another start finished first: use its demo
    return paths, True


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="therabak-tui",
        description="Back up and restore the TheraPsy practice data folder (terminal app).",
    )
    p.add_argument("--data-dir", metavar="DIR", help="the practice's Data folder")
    p.add_argument("--account-key", metavar="FILE", help="the account key file")
    p.add_argument(
        "--demo",
        action="store_true",
        help="open a demo practice (created once in therabak's cache folder)",
    )
    p.add_argument("--version", action="version", version=f"therabak-tui {__version__}")
    args = p.parse_args(argv)
    if args.demo and (args.data_dir or args.account_key):
        p.error("--demo opens its own practice: leave out --data-dir and --account-key")
    return args


def prepare(args: argparse.Namespace) -> PracticeView | Problem:
    """Everything the first screen shows, or the problem that prevents it."""
    try:
        if args.demo:
            root = demo_root()
            if not (root / "Data").is_dir():
                print(f"Creating the demo practice in {root} ...", file=sys.stderr, flush=True)
            paths, _ = ensure_demo(root)
        else:
            paths = PracticePaths.resolve(args.data_dir, args.account_key)
        return load_practice(paths)
    except TherabakError as e:
        return Problem.from_error(e)
    except OSError as e:
        where = f": {e.filename}" if e.filename else ""
        return Problem.from_error(TherabakError(f"{e.strerror or e}{where}"))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    state = prepare(args)
    from therabak.app.app import TherabakApp  # textual: only once there is something to show

    TherabakApp(state).run()
    return state.exit_code if isinstance(state, Problem) else 0


if __name__ == "__main__":
    raise SystemExit(main())
