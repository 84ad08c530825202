"""What the CLI and the app both show, worked out once: the words for the kinds of
restore points, the restore plan as rows and notes, and what a finished backup did
(:func:`store_backup_lines`, :func:`single_file_backup_lines`, :func:`outcome_lines`).

Engine-neutral: plain data and translated messages (``therabak.i18n``), no terminal
and no widgets. The CLI prints it as text (``cli/restore.py``, ``cli/points.py``), the
app draws it as widgets (``app/screens/restore.py``, ``app/widgets/points_table.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from therabak import formatting
from therabak.i18n import N_, _, ngettext
from therabak.points.kind import PointKind
from therabak.practice.categories import Rules

if TYPE_CHECKING:
    from therabak.jobs.backup import BackupResult
    from therabak.jobs.backup_outcome import FilesOutcome
    from therabak.jobs.restore import CategoryChange, RestorePlan  # heavy: on use only
    from therabak.jobs.store_backup import StoreBackupResult

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
        from therabak.jobs.restore import CategoryAction

        return self.change is not None and self.change.action == CategoryAction.RESTORE


def plan_rows(plan: RestorePlan, rules: Rules) -> list[PlanRow]:
    """The categories the plan touches, as the rules' tree: those the backup or the
    current data hold and those restored, each under its groups; categories the rules
    do not know (an older backup's) at the end."""
    from therabak.jobs.restore import CategoryAction

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


# ---- what a finished backup did ------------------------------------------------------------


class Tone(StrEnum):
    """How a line of a summary is meant: the app styles it, the CLI prints it as it is."""

    PLAIN = "plain"
    QUIET = "quiet"  # a side note (the app: dim)
    ALARM = "alarm"  # something the user must look at (the app: bold)


@dataclass(frozen=True)
class Line:
    """One sentence of a summary, and what is listed under it (paths, one a line)."""

    text: str
    tone: Tone = Tone.PLAIN
    items: tuple[str, ...] = ()


def store_backup_lines(result: StoreBackupResult) -> list[Line]:
    """What a finished backup into a store did, said after where it went: how much it
    read and wrote, the files it took over unread, and its check. A check that was
    cancelled is not said here: each front says what the user can do then."""
    lines = [
        Line(
            _("{files}, {data} of data; {new} new, {stored} written; took {time}.").format(
                files=formatting.files(result.files),
                data=formatting.size(result.bytes_total),
                new=formatting.size(result.bytes_new),
                stored=formatting.size(result.bytes_stored),
                time=formatting.duration(result.duration_s),
            )
        )
    ]
    if result.files_reused:
        lines.append(
            Line(
                _("{files} unchanged since the last backup were not read again.").format(
                    files=formatting.files(result.files_reused)
                ),
                Tone.QUIET,
            )
        )
    if result.verified is True:
        lines.append(
            Line(_("Verified: what this backup wrote was read back and every file checked."))
        )
    elif result.verified is False:
        lines.append(
            Line(
                _("VERIFICATION FAILED: what this backup wrote is damaged on the destination."),
                Tone.ALARM,
            )
        )
    elif not result.verify_cancelled:
        lines.append(Line(_("Not verified (verify after writing was off)."), Tone.QUIET))
    return lines


def single_file_backup_lines(result: BackupResult) -> list[Line]:
    """What a finished single-file backup did, said after where it went: its amounts,
    its volumes (listed by name) and its check. A check that was cancelled is not said
    here: each front says what the user can do then."""
    lines = [
        Line(
            _("{files}, {data} of data, {stored} on disk, took {time}.").format(
                files=formatting.files(result.files),
                data=formatting.size(result.bytes_in),
                stored=formatting.size(result.bytes_stored),
                time=formatting.duration(result.duration_s),
            )
        )
    ]
    if len(result.volumes) > 1:
        lines.append(
            Line(
                _(
                    "Split into {n} volumes of at most {size} each: keep them together in one "
                    "folder, a restore needs every one."
                ).format(n=len(result.volumes), size=formatting.size(result.volume_size or 0)),
                items=tuple(v.name for v in result.volumes),
            )
        )
    if result.verify_cancelled:
        return lines
    if result.verified is True:
        lines.append(Line(_("Verified: every file was read back and checked.")))
    elif result.verified is False:
        lines.append(
            Line(_("VERIFICATION FAILED: the archive on the destination is damaged."), Tone.ALARM)
        )
    else:
        lines.append(Line(_("Not verified (verify after writing was off)."), Tone.QUIET))
    return lines


def outcome_lines(result: FilesOutcome) -> list[Line]:
    """The files a backup (into a store or a single file) retried and recovered, stored
    raw, or left out."""
    lines = []
    recovered = [o for o in result.retried if o.outcome == "recovered"]
    if recovered:
        lines.append(
            Line(
                ngettext(
                    "{n} file needed retries and was recovered.",
                    "{n} files needed retries and were recovered.",
                    len(recovered),
                ).format(n=len(recovered))
            )
        )
    if result.raw:
        lines.append(
            Line(
                ngettext(
                    "{n} file could not be decrypted and was stored raw "
                    "(restorable on this account only):",
                    "{n} files could not be decrypted and were stored raw "
                    "(restorable on this account only):",
                    len(result.raw),
                ).format(n=len(result.raw)),
                Tone.ALARM,
                tuple(result.raw),
            )
        )
    if result.skipped:
        lines.append(
            Line(
                ngettext(
                    "{n} file is NOT in the backup:",
                    "{n} files are NOT in the backup:",
                    len(result.skipped),
                ).format(n=len(result.skipped)),
                Tone.ALARM,
                tuple(f"{p} ({why})" for p, why in result.skipped),
            )
        )
    return lines
