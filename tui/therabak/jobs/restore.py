"""Restore a restore point (archive, folder backup, before-restore folder) safely.

The rules (DESIGN.md section 6):

1. Every check runs before anything is written: the point can be read and unlocked,
   belongs to this account where that matters, the practice app is not running, there
   is room. A refusal leaves ``Data`` exactly as it was.
2. The new data is built in a private staging folder beside ``Data`` (same file
   system): archive entries are decrypted and sealed again with the *current* account
   key (plain files stay plain, raw entries are copied as they are), folder backups are
   copied as they are; then every categories the point does not hold (or that
   ``include`` leaves out) is copied over from the current ``Data``.
3. Every staged file is read back and its hash checked.
4. Only then the swap (jobs/swap.py): ``Data`` -> ``Data.before-restore-<time>``,
   staging -> ``Data``, journaled so a crash is completed or rolled back by the next run.

:func:`plan_restore` runs the checks and says what would happen (the app's
confirmation); :func:`run_restore` does it, asking ``confirm(plan)`` first when given.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from therabak import faults, formatting, fsrules, memtune
from therabak.archive.hashing import Sha256Behind
from therabak.archive.index import IndexEntry, check_relative_path, text_of
from therabak.archive.reader import ArchiveReader, EntryDamaged
from therabak.crypto.recovery import RecoveryCode
from therabak.errors import (
    AccountKeyError,
    Cancelled,
    CannotUnlockError,
    DamagedArchiveError,
    DataFolderError,
    DataInUseError,
    DecryptionError,
    NotEnoughSpaceError,
    OtherAccountError,
    UsageError,
)
from therabak.events import Damaged, Emit, Phase, Summary, Warning, WarningLog, ignore, warning_list
from therabak.fsutil import followed_root, free_space, stat_long, unlink_long, utime_long
from therabak.i18n import _, ngettext
from therabak.jobs import history
from therabak.jobs.cancel import NEVER, CancelToken
from therabak.jobs.filecopy import (
    ByteBudget,
    CreateAhead,
    DestinationWriteFailed,
    FdWriter,
    UnsafePath,
    copy_file,
    create_under,
    open_under,
    sha256_file,
    sync_files,
    write_all,
)
from therabak.jobs.lock import (
    JobLock,
    LockBusy,
    check_no_readers,
    check_practice_app,
    lock_busy_message,
)
from therabak.jobs.nesting import backups_inside
from therabak.jobs.points import RestorePoint, identify
from therabak.jobs.progress import ProgressTracker
from therabak.jobs.swap import (
    MANIFEST_NAME,
    before_restore_manifest,
    before_restore_path,
    before_restore_prefix,
    clean_stale_staging,
    journal_path,
    new_staging,
    publish_folder,
    recover,
    restore_lock_path,
    swap_in,
    too_late_to_cancel,
)
from therabak.namemap import NamePlan, Renamed
from therabak.partials import remove_tree
from therabak.practice.account import AccountKey
from therabak.practice.categories import Rules
from therabak.practice.envelope import (
    HEADER_SIZE,
    KEY_ID_SIZE,
    MAGIC,
    EnvelopeWriter,
    iter_plaintext,
    parse_header,
)
from therabak.practice.scan import FileEntry, scan

COPY_ATTEMPTS = 3
SPACE_MARGIN = 4 << 20
#: Written into the restored data when a file got another name (jobs/FORMAT.md).
RENAMED_LIST = "therabak-renamed.json"
RENAMED_FORMAT = "therabak-renamed"
_CHUNK = 1 << 20


@dataclass
class RestoreRequest:
    point: Path
    data_dir: Path
    account_key_path: Path
    rules: Rules
    password: str | None = field(default=None, repr=False)
    recovery_code: RecoveryCode | None = field(default=None, repr=False)  # instead of password
    include: Iterable[str] | str | None = None  # category ids (any node); None: everything
    target: Path | None = None  # restore into this folder; Data stays untouched
    force: bool = False  # restore although Data/.lock holds a live process id
    salvage: bool = False  # skip damaged entries (and unrestorable raw ones), report them
    # The name the current data folder is kept under, as an earlier plan said it
    # (``Data.before-restore-<time>`` beside Data); None: named when the plan is made.
    before_restore_name: str | None = None


@dataclass
class CategoryChange:
    id: str
    label: str
    action: str  # restore | keep | not-in-backup (kept, the backup does not hold it)
    backup_files: int = 0
    backup_bytes: int = 0
    current_files: int = 0
    current_bytes: int = 0


@dataclass
class RestorePlan:
    point: RestorePoint
    mode: str  # replace | new-data (no Data yet) | folder (--to)
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "point": str(self.point.path),
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
            "unrestorable": [{"path": p, "reason": r} for p, r in self.unrestorable],
            "warnings": self.warnings,
            "renamed": [r.to_dict() for r in self.renamed],
            "file_system": self.file_system,
        }


@dataclass
class RestoreResult:
    point: Path
    target: Path
    before_restore: Path | None
    before_restore_planned: Path | None = None  # the plan's name, when it was taken meanwhile
    files_restored: int = 0
    bytes_restored: int = 0
    files_carried: int = 0
    bytes_carried: int = 0
    damaged: list[tuple[str, str]] = field(default_factory=list)  # skipped with --salvage
    warnings: list[Warning] = field(default_factory=list)  # every warning the job printed
    new_account_key: Path | None = None
    duration_s: float = 0.0
    renamed: list[Renamed] = field(default_factory=list)  # written under another name
    renamed_list: Path | None = None  # the file in the restored data that lists them
    file_system: str = ""

    @property
    def exit_code(self) -> int:
        return 3 if self.damaged or self.warnings or self.renamed else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "point": str(self.point),
            "target": str(self.target),
            "before_restore": str(self.before_restore) if self.before_restore else None,
            "before_restore_planned": str(self.before_restore_planned)
            if self.before_restore_planned
            else None,
            "files": self.files_restored,  # the same two under the names other jobs use
            "bytes": self.bytes_restored,
            "files_restored": self.files_restored,
            "bytes_restored": self.bytes_restored,
            "files_carried": self.files_carried,
            "bytes_carried": self.bytes_carried,
            "damaged": [{"path": p, "reason": r} for p, r in self.damaged],
            "warnings": warning_list(self.warnings),
            "new_account_key": str(self.new_account_key) if self.new_account_key else None,
            "renamed": [r.to_dict() for r in self.renamed],
            "renamed_list": str(self.renamed_list) if self.renamed_list else None,
            "file_system": self.file_system,
        }


# ---- what gets staged --------------------------------------------------------------------------


@dataclass
class _Item:
    path: str
    category: str
    size: int
    mtime_ns: int
    sha256: str | None  # expected hash of what is written (None: hashed while copying)
    mode: str  # seal | plain | raw | copy
    entry: IndexEntry | None = None
    src: str = ""  # where the file lies in the point, when not at *path* (folder backups)
    target: str = ""  # where it is written in the staging folder ("": at *path*)

    @property
    def dest(self) -> str:
        return self.target or self.path


_UTIME_FD = os.utime in os.supports_fd


class _Source:
    """Where the staged bytes come from."""

    point: RestorePoint
    items: list[_Item]
    holds: set[str]  # leaf ids the point holds (its header's categories, or everything)
    damaged: list[tuple[str, str]]
    account_key_ids: list[str]

    # True when content() itself checks every item's size and SHA-256 (and raises when
    # they differ), so staging need not hash it a second time.
    content_verified = False

    def content(self, item: _Item) -> Iterator[bytes]:
        raise NotImplementedError

    def relocate(self, item: _Item) -> _Item | None:
        """Salvage: another intact copy of *item*'s content in the point, or None."""
        return None

    def close(self) -> None:
        pass


