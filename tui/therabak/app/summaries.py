"""What a finished job says to the user: the summary panel's text, per operation.

Built from the job's final event (a ``summary`` or an ``error``) and what the job view
collected on the way. Paths go in as ``rich.text.Text`` pieces, never as markup.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.text import Text

from therabak import formatting
from therabak.app.jobview import JobView
from therabak.app.points import salvage_advice
from therabak.app.recovery import FORGOT
from therabak.app.runner import Job, JobState
from therabak.errors import ExitCode
from therabak.events import Error, Summary, Warning
from therabak.i18n import N_, _, ngettext, shown
from therabak.jobs.backup import BackupResult
from therabak.jobs.folder import FolderBackupResult
from therabak.jobs.restore import RestoreResult
from therabak.jobs.store_backup import StoreBackupResult
from therabak.jobs.verify import VerifyResult
from therabak.presentation import (
    Line,
    Tone,
    outcome_lines,
    single_file_backup_lines,
    store_backup_lines,
)
from therabak.store.prune import PruneReport

MAX_LISTED = 4

EXIT_MEANINGS = {
    ExitCode.USAGE: N_("the request was not valid"),
    ExitCode.CANNOT_UNLOCK: N_("the backup cannot be unlocked (wrong password or another account)"),
    ExitCode.DAMAGED: N_("the backup is damaged"),
    ExitCode.NO_SPACE: N_("there is not enough space"),
    ExitCode.IN_USE: N_("the practice app is using the data folder"),
    ExitCode.INTERRUPTED: N_("it was cancelled"),
}


def job_title(record) -> str:
    """A job's title in the current language (it is stored as msgid and arguments)."""
    from therabak.i18n import Message

    if record.title_i18n:
        return Message.from_data(record.title_i18n, record.title)
    return record.title or operation_name(record.operation)


def operation_name(operation: str) -> str:
    return {
        "backup": _("Backup"),
        "restore": _("Restore"),
        "verify": _("Verification"),
        "folder-backup": _("Folder backup"),
        "recovery": _("Recovery code"),
        "recovery-create": _("New recovery code"),
        "recovery-remove": _("Removing the recovery code"),
        "emergency-sheet": _("Emergency sheet"),
        "prune": _("Freeing space"),
    }.get(operation, operation)


def is_store_backup(record) -> bool:
    """Is the job a backup into a store (not ``--single-file``)?"""
    return record.operation == "backup" and "--single-file" not in record.args


def is_remote_backup(record) -> bool:
    """Is the job a backup to an off-site destination (a URL, or a destination the
    settings name with a URL)?"""
    if record.operation != "backup" or "--dest" not in record.args:
        return False
    args = record.args
    i = args.index("--dest")
    dest = args[i + 1] if i + 1 < len(args) else ""
    from therabak.storage.url import is_url

    if is_url(dest):
        return True
    from therabak import destinations
    from therabak.settings import Settings

    try:
        named = destinations.find(Settings.load(), dest)
    except Exception:  # noqa: BLE001 - a broken settings file: said where settings show
        return False
    return named is not None and named.is_remote


def cancelled_words(operation: str, *, store: bool = False) -> str:
    """What a cancel that stopped *operation* before its end left behind (the engine
    removes what it had begun; a backup cancelled in its check after writing ends with a
    summary instead, see :func:`_backup`)."""
    if store:
        return _(
            "Backup cancelled. Nothing of it became a backup; what it wrote into the store "
            "is used by the next backup (or freed by prune). Nothing else was changed."
        )
    return {
        "backup": _(
            "Backup cancelled. The unfinished backup file was removed; nothing else was changed."
        ),
        "restore": _(
            "Restore cancelled. The current data was not changed; what was restored "
            "so far was removed."
        ),
        "folder-backup": _(
            "Folder backup cancelled. The unfinished copy was removed; nothing else was changed."
        ),
        "verify": _(
            "Verification cancelled. The backup was not changed, but it was not checked to the end."
        ),
        "recovery": _(
            "Cancelled. The backup still opens with its password; the recovery codes screen "
            "says whether it has a code now."
        ),
        "emergency-sheet": _("Cancelled. No emergency sheet was written."),
    }.get(
        operation,
        _("{name} cancelled. Nothing was changed.").format(name=operation_name(operation)),
    )


def _listed(text: Text, items: list[str], show: Callable[[str], str]) -> None:
    for item in items[:MAX_LISTED]:
        text.append("\n    ")
        text.append(show(item))
    if len(items) > MAX_LISTED:
        text.append("\n    " + _("… and {n} more").format(n=len(items) - MAX_LISTED))


