"""Is a process still running? One answer for locks, leftovers and the app's jobs.

A process id comes from files a crash left behind (lock files, ``.partial`` names, job
records), so it may be damaged, reused by a later process, or a zombie that has finished.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: No process id reaches this (POSIX pid_t is 32-bit signed; Windows ids stay far below).
MAX_PID = 2**31 - 1
_STILL_ACTIVE = 259


def process_identity(pid: int) -> str | None:
    """Something that tells this process from a later one with the same pid (Linux: its
    start time since boot), or None where the system does not say."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text("ascii", "replace")
    except OSError:
        return None
    rest = stat.rsplit(")", 1)[-1].split()
    return rest[19] if len(rest) > 19 else None  # field 22: start time


def pid_alive(pid: int, identity: str = "") -> bool:
    """Is process *pid* running (and, given its *identity*, still the same process)?

    An id no process can have (from a damaged or crafted file) is not running; a zombie
    has finished. Where the system cannot tell, the answer is yes: a lock is then kept
    rather than broken.
    """
    if not 0 < pid <= MAX_PID:
        return False
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import ctypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        try:
            code = ctypes.c_ulong()
            if kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
                return code.value == _STILL_ACTIVE
            return True
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text("ascii", "replace")
    except OSError:
        return True  # no /proc (macOS): the pid exists
    rest = stat.rsplit(")", 1)[-1].split()
    if rest and rest[0] in ("Z", "X"):
        return False  # a zombie has finished
    return not (identity and len(rest) > 19 and rest[19] != identity)