class _ArchiveSource(_Source):
    content_verified = True  # ArchiveReader.iter_entry checks size and SHA-256

    def __init__(
        self, point: RestorePoint, reader: ArchiveReader, rules: Rules, salvage: bool, emit: Emit
    ) -> None:
        self.point, self.reader = point, reader
        self.damaged = []
        self._scanned: dict[str, list] | None = None
        self.holds = set(reader.header.categories)
        self.account_key_ids = [k.hex() for k in reader.header.account_key_ids]
        if reader.damage:  # salvage opened it although its header is damaged
            problem = _("the header is damaged ({parts})").format(parts=", ".join(reader.damage))
            self.damaged.append(("(header)", problem))
            emit(Damaged(path="(header)", reason=problem))
        for problem in getattr(reader.source, "problems", ()):  # salvage of a split backup
            self.damaged.append(("(volumes)", problem))
            emit(Damaged(path="(volumes)", reason=problem))
        try:
            entries = reader.read_index().entries
        except DamagedArchiveError as e:
            if not salvage:
                raise DamagedArchiveError(
                    _("The backup is damaged: {error}. Nothing was changed.").format(
                        error=e.message
                    ),
                    hint=_("therabak restore --salvage restores every intact file."),
                ) from None
            emit(Phase("salvaging", "the index is damaged; scanning the backup for intact files"))
            self.damaged.append(("(index)", e.message))
            entries = []
            seen: set[str] = set()
            for found in reader.scan_entries():
                if not found.ok:
                    self.damaged.append((found.path, found.error))
                    emit(Damaged(path=found.path, reason=found.error))
                elif found.path in seen:
                    self.damaged.append((found.path, _("appears twice; the first copy is used")))
                else:
                    seen.add(found.path)
                    entries.append(found.as_index_entry())
        missing_part = getattr(reader.source, "missing_part", None)
        if missing_part is not None:  # a split backup with volumes missing (salvage)
            present = []
            for e in entries:
                where = missing_part(e.offset, e.length)
                if where is None:
                    present.append(e)
                else:
                    reason = _("in {where}").format(where=where)
                    self.damaged.append((e.path, reason))
                    emit(Damaged(path=e.path, reason=reason))
            entries = present
        self.items = []
        for e in entries:
            mode = "raw" if e.raw else ("plain" if e.sealed is False else "seal")
            self.items.append(_Item(e.path, e.category, e.size, e.mtime_ns, e.sha256, mode, e))
        self.holds |= {i.category for i in self.items}

    def content(self, item: _Item) -> Iterator[bytes]:
        assert item.entry is not None
        return self.reader.iter_entry(item.entry)

    def relocate(self, item: _Item) -> _Item | None:
        """The index's entry for *item* is damaged: an intact entry elsewhere in the body
        with the same path and exactly the content the index promises (size, SHA-256)
        is the same file, moved (entries swapped or shifted)."""
        if self._scanned is None:
            self._scanned = {}
            for found in self.reader.scan_entries():
                if found.ok:
                    self._scanned.setdefault(found.path, []).append(found)
        for found in self._scanned.get(item.path, []):
            if (
                found.sha256 == item.sha256
                and found.size == item.size
                and found.raw == (item.mode == "raw")
                and (item.entry is None or found.offset != item.entry.offset)
            ):
                entry = found.as_index_entry()
                entry.sealed = item.entry.sealed if item.entry is not None else None
                return dataclasses.replace(item, entry=entry)
        return None

    def close(self) -> None:
        self.reader.close()


