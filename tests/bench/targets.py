"""The targets of the benchmark (issues 19, 16 and 6) and the table that checks them.

Pure logic, no timing: ``tests/bench/run.py`` measures, puts each figure under a name in
one mapping (medians in seconds, sizes in bytes, peak RSS in MB) and hands it to
:func:`evaluate`; :func:`format_table` prints the result. ``tests/test_bench_targets.py``
pins the arithmetic (what "met", "missed by" and "not measured" mean).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Unit(StrEnum):
    RATIO = "x"  # num / den
    SECONDS = "s"  # num alone, a duration
    MB = "MB"  # num alone, a memory size


@dataclass(frozen=True)
class Row:
    issue: int
    what: str
    num: str  # a name in the measured values
    den: str | None  # None: num itself is compared with the target
    target: float | None  # None: shown for information, no target
    strict: bool = False  # True: must be below the target ("<"), else "<="
    unit: Unit = Unit.RATIO
    sizes: bool = False  # a ratio of sizes in bytes (else of durations in seconds)


@dataclass(frozen=True)
class Result:
    row: Row
    num: float | None
    den: float | None
    value: float | None  # the ratio (or num itself for absolute rows)
    met: bool | None  # None: no target or not measured
    missing: str = ""  # what was not measured

    @property
    def over(self) -> float | None:
        """How far above its target a missed row is (0.25: 25 % too slow/large)."""
        if self.met is not False or self.value is None or not self.row.target:
            return None
        return self.value / self.row.target - 1


def evaluate(rows: list[Row], values: Mapping[str, float | None]) -> list[Result]:
    out = []
    for row in rows:
        num = values.get(row.num)
        den = values.get(row.den) if row.den is not None else None
        missing = [n for n, v in ((row.num, num), (row.den, den)) if n is not None and v is None]
        if row.den is not None and den == 0:
            missing.append(f"{row.den} (zero)")
        if missing:
            out.append(Result(row, num, den, None, None, "not measured: " + ", ".join(missing)))
            continue
        assert num is not None
        value = num / den if den is not None else num
        met = None
        if row.target is not None:
            met = value < row.target if row.strict else value <= row.target
        out.append(Result(row, num, den, value, met))
    return out


def _fmt(v: float | None, unit: Unit, sizes: bool = False) -> str:
    if v is None:
        return ""
    if unit is Unit.MB:
        return f"{v:.1f} MB"
    if sizes:
        return f"{v / 1e9:.3f} GB"
    return f"{v:.2f} s"


def format_table(results: list[Result]) -> list[str]:
    """One line per row, grouped by issue: measured, base, ratio, target, verdict."""
    lines: list[str] = []
    issue = None
    for r in results:
        row = r.row
        if row.issue != issue:
            issue = row.issue
            lines.append(f"issue {issue}")
            lines.append(
                f"  {'':<50} {'therabak':>11} {'peer/base':>11} {'ratio':>7} {'target':>9}"
            )
        op = "<" if row.strict else "<="
        tgt = ""
        if row.target is not None:
            tgt = (
                f"{op} {row.target:.2f}"
                if row.unit is Unit.RATIO
                else f"{op} {row.target:g} {row.unit}"
            )
        if r.value is None:
            lines.append(f"  {row.what:<50} {r.missing}")
            continue
        if row.unit is Unit.RATIO:
            a, b = _fmt(r.num, row.unit, row.sizes), _fmt(r.den, row.unit, row.sizes)
            measured = f"{a:>11} {b:>11}"
            ratio = f"{r.value:7.2f}"
        else:
            measured = f"{_fmt(r.num, row.unit):>11} {'':>11}"
            ratio = f"{'':>7}"
        verdict = {True: "met", False: "MISSED", None: ""}[r.met]
        if r.over is not None:
            verdict += f" by {r.over * 100:.0f} %"
        lines.append(f"  {row.what:<50} {measured} {ratio} {tgt:>9}  {verdict}")
    return lines


def to_dicts(results: list[Result]) -> list[dict]:
    return [
        {
            "issue": r.row.issue,
            "what": r.row.what,
            "num": r.row.num,
            "den": r.row.den,
            "num_value": r.num,
            "den_value": r.den,
            "value": r.value,
            "unit": r.row.unit.value,
            "target": r.row.target,
            "strict": r.row.strict,
            "met": r.met,
            "over": r.over,
            "missing": r.missing,
        }
        for r in results
    ]


# The names run.py measures under (medians of the runs, wall time with the trailing sync).
FIRST = "store first backup"
SINGLE = "backup --single-file"
TAR_AGE = "tar | age + fsync"
RESTIC_FIRST = "restic first backup"
BORG = "borg create"
SECOND = "store second backup"
RESTIC_SECOND = "restic second backup"
CHANGE = "store backup after a change"
RESTIC_CHANGE = "restic backup after a change"
RESTORE = "store restore"
RESTIC_RESTORE = "restic restore"
CP_BACK = "cp -r back"
FOLDER = "folder-backup"
FOLDER_NOVERIFY = "folder-backup --no-verify"
CP_FOLDER = "cp -r (folder)"
FORGET = "forget 10 of 20"
PRUNE = "prune"
BACKUP_100K = "store first backup, many files"
PREVIEW = "preview"
DU = "du -sb"
LIST = "list"
# Sizes (bytes) and peaks (MB), not timings.
GROWTH_STORE = "store size after the growth backups"
GROWTH_FULL = "one full backup (plaintext of the last)"
PEAK_RSS = "therabak peak RSS (MB)"
PEAK_RSS_100K = "peak RSS, many files (MB)"

ROWS: list[Row] = [
    Row(19, "first backup / tar | age (fsynced)", FIRST, TAR_AGE, 1.0),
    Row(19, "first backup / restic first backup", FIRST, RESTIC_FIRST, 0.3),
    Row(19, "first backup / borg create (lz4)", FIRST, BORG, None),
    Row(19, "restore / restic restore", RESTORE, RESTIC_RESTORE, 1.0),
    Row(19, "folder-backup (with its check) / cp -r", FOLDER, CP_FOLDER, 1.2),
    Row(19, "folder-backup --no-verify / cp -r", FOLDER_NOVERIFY, CP_FOLDER, None),
    Row(19, "peak RSS of every therabak run", PEAK_RSS, None, 150, strict=True, unit=Unit.MB),
    Row(16, "second backup, nothing changed / first", SECOND, FIRST, 0.1),
    Row(16, "second backup / restic second backup", SECOND, RESTIC_SECOND, 1.0, strict=True),
    Row(16, "after new audio + changed notes / first", CHANGE, FIRST, 0.2),
    Row(16, "after the change / restic after the change", CHANGE, RESTIC_CHANGE, None),
    Row(16, "first backup / backup --single-file", FIRST, SINGLE, 1.1),
    Row(
        16,
        "store after 20 backups growing 2 % / one full",
        GROWTH_STORE,
        GROWTH_FULL,
        1.45,
        sizes=True,
    ),
    Row(16, "restore / restic restore", RESTORE, RESTIC_RESTORE, 1.0),
    Row(16, "restore / cp -r back", RESTORE, CP_BACK, 1.3),
    Row(16, "prune after forgetting 10 of 20 / first backup", PRUNE, FIRST, 1.0),
    Row(
        16,
        "peak RSS, first backup, 100k files (quick: 20k)",
        PEAK_RSS_100K,
        None,
        150,
        True,
        Unit.MB,
    ),
    Row(6, "preview / du -sb", PREVIEW, DU, 1.0),
    Row(6, "list of the restore points", LIST, None, 0.5, strict=True, unit=Unit.SECONDS),
]