def warnings_of(
    warnings: list[Warning], view: JobView, said: frozenset[str] | set[str] = frozenset()
) -> list[str]:
    """Every warning the job printed: its summary lists them all (a job that printed a
    warning exits 3); a summary without the list (an older job's) leaves the ones the
    view collected from the event stream. Warnings whose code is in *said* are left out
    (the summary's head already says them)."""
    listed = warnings or view.warnings
    return [shown(w.message) for w in listed if w.code not in said]


def _warnings(
    text: Text,
    warnings: list[Warning],
    view: JobView,
    said: frozenset[str] | set[str] = frozenset(),
) -> None:
    found = warnings_of(warnings, view, said)
    if found:
        text.append(
            "\n" + ngettext("{n} warning:", "{n} warnings:", len(found)).format(n=len(found))
        )
        _listed(text, found, str)


def _damage(items: list[tuple[str, str]], sep: str = ": ") -> list[str]:
    return [f"{path}{sep}{reason}" for path, reason in items]


def summary_text(
    job: Job, view: JobView, show_path: Callable[[str], str], stderr: str = ""
) -> Text:
    """The summary panel for a finished job (or one whose process ended without a word;
    then the last lines it wrote to standard error, *stderr*, say what is known)."""
    final = view.final or job.final
    name = operation_name(job.record.operation)
    if final is None:
        if job.state is JobState.CANCELLED:
            return Text(
                _(
                    "{name} cancelled. Nothing was changed; partial files are removed "
                    "on the next run."
                ).format(name=name),
                style="bold",
            )
        text = Text(
            _(
                "{name} ended without a result: its process stopped (crashed or was "
                "killed). Nothing was published; partial files are removed on the "
                "next run."
            ).format(name=name),
            style="bold",
        )
        last = [line for line in stderr.splitlines() if line.strip()][-3:]
        if last:
            text.append("\n" + _("Its last words:"), style="dim")
            for line in last:
                text.append("\n  " + line[:200], style="dim")
        return text
    if isinstance(final, Error):
        if final.exit_code == ExitCode.INTERRUPTED:
            return Text(
                cancelled_words(job.record.operation, store=is_store_backup(job.record)),
                style="bold",
            )
        text = Text(_("{name} failed.").format(name=name) + " ", style="bold")
        text.append(shown(final.message), style="")
        hint = final.hint
        if job.record.operation == "restore":
            hint = salvage_advice(final.remedy, hint)  # the app's option, not the CLI's
        if hint:
            text.append("\n" + shown(hint))
        meaning = EXIT_MEANINGS.get(final.exit_code)
        if meaning:
            text.append(
                "\n"
                + _("(exit code {code}: {meaning})").format(
                    code=final.exit_code, meaning=_(meaning)
                ),
                style="dim",
            )
        return text
    builder = {
        "backup": _backup,
        "verify": _verify,
        "restore": _restore,
        "folder-backup": _folder,
        "recovery-create": _recovery_create,
        "recovery-remove": _recovery_remove,
        "emergency-sheet": _sheet,
        "prune": _prune,
    }.get(final.operation, _generic)
    try:
        return builder(final, view, show_path)
    except ValueError:  # a summary without its result (an older job's): said briefly
        return _generic(final, view, show_path)


def _backup(s: Summary, view: JobView, show_path: Callable[[str], str]) -> Text:
    r: BackupResult | StoreBackupResult
    if s.extra.get("store"):  # into a backup store (not --single-file)
        r = s.result(StoreBackupResult)
    else:
        r = s.result(BackupResult)
    text = Text(_backup_head(r, s.exit_code), style="bold")
    text.append("\n" + _("Where:") + " ")
    if isinstance(r, StoreBackupResult):  # what was new, and what was taken over unread
        text.append(show_path(str(r.store)))
        _lines(text, store_backup_lines(r))
    else:
        text.append(show_path(str(r.archive)))
        _lines(text, single_file_backup_lines(r))
    if r.verify_cancelled:
        text.append("\n" + _check_cancelled(store=isinstance(r, StoreBackupResult)), style="bold")
    if r.damaged:
        text.append("\n" + _("Damaged in the backup:"), style="bold")
        _listed(text, _damage(r.damaged), str)
    _lines(text, outcome_lines(r))
    _warnings(text, r.warnings, view, said={"verify-cancelled"})  # the head said that one
    return text


def _backup_head(r: BackupResult | StoreBackupResult, exit_code: int) -> str:
    """The first line: how the backup ended, the worst first."""
    if r.damaged:
        return _("Backup written, but verification FOUND DAMAGE.")
    if r.verify_cancelled:
        return _("Backup written; its check was cancelled, so it is NOT verified.")
    if r.raw or r.skipped:
        return _("Backup finished; some files need attention.")
    if exit_code == ExitCode.WARNINGS:
        return _("Backup finished with warnings.")
    return _("Backup finished.")


