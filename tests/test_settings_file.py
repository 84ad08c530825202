"""The settings file read back: every section's values, and the first thing that is
wrong named with its section, key and line (``Settings._apply`` and its steps)."""

from __future__ import annotations

from pathlib import Path

import pytest

from therabak.errors import ConfigError, ExitCode
from therabak.settings import Settings

FULL = """\
[destinations]
remembered = ["/media/stick", "/media/other"]
searched = ["/srv/old"]

[ui]
language = "de"

[reminder]
days = 30

[auto]
interval_hours = 12
folder = "/srv/auto"
keep_daily = 3
keep_weekly = 2
keep_monthly = 1

[retry]
attempts = 9
initial_delay_s = 1
max_delay_s = 20.5
on_failure = "skip"

[s3]
endpoint = "https://s3.example.org"
region = "eu-central-1"
path_style = true

[remote]
tries = 4
initial_delay_s = 0.25
max_delay_s = 10
timeout_s = 60
"""


def load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "settings.toml"
    path.write_text(text, "utf-8")
    return Settings.load(path)


def test_every_section_is_read(tmp_path: Path) -> None:
    s = load(tmp_path, FULL)
    assert s.remembered_destinations == ["/media/stick", "/media/other"]
    assert s.searched_folders == ["/srv/old"]
    assert (s.language, s.reminder_days) == ("de", 30)
    a = s.auto
    assert (a.interval_hours, a.folder) == (12.0, "/srv/auto")
    assert (a.keep_daily, a.keep_weekly, a.keep_monthly) == (3, 2, 1)
    assert isinstance(a.interval_hours, float)  # a whole number where a number goes
    r = s.retry
    assert (r.attempts, r.initial_delay_s, r.max_delay_s, r.on_failure) == (9, 1.0, 20.5, "skip")
    assert (s.s3.endpoint, s.s3.region, s.s3.path_style) == (
        "https://s3.example.org",
        "eu-central-1",
        True,
    )
    m = s.remote
    assert (m.tries, m.initial_delay_s, m.max_delay_s, m.timeout_s) == (4, 0.25, 10.0, 60.0)


def test_an_empty_file_is_the_defaults(tmp_path: Path) -> None:
    s = load(tmp_path, "")
    d = Settings()
    assert (s.auto, s.retry, s.s3, s.remote) == (d.auto, d.retry, d.s3, d.remote)
    assert (s.language, s.reminder_days, s.remembered_destinations) == ("auto", 14, [])


@pytest.mark.parametrize(
    ("replace", "by", "message"),
    [
        ("[ui]", "[colour]\n[ui]", ": unknown section(s) colour"),
        ("[reminder]\ndays = 30", "", "line 1: [reminder] reminder must be a table"),
        ('remembered = ["/media/stick", "/media/other"]', "remembered = 1", "must be a list of"),
        ('searched = ["/srv/old"]', "searched = [1]", "line 3: [destinations] searched must be"),
        ('language = "de"', 'language = "fr"', 'language must be "auto", "de" or "en"'),
        ("days = 30", "days = 0", "line 9: [reminder] days has a value out of range"),
        ("days = 30", 'days = "30"', "line 9: [reminder] days must be a whole number"),
        ("keep_daily = 3", "keep_daily = true", "line 14: [auto] keep_daily must be a whole num"),
        ("interval_hours = 12", "interval_hours = 0", "line 12: [auto] interval_hours has a val"),
        ("attempts = 9", "attempts = 1.5", "line 19: [retry] attempts must be a whole number"),
        ('on_failure = "skip"', 'on_failure = "ask"', "[retry] on_failure has a value out of"),
        ("max_delay_s = 20.5", 'max_delay_s = "x"', "line 21: [retry] max_delay_s must be a num"),
        ('endpoint = "https://s3.', 'endpoint = "ftp://s3.', "endpoint must start with https://"),
        ("path_style = true", "path_style = 1", "line 27: [s3] path_style must be true or false"),
        ('region = "eu-central-1"', "region = 1", "line 26: [s3] region must be text in quotes"),
        ("timeout_s = 60", "timeout_s = 0", "line 33: [remote] timeout_s has a value out of"),
        ("tries = 4", "tries = 101", "line 30: [remote] tries has a value out of range"),
        # the same key in two tables: the line of the one that is wrong
        ("max_delay_s = 10", "max_delay_s = -1", "line 32: [remote] max_delay_s has a value"),
        ("initial_delay_s = 0.25", "initial_delay_s = -1", "line 31: [remote] initial_delay_s"),
    ],
)
def test_the_first_wrong_value_is_named_with_its_line(
    tmp_path: Path, replace: str, by: str, message: str
) -> None:
    assert replace in FULL
    text = FULL.replace(replace, by, 1)
    if "reminder must be a table" in message:
        text = "reminder = 3\n" + text  # a value where the section goes
    with pytest.raises(ConfigError) as err:
        load(tmp_path, text)
    assert message in str(err.value)
    assert str(err.value).startswith(f"Settings file {tmp_path / 'settings.toml'}")
    assert err.value.exit_code == ExitCode.ERROR


def test_sections_are_checked_in_the_files_order(tmp_path: Path) -> None:
    """Two wrong values: the one in the earlier section is named."""
    text = FULL.replace("days = 30", "days = 0").replace("tries = 4", "tries = 0")
    with pytest.raises(ConfigError, match=r"\[reminder\] days"):
        load(tmp_path, text)