class _FolderSource(_Source):
    def __init__(self, point: RestorePoint, rules: Rules, salvage: bool = False) -> None:
        self.point = point
        self.root = Path(point.path)
        self.damaged = []
        self.account_key_ids = list(point.account_key_ids)
        self.holds = {leaf.id for leaf in rules.leaves()}
        self.items = []
        if point.kind == "folder":
            from therabak.jobs.folder import iter_manifest_files

            seen: set[str] = set()
            stored: set[str] = set()  # where the files lie in the copy: one file each
            for f in iter_manifest_files(self.root):
                if f.path in seen or f.stored in stored:
                    raise DamagedArchiveError(
                        _("The folder backup's manifest lists {path} twice.").format(
                            path=text_of(f.path[:80])
                        )
                    )
                seen.add(f.path)
                stored.add(f.stored)
                problem = self._disagrees(f.path, f.stored, f.size)
                if problem and not salvage:
                    raise DamagedArchiveError(
                        _(
                            "The folder backup is damaged: {path}: {problem}. Nothing was changed."
                        ).format(path=f.path[:200], problem=problem),
                        hint=_("therabak restore --salvage restores every intact file."),
                    )
                if problem:
                    self.damaged.append((f.path, problem))
                    continue
                self.items.append(
                    _Item(
                        f.path,
                        rules.category_of(f.path),
                        f.size,
                        f.mtime_ns,
                        f.sha256,
                        "copy",
                        src=f.stored if f.stored != f.path else "",
                    )
                )
        else:
            scanned = scan(self.root, rules)
            for f in scanned.files:
                if f.path != MANIFEST_NAME:
                    self.items.append(_Item(f.path, f.category, f.size, f.mtime_ns, None, "copy"))
        self.items.sort(key=lambda i: i.path)
        self.holds |= {i.category for i in self.items}

    def _disagrees(self, path: str, rel: str, size: int) -> str:
        """Why the file the manifest lists (at *path* in Data, *rel* in the copy) cannot be
        what it says ('' when it can be): checked before anything is planned, so a manifest
        cannot make the restore ask for space that no file needs, nor name a path that
        leaves the folder."""
        try:
            check_relative_path(path)
            check_relative_path(rel)
        except DamagedArchiveError as e:
            return str(e)
        try:
            st = stat_long(self.root / rel, follow_symlinks=False)
        except OSError:
            return _("missing from the folder backup")
        if not stat.S_ISREG(st.st_mode):
            return _("not a plain file in the folder backup")
        if st.st_size != size:
            return _("its size differs from the manifest")
        return ""

    def content(self, item: _Item) -> Iterator[bytes]:
        fd = open_under(self.root, item.src or item.path)
        with open(fd, "rb", buffering=0) as f:
            while True:
                block = f.read(8 << 20)
                if not block:
                    return
                yield block


def _open_source(
    point: RestorePoint, req: RestoreRequest, account: AccountKey | None, emit: Emit
) -> _Source:
    if point.is_folder:
        return _FolderSource(point, req.rules, req.salvage)
    reader = ArchiveReader.open(point.path, salvage=req.salvage)
    try:
        reader.unlock(account=account, password=req.password, recovery_code=req.recovery_code)
        return _ArchiveSource(point, reader, req.rules, req.salvage, emit)
    except BaseException:
        reader.close()
        raise


# ---- the job -----------------------------------------------------------------------------------


def _leaves_of(rules: Rules, ids: Iterable[str] | str | None) -> set[str] | None:
    if ids is None:
        return None
    parsed = rules.parse_ids(ids)
    if not parsed:
        return None
    return {leaf for node_id in parsed for leaf in rules.leaves_under(node_id)}


def _load_account(path: Path) -> AccountKey | None:
    return AccountKey.load(path) if Path(path).exists() else None


