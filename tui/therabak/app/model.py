"""What the app shows, built from the engine (no textual here, so it is easy to test)."""

from __future__ import annotations

from dataclasses import dataclass, field

from therabak.errors import (
    AccountKeyError,
    ConfigError,
    DataFolderError,
    ExitCode,
    TherabakError,
)
from therabak.practice.account import AccountKey, key_file_warnings
from therabak.practice.categories import BackupKind, Rules
from therabak.practice.preview import Preview, build_preview
from therabak.practice.scan import require_data_dir
from therabak.settings import PracticePaths, user_rules_file


@dataclass(frozen=True)
class PracticeView:
    paths: PracticePaths
    key_id: str  # public id of the account key, never the key
    preview: Preview
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Problem:
    """A friendly explanation of why there is nothing to show."""

    title: str
    message: str
    hint: str = ""
    exit_code: int = int(ExitCode.ERROR)

    @classmethod
    def from_error(cls, error: TherabakError) -> Problem:
        if isinstance(error, DataFolderError):
            title = "The practice data folder cannot be used"
        elif isinstance(error, AccountKeyError):
            title = "The account key cannot be used"
        elif isinstance(error, ConfigError):
            title = "A settings or rules file cannot be used"
        else:
            title = "therabak cannot start"
        return cls(title, str(error), error.hint or "", int(error.exit_code))


def load_practice(paths: PracticePaths, kind: BackupKind = BackupKind.MANUAL) -> PracticeView:
    """Rules, data folder, account key and preview; raises TherabakError."""
    rules = Rules.load(user_rules_file())
    require_data_dir(paths.data_dir)
    key = AccountKey.load(paths.account_key)
    preview = build_preview(paths.data_dir, rules, kind)
    return PracticeView(paths, key.id_hex, preview, key_file_warnings(paths.account_key))
