"""The backup screen's questions to the destination: does it hold a backup store (one
password field for one, two for a new store), and how much would this backup write
("Writes 120 MB of 2.0 GB; the rest is already in the backup store").

A folder is asked at once (a file's presence); an off-site destination only in a thread
worker (the network never runs on the UI thread): the line under the destination says
"Asking the server…", then whether a store is there, or why the server cannot be
reached. The estimate always runs in a worker (it opens the store: Argon2id, and over
the network its index)."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.widgets import Checkbox, Static

from therabak import formatting
from therabak.app.widgets.category_tree import CategoryTree
from therabak.app.widgets.destination import DestinationPicker
from therabak.app.widgets.password_input import PasswordInput
from therabak.i18n import _


def error_words(e: BaseException) -> str:
    """One line for an engine or OS error (never a traceback)."""
    return str(getattr(e, "message", None) or getattr(e, "strerror", None) or e)


class StoreQuestions:
    """Mixin of the backup screen (a Textual screen with the step-2 form)."""

    store_exists: bool
    estimate: object
    estimate_for: tuple | None
    estimate_error: str
    #: the off-site destination asked about (its place) and the answer: None while asking
    remote_for: str = ""
    remote_store: bool | None = None
    remote_error: str = ""
    local_store: bool = False  # the folder holds a store (for both: the folder's)

    # ---- does the destination hold a store? ---------------------------------------------

    def _destination_changed(self) -> None:
        self._refresh_store_exists()
        self._schedule_estimate()

    def _refresh_store_exists(self) -> None:
        """Does the destination hold a store? One password field for one, two otherwise."""
        from therabak.store.place import store_exists

        picker = self.query_one(DestinationPicker)
        remote = picker.remote()
        both = picker.both() is not None
        local = False
        if remote is not None:
            if remote.where != self.remote_for:
                self.remote_for, self.remote_store, self.remote_error = remote.where, None, ""
                picker.show_remote(_("Asking the server…"))
                self._remote_worker(remote)
        else:
            self.remote_for = ""
        path = picker.path()
        if path is not None and path.is_absolute() and (remote is None or both):
            try:
                local = store_exists(path)
            except OSError:
                local = False
        self.local_store = local
        if both:  # one password field only when both hold a store (it opens both)
            self._set_store_exists(local and bool(self.remote_store))
        else:
            self._set_store_exists(bool(self.remote_store) if remote is not None else local)

    def _set_store_exists(self, exists: bool) -> None:
        if exists != self.store_exists:
            self.store_exists = exists
            self.query_one("#pw2-row").display = not exists
            self._password_problem(live=True)
        note = self.query_one("#store-note", Static)
        if exists:
            note.update(
                Text(
                    _(
                        "This destination holds a backup store: its password opens it, and "
                        "only what is new is written."
                    ),
                    style="dim",
                )
            )
        else:
            note.update("")

    @work(thread=True, exclusive=True, exit_on_error=False, group="remote")
    def _remote_worker(self, dest) -> None:
        from therabak.destinations import store_storage

        try:
            storage = store_storage(dest, self.app.load_settings()[0])
            try:
                exists = storage.size("config") is not None
            finally:
                storage.close()
        except Exception as e:  # noqa: BLE001 - any failure is said on the line, one line
            self.app.call_from_thread(self._remote_done, dest.where, None, error_words(e))
            return
        self.app.call_from_thread(self._remote_done, dest.where, exists, "")

    def _remote_done(self, where: str, exists: bool | None, error: str) -> None:
        picker = self.query_one(DestinationPicker)
        remote = picker.remote()
        if remote is None or remote.where != where:
            return  # another destination meanwhile
        self.remote_store, self.remote_error = exists, error
        if error:
            picker.show_remote(
                _("The server cannot be reached: {error}").format(error=error), error=True
            )
        elif exists:
            picker.show_remote(_("Off-site: {where}. It holds a backup store.").format(where=where))
        else:
            picker.show_remote(
                _(
                    "Off-site: {where}. No backup store there yet: the first backup makes one."
                ).format(where=where)
            )
        self._refresh_store_exists()
        self._schedule_estimate()
        self._remote_answered()

    def _remote_answered(self) -> None:
        """Called once the server answered (the screen may wait for it to start)."""

    def remote_pending(self) -> bool:
        """An off-site destination is chosen and the server has not answered yet."""
        picker = self.query_one(DestinationPicker)
        return picker.remote() is not None and self.remote_store is None and not self.remote_error

    # ---- how much is new ------------------------------------------------------------------

    def dest_argument(self) -> str:
        """The destination as ``therabak backup --dest`` takes it: a name the settings
        know, a URL, or the folder's full path."""
        picker = self.query_one(DestinationPicker)
        dest = picker.destination()
        if dest is not None:
            return dest.name or dest.where
        path = picker.path()
        return str(path) if path is not None else picker.value

    def _estimate_key(self) -> tuple:
        nopw = self.query_one("#nopw", Checkbox).value
        pw = "" if nopw else self.query_one("#pw", PasswordInput).value
        tree = self.query_one(CategoryTree)
        return (self.dest_argument(), nopw, hash(pw), tuple(sorted(tree.selection)))

    def _schedule_estimate(self) -> None:
        if self._estimate_timer is not None:
            self._estimate_timer.stop()
            self._estimate_timer = None
        self._show_estimate()
        both = self.query_one(DestinationPicker).both() is not None
        if self.store_exists and self._can_open() and not both:
            self._estimate_timer = self.set_timer(0.6, self._run_estimate)

    def _can_open(self) -> bool:
        return self.query_one("#nopw", Checkbox).value or bool(
            self.query_one("#pw", PasswordInput).value
        )

    def _run_estimate(self) -> None:
        self._estimate_timer = None
        if not self.store_exists or not self._can_open():
            return
        key = self._estimate_key()
        if self.estimate_for == key:
            self._estimated()
            return
        nopw = self.query_one("#nopw", Checkbox).value
        password = None if nopw else self.query_one("#pw", PasswordInput).value
        self.query_one("#estimate", Static).update(
            Text(_("Looking at what is new since the last backup…"), style="dim")
        )
        picker = self.query_one(DestinationPicker)
        dest = self.dest_argument() if picker.remote() is not None else picker.path()
        self._estimate_worker(
            key, dest, password, frozenset(self.query_one(CategoryTree).selection)
        )

    @work(thread=True, exclusive=True, exit_on_error=False, group="estimate")
    def _estimate_worker(self, key, dest, password, selection) -> None:
        from therabak.archive.writer import Protection
        from therabak.errors import TherabakError
        from therabak.jobs.store_estimate import estimate_backup
        from therabak.practice.account import AccountKey

        ctx = self.app.ctx
        protection = Protection(password=password) if password else Protection(unprotected=True)
        try:
            estimate = estimate_backup(
                dest,
                data_dir=ctx.paths.data_dir,
                account=AccountKey.load(ctx.paths.account_key),
                rules=self.rules,
                selection=selection,
                protection=protection,
            )
        except (TherabakError, OSError) as e:
            self.app.call_from_thread(self._estimate_done, key, None, error_words(e))
            return
        self.app.call_from_thread(self._estimate_done, key, estimate, "")

    def _estimate_done(self, key, estimate, error: str) -> None:
        self.estimate, self.estimate_for, self.estimate_error = estimate, key, error
        self._update_needed()
        self._show_estimate()
        self._estimated()

    def _estimated(self) -> None:
        if self._start_when_estimated:
            self._start_when_estimated = False
            if not self.estimate_error:
                self.action_start()
            else:  # the start was refused: said where the start button is
                self.query_one("#start-msg", Static).update(
                    Text(self.estimate_error, style="bold red")
                )
                self.query_one("#pw").focus()

    def _show_estimate(self) -> None:
        """The line before the start button: how much this backup writes."""
        try:
            box = self.query_one("#estimate", Static)
        except Exception:  # noqa: BLE001 - not composed yet
            return
        chosen = self.selected_totals()
        picker = self.query_one(DestinationPicker)
        pair = picker.both()
        if (picker.path() is None and picker.remote() is None) or self.remote_pending():
            box.update("")
        elif pair is not None:
            box.update(
                Text(
                    _(
                        "Two backups, one after the other: to {local}, then to {remote}; "
                        "each writes only what is new there."
                    ).format(local=pair[0].name, remote=pair[1].name),
                    style="dim",
                )
            )
        elif not self.store_exists:
            box.update(
                Text(
                    _(
                        "A new backup store: this first backup writes everything{size}; the "
                        "next ones only what is new."
                    ).format(size=f" ({formatting.size(chosen[1])})" if chosen is not None else ""),
                    style="dim",
                )
            )
        elif self.estimate_for != self._estimate_key() or not self._can_open():
            box.update(Text(_("Type the store's password to see how much is new."), style="dim"))
        elif self.estimate_error:
            box.update(Text(self.estimate_error, style="bold red"))
        else:
            e = self.estimate
            box.update(
                Text(
                    _("Writes {new} of {total}; the rest is already in the backup store.").format(
                        new=formatting.size(e.bytes_new), total=formatting.size(e.bytes_total)
                    ),
                    style="bold",
                )
            )

    def _update_needed(self) -> None:
        """The space the destination needs: what the estimate says is new, else (a new
        store, or before the estimate) everything ticked."""
        from therabak.jobs.store_plan import SPACE_MARGIN, SPACE_PER_FILE

        dest = self.query_one(DestinationPicker)
        chosen = self.selected_totals()
        if self.estimate is not None and self.estimate_for == self._estimate_key():
            e = self.estimate
            dest.needed = e.bytes_new + SPACE_MARGIN + SPACE_PER_FILE * e.files_total
        elif chosen is not None:
            dest.needed = chosen[1] + SPACE_MARGIN + SPACE_PER_FILE * chosen[0]
        else:
            dest.needed = None
