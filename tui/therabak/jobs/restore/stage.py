"""Building the restored data in a private staging folder beside the target: the point's
files are staged (sealed again with the current account key where they come as
plaintext), the current files that stay are carried over, and every file is checked as
it is written, before the swap may run (README "Restoring": what each check catches).
Nothing here touches the data folder itself."""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import itertools
import json
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from therabak import faults, fsrules
from therabak.archive.reader import EntryDamaged
from therabak.datafolder.filecopy import (
    ByteBudget,
    CreateAhead,
    DestinationWriteFailed,
    FdWriter,
    UnsafePath,
    copy_file,
    create_under,
    sync_files,
    write_all,
)
from therabak.datafolder.written_tree import WrittenFiles
from therabak.errors import (
    DamagedArchiveError,
    DataFolderError,
    NotEnoughSpaceError,
    OtherAccountError,
    Remedy,
)
from therabak.events import Damaged, Phase, Warning, WarningLog
from therabak.fsutil import stat_long, unlink_long, utime_long
from therabak.i18n import _
from therabak.jobkit.cancel import CancelToken
from therabak.jobkit.progress import ProgressTracker
from therabak.jobkit.workers import InOrder, SharedCount, worker_count
from therabak.jobs.restore.checks import RestoreContext
from therabak.jobs.restore.plan import CurrentData, Selection
from therabak.jobs.restore.result import RestoreResult
from therabak.jobs.restore.sources import SALVAGE_HINT, Item, ItemMode, RestoreSource, subject_of
from therabak.namemap import NamePlan, Renamed
from therabak.practice.account import AccountKey
from therabak.practice.envelope import (
    HEADER_SIZE,
    KEY_ID_SIZE,
    MAGIC,
    EnvelopeHeader,
    EnvelopeWriter,
    Salts,
)
from therabak.practice.envelope_check import SealCheck, SealCheckFailed
from therabak.practice.scan import FileEntry

COPY_ATTEMPTS = 3
#: Files handed to the staging threads ahead of the one the job's thread waits for. A
#: window of two per thread left them idle half the time behind one large file (py-spy:
#: the other thread waiting for work); a file done early holds only its result.
AHEAD_FILES = 64
#: Written into the restored data when a file got another name (jobs/FORMAT.md).
RENAMED_LIST = "therabak-renamed.json"
RENAMED_FORMAT = "therabak-renamed"

_UTIME_FD = os.utime in os.supports_fd


class _CopyMismatch(DamagedArchiveError):
    pass


class _StagedBadly(DataFolderError):
    """A file was written into the staging folder but does not check out (its envelope
    does not open to the content that went in, or its size on disk is not what was
    written): raised by whoever wrote it, reported by the job's thread."""

    def __init__(self, path: str, reason: str) -> None:
        msg = _("The restored copy of {path} does not check out ({reason}). Nothing was changed.")
        super().__init__(msg.format(path=path, reason=reason))
        self.path, self.reason = path, reason


