""" "Test connection": write, read, list and delete a small object, and say what failed.

Used by ``therabak remote test URL`` and by the app's "test connection". The object is
``therabak-test/<random>`` (64 KiB of random bytes); it is deleted again whatever happens.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from dataclasses import dataclass, field
from enum import StrEnum

from therabak.i18n import N_, _
from therabak.storage.base import Storage, StorageError

TEST_PREFIX = "therabak-test/"
TEST_SIZE = 64 * 1024


class ProbeStep(StrEnum):
    WRITE = "write"
    READ = "read"
    LIST = "list"
    DELETE = "delete"


STEP_TEXT = {
    ProbeStep.WRITE: N_("writing a test object"),
    ProbeStep.READ: N_("reading it back"),
    ProbeStep.LIST: N_("listing it"),
    ProbeStep.DELETE: N_("deleting it"),
}


@dataclass
class ProbeResult:
    location: str
    done: list[ProbeStep] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {
            "location": self.location,
            "ok": True,
            "steps": [str(s) for s in self.done],
            "seconds": round(self.seconds, 3),
        }


class ProbeFailed(StorageError):
    """A step of the test failed: the message says which and why; the exit code is the
    cause's (wrong credentials, missing bucket, unreachable, host key, full, …)."""

    def __init__(self, step: ProbeStep, cause: StorageError, location: str) -> None:
        super().__init__(
            _("Testing {place} failed while {step}: {error}").format(
                place=location, step=_(STEP_TEXT[step]), error=cause.message
            ),
            hint=cause.hint,
        )
        self.exit_code = cause.exit_code
        self.step = step
        self.cause = cause


def probe(storage: Storage) -> ProbeResult:
    """Write, read (and compare), list and delete a small object on *storage*."""
    result = ProbeResult(storage.location)
    name = f"{TEST_PREFIX}{secrets.token_hex(8)}"
    data = os.urandom(TEST_SIZE)
    started = time.monotonic()
    step = ProbeStep.WRITE
    written = False
    try:
        storage.put_bytes(name, data)
        written = True
        result.done.append(step)
        step = ProbeStep.READ
        if storage.get(name) != data or storage.get(name, 1000, 10) != data[1000:1010]:
            raise StorageError(_("what came back differs from what was written"))
        result.done.append(step)
        step = ProbeStep.LIST
        if name not in {o.name for o in storage.list(TEST_PREFIX)}:
            raise StorageError(_("the test object is not in the list"))
        result.done.append(step)
        step = ProbeStep.DELETE
        storage.delete(name)
        written = False
        if storage.size(name) is not None:
            raise StorageError(_("the test object is still there after deleting it"))
        result.done.append(step)
    except StorageError as e:
        raise ProbeFailed(step, e, storage.location) from None
    finally:
        if written:
            with contextlib.suppress(StorageError):
                storage.delete(name)
    result.seconds = time.monotonic() - started
    return result
