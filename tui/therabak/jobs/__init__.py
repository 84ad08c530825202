"""Jobs: backup, verify, diff, restore, folder backup, automatic backup, restore points.

A job takes a request, reports through an ``emit`` callback (events.py) and a
:class:`~therabak.jobs.cancel.CancelToken`, and returns a result dataclass.
"""
