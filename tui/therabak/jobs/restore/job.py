"""One restore from start to end: checks, source, plan, staging, swap.

:class:`RestoreJob` runs the checks (:mod:`.checks`), opens the point
(:mod:`.sources`), reads the current data and plans (:mod:`.plan`) in its constructor;
:meth:`RestoreJob.execute` stages (:mod:`.stage`) and then swaps the staging folder in
(``datafolder/swap.py``), journaled so a crash is completed or rolled back by the next run.
:func:`plan_restore` and :func:`run_restore` are the entry points.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from therabak import formatting, memtune
from therabak.datafolder.manifest import before_restore_manifest
from therabak.datafolder.names import journal_path
from therabak.datafolder.nesting import backups_inside
from therabak.datafolder.partials import remove_tree
from therabak.datafolder.swap import new_staging, publish_folder, swap_in, too_late_to_cancel
from therabak.errors import Cancelled, NotEnoughSpaceError
from therabak.events import Emit, Phase, Summary, WarningLog, ignore
from therabak.fsutil import free_space
from therabak.i18n import _
from therabak.jobkit import history
from therabak.jobkit.cancel import NEVER, CancelToken
from therabak.jobs.restore.checks import RestoreMode, keep_old_name, run_checks, target_rules
from therabak.jobs.restore.plan import (
    CurrentData,
    RestorePlan,
    Selection,
    carried,
    leaves_of,
    make_plan,
    name_files,
    not_carried,
    renamed_warning,
    select,
)
from therabak.jobs.restore.request import RestoreRequest
from therabak.jobs.restore.result import RestoreResult
from therabak.jobs.restore.sources import RestoreSource, open_source
from therabak.jobs.restore.stage import Stager
from therabak.namemap import NamePlan
from therabak.practice.scan import scan


class RestoreJob:
    """One restore: the checks and the plan in ``__init__``, the work in :meth:`execute`.
    Holds the restore's lock (and the open point) until :meth:`close`."""

    def __init__(self, req: RestoreRequest, emit: Emit) -> None:
        self.req = req
        self.emit = WarningLog(emit)  # a restore that printed a warning exits 3
        self.ctx = run_checks(req, self.emit)  # holds the lock from here on
        self.source: RestoreSource | None = None
        try:
            self.source = open_source(self.ctx.point, req, self.ctx.account, self.emit)
            self.selection = self._select(self.source)
            self.current = self._read_current()
            self.carry = carried(self.current, self.selection)
            for warning in not_carried(self.current):
                self.emit(warning)
            self.names = self._name_files()
            self.plan = self._make_plan(self.source)
        except BaseException:
            self.close()
            raise

    # -- checks and plan --

    def _select(self, source: RestoreSource) -> Selection:
        selection = select(
            source.items,
            source.holds,
            source.damaged,
            include=leaves_of(self.req.rules, self.req.include),
            rules=self.req.rules,
            account_id=self.ctx.account.id_hex,
            salvage=self.req.salvage,
        )
        for warning in selection.warnings:
            self.emit(warning)
        return selection

    def _read_current(self) -> CurrentData:
        """The data folder as it is, when the restore replaces it."""
        if self.ctx.mode != RestoreMode.REPLACE:
            return CurrentData()
        data_dir = self.ctx.data_dir
        self.emit(Phase("scanning", str(data_dir)))
        scanned = scan(data_dir, self.req.rules, leave_out=backups_inside(data_dir))
        return CurrentData(scanned.files, scanned.skipped, scanned.left_out)

    def _name_files(self) -> NamePlan:
        target = self.ctx.target
        names = name_files(target_rules(target), target, self.selection, self.current)
        warning = renamed_warning(names)
        if warning is not None:
            self.emit(warning)
        return names

    def _make_plan(self, source: RestoreSource) -> RestorePlan:
        ctx = self.ctx
        keep_old = (
            keep_old_name(ctx.data_dir, self.req.before_restore_name)
            if ctx.mode == RestoreMode.REPLACE
            else None
        )
        plan = make_plan(
            ctx,
            rules=self.req.rules,
            holds=source.holds,
            selection=self.selection,
            current=self.current,
            carry=self.carry,
            names=self.names,
            keep_old_at=keep_old,
            space_free=free_space(ctx.target.parent),
        )
        if plan.space_free < plan.space_needed:
            raise NotEnoughSpaceError(
                _(
                    "Not enough space beside {target}: the restore needs about {need}, {free} "
                    "are free. Nothing was changed."
                ).format(
                    target=ctx.target,
                    need=formatting.size(plan.space_needed),
                    free=formatting.size(plan.space_free),
                )
            )
        return plan

    # -- the work --

    def execute(self, cancel: CancelToken) -> RestoreResult:
        """Stage, verify, swap; then record the restore and say its summary."""
        assert self.source is not None
        ctx = self.ctx
        start = time.monotonic()
        result = RestoreResult(
            point=Path(ctx.point.path),
            target=ctx.target,
            before_restore=None,
            damaged=list(self.selection.unrestorable),
            renamed=list(self.names.renamed),
            file_system=self.names.rules.label,
        )
        key_created = False
        staging = None
        try:
            if ctx.create_key is not None:
                ctx.account.save(ctx.create_key)
                key_created = True
                result.new_account_key = ctx.create_key
            staging = new_staging(ctx.target)
            self.emit(Phase("staging", str(staging)))
            Stager(
                ctx,
                self.source,
                self.selection,
                self.current,
                self.carry,
                self.names,
                staging=staging,
                salvage=self.req.salvage,
                emit=self.emit,
                cancel=cancel,
                result=result,
            ).run()
            cancel.check()
            self.source.close()  # never rename a folder holding an open file (Windows)
            self.emit(Phase("swapping", str(ctx.target)))
            self._swap(staging, result)
        except BaseException:
            self._clean_up(staging, key_created)
            raise
        result.duration_s = round(time.monotonic() - start, 3)
        result.warnings = list(self.emit.warnings)
        self._record(result)
        self.emit(Summary.of("restore", result, str(ctx.target)))
        return result

    def _swap(self, staging: Path, result: RestoreResult) -> None:
        """The staging folder becomes the target: published as a new folder, or swapped
        with the data folder (which is kept beside it, under the plan's name unless that
        was taken meanwhile)."""
        ctx = self.ctx
        if ctx.mode == RestoreMode.FOLDER:
            publish_folder(staging, ctx.target)
            return
        old = None
        if ctx.mode == RestoreMode.REPLACE:
            old = self.plan.keep_old_at
            if old is None or os.path.lexists(old):  # taken since the plan: say so
                result.before_restore_planned = old
                old = keep_old_name(ctx.data_dir, None)
        manifest = before_restore_manifest(
            account_key_id=ctx.account.id_hex,
            replaced_by=str(ctx.point.path),
            files=len(self.current.files),
            size=sum(f.size for f in self.current.files),
            data_dir=ctx.data_dir,
        )
        with too_late_to_cancel():  # two renames: a cancel now would undo nothing
            swap_in(ctx.data_dir, staging, old, manifest)
        result.before_restore = old

    def _clean_up(self, staging: Path | None, key_created: bool) -> None:
        """After a failure: remove the staging folder and a new account key, unless a
        journal is left (the swap stopped half-way and recovery owns the folders now,
        datafolder/swap.py); otherwise Data was never touched."""
        journaled = not self.ctx.folder_mode and journal_path(self.ctx.data_dir).exists()
        if journaled:
            return
        if staging is not None:
            with contextlib.suppress(OSError):
                remove_tree(staging)
        if key_created and self.ctx.create_key is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.ctx.create_key)

    def _record(self, result: RestoreResult) -> None:
        before = str(result.before_restore) if result.before_restore else None
        with contextlib.suppress(OSError):
            history.append(
                history.BackupRecord(
                    kind=history.RecordKind.RESTORE,
                    path=str(self.ctx.point.path),
                    created=datetime.now().astimezone().isoformat(timespec="seconds"),
                    files=result.files_restored,
                    bytes=result.bytes_restored,
                    verified=True,
                    data_dir=str(self.ctx.target),
                    extra={"before_restore": before},
                )
            )

    def close(self) -> None:
        if self.source is not None:
            self.source.close()
        self.ctx.release()


# ---- entry points ------------------------------------------------------------------------------


def plan_restore(req: RestoreRequest, emit: Emit = ignore) -> RestorePlan:
    """Run every check and return what a restore would do; changes nothing."""
    job = RestoreJob(req, emit)
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
    job = RestoreJob(req, emit)  # unlocks (Argon2id) before the allocator is tuned
    memtune.tune_for_streaming()
    try:
        if confirm is not None and not confirm(job.plan):
            raise Cancelled(_("Restore cancelled; nothing was changed."))
        return job.execute(cancel)
    finally:
        job.close()