def _check_cancelled(*, store: bool) -> str:
    """A backup whose check was cancelled: where it is, and the app's two choices."""
    if store:
        return _(
            "The backup was complete before its check began: it is in the backup store "
            "as a restore point, not verified. Keep it (a check of the store reads it), "
            "or delete it."
        )
    return _(
        "The backup was complete before its check began: it is kept and listed as "
        "a restore point. Keep it (verify it later), or delete it."
    )


#: How the app shows a summary line of each tone (``presentation.Tone``).
TONE_STYLES = {Tone.PLAIN: "", Tone.QUIET: "dim", Tone.ALARM: "bold"}


def _lines(text: Text, lines: list[Line]) -> None:
    """Summary lines worked out in ``presentation``, styled by their tone; their items
    listed below (the first few)."""
    for line in lines:
        text.append("\n" + line.text, style=TONE_STYLES[line.tone])
        if line.items:
            _listed(text, list(line.items), str)


def _verify(s: Summary, view: JobView, show_path: Callable[[str], str]) -> Text:
    r = s.result(VerifyResult)
    if r.damaged:
        text = Text(_("The backup is DAMAGED."), style="bold")
        text.append("\n" + _("{n} intact; damaged:").format(n=formatting.files(r.files_ok)))
        _listed(text, _damage(r.damaged), str)
    else:
        text = Text(_("The backup is intact."), style="bold")
        text.append(
            "\n"
            + _("{files}, {size} read and checked in {time}.").format(
                files=formatting.files(r.files_ok),
                size=formatting.size(r.bytes_checked),
                time=formatting.duration(r.duration_s),
            )
        )
    text.append("\n" + _("Backup:") + " ")
    text.append(show_path(r.archive or s.message))
    return text


def _place_and_counts(
    text: Text,
    label: str,
    place: Path,
    counts: tuple[int, int, float],
    show_path: Callable[[str], str],
) -> None:
    """The lines "<label> <path>" and "<files>, <size>, took <time>." of a job that
    wrote files (*counts*: files, bytes, seconds)."""
    text.append("\n" + label + " ")
    text.append(show_path(str(place)))
    files, size, seconds = counts
    text.append(
        "\n"
        + _("{files}, {size}, took {time}.").format(
            files=formatting.files(files),
            size=formatting.size(size),
            time=formatting.duration(seconds),
        )
    )


def _restore(s: Summary, view: JobView, show_path: Callable[[str], str]) -> Text:
    r = s.result(RestoreResult)
    if r.damaged or r.renamed:
        head = _("Restore finished; some files need attention.")
    elif s.exit_code == ExitCode.WARNINGS:
        head = _("Restore finished with warnings.")
    else:
        head = _("Restore finished.")
    text = Text(head, style="bold")
    counts = (r.files_restored, r.bytes_restored, r.duration_s)
    _place_and_counts(text, _("Restored into:"), r.target, counts, show_path)
    if r.files_carried:
        text.append(
            "\n"
            + _("Kept from the current data (not in the backup): {files}, {size}.").format(
                files=formatting.files(r.files_carried),
                size=formatting.size(r.bytes_carried),
            )
        )
    if r.before_restore:
        text.append("\n" + _("The data as it was before is kept in:") + " ")
        text.append(show_path(str(r.before_restore)))
        if r.before_restore_planned:
            text.append(
                "\n"
                + _("(not {name}, as the plan said: that name was taken meanwhile)").format(
                    name=r.before_restore_planned.name
                )
            )
        text.append(
            "\n"
            + _(
                "To undo this restore, restore that folder: it is listed as a "
                "restore point ('before restore')."
            )
        )
    if r.new_account_key:
        text.append("\n" + _("A new account key was created:") + " ", style="bold")
        text.append(show_path(str(r.new_account_key)), style="bold")
        text.append("\n" + _("Keep a copy of it safe: without it the data cannot be read."))
    if r.damaged:
        text.append("\n" + _("Not restored (damaged in the backup):"), style="bold red")
        _listed(text, _damage(r.damaged), str)
    if r.renamed:
        _renamed(text, r, show_path)
    _warnings(text, r.warnings, view)
    return text


def _renamed(text: Text, r: RestoreResult, show_path: Callable[[str], str]) -> None:
    text.append(
        "\n"
        + ngettext(
            "{n} file was restored under another name ({system} cannot hold its name "
            "as it is; nothing is lost):",
            "{n} files were restored under other names ({system} cannot hold their "
            "names as they are; nothing is lost):",
            len(r.renamed),
        ).format(n=len(r.renamed), system=r.file_system or "?"),
        style="bold yellow",
    )
    _listed(
        text,
        [f"{formatting.name(x.path)} → {formatting.name(x.target)}" for x in r.renamed],
        str,
    )
    if r.renamed_list:
        text.append("\n" + _("The list is in:") + " ")
        text.append(show_path(str(r.renamed_list)))


