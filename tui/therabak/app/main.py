"""``therabak-tui [--data-dir DIR] [--account-key FILE] [--demo]``; also ``python -m therabak.app``.

Keeps the work before the first frame small: argument parsing, path resolution and
(with ``--demo``, once) creating the demo practice. The scan of the data folder and the
check of the account key run after the home screen is up; a missing data folder or key
opens a screen that says what is missing and how to fix it (exit code 1 after it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from therabak import __version__
from therabak.errors import DataFolderError, TherabakError
from therabak.i18n import LANGUAGE_CHOICES, _, translate_argparse
from therabak.settings import APP_NAME, PracticePaths, choose_language

#: The demo's gentle fault injection: a few files fail to decrypt twice, then work, so
#: the retry panel has something to show.
DEMO_FAILPOINTS = "transient=0.03,transient-times=2,seed=demo"


def demo_root() -> Path:
    """Where ``--demo`` keeps its practice: ``<user cache dir>/therabak/demo``."""
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)) / "demo"


def ensure_demo(root: Path | None = None) -> tuple[PracticePaths, bool]:
    """The demo practice under *root*, created on first use; (paths, created now?).

    It is built beside *root* under a temporary name and renamed when complete, so an
    interrupted first start never leaves a half demo that later starts would reuse.
    """
    root = Path(root or demo_root())
    paths = PracticePaths(root / "Data", root / "account.key")
    if paths.data_dir.is_dir() and paths.account_key.is_file():
        return paths, False
    if root.exists():
        raise DataFolderError(
            _("{root} exists but holds no complete demo practice.").format(root=root),
            hint=_("Delete that folder and start therabak-tui --demo again."),
        )
    from therabak.practice.demo import create_demo  # the crypto stack, only when needed

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
        description=_(
            "Back up and restore the TheraPsy data folder (keyboard-first terminal app)."
        ),
    )
    p.add_argument("--version", action="version", version=f"therabak-tui {__version__}")
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help=_(
            "the practice's Data folder (default: THERABAK_DATA_DIR or the TheraPsy "
            "folder of this user)"
        ),
    )
    p.add_argument(
        "--account-key",
        metavar="FILE",
        help=_("the account key file (default: account.key beside Data)"),
    )
    p.add_argument(
        "--lang",
        choices=LANGUAGE_CHOICES,
        default="auto",
        help=_(
            "language of the app: de, en or auto (default: the settings file's [ui] "
            "language, else LC_ALL/LC_MESSAGES/LANG); it can be changed in the settings"
        ),
    )
    p.add_argument(
        "--demo",
        action="store_true",
        help=_(
            "open a demo practice (created once in therabak's cache folder) with a few "
            "simulated decryption failures"
        ),
    )
    args = p.parse_args(argv)
    if args.demo and (args.data_dir or args.account_key):
        p.error(_("--demo opens its own practice: leave out --data-dir and --account-key"))
    return args


def make_context(args: argparse.Namespace):
    from therabak.app.context import AppContext

    if not args.demo:
        return AppContext(paths=PracticePaths.resolve(args.data_dir, args.account_key))
    root = demo_root()
    if not (root / "Data").is_dir():
        print(
            _("Creating the demo practice in {root} …").format(root=root),
            file=sys.stderr,
            flush=True,
        )
    paths, _created = ensure_demo(root)
    # The demo keeps its settings, backup history and jobs to itself.
    os.environ.setdefault("THERABAK_CONFIG", str(root / "settings.toml"))
    os.environ.setdefault("THERABAK_STATE_DIR", str(root / "state"))
    return AppContext(paths=paths, demo=True, job_env={"THERABAK_FAILPOINTS": DEMO_FAILPOINTS})


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    choose_language(argv)
    translate_argparse()
    args = parse_args(argv)
    try:
        ctx = make_context(args)
    except TherabakError as e:
        print(f"therabak-tui: {e}" + (f" {e.hint}" if e.hint else ""), file=sys.stderr)
        return int(e.exit_code)
    except OSError as e:
        print(f"therabak-tui: {e.strerror or e}", file=sys.stderr)
        return 1
    from therabak.app.app import TherabakApp  # textual: only once there is something to show

    app = TherabakApp(ctx)
    app.run()
    return app.return_code or 0


if __name__ == "__main__":
    raise SystemExit(main())
