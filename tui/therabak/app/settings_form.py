"""The settings form's number fields (what each edits, its bounds and unit), the other
choices it offers, and how a typed value is read and checked: a decimal comma in German,
a problem said in one line. Without a screen: the settings screen lays them out."""

from __future__ import annotations

from dataclasses import dataclass

from textual.validation import Number

from therabak.i18n import N_, _


@dataclass(frozen=True)
class Field:
    id: str
    label: str
    section: str  # settings attribute holding it ("" for the top level)
    attr: str
    kind: type  # int | float
    low: float
    high: float
    unit: str = ""


FIELDS = [
    Field("reminder-days", N_("Remind after"), "", "reminder_days", int, 1, 365, N_("days")),
    Field(
        "auto-interval", N_("Every"), "auto", "interval_hours", float, 0.01, 24 * 90, N_("hours")
    ),
    Field("keep-daily", N_("Keep daily"), "auto", "keep_daily", int, 0, 1000),
    Field("keep-weekly", N_("Keep weekly"), "auto", "keep_weekly", int, 0, 1000),
    Field("keep-monthly", N_("Keep monthly"), "auto", "keep_monthly", int, 0, 1000),
    Field("retry-attempts", N_("Attempts"), "retry", "attempts", int, 1, 100, N_("per file")),
    Field(
        "retry-initial",
        N_("First wait"),
        "retry",
        "initial_delay_s",
        float,
        0,
        600,
        N_("seconds, doubling"),
    ),
    Field("retry-max", N_("Longest wait"), "retry", "max_delay_s", float, 0, 3600, N_("seconds")),
]
SECTIONS = {
    "": N_("Reminder"),
    "auto": N_("Automatic backups"),
    "retry": N_("When a file cannot be decrypted"),
}
ON_FAILURE = [
    ("raw", N_("store it raw (restorable on this account only)")),
    ("skip", N_("leave it out and report it")),
    ("abort", N_("stop the backup")),
]


def language_options() -> list[tuple[str, str]]:
    """The choices of the language field; each language in its own words."""
    from therabak.i18n import detect_language

    system = {"de": "Deutsch", "en": "English"}[detect_language()]
    return [
        (_("Automatic (system: {language})").format(language=system), "auto"),
        ("Deutsch", "de"),
        ("English", "en"),
    ]


def format_number(value: float | int) -> str:
    """A value as the form shows it: German with a decimal comma ("0,5")."""
    from therabak.i18n import get_language

    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text.replace(".", ",") if get_language() == "de" else text


class LocalNumber(Number):
    """A number with a decimal point or a decimal comma."""

    def validate(self, value: str):
        return super().validate(value.strip().replace(",", "."))


def field_value(f: Field, text: str) -> float | int:
    """The value typed into *f*'s field (a decimal comma is a decimal point); ValueError
    when it is not a number."""
    raw = text.strip().replace(",", ".")
    return f.kind(raw) if f.kind is float else int(raw)


def field_problem(f: Field, text: str) -> str | None:
    """What is wrong with *text* as *f*'s value, in one line; None when nothing is."""
    try:
        value = field_value(f, text)
    except ValueError:
        return _("{label}: enter a number.").format(label=_(f.label))
    if not f.low <= value <= f.high:
        return _("{label}: must be between {low} and {high}.").format(
            label=_(f.label), low=format_number(f.low), high=format_number(f.high)
        )
    return None
