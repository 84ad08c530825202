"""Which backups a retention policy keeps: one rule for automatic backups and for
``therabak forget`` (as restic's ``forget --keep-*``).

A policy keeps the newest *last* backups, and the newest backup of each of the last
*daily* days, *weekly* ISO weeks and *monthly* months that have backups. The newest
backup is always kept, whatever the policy says.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from therabak.i18n import N_

T = TypeVar("T", bound=Hashable)

#: why a backup is kept (shown by forget --dry-run)
REASONS = {
    "newest": N_("the newest"),
    "last": N_("one of the last {n}"),
    "daily": N_("the newest of its day"),
    "weekly": N_("the newest of its week"),
    "monthly": N_("the newest of its month"),
}


@dataclass(frozen=True)
class RetentionPolicy:
    last: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0

    def __post_init__(self) -> None:
        if min(self.last, self.daily, self.weekly, self.monthly) < 0:
            raise ValueError("retention counts cannot be negative")

    @property
    def empty(self) -> bool:
        return not (self.last or self.daily or self.weekly or self.monthly)


_BUCKETS: tuple[tuple[str, Callable[[datetime], Hashable]], ...] = (
    ("daily", lambda t: t.date()),
    ("weekly", lambda t: tuple(t.isocalendar())[:2]),
    ("monthly", lambda t: (t.year, t.month)),
)


def kept(items: Sequence[tuple[datetime, T]], policy: RetentionPolicy) -> dict[T, list[str]]:
    """The items *policy* keeps, each with why ("newest", "last", "daily", ...).

    *items* are (time, key), newest first."""
    if not items:
        return {}
    out: dict[T, list[str]] = {items[0][1]: ["newest"]}
    for _when, key in items[: policy.last]:
        out.setdefault(key, []).append("last")
    for reason, bucket in _BUCKETS:
        count = getattr(policy, reason)
        seen: set = set()
        for when, key in items:
            if len(seen) >= count:
                break
            b = bucket(when)
            if b in seen:
                continue
            seen.add(b)
            out.setdefault(key, []).append(reason)
    return out
