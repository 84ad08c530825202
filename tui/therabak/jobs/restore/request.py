"""What a restore is asked to do: :class:`RestoreRequest`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from therabak.crypto.recovery import RecoveryCode
from therabak.practice.categories import Rules


@dataclass
class RestoreRequest:
    point: Path
    data_dir: Path
    account_key_path: Path
    rules: Rules
    password: str | None = field(default=None, repr=False)
    recovery_code: RecoveryCode | None = field(default=None, repr=False)  # instead of password
    include: Iterable[str] | str | None = None  # category ids (any node); None: everything
    target: Path | None = None  # restore into this folder; Data stays untouched
    force: bool = False  # restore although Data/.lock holds a live process id
    salvage: bool = False  # skip damaged entries (and unrestorable raw ones), report them
    # The name the current data folder is kept under, as an earlier plan said it
    # (``Data.before-restore-<time>`` beside Data); None: named when the plan is made.
    before_restore_name: str | None = None
