"""Human renderings of sizes, counts, rates, ages and times, in the current language
(shared by the CLI and the app).

English is formatted here directly (``123.5 MB``, ``1,234``, ``3 days ago``,
``2026-11-27 14:05``); other languages take their number symbols from Babel's CLDR data
(``123,5 MB``, ``1.234``) and their words from the catalog (``vor 3 Tagen``,
``27.11.2026 14:05``). Babel is imported only when a language other than English shows
a number, so the English paths stay as light as before.
"""

from __future__ import annotations

from datetime import datetime

from therabak.i18n import SOURCE_LANGUAGE, _, get_language, ngettext

_SIZE_UNITS = ("kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")


def _decimal(value: float, decimals: int) -> str:
    """*value* with *decimals* fraction digits and grouped thousands, in the language's
    symbols."""
    lang = get_language()
    if lang == SOURCE_LANGUAGE:
        return f"{value:,.{decimals}f}"
    from babel.numbers import format_decimal

    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return format_decimal(value, format=pattern, locale=lang, decimal_quantization=True)


def size(n: int | float) -> str:
    """Decimal units, as file managers show them: ``999 Bytes``, ``1.0 kB``, ``123.5 MB``."""
    n = float(n)
    if abs(n) < 1000:
        whole = int(n)
        return ngettext("{n} Byte", "{n} Bytes", whole).format(n=_decimal(whole, 0))
    value = n
    for unit in _SIZE_UNITS:
        value /= 1000
        if abs(round(value, 1)) < 1000 or unit == _SIZE_UNITS[-1]:
            return f"{_decimal(value, 1)} {unit}"
    raise AssertionError("unreachable")


def count(n: int) -> str:
    """``1,234`` (English), ``1.234`` (German)."""
    return _decimal(int(n), 0)


def files(n: int) -> str:
    return ngettext("{n} file", "{n} files", n).format(n=count(n))


def rate(bytes_per_s: float) -> str:
    return _("{size}/s").format(size=size(bytes_per_s))


def duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}:{m:02d}:{s:02d}"
    return f"{m}:{s:02d}"


def seconds(value: float) -> str:
    """A short wait: ``4 s``, ``1.0 s`` (German ``1,0 s``); tenths below 1.5 s."""
    return f"{_decimal(value, 0 if value >= 1.5 else 1)} s"


def _span(seconds: float) -> str:
    """A time span in one unit, as used after "ago" and "in" (German: dative)."""
    if seconds < 60:
        n = int(seconds)
        return ngettext("a second", "{n} seconds", n).format(n=n)
    if seconds < 3600 - 30:
        n = max(1, int(seconds / 60 + 0.5))
        return ngettext("a minute", "{n} minutes", n).format(n=n)
    if seconds < 86400 - 1800:
        n = max(1, int(seconds / 3600 + 0.5))
        return ngettext("an hour", "{n} hours", n).format(n=n)
    days = int(seconds // 86400)
    if days < 365:
        days = max(1, days)
        return ngettext("a day", "{n} days", days).format(n=days)
    years = days // 365
    return ngettext("a year", "{n} years", years).format(n=years)


def ago(when: datetime, now: datetime | None = None) -> str:
    """``3 days ago`` / ``vor 3 Tagen``. Days are never rounded up into weeks or months:
    a backup 20 days old must say 20 days, not "a month" or "3 weeks"."""
    now = now or datetime.now(when.tzinfo)
    seconds = (now - when).total_seconds()
    if abs(seconds) < 1:
        return _("now")
    if seconds < 0:
        return _("in {time}").format(time=_span(-seconds))
    return _("{time} ago").format(time=_span(seconds))


#: strftime patterns of a date with time, per language (English: ISO-like, unambiguous).
_DATETIME = {"en": "%Y-%m-%d %H:%M", "de": "%d.%m.%Y %H:%M"}


def local_time(when: datetime) -> str:
    """The local date and time: ``2026-11-27 14:05`` / ``27.11.2026 14:05``."""
    pattern = _DATETIME.get(get_language(), _DATETIME[SOURCE_LANGUAGE])
    return when.astimezone().strftime(pattern)


_PARSE_UNITS = {
    "": 1,
    "b": 1,
    **{p: 1024**i for i, p in enumerate("kmgt", start=1)},
    **{p + "ib": 1024**i for i, p in enumerate("kmgt", start=1)},
    **{p + "b": 1000**i for i, p in enumerate("kmgt", start=1)},
}


def parse_size(text: str) -> int:
    """Bytes in a size written by a person: ``4G``, ``700M``, ``5MB``, ``1.5GiB`` (or
    ``1,5GiB``), ``123``. K/M/G/T and KiB/MiB/... are powers of 1024, KB/MB/... powers of
    1000; B or nothing: bytes. Raises ValueError (a translated message) for anything else."""
    import re

    m = re.fullmatch(r"\s*([0-9]+(?:[.,][0-9]+)?)\s*([a-zA-Z]*)\s*", text)
    unit = m.group(2).lower() if m else ""
    if m is None or unit not in _PARSE_UNITS:
        raise ValueError(
            _("not a size: {text} (e.g. 4G, 700M, 5MB or a number of bytes)").format(
                text=repr(text)
            )
        )
    digits = m.group(1).replace(",", ".")
    number = float(digits) if "." in digits else int(digits)
    return int(number * _PARSE_UNITS[unit])


def name(path: str) -> str:
    """A file name or path as one printable line: bytes that are not UTF-8 as ``\\xff``,
    control characters (a newline in a name) as ``\\n``, ``\\x01``; everything else as it
    is (``Termin 14:00.txt``, ``Müller.pdf``)."""
    if path.isprintable() and path.isascii():
        return path
    out = []
    for c in path:
        if "\udc80" <= c <= "\udcff":  # a byte that is not UTF-8 (os.fsdecode)
            out.append(f"\\x{ord(c) - 0xDC00:02x}")
        elif c.isprintable() or c == " ":
            out.append(c)
        else:
            out.append(c.encode("unicode_escape").decode("ascii"))
    return "".join(out)
