"""The jobs: backup, verify, diff, restore, folder backup, automatic backup, password and
recovery-code changes, removal, status.

A job takes a request dataclass, reports through an ``emit`` callback (events.py) and
a :class:`~therabak.jobkit.cancel.CancelToken`, and returns a result dataclass. What
the jobs share lives below them: the data folder's machinery in ``therabak.datafolder``,
what every job is made with in ``therabak.jobkit``.
"""
