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
from therabak.events import Error, Summary
from therabak.i18n import N_, _, ngettext, shown
from therabak.jobs.runner import Job, JobState

MAX_LISTED = 4

EXIT_MEANINGS = {
    2: N_("the request was not valid"),
    4: N_("the backup cannot be unlocked (wrong password or another account)"),
    5: N_("the backup is damaged"),
    6: N_("there is not enough space"),
    7: N_("the practice app is using the data folder"),
    130: N_("it was cancelled"),
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
        "prune": _("Freeing space"),
    }.get(operation, operation)


def is_store_backup(record) -> bool:
    """Is the job a backup into a store (not ``--single-file``)?"""
    return record.operation == "backup" and "--single-file" not in record.args


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
    s: Summary, view: JobView, said: frozenset[str] | set[str] = frozenset()
) -> list[str]:
    """Every warning the job printed: its summary lists them all (a job that printed a
    warning exits 3); a summary without the list (an older job's) leaves the ones the
    view collected from the event stream. Warnings whose code is in *said* are left out
    (the summary's head already says them)."""
    listed = s.extra.get("warnings")
    if isinstance(listed, list) and listed:
        return [
            shown(w["message"]) if isinstance(w, dict) else shown(w)
            for w in listed
            if not (isinstance(w, dict) and w.get("code") in said)
        ]
    return [shown(w.message) for w in view.warnings if w.code not in said]


def _warnings(
    text: Text, s: Summary, view: JobView, said: frozenset[str] | set[str] = frozenset()
) -> None:
    found = warnings_of(s, view, said)
    if found:
        text.append(
            "\n" + ngettext("{n} warning:", "{n} warnings:", len(found)).format(n=len(found))
        )
        _listed(text, found, str)


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
        if final.exit_code == 130:
            return Text(
                cancelled_words(job.record.operation, store=is_store_backup(job.record)),
                style="bold",
            )
        text = Text(_("{name} failed.").format(name=name) + " ", style="bold")
        text.append(shown(final.message), style="")
        hint = final.hint
        if job.record.operation == "restore":
            hint = salvage_advice(hint)  # the app's option, not the CLI's
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
        "prune": _prune,
    }.get(final.operation, _generic)
    return builder(final, view, show_path)


