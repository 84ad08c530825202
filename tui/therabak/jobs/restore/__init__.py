"""Restore a restore point (archive, folder backup, before-restore folder) safely.

The rules (DESIGN.md section 6), one module a step:

1. :mod:`.checks`: every check runs before anything is written: the target, the lock,
   the point can be read and belongs to this account where that matters, the practice
   app is not running. A refusal leaves ``Data`` exactly as it was. They end in a
   frozen :class:`~.checks.RestoreContext`.
2. :mod:`.sources`: the point opened (unlocked where it needs a key) and listed; one
   class per kind of point, the place a new kind of restore source joins.
3. :mod:`.plan`: a pure function from the point's items, the current data and the
   rules to a :class:`RestorePlan`: what comes back, what is carried over, each file's
   name on the target, the space needed.
4. :mod:`.stage`: the new data is built in a private staging folder beside ``Data``
   (same file system): archive entries are decrypted and sealed again with the
   *current* account key (plain files stay plain, raw entries are copied as they are),
   folder backups are copied as they are; then every category the point does not hold
   (or that ``include`` leaves out) is copied over from the current ``Data``; then
   every staged file is read back and its hash checked.
5. :mod:`.job`: only then the swap (``datafolder/swap.py``): ``Data`` ->
   ``Data.before-restore-<time>``, staging -> ``Data``, journaled so a crash is
   completed or rolled back by the next run.

:func:`plan_restore` runs the checks and says what would happen (the app's
confirmation); :func:`run_restore` does it, asking ``confirm(plan)`` first when given.
"""

from therabak.jobs.restore.checks import RestoreMode
from therabak.jobs.restore.job import plan_restore, run_restore
from therabak.jobs.restore.plan import CategoryAction, CategoryChange, RestorePlan
from therabak.jobs.restore.request import RestoreRequest
from therabak.jobs.restore.result import RestoreResult

__all__ = [
    "CategoryAction",
    "CategoryChange",
    "RestoreMode",
    "RestorePlan",
    "RestoreRequest",
    "RestoreResult",
    "plan_restore",
    "run_restore",
]
