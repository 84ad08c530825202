"""What a restore will do, worked out without touching a file: which of the point's
files come back, which current files are carried over, the name each gets on the
target, and the :class:`RestorePlan` that the app and ``restore --dry-run`` show.

Everything here is a pure function of the point's items, the current data and the
rules; the reading (the point, the data folder, the free space) is done by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from therabak import fsrules
from therabak.errors import CannotUnlockError, Remedy, UsageError
from therabak.events import DamagedPart, Warning
from therabak.i18n import _, ngettext
from therabak.jobs.restore.checks import RestoreContext, RestoreMode
from therabak.jobs.restore.sources import Item, ItemMode
from therabak.jsonform import damage_json, renamed_json
from therabak.namemap import NamePlan, Renamed
from therabak.points.point import RestorePoint
from therabak.practice.categories import Rules
from therabak.practice.envelope import HEADER_SIZE
from therabak.practice.scan import FileEntry

SPACE_MARGIN = 4 << 20
_CHUNK = 1 << 20


class CategoryAction(StrEnum):
    RESTORE = "restore"  # the point's files replace the current ones
    KEEP = "keep"  # the current files stay (the point holds them, they were not chosen)
    NOT_IN_BACKUP = "not-in-backup"  # kept: the point does not hold the category


@dataclass
class CategoryChange:
    id: str
    label: str
    action: CategoryAction
    backup_files: int = 0
    backup_bytes: int = 0
    current_files: int = 0
    current_bytes: int = 0


@dataclass
class RestorePlan:
    point: RestorePoint
    mode: RestoreMode
    target: Path
    keep_old_at: Path | None
    new_account_key: Path | None
    categories: list[CategoryChange]
    restore_files: int
    restore_bytes: int
    carry_files: int
    carry_bytes: int
    space_needed: int
    space_free: int
    unrestorable: list[tuple[str, str]] = field(default_factory=list)  # skipped (salvage)
    warnings: list[str] = field(default_factory=list)
    # files written under another name: the target cannot hold theirs (namemap)
    renamed: list[Renamed] = field(default_factory=list)
    file_system: str = ""  # whose name rules apply at the target: Windows, macOS, Linux

    def to_json(self) -> dict[str, Any]:
        return {
            "point": self.point.ref,
            "point_kind": self.point.kind,
            "point_created": self.point.created.isoformat() if self.point.created else None,
            "mode": self.mode,
            "target": str(self.target),
            "keep_old_at": str(self.keep_old_at) if self.keep_old_at else None,
            "new_account_key": str(self.new_account_key) if self.new_account_key else None,
            "categories": [c.__dict__ for c in self.categories],
            "restore_files": self.restore_files,
            "restore_bytes": self.restore_bytes,
            "carry_files": self.carry_files,
            "carry_bytes": self.carry_bytes,
            "space_needed": self.space_needed,
            "space_free": self.space_free,
            "unrestorable": damage_json(self.unrestorable),
            "warnings": self.warnings,
            "renamed": renamed_json(self.renamed),
            "file_system": self.file_system,
        }


@dataclass
class Selection:
    """The point's files that come back, and what cannot."""

    items: list[Item]
    replaced: set[str]  # the leaf ids whose current files are replaced
    unrestorable: list[tuple[str, str]]  # (path or DamagedPart, why)
    warnings: list[Warning]  # to say, in this order


@dataclass
class CurrentData:
    """The data folder as it is (empty when nothing is replaced)."""

    files: list[FileEntry] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # could not be read
    # backups kept inside Data (datafolder/nesting.py): no backup holds them, they stay
    kept_backups: list[FileEntry] = field(default_factory=list)


def leaves_of(rules: Rules, ids: Iterable[str] | str | None) -> set[str] | None:
    """The leaf categories under *ids* (None: everything)."""
    if ids is None:
        return None
    parsed = rules.parse_ids(ids)
    if not parsed:
        return None
    return {leaf for node_id in parsed for leaf in rules.leaves_under(node_id)}


def select(
    items: list[Item],
    holds: set[str],
    damaged: list[tuple[str, str]],
    *,
    include: set[str] | None,
    rules: Rules,
    account_id: str | None,
    salvage: bool,
) -> Selection:
    """The point's *items* that come back: those of the chosen categories (*include*,
    None: every one the point *holds*), less those stored raw with another account's
    key (refused, or with *salvage* listed as unrestorable)."""
    warnings: list[Warning] = []
    if include is not None:
        missing = sorted(include - holds)
        if missing:
            labels = (rules.path_label(m, translate=_) if m in rules.nodes else m for m in missing)
            warnings.append(
                Warning(
                    _("The backup does not hold: {categories}").format(
                        categories=", ".join(labels)
                    ),
                    code="not-in-backup",
                )
            )
        replaced = holds & include
        if not replaced:
            raise UsageError(
                _("The backup holds none of the chosen categories; nothing to restore.")
            )
    else:
        replaced = set(holds)
    chosen = [i for i in items if i.category in replaced]
    unrestorable = list(damaged)
    foreign = _foreign_raw(chosen, account_id, salvage)
    unrestorable += [(i.path, _("stored raw with another account's key")) for i in foreign]
    chosen = [i for i in chosen if i not in foreign]
    for p, r in unrestorable:
        if not isinstance(p, DamagedPart):  # the index, the header: not files
            warnings.append(
                Warning(
                    _("Cannot be restored from this backup: {p} ({r})").format(p=p, r=r),
                    path=p,
                    code="unrestorable",
                )
            )
    return Selection(chosen, replaced, unrestorable, warnings)


