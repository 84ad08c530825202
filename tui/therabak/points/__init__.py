"""Restore points: every backup therabak can find (``discovery.py``: where it looks,
what each point is, read from public headers only) and what one holds
(``contents.py``). A new kind of point is recognised in ``discovery.py`` and restored
by a source class in ``jobs/restore/sources.py``."""
