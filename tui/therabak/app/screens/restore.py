"""Restore in three steps: choose a restore point (unlocking it if it has a password),
choose what comes back and where, then confirm the engine's plan. The restore itself
runs as a ``therabak restore`` job on the progress screen, whose summary says how to
undo it."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import (
    Button,
    ContentSwitcher,
    DataTable,
    Footer,
    Input,
    Label,
    RadioButton,
    RadioSet,
    Static,
    Tree,
)

from therabak import formatting
from therabak.app.points import (
    SALVAGE_OPTION,
    RestoreChoice,
    contents,
    needs_password,
    point_title,
    salvage_advice,
    where_label,
)
from therabak.app.screens.restore_points import RestorePointsList
from therabak.app.screens.unlock import UnlockDialog, Unlocked
from therabak.app.translated import AppScreen
from therabak.app.widgets.category_tree import CategoryTree
from therabak.app.widgets.destination import path_example
from therabak.app.widgets.dir_picker import DirPicker, picker_start
from therabak.app.widgets.header import AppHeader
from therabak.app.widgets.inputs import Choice, TextInput, TickBox
from therabak.app.widgets.points_table import PointsTable, point_details, search_another_folder
from therabak.i18n import N_, _, shown
from therabak.jobs.restore import RestoreMode
from therabak.points.point import RestorePoint
from therabak.presentation import (
    amount,
    from_backup_line,
    kind_label,
    plan_rows,
    renamed_line,
    unrestorable_line,
)


def plan_text(plan, ctx, rules) -> Text | Table:
    """The confirmation: from where, into where, per category replaced or kept, and where
    the current data is kept (so the restore can be undone)."""
    p = plan.point
    head = Table.grid(padding=(0, 1))
    head.add_column(style="bold", min_width=13)
    head.add_column()
    made = (
        f"{formatting.local_time(p.created)} ({formatting.ago(p.created, ctx.now())})"
        if p.created
        else _("time unknown")
    )
    source = Text(ctx.display_path(p.path))
    if p.is_store:
        source.append(" " + _("(a backup store)"))
    head.add_row(_("Restore from"), source)
    head.add_row("", Text(_("{kind}, made {when}").format(kind=kind_label(p.kind), when=made)))
    # The spaces stay unstyled: an SVG viewer drops the leading spaces of a bold run.
    into = Text(ctx.display_path(plan.target))
    if plan.mode == RestoreMode.REPLACE:
        into.append("  ")
        into.append(_("(the current data is REPLACED)"), style="bold")
    elif plan.mode == RestoreMode.NEW_DATA:
        into.append("  ")
        into.append(_("(new: there is no data folder yet)"), style="bold")
    head.add_row(_("Into"), into)

    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    table.add_column(_("Restored"), min_width=20, no_wrap=True)
    table.add_column(_("from the backup"), justify="right", min_width=18, no_wrap=True)
    # Files only: the data folder's sizes are of encrypted files, the backup's of their
    # contents, so sizes side by side would suggest a difference that is not there.
    table.add_column(
        _("replaces now") if plan.mode == RestoreMode.REPLACE else "",
        justify="right",
        min_width=14,
        no_wrap=True,
    )

    kept = []
    for row in plan_rows(plan, rules):
        c = row.change
        if c is None:
            continue
        if row.restored:
            table.add_row(
                row.label,
                amount(c.backup_files, c.backup_bytes),
                (formatting.files(c.current_files) if c.current_files else "-")
                if plan.mode == RestoreMode.REPLACE
                else "",
            )
        elif c.current_files:
            kept.append(row.label)

    foot = Text()
    if plan.keep_old_at:
        foot.append(_("The current data folder is kept as") + " ")
        foot.append(ctx.display_path(plan.keep_old_at), style="bold")
        foot.append("\n" + _("To undo: restore that folder (it is listed as “before restore”)."))
    if plan.new_account_key:
        foot.append("\n" if foot else "")
        foot.append(_("A NEW account key will be created at") + " ", style="bold")
        foot.append(ctx.display_path(plan.new_account_key), style="bold")
        foot.append(_("; keep a copy of it safe."), style="bold")
    totals = Text(from_backup_line(plan))
    if kept:
        totals.append(
            "\n"
            + _("Kept as they are: {labels} ({files}, {size}).").format(
                labels=", ".join(kept),
                files=formatting.files(plan.carry_files),
                size=formatting.size(plan.carry_bytes),
            )
        )
    for path, why in plan.unrestorable[:3]:
        totals.append("\n" + unrestorable_line(path, shown(why)), style="bold red")
    for warning in plan.warnings[:3]:
        totals.append("\n" + shown(warning), style="yellow")
    renamed = renamed_line(plan)
    if renamed:
        totals.append("\n" + renamed, style="yellow")
        first = plan.renamed[0]
        totals.append(
            "\n  " + f"{formatting.name(first.path)} → {formatting.name(first.target)}",
            style="yellow",
        )
    grid = Table.grid()
    grid.add_row(head)
    if foot:
        grid.add_row(foot)
    grid.add_row(Text(""))
    grid.add_row(table)
    grid.add_row(Text(""))
    grid.add_row(totals)
    return grid


class RestoreScreen(RestorePointsList, AppScreen):
    BINDINGS = [
        Binding("escape", "back", N_("Back")),
        Binding("a", "search_folder", N_("Search a folder")),
        Binding("n", "next", N_("Next")),
        Binding("ctrl+o", "browse", N_("Browse")),
        Binding("ctrl+s", "restore", N_("Restore now")),
    ]

    def help_text(self) -> str:
        return _(
            "Restore in three steps. 1: choose a restore point; “Where” says in which "
            "folder it is, a searches another folder (it is searched again next time). "
            "A backup with a password asks for it. 2: what comes back (Space ticks) and "
            "where: over the current data, or into another folder; n or the button goes "
            "on. 3: the plan says what is replaced and the name of the folder the current "
            "data is kept in; ctrl+s restores. To undo, restore that folder (it is "
            "listed as “before restore”)."
        )

    def __init__(self) -> None:
        super().__init__()
        self.step = "points"
        self.rules = None
        self.extra: list[Path] = []
        self.point: RestorePoint | None = None
        self.password: str | None = None
        self.recovery_code = None  # RecoveryCode, when the point was opened with it
        self.contents = None
        self.choice: RestoreChoice | None = None
        self.plan = None
        self.busy = False
        self.started = False  # the restore job was started: never a second one

    # ---- layout ---------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield AppHeader(_("Restore"))
        with ContentSwitcher(initial="points-step", id="steps"):
            with Vertical(id="points-step"):
                yield Static(_("Step 1 of 3 · Choose a restore point"), classes="step-title")
                yield PointsTable(
                    self.app.ctx.now, lambda p: where_label(self.app.ctx, p), id="points"
                )
                yield Static(Text(_("Looking for backups…"), style="italic"), id="points-msg")
                yield Static("", id="point-details")
            with Vertical(id="what-step"):
                yield Static(_("Step 2 of 3 · What comes back, and where"), classes="step-title")
                yield Static("", id="damage-msg", classes="form-error")
                yield Vertical(id="restore-tree-box")
                yield Static("", id="restore-total", classes="total")
                with RadioSet(id="target", compact=True):
                    yield Choice(
                        _("Replace the current data (it is kept, so this can be undone)"),
                        value=True,
                        id="replace",
                    )
                    yield Choice(_("Into another folder"), id="elsewhere")
                with Horizontal(classes="form-row", id="to-row"):
                    yield Label(_("Folder"), classes="form-label")
                    yield TextInput(
                        placeholder=_("an empty or new folder"), id="to-input", compact=True
                    )
                    yield Button(_("Browse…"), id="to-browse", compact=True)
                yield TickBox(_(SALVAGE_OPTION), id="salvage", compact=True)
                yield Static("", id="what-msg", classes="form-error")
                yield Button(_("Next: check the plan"), id="to-plan", compact=True)
            with VerticalScroll(id="confirm-step"):
                yield Static(_("Step 3 of 3 · Check, then restore"), classes="step-title")
                yield Static("", id="plan")
                yield Button(_("Restore now"), id="restore-now", variant="error", compact=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        from therabak.errors import ConfigError
        from therabak.practice.categories import Rules
        from therabak.settings import user_rules_file

        try:
            self.rules = self.app.rules or Rules.load(user_rules_file())
        except ConfigError as e:
            self._msg("#points-msg", str(e), "bold red")
            return
        self.query_one("#to-row").display = False
        self.query_one("#damage-msg").display = False
        self.query_one(PointsTable).focus()
        self.refresh_points()

    def _msg(self, selector: str, text: str, style: str = "") -> None:
        self.query_one(selector, Static).update(Text(text, style=style))

    def _go(self, step: str) -> None:
        self.step = step
        self.query_one(ContentSwitcher).current = f"{step}-step"
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "search_folder":
            return self.step == "points"
        if action == "next":
            # n goes on, but never from a button or a field: a user typing a folder name
            # where a button has the focus would start the plan by mistake
            return self.step == "what" and not isinstance(self.focused, Input | Button)
        if action == "browse":
            return self.step == "what"
        if action == "restore":
            return self.step == "confirm" and self.plan is not None
        return True

    def action_back(self) -> None:
        if self.busy:
            return
        if self.step == "confirm":
            self._go("what")
            self.query_one("#restore-tree", CategoryTree).focus()  # not the hidden button
        elif self.step == "what":
            self._go("points")
            self.query_one(PointsTable).focus()
        else:
            self.app.pop_screen()

    # ---- step 1: points ---------------------------------------------------------------

    def on_points_table_highlighted(self, event: PointsTable.Highlighted) -> None:
        self.query_one("#point-details", Static).update(
            point_details(event.point, self.app.ctx, self.rules)
        )

    def action_search_folder(self) -> None:
        search_another_folder(self, self.extra, self.refresh_points)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if not isinstance(event.data_table, PointsTable) or self.busy:
            return
        point = event.data_table.current
        if point is not None:
            self.open_point(point)

    def open_point(self, point: RestorePoint) -> None:
        if not point.readable:
            self._msg("#points-msg", _("This backup cannot be read."), "bold red")
            return
        self.point, self.password, self.recovery_code = point, None, None
        ctx, rules = self.app.ctx, self.rules
        if needs_password(point):

            async def unlocked(result: Unlocked | None) -> None:
                if result is not None:
                    self.password, self.recovery_code = result.password, result.recovery_code
                    await self._contents_ready(result.result)

            self.app.push_screen(
                UnlockDialog(
                    _("Unlock {name}").format(name=point_title(point)),
                    lambda pw, code: contents(
                        ctx, point, rules, pw, recovery_code=code, salvage=True
                    ),
                    has_code=point.recovery_code,
                ),
                unlocked,
            )
            return
        self.busy = True
        self._msg("#points-msg", _("Reading the backup's contents…"), "italic")
        self._contents_worker(point)

    @work(thread=True, exclusive=True, exit_on_error=False, group="contents")
    def _contents_worker(self, point: RestorePoint) -> None:
        from therabak.app.points import contents
        from therabak.errors import TherabakError

        try:
            found = contents(self.app.ctx, point, self.rules, salvage=True)
        except (TherabakError, OSError) as e:
            self.app.call_from_thread(self._open_failed, str(e))
            return
        self.app.call_from_thread(self._contents_ready, found)

    def _open_failed(self, message: str) -> None:
        self.busy = False
        self._msg("#points-msg", message, "bold red")

    async def _contents_ready(self, found) -> None:
        self.busy = True  # no other point is opened while this one's tree is built
        self.contents = found
        try:
            await self.after_unlock()
        finally:
            self.busy = False

    async def after_unlock(self) -> None:
        """Step 2 for the opened point. The previous point's tree goes first: it must be
        gone before a tree with the same id is mounted (back to step 1, then again)."""
        box = self.query_one("#restore-tree-box")
        await box.remove_children()
        tree = CategoryTree.for_restore(
            self.rules,
            self.contents.node_totals(self.rules),
            self.contents.categories,
            id="restore-tree",
        )
        await box.mount(tree)
        salvage = self.query_one("#salvage", TickBox)
        damage = self.contents.index_damage
        salvage.value = salvage.disabled = bool(damage)
        self._msg("#what-msg", "")
        notice = self.query_one("#damage-msg", Static)
        notice.display = bool(damage)
        notice.update(
            Text(
                _(
                    "This backup is damaged ({error}): only its intact files, found by "
                    "reading it all, can be restored."
                ).format(error=damage),
                "bold red",
            )
            if damage
            else ""
        )
        self._go("what")
        tree.focus()
        tree.cursor_line = 0
        self.call_after_refresh(self._update_total)

    # ---- step 2: what and where -----------------------------------------------------------

    def _update_total(self) -> None:
        trees = self.query("#restore-tree")
        if not trees:
            return
        tree = trees.first(CategoryTree)
        chosen = tree.selection
        files = sum(t.files for cid, t in self.contents.totals.items() if cid in chosen)
        size = sum(t.bytes for cid, t in self.contents.totals.items() if cid in chosen)
        self._msg(
            "#restore-total",
            _("Restores {files}, {size}.").format(
                files=formatting.files(files), size=formatting.size(size)
            ),
        )

    def on_category_tree_changed(self, event: CategoryTree.Changed) -> None:
        self._update_total()

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        data = event.node.data
        if data is None or not hasattr(data, "available"):
            return
        if not data.available:
            self._msg(
                "#what-msg",
                _("This backup does not hold {label}: the current files stay as they are.").format(
                    label=_(data.label)
                ),
                "dim",
            )
        else:
            self._msg("#what-msg", "")

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        elsewhere = event.pressed.id == "elsewhere"
        self.query_one("#to-row").display = elsewhere
        if elsewhere:
            self.query_one("#to-input").focus()

    def on_descendant_focus(self) -> None:
        self.refresh_bindings()  # n (next) shows only where it works

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "to-browse":
            self.action_browse()
        elif event.button.id == "to-plan":
            self.action_next()
        elif event.button.id == "restore-now":
            self.action_restore()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "to-input":
            event.stop()
            self.action_next()

    def action_browse(self) -> None:
        def picked(path: Path | None) -> None:
            if path is not None:
                self.query_one("#to-input", Input).value = self.app.ctx.display_path(path)

        typed = self.query_one("#to-input", Input).value.strip()
        start = Path(typed).expanduser() if typed else None
        self.app.push_screen(DirPicker(picker_start(self.app.ctx, start), must_exist=False), picked)

    def action_next(self) -> None:
        if self.step != "what" or self.busy:
            return
        tree = self.query_one("#restore-tree", CategoryTree)
        chosen = tree.selection
        if not chosen:
            self._msg("#what-msg", _("Nothing is ticked: tick at least one category."), "bold red")
            return
        target = None
        if self.query_one("#elsewhere", RadioButton).value:
            value = self.query_one("#to-input", Input).value.strip()
            if not value:
                self._msg("#what-msg", _("Choose the folder to restore into."), "bold red")
                self.query_one("#to-input").focus()
                return
            target = Path(value).expanduser()
            if not target.is_absolute():
                self._msg(
                    "#what-msg",
                    _("Type the folder's full path, for example {example}.").format(
                        example=path_example()
                    ),
                    "bold red",
                )
                self.query_one("#to-input").focus()
                return
        include = None if chosen == tree.selectable else sorted(chosen)
        salvage = self.query_one("#salvage", TickBox).value
        self.choice = RestoreChoice(
            self.point, self.password, include, target, salvage, recovery_code=self.recovery_code
        )
        self.busy = True
        self._msg("#what-msg", _("Checking everything (changes nothing yet)…"), "italic")
        self._plan_worker(self.choice)

    @work(thread=True, exclusive=True, exit_on_error=False, group="plan")
    def _plan_worker(self, choice: RestoreChoice) -> None:
        from therabak.app.points import plan
        from therabak.errors import TherabakError

        try:
            result = plan(self.app.ctx, choice, self.rules)
        except (TherabakError, OSError) as e:
            message = str(e)
            hint = salvage_advice(getattr(e, "remedy", None), getattr(e, "hint", None))
            if hint:
                message += " " + hint
            self.app.call_from_thread(self._plan_failed, message)
            return
        self.app.call_from_thread(self._plan_ready, result)

    def _plan_failed(self, message: str) -> None:
        self.busy = False
        self._msg("#what-msg", message, "bold red")

    def _plan_ready(self, plan) -> None:
        self.busy = False
        self.plan = plan
        self._msg("#what-msg", "")
        self.query_one("#plan", Static).update(plan_text(plan, self.app.ctx, self.rules))
        self._go("confirm")
        self.query_one("#restore-now").focus()

    # ---- step 3: confirm and go ------------------------------------------------------------

    def action_restore(self) -> None:
        from therabak.app.points import restore_request

        if self.step != "confirm" or self.plan is None or self.choice is None or self.started:
            return
        ctx = self.app.ctx
        choice = self.choice
        # the job keeps the current data under the name the plan showed
        choice.keep_old_name = self.plan.keep_old_at.name if self.plan.keep_old_at else None
        self.started = True
        try:
            job = ctx.runner.start_request(
                restore_request(ctx, choice, self.rules),
                password=choice.password,
                recovery_code=choice.recovery_code,
                title=_("Restore {name}").format(name=point_title(choice.point)),
                target=str(choice.target or ctx.paths.data_dir),
                env=ctx.job_env,
            )
        except OSError as e:
            self.started = False
            self.query_one("#plan", Static).update(
                Text(_("The job could not be started: {error}").format(error=e), "bold red")
            )
            return
        self.password = self.recovery_code = self.choice = None
        from therabak.app.screens.progress import ProgressScreen

        self.app.switch_screen(ProgressScreen(job))