def _foreign_raw(items: list[Item], account_id: str | None, salvage: bool) -> list[Item]:
    """The items stored raw (sealed) with another account's key: they cannot be
    restored here. Refused, unless *salvage* leaves them out."""
    foreign = [
        i
        for i in items
        if i.mode == ItemMode.RAW and i.entry is not None and i.entry.key_id != account_id
    ]
    if foreign and not salvage:
        ids = sorted({i.entry.key_id for i in foreign if i.entry})
        raise CannotUnlockError(
            ngettext(
                "{n} file in this backup could not be decrypted when it was made and is "
                "stored still sealed with the account key {ids}; it can be restored only "
                "on that account (this one is {mine}). Nothing was changed.",
                "{n} files in this backup could not be decrypted when they were made and "
                "are stored still sealed with the account key {ids}; they can be "
                "restored only on that account (this one is {mine}). Nothing was changed.",
                len(foreign),
            ).format(n=len(foreign), ids=", ".join(ids), mine=account_id or _("new")),
            hint=_("therabak restore --salvage restores everything else and lists them."),
            remedy=Remedy.SALVAGE,
        )
    return foreign


def carried(current: CurrentData, selection: Selection) -> list[FileEntry]:
    """The current files that stay: those of the categories not replaced, those whose
    backup copy cannot be restored, and the backups kept inside Data."""
    written = {i.path for i in selection.items}
    fallback = {p for p, _why in selection.unrestorable}
    carry = [
        f
        for f in current.files
        if f.path not in written and (f.category not in selection.replaced or f.path in fallback)
    ]
    # no backup holds them (they are left out of every backup): they stay as they are
    carry += [f for f in current.kept_backups if f.path not in written]
    return carry


def not_carried(current: CurrentData) -> list[Warning]:
    """The current files that could not be read: they stay in the kept folder only."""
    return [
        Warning(
            _(
                "Not carried over into the restored data: {path} ({why}); it stays in the "
                "folder that keeps the current data."
            ).format(path=path, why=why),
            path=path,
            code="not-carried",
        )
        for path, why in current.skipped
    ]


def name_files(
    fs: fsrules.FsRules, target: Path, selection: Selection, current: CurrentData
) -> NamePlan:
    """The name of every file in the restored data, on the target's file system *fs*:
    the backup's names where the target can hold them, escaped ones elsewhere
    (namemap), for the backup's files and the current ones carried over (the backups
    kept inside Data included). Sets each item's ``target``. (A current file carried
    over later, in salvage, has the path of a damaged backup file, so it gets that
    file's name.)"""
    carried_paths = [f.path for f in current.files if f.category not in selection.replaced]
    carried_paths += [f.path for f in current.kept_backups]
    names = NamePlan(
        fs,
        [i.path for i in selection.items] + carried_paths,
        root_length=fs.length(str(target)) + 48,  # the staging folder's name
    )
    for item in selection.items:
        item.target = names.target(item.path)
    return names


def renamed_warning(names: NamePlan) -> Warning | None:
    if not names.renamed:
        return None
    n = len(names.renamed)
    return Warning(
        ngettext(
            "{n} file gets another name: {system} cannot hold its name as it is "
            "(listed at the end).",
            "{n} files get another name: {system} cannot hold their names as they "
            "are (listed at the end).",
            n,
        ).format(n=n, system=names.rules.label),
        code="renamed",
    )


def sealed_size(n: int) -> int:
    """The size of *n* bytes of plaintext sealed in an envelope."""
    return HEADER_SIZE + 16 * (n // _CHUNK + 1) + n


def make_plan(
    ctx: RestoreContext,
    *,
    rules: Rules,
    holds: set[str],
    selection: Selection,
    current: CurrentData,
    carry: list[FileEntry],
    names: NamePlan,
    keep_old_at: Path | None,
    space_free: int,
) -> RestorePlan:
    """The plan: per category what comes back and what stays, the sizes, the space."""
    by_cat: dict[str, list[int]] = {}
    for i in selection.items:
        t = by_cat.setdefault(i.category, [0, 0, 0, 0])
        t[0] += 1
        t[1] += i.size
    for f in current.files:
        t = by_cat.setdefault(f.category, [0, 0, 0, 0])
        t[2] += 1
        t[3] += f.size
    changes = []
    for leaf in rules.leaves():
        t = by_cat.pop(leaf.id, [0, 0, 0, 0])
        if leaf.id in selection.replaced:
            action = CategoryAction.RESTORE
        elif leaf.id in holds:
            action = CategoryAction.KEEP
        else:
            action = CategoryAction.NOT_IN_BACKUP
        changes.append(CategoryChange(leaf.id, rules.path_label(leaf.id), action, *t))
    for cat, t in sorted(by_cat.items()):
        action = CategoryAction.RESTORE if cat in selection.replaced else CategoryAction.KEEP
        changes.append(CategoryChange(cat, cat, action, *t))
    restore_bytes = sum(i.size for i in selection.items)
    carry_bytes = sum(f.size for f in carry)
    needed = sum(sealed_size(i.size) for i in selection.items) + carry_bytes + SPACE_MARGIN
    return RestorePlan(
        point=ctx.point,
        mode=ctx.mode,
        target=ctx.target,
        keep_old_at=keep_old_at,
        new_account_key=ctx.create_key,
        categories=changes,
        restore_files=len(selection.items),
        restore_bytes=restore_bytes,
        carry_files=len(carry),
        carry_bytes=carry_bytes,
        space_needed=needed,
        space_free=space_free,
        unrestorable=list(selection.unrestorable),
        renamed=list(names.renamed),
        file_system=names.rules.label,
    )