def _backup(s: Summary, view: JobView, show_path: Callable[[str], str]) -> Text:
    x = s.extra
    damaged = x.get("damaged") or []
    if damaged:
        head = _("Backup written, but verification FOUND DAMAGE.")
    elif x.get("verify_cancelled"):
        head = _("Backup written; its check was cancelled, so it is NOT verified.")
    elif x.get("raw") or x.get("skipped"):
        head = _("Backup finished; some files need attention.")
    elif s.exit_code == 3:
        head = _("Backup finished with warnings.")
    else:
        head = _("Backup finished.")
    text = Text(head, style="bold")
    text.append("\n" + _("Where:") + " ")
    store = x.get("store")
    text.append(show_path(str(store or x.get("archive") or s.message)))
    if store:  # into a backup store: what was new, and what was taken over unread
        text.append(
            "\n"
            + _("{files}, {data} of data; {new} new, {stored} written; took {time}.").format(
                files=formatting.files(int(x.get("files", 0))),
                data=formatting.size(int(x.get("bytes_total", 0))),
                new=formatting.size(int(x.get("bytes_new", 0))),
                stored=formatting.size(int(x.get("bytes_stored", 0))),
                time=formatting.duration(s.duration_s),
            )
        )
        reused = int(x.get("files_reused") or 0)
        if reused:
            text.append(
                "\n"
                + _("{files} unchanged since the last backup were not read again.").format(
                    files=formatting.files(reused)
                ),
                style="dim",
            )
    else:
        text.append(
            "\n"
            + _("{files}, {data} of data, {stored} on disk, took {time}.").format(
                files=formatting.files(int(x.get("files", 0))),
                data=formatting.size(int(x.get("bytes_in", 0))),
                stored=formatting.size(int(x.get("bytes_stored", 0))),
                time=formatting.duration(s.duration_s),
            )
        )
    volumes = x.get("volumes") or []
    if len(volumes) > 1:
        text.append(
            "\n"
            + _(
                "Split into {n} volumes of at most {size} each: keep them together in one "
                "folder, a restore needs every one."
            ).format(n=len(volumes), size=formatting.size(int(x.get("volume_size") or 0)))
        )
    verified = x.get("verified")
    if x.get("verify_cancelled") and store:
        text.append(
            "\n"
            + _(
                "The backup was complete before its check began: it is kept in the backup "
                "store as a restore point, not verified (a check of the store reads it)."
            ),
            style="bold",
        )
    elif x.get("verify_cancelled"):
        text.append(
            "\n"
            + _(
                "The backup was complete before its check began: it is kept and listed as "
                "a restore point. Keep it (verify it later), or delete it."
            ),
            style="bold",
        )
    elif verified is True and store:
        text.append(
            "\n" + _("Verified: what this backup wrote was read back and every file checked.")
        )
    elif verified is True:
        text.append("\n" + _("Verified: every file was read back and checked."))
    elif verified is None:
        text.append("\n" + _("Not verified (verify after writing was off)."), style="dim")
    if damaged:
        text.append("\n" + _("Damaged in the backup:"), style="bold")
        _listed(text, [f"{d['path']}: {d['reason']}" for d in damaged], str)
    retried = x.get("retried") or []
    recovered = [r for r in retried if r.get("outcome") == "recovered"]
    if recovered:
        text.append(
            "\n"
            + ngettext(
                "{n} file needed retries and was recovered.",
                "{n} files needed retries and were recovered.",
                len(recovered),
            ).format(n=len(recovered))
        )
    raw = x.get("raw") or []
    if raw:
        text.append(
            "\n"
            + ngettext(
                "{n} file could not be decrypted and was stored raw "
                "(restorable on this account only):",
                "{n} files could not be decrypted and were stored raw "
                "(restorable on this account only):",
                len(raw),
            ).format(n=len(raw)),
            style="bold",
        )
        _listed(text, list(raw), str)
    skipped = x.get("skipped") or []
    if skipped:
        text.append(
            "\n"
            + ngettext(
                "{n} file is NOT in the backup:", "{n} files are NOT in the backup:", len(skipped)
            ).format(n=len(skipped)),
            style="bold",
        )
        _listed(text, [f"{d['path']} ({d['reason']})" for d in skipped], str)
    _warnings(text, s, view, said={"verify-cancelled"})  # the head said that one
    return text


def _verify(s: Summary, view: JobView, show_path: Callable[[str], str]) -> Text:
    x = s.extra
    damaged = x.get("damaged") or []
    if damaged:
        text = Text(_("The backup is DAMAGED."), style="bold")
        text.append(
            "\n" + _("{n} intact; damaged:").format(n=formatting.files(int(x.get("files_ok", 0))))
        )
        _listed(text, [f"{d['path']}: {d['reason']}" for d in damaged], str)
    else:
        text = Text(_("The backup is intact."), style="bold")
        text.append(
            "\n"
            + _("{files}, {size} read and checked in {time}.").format(
                files=formatting.files(int(x.get("files_ok", 0))),
                size=formatting.size(int(x.get("bytes_checked", 0))),
                time=formatting.duration(s.duration_s),
            )
        )
    text.append("\n" + _("Backup:") + " ")
    text.append(show_path(str(x.get("archive", s.message))))
    return text


def _place_and_counts(
    text: Text, label: str, place: object, s: Summary, show_path: Callable[[str], str]
) -> None:
    """The lines "<label> <path>" and "<files>, <size>, took <time>." of a job that
    wrote files (where the summary has them)."""
    if place:
        text.append("\n" + label + " ")
        text.append(show_path(str(place)))
    files = s.extra.get("files")
    if files is not None:
        text.append(
            "\n"
            + _("{files}, {size}, took {time}.").format(
                files=formatting.files(int(files)),
                size=formatting.size(int(s.extra.get("bytes", 0))),
                time=formatting.duration(s.duration_s),
            )
        )


