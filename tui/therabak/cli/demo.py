"""``therabak demo DIR``: create the demo practice."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from therabak.cli.common import Output, add_json_option
from therabak.errors import ExitCode
from therabak.i18n import N_, _

# (option, DemoSpec field, type, help); defaults come from DemoSpec when the command runs,
# so that listing the commands does not import the demo generator and its crypto.
_OPTIONS = [
    ("--seed", "seed", int, N_("seed of the generator (same seed, same bytes)")),
    ("--clients", "clients", int, N_("number of clients")),
    ("--sessions-per-client", "sessions_per_client", int, N_("session notes per client")),
    ("--therapists", "therapists", int, N_("number of therapists")),
    ("--audio-files", "audio_files", int, N_("number of audio recordings")),
    ("--audio-mb", "audio_mb", float, N_("total size of the audio recordings in MiB")),
    ("--documents-per-client", "documents_per_client", int, N_("documents per client")),
]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help=_("create a realistic demo practice in DIR"),
        description=_(
            "Create DIR/Data and DIR/account.key holding a deterministic "
            "demo practice (clients, sessions, audio, documents, templates, ...)."
        ),
    )
    p.add_argument("dir", metavar="DIR")
    for option, dest, kind, help_text in _OPTIONS:
        metavar = "MIB" if kind is float else "N"
        p.add_argument(
            option, dest=dest, type=kind, default=None, metavar=metavar, help=_(help_text)
        )
    add_json_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: Output) -> int:
    from therabak import formatting
    from therabak.practice.demo import DemoSpec, create_demo

    given = {dest: getattr(args, dest) for _option, dest, _kind, _help in _OPTIONS}
    spec = replace(DemoSpec(), **{k: v for k, v in given.items() if v is not None})
    result = create_demo(Path(args.dir), spec)
    if out.json_mode:
        out.document(
            {
                "data_dir": str(result.data_dir),
                "account_key": str(result.account_key),
                "files": result.files,
                "bytes": result.bytes,
            }
        )
    else:
        out.text(
            _("Demo practice created: {files}, {size}").format(
                files=formatting.files(result.files), size=formatting.size(result.bytes)
            )
        )
        rows = [(_("Data folder:"), result.data_dir), (_("Account key:"), result.account_key)]
        width = max(len(label) for label, _value in rows) + 2
        for label, value in rows:
            out.text(f"  {label:<{width}}{value}")
        out.text(_("Try: therabak preview --data-dir {path}").format(path=result.data_dir))
    return ExitCode.OK
