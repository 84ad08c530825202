"""Allocator settings for jobs that stream large buffers (glibc only; elsewhere a no-op).

A backup allocates and frees a 1 MiB plaintext buffer per chunk. glibc's default,
adaptive thresholds hand such blocks back to the OS and fetch them again over and
over (``brk``/``mmap`` churn), and every fresh page costs a page fault: on the
benchmark machine that was 200,000 faults and about a third of the system time of a
2 GB backup. Fixing the thresholds keeps freed blocks for reuse: memory stays flat
(the blocks are reused, not accumulated) and the faults drop to ~10,000.

A store backup passes a lower threshold (``STORE_MMAP_THRESHOLD``): its large blocks
are few and long-lived (the 16 MiB pack buffers, reused; a snapshot's and an index's
bytes at the commit; the parent snapshot's body at the start), and from the heap each
left a hole that only blocks of its size could fill again, while the small objects of
100,000 files grew beside them: measured on 113,571 files, peak RSS 274 -> 232 MB
(first backup) with 4 MiB. From mmap they go back to the system when freed.
"""

from __future__ import annotations

import contextlib
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Blocks below this come from the heap (and are reused); above, from mmap as usual.
MMAP_THRESHOLD = 32 << 20
STORE_MMAP_THRESHOLD = 4 << 20
# Free memory at the top of the heap is returned to the OS only beyond this.
TRIM_THRESHOLD = 128 << 20

_done = 0  # the mmap threshold applied (0: none yet)


def tune_for_streaming(mmap_threshold: int = MMAP_THRESHOLD) -> bool:
    """Apply the settings (again only for another threshold); True when they were."""
    global _done
    if _done == mmap_threshold:
        return True
    if not sys.platform.startswith("linux"):
        return False
    with contextlib.suppress(OSError, AttributeError, TypeError, ValueError):
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt  # glibc (musl has no mallopt: AttributeError)
        mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        mallopt.restype = ctypes.c_int
        ok = mallopt(_M_MMAP_THRESHOLD, mmap_threshold) and mallopt(
            _M_TRIM_THRESHOLD, TRIM_THRESHOLD
        )
        _done = mmap_threshold if ok else 0
    return bool(_done)
