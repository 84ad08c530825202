"""The automatic backups' entry in the system's scheduler, on the settings screen: the
"Scheduled" row says whether it is set up (asked in the background: schtasks, systemctl
take a moment), and its button sets it up or removes it."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.widgets import Button, Static

from therabak.app.schedule_text import installed_text
from therabak.i18n import _


class ScheduleSection:
    """What the settings screen does for the scheduler's entry (a mixin of
    :class:`~therabak.app.screens.settings.SettingsScreen`, which has the rows
    ``#schedule-state``, ``#schedule-toggle`` and ``#schedule-msg``, ``dirty`` and
    ``action_save``)."""

    @work(thread=True, exclusive=True, exit_on_error=False, group="schedule")
    def _schedule_worker(self, action: str = "", lines: list[Text] | None = None) -> None:
        """Set up (*action* "install") or remove ("remove") the entry, then ask the
        scheduler how things stand; in the background (schtasks, systemctl take a moment)."""
        from therabak.errors import TherabakError
        from therabak.schedule import manage
        from therabak.schedule.status import schedule_status

        ctx = self.app.ctx
        lines = list(lines or [])
        try:
            host = ctx.schedule_host()
            settings, _error = self.app.load_settings()
            if action == "install":
                result = manage.install(host, ctx.paths, settings)
                lines.append(Text(installed_text(result), "green"))
                lines += [Text(n) for n in result.change.notes]
                lines += [Text(w, "bold yellow") for w in result.warnings]
            elif action == "remove":
                removed = any(c.changed for c in manage.remove(host))
                done = (
                    _(
                        "Automatic backups are removed from the scheduler; the backups made "
                        "so far stay."
                    )
                    if removed
                    else _("Automatic backups were not set up; nothing to remove.")
                )
                lines.append(Text(done, "green"))
            status = schedule_status(host, ctx.paths, settings, now=ctx.now())
        except (TherabakError, OSError) as e:
            lines.append(Text(str(e), "bold red"))
            status = None
        self.app.call_from_thread(self._show_schedule, status, lines, bool(action))

    def _show_schedule(self, status, lines: list[Text], acted: bool) -> None:
        from therabak.app.schedule_text import advice, last_run_text
        from therabak.schedule.backend import BACKEND_NAMES
        from therabak.schedule.status import ScheduleState

        self.schedule_checked = True
        if status is not None or not acted:
            self.schedule_status = status
        status = self.schedule_status
        state = self.query_one("#schedule-state", Static)
        button = self.query_one("#schedule-toggle", Button)
        if status is None:
            state.update(Text(_("unknown"), "bold red"))
            button.disabled = True
        elif status.state is ScheduleState.SET_UP:
            assert status.backend is not None
            state.update(Text(_("yes: {backend}").format(backend=_(BACKEND_NAMES[status.backend]))))
            button.label = _("Remove")
            button.disabled = False
        elif status.state is ScheduleState.NOT_SET_UP:
            state.update(Text(_("no: nothing makes automatic backups"), "bold yellow"))
            button.label = _("Set up")
            button.disabled = False
        else:
            state.update(Text(_("not possible here"), "bold red"))
            button.label = _("Set up")
            button.disabled = True
        # Kept short (the home screen shows the next backup and the last run): why it
        # cannot be set up here, what a set-up entry needs, or what the button just did.
        if status is not None and not acted:
            if status.state is ScheduleState.UNAVAILABLE:
                lines.append(Text(status.unavailable))
            elif status.set_up:
                last = last_run_text(status, self.app.ctx.now())
                if last is not None and status.last_run_failed:
                    lines.append(Text(_("Last run: ")) + last)
                lines += [Text(w, "yellow") for w in advice(status)]
        note = self.query_one("#schedule-msg", Static)
        note.update(Text("\n").join(lines))
        note.display = bool(lines)

    async def toggle_schedule(self) -> None:
        """The button: set up when not set up (saving the form first), else remove."""
        status = self.schedule_status
        if status is None or not self.schedule_checked:
            return
        if not status.set_up and self.dirty:  # the entry follows the saved settings
            await self.action_save()
            if self.dirty:
                return  # not saved: the form says why
        self.schedule_checked = False
        self.query_one("#schedule-toggle", Button).disabled = True
        doing = _("Removing…") if status.set_up else _("Setting up…")
        self.query_one("#schedule-msg", Static).update(Text(doing, "italic"))
        self._schedule_worker("remove" if status.set_up else "install")
