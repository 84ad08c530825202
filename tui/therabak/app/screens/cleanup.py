"""Old before-restore folders: every restore (and every undo) keeps the data it replaced
beside ``Data``, each as large as the data folder. This dialog lists them and removes
the ones the user ticks: the older ones are ticked at first, the newest never is (it is
the way back from the last restore), and removing it asks a second time."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Static

from therabak import formatting
from therabak.app.screens.dialogs import ConfirmDialog
from therabak.app.translated import Translated
from therabak.app.widgets.inputs import TickBox
from therabak.i18n import N_, _, ngettext
from therabak.jobs.removal import KeptFolder


def folder_label(folder: KeptFolder, ctx) -> str:
    created = folder.point.created
    when = (
        f"{formatting.local_time(created)} ({formatting.ago(created, ctx.now())})"
        if created
        else _("time unknown")
    )
    return f"{when}  {formatting.size(folder.size)}"


class KeptFoldersDialog(Translated, ModalScreen[bool]):
    """Dismisses with True when something was removed."""

    BINDINGS = [
        Binding("escape", "cancel", N_("Cancel")),
        Binding("ctrl+s", "remove", N_("Remove the ticked folders")),
    ]

    def __init__(self, folders: list[KeptFolder]) -> None:
        super().__init__()
        self.folders = folders  # newest first
        self.busy = False
        self.removed = 0

    def help_text(self) -> str:
        return _(
            "Each restore, and each undo, keeps the data it replaced beside the Data "
            "folder (as large as the data folder), so it can be undone. Tick the folders "
            "you no longer need (Space) and remove them with ctrl+s. The newest one is "
            "the way back from the last restore: removing it asks a second time."
        )

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="kept-dialog"):
            yield Static(_("Folders kept from before restores"), classes="dialog-title")
            yield Static(
                _(
                    "Each holds the data as it was before a restore, beside the Data "
                    "folder (named after the time of the restore). Tick what you no "
                    "longer need; the newest is the way back from the last restore."
                ),
                classes="dialog-body",
            )
            with VerticalScroll(id="kept-list"):
                for i, folder in enumerate(self.folders):
                    label = folder_label(folder, self.app.ctx)
                    if i == 0:
                        label += "  " + _("(newest)")
                    yield TickBox(label, value=i > 0, id=f"kept-{i}", compact=True)
            yield Static("", id="kept-msg")
            with Horizontal(classes="dialog-buttons"):
                yield Button(_("Cancel"), id="no", compact=True)
                yield Button(
                    _("Remove the ticked folders"), id="yes", variant="error", compact=True
                )
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._update_total()
        self.query_one(TickBox).focus()

    def _ticked(self) -> list[int]:
        return [i for i in range(len(self.folders)) if self.query_one(f"#kept-{i}", TickBox).value]

    def _update_total(self) -> None:
        chosen = self._ticked()
        size = sum(self.folders[i].size for i in chosen)
        self.query_one("#kept-msg", Static).update(
            Text(
                ngettext(
                    "{n} folder ticked: {size} would be freed.",
                    "{n} folders ticked: {size} would be freed.",
                    len(chosen),
                ).format(n=len(chosen), size=formatting.size(size)),
                style="bold" if chosen else "dim",
            )
        )

    def on_checkbox_changed(self, event) -> None:
        self._update_total()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "yes":
            self.action_remove()
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        if not self.busy:
            self.dismiss(self.removed > 0)

    def action_remove(self) -> None:
        if self.busy:
            return
        chosen = self._ticked()
        if not chosen:
            self.query_one("#kept-msg", Static).update(
                Text(_("Nothing is ticked."), style="bold red")
            )
            return
        if 0 in chosen:  # the newest: the way back from the last restore

            def answer(sure: bool | None) -> None:
                if sure:
                    self._start(chosen)

            self.app.push_screen(
                ConfirmDialog(
                    _("Also remove the newest one?"),
                    _(
                        "It holds the data as it was before the last restore: without it, "
                        "that restore can no longer be undone."
                    ),
                    yes=_("Remove it too"),
                    no=_("Keep it"),
                    danger=True,
                ),
                answer,
            )
            return
        self._start(chosen)

    def _start(self, chosen: list[int]) -> None:
        self.busy = True
        self.query_one("#kept-msg", Static).update(Text(_("Removing…"), style="italic"))
        self._remove_worker([self.folders[i] for i in chosen])

    @work(thread=True, exclusive=True, exit_on_error=False, group="remove")
    def _remove_worker(self, folders: list[KeptFolder]) -> None:
        from therabak.errors import TherabakError
        from therabak.jobs.removal import remove_before_restore

        data_dir = self.app.ctx.paths.data_dir
        problems = []
        removed = 0
        for folder in folders:
            try:
                remove_before_restore(folder.path, data_dir)
                removed += 1
            except (TherabakError, OSError) as e:
                problems.append(f"{folder.path.name}: {getattr(e, 'strerror', None) or e}")
        self.app.call_from_thread(self._done, removed, problems)

    def _done(self, removed: int, problems: list[str]) -> None:
        self.busy = False
        self.removed += removed
        if not problems:
            self.dismiss(True)
            return
        self.query_one("#kept-msg", Static).update(
            Text(
                _("Not removed: {problems}").format(problems="; ".join(problems)),
                style="bold red",
            )
        )
