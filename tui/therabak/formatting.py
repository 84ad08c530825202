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


_SIZE_UNITS = {
    "": 1,
    "b": 1,
    **{p: 1024**i for i, p in enumerate("kmgt", start=1)},
    **{p + "ib": 1024**i for i, p in enumerate("kmgt", start=1)},
    **{p + "b": 1000**i for i, p in enumerate("kmgt", start=1)},
}


def parse_size(text: str) -> int:
    """Bytes in a size written by a person: ``4G``, ``700M``, ``5MB``, ``1.5GiB``, ``123``.
    K/M/G/T and KiB/MiB/... are powers of 1024, KB/MB/... powers of 1000; B or nothing:
    bytes. Raises ValueError for anything else."""
    import re

    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", text)
    unit = m.group(2).lower() if m else ""
    if m is None or unit not in _SIZE_UNITS:
        raise ValueError(f"not a size: {text!r} (e.g. 4G, 700M, 5MB or a number of bytes)")
    number = float(m.group(1)) if "." in m.group(1) else int(m.group(1))
    return int(number * _SIZE_UNITS[unit])
