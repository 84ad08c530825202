"""The backup store: incremental, deduplicated backups as immutable objects.

A store lives in a :class:`~therabak.storage.base.Storage` (a folder on a USB stick,
later S3, SFTP, WebDAV) and holds a ``config``, ``keys/`` (the store key wrapped by key
slots), ``packs/`` (sealed content), ``index/`` (where content lies; rebuildable from
the packs), ``snapshots/`` (one per backup: its complete index; the commit) and
``locks/``. The bytes and the threat model are in FORMAT.md beside this file.

* ``core.Store``: create, open, list and read snapshots, change the password
* ``backup.BackupWriter``: one backup (``Store.begin_backup``)
* ``prune``: forget snapshots, prune content; ``check``: is it whole?
"""
