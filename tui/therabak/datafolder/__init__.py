"""The data folder's machinery, shared by the jobs that read, copy or replace it.

* ``names.py``: the name of everything therabak writes at a destination (backups,
  volumes, folder backups, reservations) and beside ``Data`` (the restore's journal and
  lock, ``Data.before-restore-<time>``);
* ``partials.py``: what a job is still writing (``<name>.<pid>.partial``), and the one
  sweeper of what a dead job left;
* ``locks.py``: job locks, the reservation of a final name, the marks of jobs reading
  ``Data``, the practice app's ``Data/.lock``;
* ``swap.py``: a restore's staging folder, the journaled swap and its crash recovery;
* ``manifest.py``: the manifest of a folder backup and of a before-restore folder;
* ``filecopy.py``: copying files below a folder, never through a link;
* ``nesting.py``: backups kept inside ``Data``, left out of every scan.

Nothing here knows a job: the jobs (``therabak.jobs``) use it. Import-light (no
cryptography): the preview uses ``names`` and ``nesting``.
"""
