"""Human renderings of sizes, counts, rates and ages (shared by the CLI and the app)."""

from __future__ import annotations

from datetime import datetime

import humanize


def size(n: int | float) -> str:
    return humanize.naturalsize(n)


def count(n: int) -> str:
    return humanize.intcomma(n)


def files(n: int) -> str:
    return f"{count(n)} file" if n == 1 else f"{count(n)} files"


def rate(bytes_per_s: float) -> str:
    return f"{humanize.naturalsize(bytes_per_s)}/s"


def duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}:{m:02d}:{s:02d}"
    return f"{m}:{s:02d}"


def ago(when: datetime, now: datetime | None = None) -> str:
    now = now or datetime.now(when.tzinfo)
    # months=False: humanize would call 20 days "a month", which hides an overdue backup.
    return humanize.naturaltime(now - when, months=False)


def local_time(when: datetime) -> str:
    return when.astimezone().strftime("%Y-%m-%d %H:%M")