class Stager:
    """Fills one staging folder: :meth:`run` stages, carries over, lists the renamed
    files and syncs them, every file checked as it is written. Counts into *result*."""

    def __init__(
        self,
        ctx: RestoreContext,
        source: RestoreSource,
        selection: Selection,
        current: CurrentData,
        carry: list[FileEntry],
        names: NamePlan,
        *,
        staging: Path,
        salvage: bool,
        emit: WarningLog,
        cancel: CancelToken,
        result: RestoreResult,
    ) -> None:
        self.ctx, self.source, self.names = ctx, source, names
        self.account: AccountKey = ctx.account
        self.items = selection.items
        self.current = current.files
        self.carry = carry  # grows when a file the point cannot supply stays (salvage)
        self.staging, self.salvage = staging, salvage
        self.emit, self.cancel, self.result = emit, cancel, result
        self.budget = ByteBudget()
        self.salts = Salts()
        self.written = WrittenFiles()  # what goes in: checked again before the swap
        self._ahead: CreateAhead | None = None

    def run(self) -> None:
        """Stage and carry over (each file checked as it is written), then make the
        files written durable."""
        staged = self.stage()
        carried = self.carry_over()
        listed = self.write_renamed_list()
        if listed is not None:
            carried.append(listed)
        self.check_tree()
        faults.point("restore.staged")
        self.emit(Phase("syncing", str(self.staging)))
        # named one by one, only where each is synced on its own (no list of a path per
        # file: for 100,000 files 26 MB at the end of a restore, for one sync())
        staging = self.staging
        sync_files(
            itertools.chain(
                (staging / i.dest for i in staged), (staging / p for p, _sha in carried)
            )
        )

    # -- the point's files --

    def stage(self) -> list[Item]:
        """Stage every item of the point, in order. With more than one worker
        (``jobkit.workers``) and a source that reads in parallel (a local store, a folder
        backup; not an archive: one file, one position), the files are created and written
        on a few threads at once while this thread takes them in order, handles what
        failed and emits every event; else each file is staged here while CreateAhead
        creates the next ones."""
        progress = ProgressTracker(
            self.emit,
            "restoring",
            bytes_total=sum(i.size for i in self.items),
            files_total=len(self.items),
        )
        staged: list[Item] = []
        workers = worker_count()
        if workers > 1 and len(self.items) > 1 and self.source.parallel_content:
            self._stage_in_parallel(progress, staged, workers)
        else:
            self._stage_in_turn(progress, staged)
        progress.finish()
        return staged

    def _stage_in_turn(self, progress: ProgressTracker, staged: list[Item]) -> None:
        self._ahead = CreateAhead(self.staging, [i.dest for i in self.items])
        try:
            for item in self.items:
                self.cancel.check()
                faults.source_delay()
                progress.start_file(item.path)
                self._staged(item, self._stage_item(item, progress), progress, staged)
        finally:
            self._ahead.close()
            self._ahead = None

    def _stage_in_parallel(
        self, progress: ProgressTracker, staged: list[Item], workers: int
    ) -> None:
        counted = SharedCount()
        known_dirs: set[str] = set()  # folders made below staging (shared: mkdir is atomic)

        def forward_bytes() -> None:
            progress.add_bytes(counted.take())

        def work(item: Item) -> tuple[str, bytes]:
            faults.source_delay()
            created = create_under(self.staging, item.dest, known_dirs=known_dirs)
            return self._stage_one(item, counted, created, check=pool.check)

        pool: InOrder[Item, tuple[str, bytes]] = InOrder(
            work,
            self.items,
            workers=workers,
            ahead=AHEAD_FILES,
            on_wait=forward_bytes,
            name="therabak-restore",
        )
        # closed here, not when the generator is collected: no worker may write into the
        # staging folder once this returns or raises (the caller removes it)
        with contextlib.closing(pool.results()) as results:
            for item, future in results:
                self.cancel.check()
                forward_bytes()
                progress.start_file(item.path)
                ok = self._stage_item(item, progress, future.result)
                forward_bytes()
                self._staged(item, ok, progress, staged)

    def _staged(self, item: Item, ok: bool, progress: ProgressTracker, staged: list[Item]) -> None:
        """Count one item handled (in order, on the job's thread)."""
        if ok:
            staged.append(item)
            self.result.files_restored += 1
            self.result.bytes_restored += item.size
        progress.file_done()
        if ok:
            faults.point("restore.staging")

    def _stage_item(
        self,
        item: Item,
        progress: ProgressTracker,
        attempt: Callable[[], tuple[str, bytes]] | None = None,
    ) -> bool:
        """Stage *item* (or take the outcome of *attempt*, a worker's staging of it);
        False when it is damaged and salvage leaves it out."""
        try:
            sha, prefix = attempt() if attempt is not None else self._stage_one(item, progress)
        except (DamagedArchiveError, FileNotFoundError) as e:  # incl. EntryDamaged
            reason = e.reason if isinstance(e, EntryDamaged) else str(e)
            with contextlib.suppress(OSError, ValueError):  # ValueError: a NUL in the path
                unlink_long(self.staging / item.dest)
            if not self.salvage:
                raise DamagedArchiveError(
                    _("{this} is damaged: {path}: {reason}. Nothing was changed.").format(
                        this=subject_of(self.ctx.point), path=item.path, reason=reason
                    ),
                    hint=_(SALVAGE_HINT),
                    remedy=Remedy.SALVAGE,
                ) from None
            again = self._stage_moved(item, progress)
            if again is None:
                self.result.damaged.append((item.path, reason))
                self.emit(Damaged(path=item.path, reason=reason))
                self._fallback(item.path)
                return False
            sha, prefix = again
            msg = _("Its place in the backup is damaged, an intact copy was used: {path}").format(
                path=item.path
            )
            self.emit(Warning(msg, path=item.path, code="relocated"))
        except _StagedBadly as e:
            self.emit(Damaged(path=e.path, reason=e.reason))
            raise
        except OSError as e:
            raise_if_full(e, self.staging)
            raise
        if item.sha256 is None:
            item.sha256 = sha
        if item.mode == ItemMode.COPY and prefix[: len(MAGIC)] == MAGIC:
            key_id = prefix[len(MAGIC) : len(MAGIC) + KEY_ID_SIZE]
            if len(key_id) == KEY_ID_SIZE:  # (a cut-off envelope names no key)
                self._check_key_id(item, key_id)
        return True

    def _check_key_id(self, item: Item, key_id: bytes) -> None:
        """A folder backup (or before-restore folder) is restored on its files' word, not
        its manifest's: every sealed file copied must name this account's key, checked
        on the bytes copied, before the swap. One that does not refuses the restore."""
        if key_id != self.account.key_id:
            raise OtherAccountError(
                _(
                    "{path} in {point} is sealed with another account's key ({key_id}); this "
                    "computer's account key is {mine}. Nothing was changed."
                ).format(
                    path=item.path,
                    point=self.ctx.point.path,
                    key_id=key_id.hex(),
                    mine=self.account.id_hex,
                )
            )

    def _stage_one(
        self,
        item: Item,
        progress: ProgressTracker | SharedCount,
        created: tuple[int, Path] | None = None,
        check: Callable[[], None] | None = None,
    ) -> tuple[str, bytes]:
        """Stage one file into *created* (descriptor, path) or, by default, into the file
        CreateAhead made for it (see stage; each item takes its file once, in order).
        Returns its SHA-256 and its first bytes (to check a copied envelope's key).

        Checked as it is written, instead of reading it back: the content against the
        point's size and SHA-256 (by the source, or hashed here), a sealed file's
        envelope opened again in memory and compared with that content (SealCheck),
        and the size on disk against what was written."""
        if created is None:
            assert self._ahead is not None
            created = self._ahead.take(item.dest)
        fd, path = created
        verified = self.source.content_verified and item.sha256 is not None
        digest = None if verified else hashlib.sha256()
        prefix = b""
        size = 0
        try:
            out = FdWriter(fd, self.budget)
            seal_check = sealer = None
            if item.mode == ItemMode.SEAL:
                seal_check = SealCheck(out, self.account)
                header = EnvelopeHeader.new(self.account, salt=self.salts.take())
                sealer = EnvelopeWriter(seal_check, self.account, header)
                seal_check.know_key(header.raw, sealer.file_key)
            for chunk in self.source.content(item):
                if not prefix:
                    prefix = bytes(chunk[:HEADER_SIZE])
                if digest is not None:
                    digest.update(chunk)
                size += len(chunk)
                if sealer is not None:
                    seal_check.expect(chunk)
                    sealer.write(chunk)
                else:
                    out.write(chunk)
                progress.add_bytes(len(chunk))
                self.cancel.check()
                if check is not None:
                    check()
            if sealer is not None:
                sealer.close()
                seal_check.finish()
            st = os.fstat(fd)
            if st.st_size != out.size:
                raise _StagedBadly(item.path, _("its size on the disk is not what was written"))
            if _UTIME_FD:  # through the descriptor: never through a link planted since
                os.utime(fd, ns=(item.mtime_ns, item.mtime_ns))
        except SealCheckFailed:
            raise _StagedBadly(
                item.path, _("its sealed bytes do not open to the backup's content")
            ) from None
        finally:
            os.close(fd)
        sha = item.sha256 if digest is None else digest.hexdigest()
        if item.sha256 is not None and (sha != item.sha256 or size != item.size):
            raise _CopyMismatch(_("content does not match the backup's hash"))
        if not _UTIME_FD:  # Windows: by path, which the staging folder's owner alone controls
            utime_long(path, (item.mtime_ns, item.mtime_ns))
        self.written.add(item.dest, st)
        return sha or "", prefix

    def _stage_moved(self, item: Item, progress: ProgressTracker) -> tuple[str, bytes] | None:
        """Salvage: stage *item* from an intact copy elsewhere in the point, if there is one."""
        moved = self.source.relocate(item)
        if moved is None:
            return None
        try:
            # the file CreateAhead made for this item went with the failed attempt
            created = create_under(self.staging, moved.dest)
            return self._stage_one(moved, progress, created)
        except (DamagedArchiveError, FileNotFoundError):
            with contextlib.suppress(OSError, ValueError):
                unlink_long(self.staging / item.dest)
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

    # -- the current files that stay --

    def carry_over(self) -> list[tuple[str, str]]:
        """Copy the current files that stay into the staging folder; returns (name in
        the staging folder, SHA-256 of the bytes copied, hashed as they passed) of each.
        Each copy's size on disk is checked against the bytes read."""
        if not self.carry:
            return []
        self.emit(Phase("carrying-over", str(self.ctx.data_dir)))
        progress = ProgressTracker(
            self.emit,
            "copying",
            bytes_total=sum(f.size for f in self.carry),
            files_total=len(self.carry),
        )
        done: list[tuple[str, str]] = []
        for f in sorted(self.carry, key=lambda f: f.path):
            self.cancel.check()
            progress.start_file(f.path)
            dest = self.names.target(f.path)
            try:
                got = self._carry_one(f, dest, progress)
            except _StagedBadly as e:
                self.emit(Damaged(path=e.path, reason=e.reason))
                raise
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
                self.result.files_carried += 1
                self.result.bytes_carried += got.size
            progress.file_done()
            faults.point("restore.carry")
        progress.finish()
        return done

    def _carry_one(self, f: FileEntry, dest: str, progress: ProgressTracker):
        """Copy one current file (again, a few times, while it changes as it is read);
        None when it was deleted meanwhile."""
        got = None
        for attempt in range(1, COPY_ATTEMPTS + 1):
            try:
                got = copy_file(
                    self.ctx.data_dir / f.path,
                    self.staging,
                    dest,
                    budget=self.budget,
                    on_bytes=progress.add_bytes,
                    check_cancel=self.cancel.check,
                )
            except DestinationWriteFailed as e:  # writing into staging, not reading Data
                raise_if_full(e.error, self.staging)
                raise DataFolderError(
                    _(
                        "Writing the restored data beside {target} failed ({error}). Nothing "
                        "was changed."
                    ).format(target=self.ctx.target, error=e.error.strerror or e.error)
                ) from None
            except FileNotFoundError:
                return None
            except OSError as e:
                raise_if_full(e, self.staging)
                raise
            st = stat_long(self.staging / dest, follow_symlinks=False)
            if st.st_size != got.size:
                raise _StagedBadly(f.path, _("its size on the disk is not what was written"))
            self.written.add(dest, st)
            if not got.changed or attempt == COPY_ATTEMPTS:
                break
            self.written.discard(dest)
            unlink_long(self.staging / dest)
            self.cancel.sleep(0.2 * attempt)
        return got

    def write_renamed_list(self) -> tuple[str, str] | None:
        """Write the list of renamed files (jobs/FORMAT.md) into the top of the staging
        folder; returns (its name, its SHA-256) to be checked with the carried files."""
        if not self.names.renamed:
            return None
        name = self.names.free_top_name(RENAMED_LIST)
        doc = {
            "format": RENAMED_FORMAT,
            "version": 1,
            "restored_from": self.ctx.point.ref,
            "restored": datetime.now().astimezone().isoformat(timespec="seconds"),
            "file_system": self.names.rules.label,
            "files": [_renamed_entry(r) for r in self.names.renamed],
        }
        data = (json.dumps(doc, indent=1) + "\n").encode("ascii")  # \uXXXX: any name fits
        fd, _path = create_under(self.staging, name)
        try:
            write_all(fd, data)
            st = os.fstat(fd)
            if st.st_size != len(data):
                raise _StagedBadly(name, _("its size on the disk is not what was written"))
            self.written.add(name, st)
        finally:
            os.close(fd)
        self.result.renamed_list = self.ctx.target / name
        return name, hashlib.sha256(data).hexdigest()

    def check_tree(self) -> None:
        """Before the swap: the staging folder holds exactly the files written, each still
        the file that was written and checked (a walk of its metadata, no file read): a
        link planted in it, a file swapped or added, one gone, refuse the restore."""
        bad = self.written.unexpected_entries(self.staging)
        if bad:
            raise UnsafePath(
                _(
                    "Refusing to restore: {path} in the staging folder is a link or not the "
                    "file the restore wrote. Nothing was changed."
                ).format(path=self.staging / bad[0])
            )


def _renamed_entry(r: Renamed) -> dict[str, Any]:
    """One file of the renamed list; a name that is not UTF-8 also as its bytes (base64)."""
    out = r.to_json()
    for key, value in (("path", r.path), ("restored_as", r.target)):
        if not fsrules.is_text(value):
            out[f"{key}_bytes"] = base64.b64encode(fsrules.name_bytes(value)).decode("ascii")
    return out


def raise_if_full(e: OSError, staging: Path) -> None:
    """A full disk (or quota) while the staging folder is written: say so, plainly."""
    if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        raise NotEnoughSpaceError(
            _(
                "The disk holding {parent} became full during the restore. Nothing was changed."
            ).format(parent=staging.parent)
        ) from None