def _restore(s: Summary, view: JobView, show_path: Callable[[str], str]) -> Text:
    x = s.extra
    if x.get("damaged") or x.get("renamed"):
        head = _("Restore finished; some files need attention.")
    elif s.exit_code == 3:
        head = _("Restore finished with warnings.")
    else:
        head = _("Restore finished.")
    text = Text(head, style="bold")
    _place_and_counts(text, _("Restored into:"), x.get("target") or x.get("data_dir"), s, show_path)
    carried = x.get("files_carried")
    if carried:
        text.append(
            "\n"
            + _("Kept from the current data (not in the backup): {files}, {size}.").format(
                files=formatting.files(int(carried)),
                size=formatting.size(int(x.get("bytes_carried", 0))),
            )
        )
    kept = x.get("before_restore")
    if kept:
        text.append("\n" + _("The data as it was before is kept in:") + " ")
        text.append(show_path(str(kept)))
        planned = x.get("before_restore_planned")
        if planned:
            text.append(
                "\n"
                + _("(not {name}, as the plan said: that name was taken meanwhile)").format(
                    name=Path(str(planned)).name
                )
            )
        text.append(
            "\n"
            + _(
                "To undo this restore, restore that folder: it is listed as a "
                "restore point ('before restore')."
            )
        )
    new_key = x.get("new_account_key")
    if new_key:
        text.append("\n" + _("A new account key was created:") + " ", style="bold")
        text.append(show_path(str(new_key)), style="bold")
        text.append("\n" + _("Keep a copy of it safe: without it the data cannot be read."))
    damaged = x.get("damaged") or []
    if damaged:
        text.append("\n" + _("Not restored (damaged in the backup):"), style="bold red")
        _listed(text, [f"{d['path']}: {d['reason']}" for d in damaged], str)
    renamed = x.get("renamed") or []
    if renamed:
        text.append(
            "\n"
            + ngettext(
                "{n} file was restored under another name ({system} cannot hold its name "
                "as it is; nothing is lost):",
                "{n} files were restored under other names ({system} cannot hold their "
                "names as they are; nothing is lost):",
                len(renamed),
            ).format(n=len(renamed), system=x.get("file_system") or "?"),
            style="bold yellow",
        )
        _listed(
            text,
            [
                f"{formatting.name(r['path'])} → {formatting.name(r['restored_as'])}"
                for r in renamed
            ],
            str,
        )
        if x.get("renamed_list"):
            text.append("\n" + _("The list is in:") + " ")
            text.append(show_path(str(x["renamed_list"])))
    _warnings(text, s, view)
    return text


def _folder(s: Summary, view: JobView, show_path: Callable[[str], str]) -> Text:
    x = s.extra
    if x.get("skipped") or x.get("unstable"):
        head = _("Folder backup finished; some files need attention.")
    elif s.exit_code == 3:
        head = _("Folder backup finished with warnings.")
    else:
        head = _("Folder backup finished.")
    text = Text(head, style="bold")
    where = x.get("folder") or x.get("path") or x.get("dest") or s.message
    _place_and_counts(text, _("Where:"), where, s, show_path)
    if x.get("verified") is True:
        text.append("\n" + _("Verified: the copy was read back and checked."))
    skipped = x.get("skipped") or []
    if skipped:
        text.append(
            "\n"
            + ngettext(
                "{n} file is NOT in the copy:", "{n} files are NOT in the copy:", len(skipped)
            ).format(n=len(skipped)),
            style="bold",
        )
        _listed(text, [f"{d['path']} ({d['reason']})" for d in skipped], str)
    _warnings(text, s, view)
    text.append("\n" + _("It can be restored with this account's key only."))
    return text


def _prune(s: Summary, view: JobView, show_path: Callable[[str], str]) -> Text:
    """Forget by the retention, then prune: what went, and the space it gave back."""
    x = s.extra
    text = Text(_("Space freed."), style="bold")
    text.append("\n" + _("Where:") + " ")
    text.append(show_path(str(x.get("store") or s.message)))
    forgotten = len(x.get("forgotten") or [])
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
            freed=formatting.size(int(x.get("bytes_freed") or 0)),
            snapshots=int(x.get("snapshots") or 0),
            used=formatting.size(int(x.get("bytes_used") or 0)),
        )
    )
    return text


def _generic(s: Summary, view: JobView, show_path: Callable[[str], str]) -> Text:
    text = Text(_("{name} finished.").format(name=operation_name(s.operation)), style="bold")
    if s.message:
        text.append("\n")
        text.append(show_path(s.message))
    return text