def _sealed_size(n: int) -> int:
    return HEADER_SIZE + 16 * (n // _CHUNK + 1) + n


class _Restore:
    """One restore: the checks and the plan in ``__init__``, the work in :meth:`execute`."""

    def __init__(self, req: RestoreRequest, emit: Emit) -> None:
        self.req = req
        self.emit = WarningLog(emit)  # a restore that printed a warning exits 3
        self.rules = req.rules
        # A data folder that is a link: the restore works in the folder it leads to (the
        # staging folder, the swap and the before-restore folder are beside that one),
        # so the link stays and leads to the restored data.
        self.data_dir = followed_root(Path(req.data_dir).absolute())
        self.target = Path(req.target).absolute() if req.target else self.data_dir
        self.folder_mode = req.target is not None
        self.source: _Source | None = None
        self.lock: JobLock | None = None
        try:
            self._prepare()
        except BaseException:
            self.close()
            raise

    # -- checks and plan --

    def _prepare(self) -> None:
        req, emit = self.req, self.emit
        emit(Phase("checking", str(req.point)))
        if self.folder_mode:
            is_junction = getattr(os.path, "isjunction", None)  # Python 3.12+ (Windows)
            if os.path.islink(self.target) or (is_junction and is_junction(self.target)):
                raise UsageError(
                    _(
                        "The target folder is a link: {target}; give the real folder (empty or "
                        "new) instead, a restore never writes through a link."
                    ).format(target=self.target)
                )
            if self.target.exists() and (not self.target.is_dir() or any(self.target.iterdir())):
                raise UsageError(
                    _("The target folder must be empty or not exist: {target}").format(
                        target=self.target
                    )
                )
            if not self.target.parent.is_dir():
                raise DataFolderError(
                    _("The folder that should hold the target does not exist: {parent}").format(
                        parent=self.target.parent
                    )
                )
            if _inside(self.target, self.data_dir):
                raise UsageError(_("The target folder cannot be inside the data folder."))
        else:
            # A new computer may not have the folder that holds Data yet (the account key,
            # which lives there too, gets its folder created the same way).
            self.target.parent.mkdir(parents=True, exist_ok=True)
        self.lock = JobLock(restore_lock_path(self.target), what="restore")
        try:
            self.lock.acquire()
        except LockBusy as e:
            self.lock = None
            raise DataInUseError(
                lock_busy_message("restore", e.owner, restore_lock_path(self.target))
            ) from None
        if not self.folder_mode:
            check_no_readers(self.data_dir)
            recovery = recover(self.data_dir, have_lock=True)
            if recovery is not None:
                emit(Warning(recovery.message, code="restore-recovered"))
        clean_stale_staging(self.target)

        self.account = _load_account(req.account_key_path)
        has_data = self.data_dir.is_dir()
        point = identify(
            Path(req.point).absolute(),
            self.account.id_hex if self.account else None,
            salvage=req.salvage,
        )
        if not point.readable:
            raise DamagedArchiveError(
                _("Cannot restore {point}: {error}").format(point=req.point, error=point.error)
            )
        if (
            _inside(Path(point.path).absolute(), self.target)
            and self.target == self.data_dir
            and point.is_folder
        ):
            raise UsageError(_("A folder inside the data folder cannot be restored over it."))
        self.point = point
        self.create_key: Path | None = None
        if self.account is None:
            self._no_account(point, has_data)
        if point.is_folder:
            self._check_folder_account(point)
        if not self.folder_mode and has_data:
            check_practice_app(self.data_dir, force=req.force)
        self.mode = "folder" if self.folder_mode else ("replace" if has_data else "new-data")

        self.source = _open_source(point, req, self.account, emit)
        src = self.source
        include = _leaves_of(self.rules, req.include)
        if include is not None:
            missing = sorted(include - src.holds)
            if missing and point.kind in ("manual", "automatic"):
                emit(
                    Warning(
                        _("The backup does not hold: {categories}").format(
                            categories=", ".join(
                                self.rules.path_label(m, translate=_)
                                if m in self.rules.nodes
                                else m
                                for m in missing
                            )
                        ),
                        code="not-in-backup",
                    )
                )
            self.replaced = src.holds & include
            if not self.replaced:
                raise UsageError(
                    _("The backup holds none of the chosen categories; nothing to restore.")
                )
        else:
            self.replaced = set(src.holds)
        self.items = [i for i in src.items if i.category in self.replaced]
        self.unrestorable: list[tuple[str, str]] = list(src.damaged)
        my_id = self.account.id_hex if self.account else None
        foreign = [
            i
            for i in self.items
            if i.mode == "raw" and i.entry is not None and i.entry.key_id != my_id
        ]
        if foreign:
            if not req.salvage:
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
                    ).format(n=len(foreign), ids=", ".join(ids), mine=my_id or _("new")),
                    hint=_("therabak restore --salvage restores everything else and lists them."),
                )
            for i in foreign:
                self.unrestorable.append((i.path, _("stored raw with another account's key")))
            self.items = [i for i in self.items if i not in foreign]
        for p, r in self.unrestorable:
            if not p.startswith("("):  # (index), (header): not files
                emit(
                    Warning(
                        _("Cannot be restored from this backup: {p} ({r})").format(p=p, r=r),
                        path=p,
                        code="unrestorable",
                    )
                )

        # The current data: what is replaced, what is carried over.
        self.current: list[FileEntry] = []
        self.current_skipped: list[tuple[str, str]] = []
        # backups kept inside Data (jobs/nesting.py): no backup holds them, they stay
        self.kept_backups: list[FileEntry] = []
        if self.mode == "replace":
            emit(Phase("scanning", str(self.data_dir)))
            scanned = scan(self.data_dir, self.rules, leave_out=backups_inside(self.data_dir))
            self.current = scanned.files
            self.current_skipped = scanned.skipped
            self.kept_backups = scanned.left_out
        written = {i.path for i in self.items}
        fallback = {p for p, _why in self.unrestorable}
        self.carry = [
            f
            for f in self.current
            if f.path not in written and (f.category not in self.replaced or f.path in fallback)
        ]
        # no backup holds them (they are left out of every backup): they stay as they are
        self.carry += [f for f in self.kept_backups if f.path not in written]
        for path, why in self.current_skipped:
            emit(
                Warning(
                    _(
                        "Not carried over into the restored data: {path} ({why}); it stays in the "
                        "folder that keeps the current data."
                    ).format(path=path, why=why),
                    path=path,
                    code="not-carried",
                )
            )
        self._plan_names()
        self.plan = self._make_plan()
        if self.plan.space_free < self.plan.space_needed:
            raise NotEnoughSpaceError(
                _(
                    "Not enough space beside {target}: the restore needs about {need}, {free} "
                    "are free. Nothing was changed."
                ).format(
                    target=self.target,
                    need=formatting.size(self.plan.space_needed),
                    free=formatting.size(self.plan.space_free),
                )
            )

    def _plan_names(self) -> None:
        """The name of every file in the restored data, on this target's file system: the
        backup's names where the target can hold them, escaped ones elsewhere (namemap),
        for the backup's files and the current ones carried over (the backups kept inside
        Data included). (A current file that _fallback() carries over later, salvage, has
        the path of a damaged backup file, so it gets that file's name.)"""
        self.fs = self._target_rules()
        carried = [f.path for f in self.current if f.category not in self.replaced]
        carried += [f.path for f in self.kept_backups]
        self.names = NamePlan(
            self.fs,
            [i.path for i in self.items] + carried,
            root_length=self.fs.length(str(self.target)) + 48,  # the staging folder's name
        )
        for item in self.items:
            item.target = self.names.target(item.path)
        if self.names.renamed:
            n = len(self.names.renamed)
            self.emit(
                Warning(
                    ngettext(
                        "{n} file gets another name: {system} cannot hold its name as it is "
                        "(listed at the end).",
                        "{n} files get another name: {system} cannot hold their names as they "
                        "are (listed at the end).",
                        n,
                    ).format(n=n, system=self.fs.label),
                    code="renamed",
                )
            )

    def _target_rules(self) -> fsrules.FsRules:
        """The name rules of the file system the restore writes to: THERABAK_FS_RULES, else
        the platform's and the file system's, tried out in an empty staging folder of our
        own (removed at once; a crash leaves it to the next run's cleanup)."""
        rules = fsrules.rules_for(self.target.parent)
        if rules.decided_by == fsrules.ENV_VAR:
            return rules
        try:
            probe_dir = new_staging(self.target)
        except OSError:
            return rules  # the restore itself will say why nothing can be written there
        try:
            return fsrules.probe(probe_dir, rules)
        finally:
            with contextlib.suppress(OSError):
                remove_tree(probe_dir)

    def _no_account(self, point: RestorePoint, has_data: bool) -> None:
        key_path = self.req.account_key_path
        ids = ", ".join(point.account_key_ids) or _("unknown")
        needs_original = CannotUnlockError(
            _(
                "{this} is sealed with the account key {ids}; it can be restored only with "
                "that original account key file, and none was found at {path}."
            ).format(this=_this(point), ids=ids, path=key_path),
            hint=_("Copy the original account.key there or give it with --account-key."),
        )
        if point.is_folder or point.protection == "account":
            raise needs_original
        if has_data or self.folder_mode:
            AccountKey.load(key_path)  # raises the usual "account key not found" error
            raise AccountKeyError(_("Account key not found: {key_path}").format(key_path=key_path))
        self.create_key = Path(key_path)
        self.account = AccountKey.generate()
        self.emit(
            Warning(
                _(
                    "There is no practice on this computer yet: a new account key will be created "
                    "at {key_path} and the data folder at {data_dir}."
                ).format(key_path=key_path, data_dir=self.data_dir),
                code="new-account-key",
            )
        )

    def _check_folder_account(self, point: RestorePoint) -> None:
        assert self.account is not None
        if point.account_key_ids and self.account.id_hex not in point.account_key_ids:
            raise OtherAccountError(
                _(
                    "{this} belongs to another account (account key {ids}); this computer's "
                    "account key is {mine}. Nothing was changed."
                ).format(
                    this=_this(point),
                    ids=", ".join(point.account_key_ids),
                    mine=self.account.id_hex,
                )
            )

    def _make_plan(self) -> RestorePlan:
        by_cat: dict[str, list[int]] = {}
        for i in self.items:
            t = by_cat.setdefault(i.category, [0, 0, 0, 0])
            t[0] += 1
            t[1] += i.size
        for f in self.current:
            t = by_cat.setdefault(f.category, [0, 0, 0, 0])
            t[2] += 1
            t[3] += f.size
        changes = []
        for leaf in self.rules.leaves():
            t = by_cat.pop(leaf.id, [0, 0, 0, 0])
            action = (
                "restore"
                if leaf.id in self.replaced
                else "keep"
                if leaf.id in self.source.holds
                else "not-in-backup"
            )  # type: ignore[union-attr]
            changes.append(CategoryChange(leaf.id, self.rules.path_label(leaf.id), action, *t))
        for cat, t in sorted(by_cat.items()):
            changes.append(
                CategoryChange(cat, cat, "restore" if cat in self.replaced else "keep", *t)
            )
        restore_bytes = sum(i.size for i in self.items)
        carry_bytes = sum(f.size for f in self.carry)
        needed = sum(_sealed_size(i.size) for i in self.items) + carry_bytes + SPACE_MARGIN
        keep_old = self._keep_old_name() if self.mode == "replace" else None
        return RestorePlan(
            point=self.point,
            mode=self.mode,
            target=self.target,
            keep_old_at=keep_old,
            new_account_key=self.create_key,
            categories=changes,
            restore_files=len(self.items),
            restore_bytes=restore_bytes,
            carry_files=len(self.carry),
            carry_bytes=carry_bytes,
            space_needed=needed,
            space_free=free_space(self.target.parent),
            unrestorable=list(self.unrestorable),
            renamed=list(self.names.renamed),
            file_system=self.fs.label,
        )

    def _keep_old_name(self) -> Path:
        """Where the current data folder goes: the name the request brings (an earlier
        plan's, so what the user confirmed is what is made), else a new one."""
        name = self.req.before_restore_name
        if name is None:
            return before_restore_path(self.data_dir)
        prefix = before_restore_prefix(self.data_dir)
        if (
            not name.startswith(prefix)
            or len(name) == len(prefix)
            or Path(name).name != name
            or name in (".", "..")
            or "/" in name
            or "\\" in name
        ):
            raise UsageError(
                _("The name for the current data folder must start with {prefix}: {name}").format(
                    prefix=prefix, name=name
                )
            )
        return self.data_dir.parent / name

    # -- the work --

    def execute(self, cancel: CancelToken) -> RestoreResult:
        start = time.monotonic()
        emit, plan = self.emit, self.plan
        result = RestoreResult(
            point=Path(self.point.path),
            target=self.target,
            before_restore=None,
            damaged=list(self.unrestorable),
            renamed=list(self.names.renamed),
            file_system=self.fs.label,
        )
        key_created = False
        staging = None
        swapped = False
        try:
            if self.create_key is not None:
                assert self.account is not None
                self.account.save(self.create_key)
                key_created = True
                result.new_account_key = self.create_key
            staging = new_staging(self.target)
            emit(Phase("staging", str(staging)))
            budget = ByteBudget()
            staged = self._stage(staging, budget, cancel, result)
            carried = self._carry(staging, budget, cancel, result)
            listed = self._write_renamed_list(staging, result)
            if listed is not None:
                carried.append(listed)
            emit(Phase("verifying", str(staging)))
            self._verify(staging, staged, carried, cancel, result)
            faults.point("restore.verify")
            emit(Phase("syncing", str(staging)))
            sync_files([staging / i.dest for i in staged] + [staging / p for p, _sha in carried])
            cancel.check()
            if self.source is not None:
                self.source.close()  # never rename a folder holding an open file (Windows)
            emit(Phase("swapping", str(self.target)))
            if self.mode == "folder":
                publish_folder(staging, self.target)
            else:
                old = None
                if self.mode == "replace":
                    old = plan.keep_old_at
                    if old is None or os.path.lexists(old):  # taken since the plan: say so
                        result.before_restore_planned = old
                        old = before_restore_path(self.data_dir)
                assert self.account is not None
                manifest = before_restore_manifest(
                    account_key_id=self.account.id_hex,
                    replaced_by=str(self.point.path),
                    files=len(self.current),
                    size=sum(f.size for f in self.current),
                    data_dir=self.data_dir,
                )
                with too_late_to_cancel():  # two renames: a cancel now would undo nothing
                    swap_in(self.data_dir, staging, old, manifest)
                result.before_restore = old
            swapped = True
        except BaseException:
            # A journal left behind means the swap stopped half-way and recovery owns the
            # folders now (jobs/swap.py); otherwise Data was never touched.
            journaled = not self.folder_mode and journal_path(self.data_dir).exists()
            if staging is not None and not swapped and not journaled:
                with contextlib.suppress(OSError):
                    remove_tree(staging)
            if key_created and self.create_key is not None and not swapped and not journaled:
                with contextlib.suppress(OSError):
                    os.unlink(self.create_key)
            raise
        result.duration_s = round(time.monotonic() - start, 3)
        result.warnings = list(self.emit.warnings)
        with contextlib.suppress(OSError):
            history.append(
                history.BackupRecord(
                    kind="restore",
                    path=str(self.point.path),
                    created=datetime.now().astimezone().isoformat(timespec="seconds"),
                    files=result.files_restored,
                    bytes=result.bytes_restored,
                    verified=True,
                    data_dir=str(self.target),
                    extra={
                        "before_restore": str(result.before_restore)
                        if result.before_restore
                        else None
                    },
                )
            )
        emit(
            Summary(
                operation="restore",
                exit_code=result.exit_code,
                duration_s=result.duration_s,
                message=str(self.target),
                extra=result.to_dict(),
            )
        )
        return result

    def _stage(
        self, staging: Path, budget: ByteBudget, cancel: CancelToken, result: RestoreResult
    ) -> list[_Item]:
        assert self.source is not None and self.account is not None
        progress = ProgressTracker(
            self.emit,
            "restoring",
            bytes_total=sum(i.size for i in self.items),
            files_total=len(self.items),
        )
        staged: list[_Item] = []
        self._ahead = CreateAhead(staging, [i.dest for i in self.items])
        try:
            self._stage_items(staging, budget, cancel, result, progress, staged)
        finally:
            self._ahead.close()
        progress.finish()
        return staged

    def _stage_items(
        self,
        staging: Path,
        budget: ByteBudget,
        cancel: CancelToken,
        result: RestoreResult,
        progress: ProgressTracker,
        staged: list[_Item],
    ) -> None:
        for item in self.items:
            cancel.check()
            faults.source_delay()
            progress.start_file(item.path)
            try:
                sha, prefix = self._stage_one(staging, item, budget, progress, cancel)
            except (DamagedArchiveError, FileNotFoundError) as e:  # incl. EntryDamaged
                reason = e.reason if isinstance(e, EntryDamaged) else str(e)
                with contextlib.suppress(OSError, ValueError):  # ValueError: a NUL in the path
                    unlink_long(staging / item.dest)
                if not self.req.salvage:
                    raise DamagedArchiveError(
                        _("{this} is damaged: {path}: {reason}. Nothing was changed.").format(
                            this=_this(self.point), path=item.path, reason=reason
                        ),
                        hint=_("therabak restore --salvage restores every intact file."),
                    ) from None
                again = self._stage_moved(staging, item, budget, progress, cancel)
                if again is None:
                    result.damaged.append((item.path, reason))
                    self.emit(Damaged(path=item.path, reason=reason))
                    self._fallback(item.path)
                    progress.file_done()
                    continue
                sha, prefix = again
                msg = _(
                    "Its place in the backup is damaged, an intact copy was used: {path}"
                ).format(path=item.path)
                self.emit(Warning(msg, path=item.path, code="relocated"))
            except OSError as e:
                _raise_os(e, staging)
                raise
            if item.sha256 is None:
                item.sha256 = sha
            if item.mode == "copy" and prefix[: len(MAGIC)] == MAGIC:
                key_id = prefix[len(MAGIC) : len(MAGIC) + KEY_ID_SIZE]
                if len(key_id) == KEY_ID_SIZE:  # (a cut-off envelope names no key)
                    self._check_key_id(item, key_id)
            staged.append(item)
            result.files_restored += 1
            result.bytes_restored += item.size
            progress.file_done()
            faults.point("restore.staging")

    def _check_key_id(self, item: _Item, key_id: bytes) -> None:
        """A folder backup (or before-restore folder) is restored on its files' word, not
        its manifest's: every sealed file copied must name this account's key, checked
        on the bytes copied, before the swap. One that does not refuses the restore."""
        assert self.account is not None
        if key_id != self.account.key_id:
            raise OtherAccountError(
                _(
                    "{path} in {point} is sealed with another account's key ({key_id}); this "
                    "computer's account key is {mine}. Nothing was changed."
                ).format(
                    path=item.path,
                    point=self.point.path,
                    key_id=key_id.hex(),
                    mine=self.account.id_hex,
                )
            )

    def _stage_one(
        self,
        staging: Path,
        item: _Item,
        budget: ByteBudget,
        progress: ProgressTracker,
        cancel: CancelToken,
        created: tuple[int, Path] | None = None,
    ) -> tuple[str, bytes]:
        """Stage one file into *created* (descriptor, path) or, by default, into the file
        CreateAhead made for it (see _stage; each item takes its file once, in order)."""
        assert self.source is not None and self.account is not None
        fd, path = created if created is not None else self._ahead.take(item.dest)
        verified = self.source.content_verified and item.sha256 is not None
        digest = None if verified else hashlib.sha256()
        prefix = b""
        size = 0
        try:
            out = FdWriter(fd, budget)
            sealer = EnvelopeWriter(out, self.account) if item.mode == "seal" else None
            for chunk in self.source.content(item):
                if not prefix:
                    prefix = bytes(chunk[:HEADER_SIZE])
                if digest is not None:
                    digest.update(chunk)
                size += len(chunk)
                if sealer is not None:
                    sealer.write(chunk)
                else:
                    write_all(fd, chunk, budget)
                progress.add_bytes(len(chunk))
                cancel.check()
            if sealer is not None:
                sealer.close()
            if _UTIME_FD:  # through the descriptor: never through a link planted since
                os.utime(fd, ns=(item.mtime_ns, item.mtime_ns))
        finally:
            os.close(fd)
        sha = item.sha256 if digest is None else digest.hexdigest()
        if item.sha256 is not None and (sha != item.sha256 or size != item.size):
            raise _CopyMismatch(_("content does not match the backup's hash"))
        if not _UTIME_FD:  # Windows: by path, which the staging folder's owner alone controls
            utime_long(path, (item.mtime_ns, item.mtime_ns))
        return sha, prefix

    def _stage_moved(
        self,
        staging: Path,
        item: _Item,
        budget: ByteBudget,
        progress: ProgressTracker,
        cancel: CancelToken,
    ) -> tuple[str, bytes] | None:
        """Salvage: stage *item* from an intact copy elsewhere in the point, if there is one."""
        assert self.source is not None
        moved = self.source.relocate(item)
        if moved is None:
            return None
        try:
            # the file CreateAhead made for this item went with the failed attempt
            created = create_under(staging, moved.dest)
            return self._stage_one(staging, moved, budget, progress, cancel, created)
        except (DamagedArchiveError, FileNotFoundError):
            with contextlib.suppress(OSError, ValueError):
                unlink_long(staging / item.dest)
            return None

    def _fallback(self, rel: str) -> None:
        """A file the point cannot supply: keep the current version when there is one."""
        for f in self.current:
            if f.path == rel and f not in self.carry:
                self.carry.append(f)
                self.emit(
                    Warning(
                        _(
                            "Kept the current version of {rel}: the backup's copy is damaged."
                        ).format(rel=rel),
                        path=rel,
                        code="kept-current",
                    )
                )

    def _carry(
        self, staging: Path, budget: ByteBudget, cancel: CancelToken, result: RestoreResult
    ) -> list[tuple[str, str]]:
        if not self.carry:
            return []
        self.emit(Phase("carrying-over", str(self.data_dir)))
        progress = ProgressTracker(
            self.emit,
            "copying",
            bytes_total=sum(f.size for f in self.carry),
            files_total=len(self.carry),
        )
        done: list[tuple[str, str]] = []
        for f in sorted(self.carry, key=lambda f: f.path):
            cancel.check()
            progress.start_file(f.path)
            dest = self.names.target(f.path)
            for attempt in range(1, COPY_ATTEMPTS + 1):
                try:
                    got = copy_file(
                        self.data_dir / f.path,
                        staging,
                        dest,
                        budget=budget,
                        on_bytes=progress.add_bytes,
                        check_cancel=cancel.check,
                    )
                except DestinationWriteFailed as e:  # writing into staging, not reading Data
                    _raise_os(e.error, staging)
                    raise DataFolderError(
                        _(
                            "Writing the restored data beside {target} failed ({error}). Nothing "
                            "was changed."
                        ).format(target=self.target, error=e.error.strerror or e.error)
                    ) from None
                except FileNotFoundError:
                    got = None
                    break
                except OSError as e:
                    _raise_os(e, staging)
                    raise
                if not got.changed or attempt == COPY_ATTEMPTS:
                    break
                unlink_long(staging / dest)
                cancel.sleep(0.2 * attempt)
            if got is None:
                msg = _("Deleted while the restore ran, not carried over: {path}").format(
                    path=f.path
                )
                self.emit(Warning(msg, path=f.path, code="deleted"))
            else:
                if got.changed:
                    msg = _("Kept changing while it was carried over: {path}").format(path=f.path)
                    self.emit(Warning(msg, path=f.path, code="unstable"))
                done.append((dest, got.sha256))
                result.files_carried += 1
                result.bytes_carried += got.size
            progress.file_done()
            faults.point("restore.carry")
        progress.finish()
        return done

    def _write_renamed_list(self, staging: Path, result: RestoreResult) -> tuple[str, str] | None:
        """Write the list of renamed files (jobs/FORMAT.md) into the top of the staging
        folder; returns (its name, its SHA-256) to be checked with the carried files."""
        if not self.names.renamed:
            return None
        name = self.names.free_top_name(RENAMED_LIST)
        doc = {
            "format": RENAMED_FORMAT,
            "version": 1,
            "restored_from": str(self.point.path),
            "restored": datetime.now().astimezone().isoformat(timespec="seconds"),
            "file_system": self.fs.label,
            "files": [_renamed_entry(r) for r in self.names.renamed],
        }
        data = (json.dumps(doc, indent=1) + "\n").encode("ascii")  # \uXXXX: any name fits
        fd, _path = create_under(staging, name)
        try:
            write_all(fd, data)
        finally:
            os.close(fd)
        result.renamed_list = self.target / name
        return name, hashlib.sha256(data).hexdigest()

    def _verify(
        self,
        staging: Path,
        staged: list[_Item],
        carried: list[tuple[str, str]],
        cancel: CancelToken,
        result: RestoreResult,
    ) -> None:
        assert self.account is not None
        total = sum(i.size for i in staged) + sum(
            stat_long(staging / p).st_size for p, _sha in carried
        )
        progress = ProgressTracker(
            self.emit, "verifying", bytes_total=total, files_total=len(staged) + len(carried)
        )
        bad: list[tuple[str, str]] = []
        for item in staged:
            cancel.check()
            progress.start_file(item.path)
            try:
                # never through a link someone planted in the staging folder meanwhile
                fd = open_under(staging, item.dest)
                if item.mode == "seal":
                    with os.fdopen(fd, "rb") as f:
                        size, sha = _plaintext_sha256(f, self.account, progress.add_bytes)
                else:
                    size, sha = sha256_file(fd, on_bytes=progress.add_bytes)
            except UnsafePath:
                raise
            except (OSError, DamagedArchiveError, DecryptionError, ValueError) as e:
                size, sha = -1, str(e)
            if sha != item.sha256 or size != item.size:
                bad.append((item.path, _("the restored copy does not read back correctly")))
            progress.file_done()
        for rel, expected in carried:
            cancel.check()
            progress.start_file(rel)
            _size, sha = sha256_file(open_under(staging, rel), on_bytes=progress.add_bytes)
            if sha != expected:
                bad.append((rel, _("the carried-over copy does not read back correctly")))
            progress.file_done()
        progress.finish()
        if bad:
            for p, r in bad:
                self.emit(Damaged(path=p, reason=r))
            raise DataFolderError(
                ngettext(
                    "{n} file did not read back correctly from the staging folder ({example}); "
                    "the disk may be failing. Nothing was changed.",
                    "{n} files did not read back correctly from the staging folder (e.g. "
                    "{example}); the disk may be failing. Nothing was changed.",
                    len(bad),
                ).format(n=len(bad), example=bad[0][0])
            )

    def close(self) -> None:
        if self.source is not None:
            self.source.close()
        if self.lock is not None:
            self.lock.release()
            self.lock = None


