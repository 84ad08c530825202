"""``therabak demo DIR``: create the demo practice."""

from __future__ import annotations

import argparse
from pathlib import Path

from therabak import formatting
from therabak.cli.common import Output, add_json_option
from therabak.practice.demo import DemoSpec, create_demo


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="create a realistic demo practice in DIR",
        description="Create DIR/Data and DIR/account.key holding a deterministic "
        "demo practice (clients, sessions, audio, documents, templates, ...).",
    )
    p.add_argument("dir", metavar="DIR")
    d = DemoSpec()
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--clients", type=int, default=d.clients)
    p.add_argument("--sessions-per-client", type=int, default=d.sessions_per_client)
    p.add_argument("--therapists", type=int, default=d.therapists)
    p.add_argument("--audio-files", type=int, default=d.audio_files)
    p.add_argument(
        "--audio-mb",
        type=float,
        default=d.audio_mb,
        help="total size of the audio recordings in MiB",
    )
    p.add_argument("--documents-per-client", type=int, default=d.documents_per_client)
    add_json_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: Output) -> int:
    spec = DemoSpec(
        seed=args.seed,
        clients=args.clients,
        sessions_per_client=args.sessions_per_client,
        therapists=args.therapists,
        audio_files=args.audio_files,
        audio_mb=args.audio_mb,
        documents_per_client=args.documents_per_client,
    )
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
            f"Demo practice created: {formatting.files(result.files)}, "
            f"{formatting.size(result.bytes)}"
        )
        out.text(f"  Data folder:  {result.data_dir}")
        out.text(f"  Account key:  {result.account_key}")
        out.text(f"Try: therabak preview --data-dir {result.data_dir}")
    return 0
