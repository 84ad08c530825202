"""What a job's phase is called: the progress screen's line (``PHASES``, per operation
``OPERATION_PHASES``), the home screen's short word (``phase_word``) and what cancelling
now means (``cancel_question``)."""

from __future__ import annotations

from therabak.i18n import N_, _

PHASES = {
    "opening": N_("Opening the backup store…"),
    "scanning": N_("Looking at the data folder…"),
    "writing": N_("Writing the backup…"),
    "syncing": N_("Making sure everything is on the disk…"),
    "verifying": N_("Reading the backup back and checking every file…"),
    "comparing": N_("Comparing…"),
    "staging": N_("Restoring into a staging folder…"),
    "swapping": N_("Putting the restored data in place…"),
    "copying": N_("Copying the data folder…"),
    "checking": N_("Checking the backup and the data folder…"),
    "carrying-over": N_("Keeping what the backup does not hold…"),
    "salvaging": N_("Reading what is intact in a damaged backup…"),
}
OPERATION_PHASES = {
    ("folder-backup", "verifying"): N_("Reading the copy back and checking every file…"),
    ("verify", "verifying"): N_("Reading every file of the backup and checking it…"),
    ("emergency-sheet", "scanning"): N_("Looking for the backups…"),
    ("emergency-sheet", "writing"): N_("Writing the emergency sheet…"),
}


#: The short name of a job's phase, for the home screen's job list ("checking 7%").
PHASE_WORDS = {
    "opening": N_("opening"),
    "scanning": N_("counting"),
    "writing": N_("writing"),
    "syncing": N_("syncing"),
    "verifying": N_("checking"),
    "comparing": N_("comparing"),
    "staging": N_("restoring"),
    "carrying-over": N_("keeping"),
    "swapping": N_("swapping"),
    "copying": N_("copying"),
    "checking": N_("checking"),
    "salvaging": N_("salvaging"),
}


def phase_word(phase: str) -> str:
    return _(PHASE_WORDS[phase]) if phase in PHASE_WORDS else _("running")


def cancel_question(operation: str, phase: str, *, store: bool = False) -> str | None:
    """What cancelling *operation* now means, for the question (None: too late)."""
    if operation == "restore" and phase == "swapping":
        return None
    if store and phase == "verifying":
        return _(
            "The backup is already complete: only its check stops. It is then kept in the "
            "backup store, not verified, and you can keep it or delete it."
        )
    if store:
        return _(
            "The backup stops within a second. Nothing of it becomes a backup; what it "
            "wrote so far is used by the next backup (or freed by prune)."
        )
    if operation == "backup" and phase == "verifying":
        return _(
            "The backup is already complete: only its check stops. It is then kept, not "
            "verified, and you can keep it or delete it."
        )
    return {
        "backup": _(
            "The backup stops within a second. The unfinished backup file is removed; "
            "nothing that is already there is changed."
        ),
        "restore": _(
            "The restore stops within a second. What was restored so far is removed; the "
            "current data stays as it is."
        ),
        "folder-backup": _(
            "The folder backup stops within a second. The unfinished copy is removed; "
            "nothing else is changed."
        ),
        "verify": _(
            "The check stops. The backup is not changed, but it is not checked to the end."
        ),
    }.get(operation, _("The job stops within a second; what it began is removed."))