def _folder(s: Summary, view: JobView, show_path: Callable[[str], str]) -> Text:
    r = s.result(FolderBackupResult)
    if r.skipped or r.unstable:
        head = _("Folder backup finished; some files need attention.")
    elif s.exit_code == ExitCode.WARNINGS:
        head = _("Folder backup finished with warnings.")
    else:
        head = _("Folder backup finished.")
    text = Text(head, style="bold")
    _place_and_counts(text, _("Where:"), r.folder, (r.files, r.bytes, r.duration_s), show_path)
    if r.verified is True:
        text.append("\n" + _("Verified: the copy was read back and checked."))
    if r.skipped:
        text.append(
            "\n"
            + ngettext(
                "{n} file is NOT in the copy:", "{n} files are NOT in the copy:", len(r.skipped)
            ).format(n=len(r.skipped)),
            style="bold",
        )
        _listed(text, [f"{p} ({why})" for p, why in r.skipped], str)
    _warnings(text, r.warnings, view)
    text.append("\n" + _("It can be restored with this account's key only."))
    return text


def _prune(s: Summary, view: JobView, show_path: Callable[[str], str]) -> Text:
    """Forget by the retention, then prune: what went, and the space it gave back."""
    r = s.result(PruneReport)
    text = Text(_("Space freed."), style="bold")
    text.append("\n" + _("Where:") + " ")
    text.append(show_path(r.store))
    forgotten = len(r.forgotten)
    text.append(
        "\n"
        + ngettext(
            "{n} automatic backup the retention does not keep was forgotten.",
            "{n} automatic backups the retention does not keep were forgotten.",
            forgotten,
        ).format(n=forgotten)
    )
    text.append(
        "\n"
        + _("{freed} freed; {snapshots} backups remain, {used} in use.").format(
            freed=formatting.size(r.count("bytes_freed")),
            snapshots=r.count("snapshots"),
            used=formatting.size(r.count("bytes_used")),
        )
    )
    return text


def _recovery_create(s: Summary, view: JobView, show_path: Callable[[str], str]) -> Text:
    text = Text(_("The new recovery code is saved in the backup."), style="bold")
    text.append("\n" + _("Backup:") + " ")
    text.append(show_path(str(s.extra.get("archive") or s.message)))
    if s.extra.get("replaced"):
        text.append(
            "\n"
            + _(
                "The earlier recovery code no longer opens this backup (copies of it made "
                "before still open with it)."
            )
        )
    text.append(
        "\n"
        + _(
            "Keep the code you wrote down apart from the backup. With it, the backup "
            "opens when its password is forgotten: on the unlock step, choose “{forgot}”."
        ).format(forgot=_(FORGOT))
    )
    return text


def _recovery_remove(s: Summary, view: JobView, show_path: Callable[[str], str]) -> Text:
    if not s.extra.get("removed"):
        text = Text(_("This backup has no recovery code; nothing was changed."), style="bold")
    else:
        text = Text(_("The recovery code is removed."), style="bold")
    text.append("\n" + _("Backup:") + " ")
    text.append(show_path(str(s.extra.get("archive") or s.message)))
    if s.extra.get("removed"):
        text.append(
            "\n"
            + _(
                "The backup now opens with its password only. Copies of it made before "
                "still open with the old code."
            )
        )
    return text


def _sheet(s: Summary, view: JobView, show_path: Callable[[str], str]) -> Text:
    x = s.extra
    text = Text(_("The emergency sheet is written."), style="bold")
    text.append("\n" + _("Where:") + " ")
    text.append(show_path(str(x.get("sheet") or s.message)), style="bold")
    places = x.get("places") or []
    text.append(
        "\n"
        + ngettext(
            "It lists {n} place where backups are.",
            "It lists {n} places where backups are.",
            len(places),
        ).format(n=len(places))
    )
    if x.get("includes_code"):
        text.append("\n" + _("It holds the recovery code.") + " ", style="bold")
        text.append(
            _(
                "Whoever has the sheet can read the backups: print it, keep it locked away, "
                "and then delete the file."
            ),
            style="bold",
        )
        if x.get("code_opens") == 0:
            text.append(
                "\n"
                + _(
                    "This recovery code opens none of the backups found now; check that it "
                    "is the right one."
                ),
                style="bold yellow",
            )
    else:
        text.append(
            "\n"
            + _(
                "It holds no recovery code: write the code into its boxes by hand, or keep "
                "it elsewhere."
            )
        )
    text.append("\n" + _("Print it and keep it with the practice papers."))
    return text


def _generic(s: Summary, view: JobView, show_path: Callable[[str], str]) -> Text:
    text = Text(_("{name} finished.").format(name=operation_name(s.operation)), style="bold")
    if s.message:
        text.append("\n")
        text.append(show_path(s.message))
    return text
