"""A field for a recovery code that checks it as it is typed.

The code is typed from paper, so it is shown as typed (the groups must be compared with
the paper), but like a password it never goes to a clipboard: copy and cut do nothing
and the text cannot be selected for copying (over SSH the clipboard is the client
machine's). The line under it (:func:`code_status`) says how far the code is typed,
names the group of a character that cannot be in a code, and once all 32 characters
are there whether the check characters match: a typo is caught before anything is
tried (``RecoveryCode.parse`` derives no key and reads nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding

from therabak.app.widgets.inputs import BlinkFollowsApp
from therabak.crypto.recovery import (
    GROUP,
    GROUPS,
    SYMBOLS,
    RecoveryCode,
    RecoveryCodeTypoError,
    typed_so_far,
)
from therabak.i18n import _

#: What the field takes at most: every character with a space or dash after it.
MAX_TYPED = 2 * SYMBOLS + 8


class RecoveryCodeInput(BlinkFollowsApp):
    """The field; ``?`` opens the help (no code holds one)."""

    ALLOW_SELECT = False
    BINDINGS = [Binding("question_mark", "app.help", show=False, priority=True)]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            placeholder="-".join(["X" * GROUP] * 3) + "-…",  # the shape of a code
            id=id,
            compact=True,
            max_length=MAX_TYPED,
            select_on_focus=False,
        )

    def action_copy(self) -> None:
        """A recovery code is not copied (it would leave this machine)."""

    def action_cut(self) -> None:
        """A recovery code is not cut (it would leave this machine)."""

    @property
    def selected_text(self) -> str:
        return ""


@dataclass(frozen=True)
class CodeStatus:
    """What the field's line says; *code* once the code is complete and well-formed."""

    text: Text
    code: RecoveryCode | None = None
    typo: bool = False


def code_status(typed: str) -> CodeStatus:
    """The line under a recovery-code field for what is typed so far."""
    if not typed.strip():
        return CodeStatus(
            Text(
                _("{groups} groups of {size} characters; dashes and spaces do not matter.").format(
                    groups=GROUPS, size=GROUP
                ),
                "dim",
            )
        )
    try:
        n = typed_so_far(typed)
        if n < SYMBOLS:
            return CodeStatus(
                Text(
                    _("{n} of {total} characters (group {group} of {groups})").format(
                        n=n, total=SYMBOLS, group=min(n // GROUP + 1, GROUPS), groups=GROUPS
                    ),
                    "dim",
                )
            )
        code = RecoveryCode.parse(typed)
    except RecoveryCodeTypoError as e:
        return CodeStatus(Text(str(e), "bold red"), typo=True)
    return CodeStatus(
        Text(_("Complete, and its check characters match. Press Enter."), "green"), code
    )
