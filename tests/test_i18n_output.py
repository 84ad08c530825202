"""German and English output: formats, the language choice, the CLI, JSON that stays
English, and messages that travel from a job to the app."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from conftest import run_cli
from therabak import formatting, i18n
from therabak.errors import ConfigError
from therabak.events import Error, Event, Warning
from therabak.i18n import Message, _, detect_language, language_of_locale, ngettext
from therabak.settings import Settings

NOW = datetime(2026, 11, 27, 14, 5, tzinfo=timezone(timedelta(hours=1)))


@pytest.fixture
def de():
    i18n.set_language("de")
    yield
    i18n.set_language("en")


# ---- formats ------------------------------------------------------------------------------


def test_english_formats_are_as_before():
    assert formatting.size(123_456_789) == "123.5 MB"
    assert formatting.size(999) == "999 Bytes"
    assert formatting.size(1) == "1 Byte"
    assert formatting.size(1000) == "1.0 kB"
    assert formatting.count(1234567) == "1,234,567"
    assert formatting.files(1) == "1 file"
    assert formatting.files(2) == "2 files"
    assert formatting.ago(NOW - timedelta(days=3), NOW) == "3 days ago"
    assert formatting.ago(NOW - timedelta(days=1, hours=5), NOW) == "a day ago"
    assert formatting.ago(NOW - timedelta(minutes=90), NOW) == "2 hours ago"
    assert formatting.ago(NOW - timedelta(seconds=30), NOW) == "30 seconds ago"
    assert formatting.ago(NOW + timedelta(days=2), NOW) == "in 2 days"
    assert formatting.local_time(NOW) == NOW.astimezone().strftime("%Y-%m-%d %H:%M")
    assert formatting.rate(2_500_000) == "2.5 MB/s"
    assert formatting.seconds(0.5) == "0.5 s"


def test_german_formats(de):
    assert formatting.size(123_456_789) == "123,5 MB"
    assert formatting.size(1_900_000_000) == "1,9 GB"
    assert formatting.size(999) == "999 Bytes"
    assert formatting.count(1234567) == "1.234.567"
    assert formatting.files(1) == "1 Datei"
    assert formatting.files(2) == "2 Dateien"
    assert formatting.files(1234) == "1.234 Dateien"
    assert formatting.ago(NOW - timedelta(days=3), NOW) == "vor 3 Tagen"
    assert formatting.ago(NOW - timedelta(days=1), NOW) == "vor einem Tag"
    assert formatting.ago(NOW - timedelta(hours=5), NOW) == "vor 5 Stunden"
    assert formatting.ago(NOW - timedelta(minutes=1), NOW) == "vor einer Minute"
    assert formatting.ago(NOW + timedelta(days=2), NOW) == "in 2 Tagen"
    assert formatting.rate(2_500_000) == "2,5 MB/s"
    assert formatting.seconds(0.5) == "0,5 s"
    local = NOW.astimezone()
    assert formatting.local_time(NOW) == local.strftime("%d.%m.%Y %H:%M")
    assert formatting.local_time(datetime(2026, 11, 27, 14, 5).astimezone()) == "27.11.2026 14:05"


def test_an_overdue_backup_is_never_rounded_into_weeks_or_months(de):
    # 20 days must read as 20 days (the reminder is about two weeks)
    assert formatting.ago(NOW - timedelta(days=20), NOW) == "vor 20 Tagen"
    i18n.set_language("en")
    assert formatting.ago(NOW - timedelta(days=20), NOW) == "20 days ago"


def test_plural_forms(de):
    assert ngettext("{n} file", "{n} files", 1).format(n=1) == "1 Datei"
    assert ngettext("{n} file", "{n} files", 0).format(n=0) == "0 Dateien"
    assert ngettext("{n} warning:", "{n} warnings:", 3).format(n=3) == "3 Warnungen:"


# ---- the language of a run -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "lang"),
    [
        ("de_DE.UTF-8", "de"),
        ("de_AT", "de"),
        ("de", "de"),
        ("de-CH", "de"),
        ("German_Germany.1252", "de"),
        ("en_US.UTF-8", "en"),
        ("C", "en"),
        ("C.UTF-8", "en"),
        ("POSIX", "en"),
        ("fr_FR.UTF-8", "en"),  # no French catalog: English
        ("", None),
    ],
)
def test_language_of_a_locale_name(name, lang):
    assert language_of_locale(name) == lang


def test_the_first_locale_variable_that_is_set_decides():
    assert detect_language({"LANG": "de_DE.UTF-8"}) == "de"
    assert detect_language({"LC_ALL": "C", "LANG": "de_DE.UTF-8"}) == "en"
    assert detect_language({"LC_MESSAGES": "de_DE.UTF-8", "LANG": "en_US.UTF-8"}) == "de"
    assert detect_language({"LC_ALL": "de_AT.UTF-8", "LC_MESSAGES": "en_GB"}) == "de"
    assert detect_language({"LC_ALL": "", "LANG": "de_DE"}) == "de"  # empty: not set


def test_settings_language_is_validated_and_kept(isolated_env):
    path = isolated_env / "settings.toml"
    path.write_text('[ui]\nlanguage = "de"\n', "utf-8")
    settings = Settings.load(path)
    assert settings.language == "de"
    settings.save()
    assert Settings.load(path).language == "de"
    path.write_text('[ui]\nlanguage = "fr"\n', "utf-8")
    with pytest.raises(ConfigError, match=r'\[ui\] language must be "auto", "de" or "en"'):
        Settings.load(path)
    path.write_text("[ui]\nlanguage = 1\n", "utf-8")
    with pytest.raises(ConfigError, match="line 2"):
        Settings.load(path)
    assert Settings().language == "auto"


# ---- messages that remember their msgid --------------------------------------------------


def test_a_message_renders_in_any_language(de):
    msg = _("Backup not found: {path}").format(path="E:/x.therabak")
    assert msg == "Backup nicht gefunden: E:/x.therabak"
    assert msg.english() == "Backup not found: E:/x.therabak"
    nested = _("The backup is damaged: {error}. Nothing was changed.").format(
        error=_("The backup's index is damaged.")
    )
    assert nested.english() == (
        "The backup is damaged: The backup's index is damaged.. Nothing was changed."
    )
    assert nested.render("de").startswith("Das Backup ist beschädigt: Das Verzeichnis")
    again = Message.from_data(json.loads(json.dumps(nested.to_data())))
    assert again == nested


def test_events_write_english_json_and_carry_the_msgid(de):
    event = Error(exit_code=4, message=_("Wrong password for this backup."))
    data = json.loads(event.to_line())
    assert data["message"] == "Wrong password for this backup."
    assert data["i18n"]["message"] == {"id": "Wrong password for this backup."}
    # the app reads the job's English JSON and shows it in its own language
    shown = Event.from_json(data)
    assert shown.message == "Falsches Passwort für dieses Backup."
    i18n.set_language("en")
    assert Event.from_json(data).message == "Wrong password for this backup."
    # an event from an older job (no i18n) keeps its text
    old = Event.from_json({"event": "warning", "message": "something", "path": "", "code": ""})
    assert isinstance(old, Warning) and old.message == "something"


# ---- the CLI --------------------------------------------------------------------------------


def test_preview_in_german_by_lang_and_by_environment(demo_practice):
    for args, env in (
        (["--lang", "de", "preview"], {}),
        (["preview", "--lang=de"], {}),
        (["preview"], {"LANG": "de_DE.UTF-8"}),
        (["preview"], {"LC_ALL": "de_AT.UTF-8", "LANG": "en_US.UTF-8"}),
    ):
        r = run_cli(*args, "--data-dir", demo_practice.data_dir, env=env)
        assert r.returncode == 0, r.stderr
        assert "Datenordner:" in r.stdout and "(manuelles Backup)" in r.stdout
        assert "Autovervollständigungsdaten" in r.stdout
        assert "Ein manuelles Backup würde" in r.stdout
        assert re.search(r"\d+,\d MB", r.stdout), r.stdout
        assert "Dateien" in r.stdout


def test_lang_en_wins_over_a_german_environment(demo_practice):
    r = run_cli(
        "--lang", "en", "preview", "--data-dir", demo_practice.data_dir, env={"LANG": "de_DE.UTF-8"}
    )
    assert r.returncode == 0 and "A manual backup would contain" in r.stdout


def test_the_settings_file_chooses_the_language(demo_practice, isolated_env):
    (isolated_env / "settings.toml").write_text('[ui]\nlanguage = "de"\n', "utf-8")
    r = run_cli("preview", "--data-dir", demo_practice.data_dir)
    assert "Ein manuelles Backup würde" in r.stdout
    r = run_cli("--lang", "en", "preview", "--data-dir", demo_practice.data_dir)
    assert "A manual backup would contain" in r.stdout


def test_json_stays_english_in_german(demo_practice):
    english = run_cli("preview", "--data-dir", demo_practice.data_dir, "--json")
    german = run_cli(
        "--lang",
        "de",
        "preview",
        "--data-dir",
        demo_practice.data_dir,
        "--json",
        env={"LANG": "de_DE.UTF-8"},
    )
    assert german.returncode == english.returncode == 0
    assert json.loads(german.stdout) == json.loads(english.stdout)
    labels = {c["label"] for c in json.loads(german.stdout)["categories"]}
    assert "Autocomplete data" in labels


def test_a_refusal_in_german_keeps_its_exit_code(tmp_path):
    missing = tmp_path / "nothing.therabak"
    english = run_cli("verify", missing)
    german = run_cli("verify", missing, env={"LANG": "de_DE.UTF-8"})
    assert english.returncode == german.returncode == 5
    assert german.stderr.strip() == f"therabak: Backup nicht gefunden: {missing}"
    # the same refusal as JSON: English, with the msgid for a reader in another language
    as_json = run_cli("--lang", "de", "verify", missing, "--json")
    assert as_json.returncode == 5
    event = json.loads(as_json.stdout.splitlines()[-1])
    assert event["message"] == f"Backup not found: {missing}"
    assert event["i18n"]["message"]["id"] == "Backup not found: {path}"


def test_usage_errors_and_help_in_german(demo_practice):
    r = run_cli("--lang", "de", "preview", "--kind", "weekly")
    assert r.returncode == 2
    assert r.stderr.startswith("therabak: Aufruf falsch:") and "ungültige Wahl" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = run_cli("--lang", "de", "backup", "--help")
    assert r.returncode == 0
    assert "Ziel: ein Ordner" in r.stdout and "Optionen:" in r.stdout
    r = run_cli("--lang", "de", "restore", "x.therabak", "--data-dir", demo_practice.data_dir)
    assert r.returncode == 2 and "Bestätigen Sie mit --yes" in r.stderr


def test_status_reminder_in_german(demo_practice):
    r = run_cli("status", "--data-dir", demo_practice.data_dir, env={"LANG": "de_DE.UTF-8"})
    assert r.returncode == 3
    assert "ERINNERUNG: Es wurde noch kein manuelles Backup erstellt." in r.stdout
    assert "Manuelles Backup:" in r.stdout and "noch keines" in r.stdout


def test_therabak_tui_takes_lang_too():
    r = subprocess.run(
        [sys.executable, "-m", "therabak.app", "--lang", "de", "--help"],
        capture_output=True,
        text=True,
        encoding="utf-8",
    )
    assert r.returncode == 0
    assert "Sprache der App" in r.stdout and "Optionen:" in r.stdout
    r = subprocess.run(
        [sys.executable, "-m", "therabak.app", "--demo", "--data-dir", "x"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={**os.environ, "LANG": "de_DE.UTF-8"},
    )
    assert r.returncode == 2 and "--demo öffnet eine eigene Praxis" in r.stderr
