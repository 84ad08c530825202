"""Restore points: what a point is (``point.py``), every backup therabak can find and
what a named point is (``discovery.py``, public headers only; a store's snapshots in
``store_points.py``, the store itself in ``stores.py``) and what one holds
(``contents.py``). A new kind of point is recognised in ``point.py``/``discovery.py``
and restored by a source class in ``jobs/restore/sources.py``."""
