"""What a restore is asked to do: :class:`RestoreRequest`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from therabak.crypto.recovery import RecoveryCode
from therabak.practice.categories import Rules


@dataclass
class RestoreRequest:
    """A restore, as the engine takes it and as ``therabak restore`` is asked for it
    (:meth:`to_argv`; the password or recovery code go to a job's standard input)."""

    operation: ClassVar[str] = "restore"

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

    def to_argv(self) -> list[str]:
        """The ``therabak restore`` arguments that ask for this restore, confirmed
        (``--yes``: the caller showed the plan); never a secret."""
        argv = [
            str(self.point),
            "--yes",
            "--data-dir",
            str(self.data_dir),
            "--account-key",
            str(self.account_key_path),
        ]
        include = self.rules.parse_ids(self.include) if self.include is not None else []
        if include:
            argv += ["--include", ",".join(include)]
        if self.target is not None:
            argv += ["--to", str(self.target)]
        if self.force:
            argv.append("--force")
        if self.salvage:
            argv.append("--salvage")
        if self.before_restore_name:
            argv += ["--before-restore-name", self.before_restore_name]
        return argv
