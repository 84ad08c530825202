"""Password-based key derivation: Argon2id from ``cryptography``, with sane limits.

Writers always use at least RFC 9106's second recommended option (t=3, p=4,
m=64 MiB). Readers refuse parameters that would let a hostile file make the
machine spend minutes or gigabytes, and parameters too weak to be ours.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from therabak.errors import DamagedArchiveError
from therabak.i18n import _

SALT_SIZE = 16
DEFAULT_TIME_COST = 3
DEFAULT_LANES = 4
DEFAULT_MEMORY_KIB = 64 * 1024
# Reader limits: anything outside is refused before any work is done.
MAX_TIME_COST = 16
MAX_LANES = 16
MAX_MEMORY_KIB = 1024 * 1024  # 1 GiB
MIN_TIME_COST = 1
MIN_MEMORY_KIB = 8 * 1024
# Work budget: t * m must stay below this (t=3 at 1 GiB is allowed, t=16 at 1 GiB not).
MAX_WORK_KIB = 4 * 1024 * 1024


@dataclass(frozen=True)
class Argon2Params:
    salt: bytes
    time_cost: int = DEFAULT_TIME_COST
    lanes: int = DEFAULT_LANES
    memory_kib: int = DEFAULT_MEMORY_KIB

    @classmethod
    def new(cls) -> Argon2Params:
        return cls(salt=os.urandom(SALT_SIZE))

    def check(self) -> None:
        """Raise DamagedArchiveError for parameters a reader must not accept."""
        problems = []
        if len(self.salt) != SALT_SIZE:
            problems.append(_("salt size"))
        if not MIN_TIME_COST <= self.time_cost <= MAX_TIME_COST:
            problems.append(_("time cost {n}").format(n=self.time_cost))
        if not 1 <= self.lanes <= MAX_LANES:
            problems.append(_("parallelism {n}").format(n=self.lanes))
        if not max(MIN_MEMORY_KIB, 8 * self.lanes) <= self.memory_kib <= MAX_MEMORY_KIB:
            problems.append(_("memory {n} KiB").format(n=self.memory_kib))
        if self.time_cost * self.memory_kib > MAX_WORK_KIB:
            problems.append(_("total work"))
        if problems:
            raise DamagedArchiveError(
                _(
                    "The backup asks for password-hashing parameters outside safe limits "
                    "({problems}); refusing to open it."
                ).format(problems=", ".join(problems))
            )

    def derive(self, password: str, length: int = 32) -> bytes:
        self.check()
        return Argon2id(
            salt=self.salt,
            length=length,
            iterations=self.time_cost,
            lanes=self.lanes,
            memory_cost=self.memory_kib,
        ).derive(password.encode("utf-8"))
