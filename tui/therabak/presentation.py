"""What the CLI and the app both show, worked out once: the words for the kinds of
restore points and the restore plan as rows and notes.

Engine-neutral: plain data and translated messages (``therabak.i18n``), no terminal
and no widgets. The CLI prints it as text (``cli/restore.py``, ``cli/points.py``), the
app draws it as widgets (``app/screens/restore.py``, ``app/widgets/points_table.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from therabak import formatting
from therabak.i18n import N_, _, ngettext
from therabak.jobs.restore import CategoryAction, CategoryChange, RestorePlan
from therabak.points.point import PointKind
from therabak.practice.categories import Rules

#: A restore point's kind in a list (a column of ``therabak list``, the app's table).
KIND_LABELS: dict[str, str] = {
    PointKind.MANUAL: N_("manual"),
    PointKind.AUTOMATIC: N_("automatic"),
    PointKind.FOLDER: N_("folder"),
    PointKind.BEFORE_RESTORE: N_("before restore"),
    PointKind.UNREADABLE: N_("UNREADABLE"),
}
#: A restore point's kind in a sentence ("Restore from: … (manual backup, made …)").
KIND_DESCRIPTIONS: dict[str, str] = {
    PointKind.MANUAL: N_("manual backup"),
    PointKind.AUTOMATIC: N_("automatic backup"),
    PointKind.FOLDER: N_("folder backup"),
    PointKind.BEFORE_RESTORE: N_("data from before a restore"),
}


def kind_label(kind: str) -> str:
    return _(KIND_LABELS[kind]) if kind in KIND_LABELS else str(kind)


def kind_description(kind: str) -> str:
    return _(KIND_DESCRIPTIONS[kind]) if kind in KIND_DESCRIPTIONS else str(kind)


# ---- the restore plan ------------------------------------------------------------------


@dataclass(frozen=True)
class PlanRow:
    """One line of the plan's category tree: a group (``change`` None) or a category
    with what the backup and the current data hold of it."""

    label: str  # in the current language, without indentation
    depth: int
    change: CategoryChange | None

    @property
    def restored(self) -> bool:
        return self.change is not None and self.change.action == CategoryAction.RESTORE


def plan_rows(plan: RestorePlan, rules: Rules) -> list[PlanRow]:
    """The categories the plan touches, as the rules' tree: those the backup or the
    current data hold and those restored, each under its groups; categories the rules
    do not know (an older backup's) at the end."""
    changes = {c.id: c for c in plan.categories}
    shown = {
        c.id
        for c in plan.categories
        if c.backup_files or c.current_files or c.action == CategoryAction.RESTORE
    }
    rows: list[PlanRow] = []
    for depth, node in rules.walk():
        if not any(leaf in shown for leaf in rules.leaves_under(node.id)):
            continue
        change = changes.get(node.id) if node.is_leaf else None
        rows.append(PlanRow(_(node.label), depth, change))
    for c in plan.categories:
        if c.id not in rules.nodes and c.id in shown:
            rows.append(PlanRow(c.id, 0, c))
    return rows


def amount(files: int, size: int) -> str:
    """ "3 files, 1.2 MB"; "-" for none."""
    return f"{formatting.files(files)}, {formatting.size(size)}" if files else "-"


def from_backup_line(plan: RestorePlan) -> str:
    return _("From the backup: {files}, {size}.").format(
        files=formatting.files(plan.restore_files), size=formatting.size(plan.restore_bytes)
    )


def unrestorable_line(path: str, reason: str) -> str:
    """A file of the backup the plan cannot restore, and why (in the current language)."""
    return _("Cannot be restored:") + f" {path} ({reason})"


def renamed_line(plan: RestorePlan) -> str | None:
    """What the plan says of the files that get another name on the target."""
    if not plan.renamed:
        return None
    return ngettext(
        "{n} file will get another name: {system} cannot hold its name as it is.",
        "{n} files will get another name: {system} cannot hold their names as they are.",
        len(plan.renamed),
    ).format(n=len(plan.renamed), system=plan.file_system)


def no_password_warning() -> str:
    """What a backup without a password means, said the same way by the CLI and the app."""
    return _(
        "Without a password, ANYONE who gets this backup file can read every session "
        "note, recording and invoice in it, and any TheraPsy user can import it. Only "
        "do this if the file never leaves a place you control."
    )
