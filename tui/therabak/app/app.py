"""TherabakApp: the screens, the shared scan of the data folder and the command palette."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.reactive import var
from textual.screen import Screen

from therabak.app.context import AppContext
from therabak.i18n import N_, _

if TYPE_CHECKING:
    from therabak.practice.categories import Rules
    from therabak.practice.scan import ScanResult
    from therabak.settings import Settings


class TherabakApp(App[None]):
    """Backup and restore for the TheraPsy data folder, driven by the keyboard."""

    CSS_PATH = "app.tcss"
    TITLE = "therabak"
    ENABLE_COMMAND_PALETTE = True

    BINDINGS = [
        Binding("question_mark", "help", N_("Help"), key_display="?"),
        Binding("f1", "help", N_("Help"), show=False, priority=True),
        Binding("ctrl+q", "quit", N_("Quit"), show=False, priority=True),
    ]

    scan: var[ScanResult | None] = var(None)
    """The latest scan of the data folder (None until the first one is done)."""
    scan_error: var[str] = var("")
    key_error: var[str] = var("")

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.rules: Rules | None = None
        self._scanning = False
        if ctx.demo:
            self.sub_title = "DEMO"

    # ---- screens ----------------------------------------------------------------------

    def get_default_screen(self) -> Screen:
        from therabak.app.screens.home import HomeScreen

        return HomeScreen()

    def on_mount(self) -> None:
        problems = self.ctx.problems()
        if problems:
            from therabak.app.screens.problem import ProblemScreen

            self.push_screen(ProblemScreen(problems))

    def _home_then(self, screen: Screen) -> None:
        from therabak.app.screens.home import HomeScreen

        while len(self.screen_stack) > 1 and not isinstance(self.screen, HomeScreen):
            self.pop_screen()
        self.push_screen(screen)

    def action_backup(self, destination: str = "") -> None:
        """The backup screen (*destination*: a name the settings know, picked already)."""
        from therabak.app.screens.backup import BackupScreen

        self._home_then(BackupScreen(destination))

    def action_restore(self) -> None:
        from therabak.app.screens.restore import RestoreScreen

        self._home_then(RestoreScreen())

    def action_folder_backup(self) -> None:
        from therabak.app.screens.folder import FolderBackupScreen

        self._home_then(FolderBackupScreen())

    def action_verify(self) -> None:
        from therabak.app.screens.verify import VerifyScreen

        self._home_then(VerifyScreen())

    def action_settings(self) -> None:
        from therabak.app.screens.settings import SettingsScreen

        self._home_then(SettingsScreen())

    def action_destinations(self) -> None:
        from therabak.app.screens.destinations import DestinationsScreen

        self._home_then(DestinationsScreen())

    def action_recovery_codes(self) -> None:
        from therabak.app.screens.recovery import RecoveryScreen

        self._home_then(RecoveryScreen())

    def action_emergency_sheet(self) -> None:
        from therabak.app.screens.sheet import EmergencySheetScreen

        self._home_then(EmergencySheetScreen())

    def action_help(self) -> None:
        from therabak.app.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):  # F1 again closes it
            self.screen.dismiss(None)
        else:
            self.push_screen(HelpScreen(self.screen))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield SystemCommand(_("Backup"), _("Make a manual backup"), self.action_backup)
        yield SystemCommand(_("Restore"), _("Restore a backup"), self.action_restore)
        yield SystemCommand(
            _("Folder backup"), _("Copy the Data folder as it is"), self.action_folder_backup
        )
        yield SystemCommand(_("Verify"), _("Check that a backup is intact"), self.action_verify)
        yield SystemCommand(
            _("Settings"), _("Destinations, automatic backups, retries"), self.action_settings
        )
        yield SystemCommand(
            _("Destinations"),
            _("Where backups go: add, test or remove a USB stick or an off-site storage"),
            self.action_destinations,
        )
        yield SystemCommand(
            _("Recovery codes"),
            _("Give a backup a recovery code for a forgotten password, or remove it"),
            self.action_recovery_codes,
        )
        yield SystemCommand(
            _("Emergency sheet"),
            _("A page to print: where the backups are, how to restore them"),
            self.action_emergency_sheet,
        )
        yield SystemCommand(_("Help"), _("Keys and what each screen does"), self.action_help)
        yield SystemCommand(_("Quit"), _("Leave therabak (running jobs go on)"), self.action_quit)

    def action_command_palette(self) -> None:
        """The command palette, with its prompt in the current language."""
        from textual.command import CommandPalette

        if self.use_command_palette and not CommandPalette.is_open(self):
            self.push_screen(
                CommandPalette(id="--command-palette", placeholder=_("Search for commands…"))
            )

    def action_help_quit(self) -> None:
        """ctrl+c does not quit (it copies); say what does."""
        self.notify(_("Press ctrl+q to quit therabak."), title=_("Do you want to quit?"))

    async def switch_language(self, setting: str) -> None:
        """Make *setting* ("auto", "de", "en") the language and show every screen in it."""
        from therabak.app.translated import Translated
        from therabak.i18n import set_language

        set_language(setting)
        for screen in list(self.screen_stack):
            if isinstance(screen, Translated):
                await screen.retranslate()
        self.refresh_bindings()

    # ---- shared data --------------------------------------------------------------------

    def load_settings(self) -> tuple[Settings, str]:
        """The settings and an error message ('' when they loaded)."""
        from therabak.errors import ConfigError
        from therabak.settings import Settings

        try:
            return Settings.load(), ""
        except ConfigError as e:
            return Settings(), str(e)

    def request_scan(self, *, again: bool = False) -> None:
        """Scan the data folder in the background (once, or *again* after a change)."""
        if self._scanning or (self.scan is not None and not again):
            return
        self._scanning = True
        self._scan_worker()

    @work(thread=True, exit_on_error=False, group="scan")
    def _scan_worker(self) -> None:
        from therabak.errors import TherabakError
        from therabak.fsrules import WINDOWS
        from therabak.practice.account import AccountKey
        from therabak.practice.categories import Rules
        from therabak.practice.scan import scan
        from therabak.settings import user_rules_file

        try:
            key_error = ""
            try:
                AccountKey.load(self.ctx.paths.account_key)
            except TherabakError as e:
                key_error = str(e)
            rules = Rules.load(user_rules_file())
            result = scan(self.ctx.paths.data_dir, rules, keep_files=False, names=WINDOWS)
        except (TherabakError, OSError) as e:
            self.call_from_thread(self._scan_failed, str(e))
            return
        self.call_from_thread(self._scan_done, rules, result, key_error)

    def _scan_done(self, rules: Rules, result: ScanResult, key_error: str) -> None:
        self._scanning = False
        self.rules = rules
        self.key_error = key_error
        self.scan_error = ""
        self.scan = result

    def _scan_failed(self, message: str) -> None:
        self._scanning = False
        self.scan_error = message