class _CopyMismatch(DamagedArchiveError):
    pass


def _renamed_entry(r: Renamed) -> dict[str, Any]:
    """One file of the renamed list; a name that is not UTF-8 also as its bytes (base64)."""
    import base64

    out = r.to_dict()
    for key, value in (("path", r.path), ("restored_as", r.target)):
        if not fsrules.is_text(value):
            out[f"{key}_bytes"] = base64.b64encode(fsrules.name_bytes(value)).decode("ascii")
    return out


def _plaintext_sha256(
    f: BinaryIO, account: AccountKey, on_bytes: Callable[[int], None]
) -> tuple[int, str]:
    digest = Sha256Behind()  # large chunks hashed on another core while the next is read
    size = 0
    header = parse_header(f.read(HEADER_SIZE))
    if header is None:
        raise ValueError("not sealed")
    for chunk in iter_plaintext(f, header, account):
        digest.update(chunk)
        size += len(chunk)
        on_bytes(len(chunk))
    return size, digest.hexdigest()


def _raise_os(e: OSError, staging: Path) -> None:
    import errno

    if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        raise NotEnoughSpaceError(
            _(
                "The disk holding {parent} became full during the restore. Nothing was changed."
            ).format(parent=staging.parent)
        ) from None


def _this(point: RestorePoint) -> str:
    """ "This backup" and its kin, as the subject of a sentence."""
    if point.kind == "folder":
        return _("This folder backup")
    if point.kind == "before-restore":
        return _("This before-restore folder")
    return _("This backup")


def _inside(path: Path, folder: Path) -> bool:
    try:
        Path(path).absolute().relative_to(Path(folder).absolute())
        return True
    except ValueError:
        return False


# ---- entry points ------------------------------------------------------------------------------


def plan_restore(req: RestoreRequest, emit: Emit = ignore) -> RestorePlan:
    """Run every check and return what a restore would do; changes nothing."""
    job = _Restore(req, emit)
    try:
        return job.plan
    finally:
        job.close()


def run_restore(
    req: RestoreRequest,
    emit: Emit = ignore,
    cancel: CancelToken = NEVER,
    confirm: Callable[[RestorePlan], bool] | None = None,
) -> RestoreResult:
    """Restore *req.point*. ``confirm(plan)`` (optional) may decline: nothing is changed."""
    job = _Restore(req, emit)  # unlocks (Argon2id) before the allocator is tuned
    memtune.tune_for_streaming()
    try:
        if confirm is not None and not confirm(job.plan):
            raise Cancelled(_("Restore cancelled; nothing was changed."))
        return job.execute(cancel)
    finally:
        job.close()
