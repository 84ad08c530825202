"""Translations of user-facing text: gettext catalogs, the current language, and messages
that remember how they were made.

Every string a user reads goes through :func:`_` (counted phrases through
:func:`ngettext`; constants are marked with :func:`N_` and translated where shown).
English is the source language: a msgid *is* the English text, so English needs no
catalog. Other languages have a gettext catalog, ``locale/<lang>/LC_MESSAGES/therabak.po``,
which is read (with Babel's ``read_po``) the first time a text of that language is
needed: nothing is compiled at build time, and an English run never imports Babel.

:func:`_` and :func:`ngettext` return a :class:`Message`: a ``str`` in the current
language that also remembers its msgid and arguments. That lets the JSON boundary write
English (``Message.english()``) whatever the language, and lets the app show the events
of a job (which always speaks English JSON) in the user's language again
(``Message.from_data``), even after the language was switched.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: Languages with a complete catalog; the first is the source language.
LANGUAGES = ("en", "de")
SOURCE_LANGUAGE = "en"
#: What the settings file and ``--lang`` accept.
LANGUAGE_CHOICES = ("auto", *LANGUAGES)
DOMAIN = "therabak"
LOCALE_DIR = Path(__file__).parent / "locale"

_language = SOURCE_LANGUAGE
_catalogs: dict[str, _Catalog] = {}
_lock = threading.Lock()


# ---- the current language ---------------------------------------------------------------


def get_language() -> str:
    return _language


def set_language(lang: str) -> str:
    """Make *lang* ("en", "de"; "auto" or None: from the environment) the language of
    everything shown from now on; returns the language in force."""
    global _language
    if not lang or lang == "auto":
        lang = detect_language()
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}")
    _language = lang
    return lang


@contextlib.contextmanager
def speaking(lang: str) -> Iterator[str]:
    """Everything inside speaks *lang* (e.g. a document made in another language than
    the output around it); the language before is restored after. Not for threads."""
    global _language
    before = _language
    try:
        yield set_language(lang)
    finally:
        _language = before


def language_of_locale(name: str | None) -> str | None:
    """ "de" for ``de_DE.UTF-8``, ``de-AT``, ``German_Germany.1252`` ...; "en" for ``C``,
    ``POSIX`` and languages without a catalog; None for an empty value."""
    if not name:
        return None
    code = name.split(".")[0].split("@")[0].replace("-", "_").split("_")[0].lower()
    if code in ("german", "deutsch"):
        code = "de"
    return code if code in LANGUAGES else SOURCE_LANGUAGE


def detect_language(environ: dict[str, str] | None = None) -> str:
    """The user's language: LC_ALL, LC_MESSAGES, LANG (the first one set decides, as in
    POSIX); on Windows, where those are rarely set, the user's UI language."""
    env = os.environ if environ is None else environ
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        lang = language_of_locale(env.get(var))
        if lang is not None:
            return lang
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        lang = language_of_locale(_windows_ui_locale())
        if lang is not None:
            return lang
    return SOURCE_LANGUAGE


def _windows_ui_locale() -> str | None:  # pragma: no cover - Windows only
    """E.g. "de_DE" for the user's Windows display language (GetUserDefaultUILanguage)."""
    try:
        import ctypes
        import locale

        langid = ctypes.windll.kernel32.GetUserDefaultUILanguage()  # type: ignore[attr-defined]
        return locale.windows_locale.get(langid)
    except (AttributeError, OSError, ValueError):
        try:
            import locale

            return locale.getlocale()[0]
        except (ValueError, TypeError):
            return None


def option_value(argv: list[str], option: str) -> str | None:
    """The value of *option* in *argv* (``--lang de`` or ``--lang=de``; the last one
    wins), read before argparse runs so that its own messages are in that language."""
    value = None
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == option and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(option + "="):
            value = arg.split("=", 1)[1]
    return value


# ---- catalogs --------------------------------------------------------------------------


class _Catalog:
    """The translations of one language: msgid -> text, or -> plural forms."""

    def __init__(self, lang: str) -> None:
        from babel.messages.pofile import read_po  # only for a language other than English

        path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
        self.singular: dict[str, str] = {}
        self.plural: dict[str, tuple[str, ...]] = {}
        self.context: dict[tuple[str, str], str] = {}
        self.plural_index = _english_plural
        try:
            with open(path, "rb") as f:
                catalog = read_po(f, locale=lang)
        except OSError:
            return  # no catalog: English
        import gettext

        self.plural_index = gettext.c2py(catalog.plural_expr)
        for message in catalog:
            if not message.id or message.fuzzy:
                continue
            if isinstance(message.id, tuple):
                forms = tuple(message.string or ())
                if forms and all(forms):
                    self.plural[message.id[0]] = forms
            elif message.string and message.context:
                self.context[(message.context, message.id)] = message.string
            elif message.string:
                self.singular[message.id] = message.string


def _english_plural(n: int) -> int:
    return 0 if n == 1 else 1


def _catalog(lang: str) -> _Catalog | None:
    if lang == SOURCE_LANGUAGE:
        return None
    catalog = _catalogs.get(lang)
    if catalog is None:
        with _lock:
            catalog = _catalogs.get(lang)
            if catalog is None:
                catalog = _catalogs[lang] = _Catalog(lang)
    return catalog


def translate(msgid: str, lang: str | None = None) -> str:
    """*msgid* in *lang* (default: the current language), as a plain ``str``."""
    catalog = _catalog(lang or _language)
    if catalog is None:
        return msgid
    return catalog.singular.get(msgid, msgid)


def translate_plural(singular: str, plural: str, n: int, lang: str | None = None) -> str:
    catalog = _catalog(lang or _language)
    if catalog is not None:
        forms = catalog.plural.get(singular)
        if forms:
            index = catalog.plural_index(n)
            return forms[index] if index < len(forms) else forms[-1]
    return singular if n == 1 else plural


# ---- messages --------------------------------------------------------------------------


class Message(str):
    """Text in the current language that remembers its msgid and format arguments.

    Behaves as the ``str`` it shows; ``format()`` keeps the memory (keyword arguments
    only, so every msgid names its placeholders). Concatenating gives a plain ``str``.
    """

    msgid: str
    plural: str | None
    n: int | None
    args: dict[str, Any]

    def __new__(
        cls,
        text: str,
        msgid: str,
        plural: str | None = None,
        n: int | None = None,
        args: dict[str, Any] | None = None,
    ) -> Message:
        self = super().__new__(cls, text)
        self.msgid, self.plural, self.n, self.args = msgid, plural, n, dict(args or {})
        return self

    def format(self, *args: Any, **kwargs: Any) -> Message:  # type: ignore[override]
        if args:
            raise TypeError("Message.format takes keyword arguments only")
        merged = {**self.args, **kwargs}
        text = self.render_template(None).format(**_rendered(merged, None))
        return Message(text, self.msgid, self.plural, self.n, merged)

    def render_template(self, lang: str | None) -> str:
        if self.plural is not None and self.n is not None:
            return translate_plural(self.msgid, self.plural, self.n, lang)
        return translate(self.msgid, lang)

    def render(self, lang: str | None = None) -> str:
        """The text in *lang* (default: the current language), arguments included."""
        template = self.render_template(lang)
        if not self.args:
            return template
        try:
            return template.format(**_rendered(self.args, lang))
        except (KeyError, IndexError, ValueError):  # a broken translation: English
            return self.msgid.format(**_rendered(self.args, SOURCE_LANGUAGE))

    def english(self) -> str:
        return self.render(SOURCE_LANGUAGE)

    def to_data(self) -> dict[str, Any]:
        """A JSON form: ``{"id": msgid, "args": {...}}`` (+ ``plural``, ``n``)."""
        data: dict[str, Any] = {"id": self.msgid}
        if self.plural is not None:
            data["plural"], data["n"] = self.plural, self.n
        if self.args:
            data["args"] = {
                k: v.to_data() if isinstance(v, Message) else _plain(v)
                for k, v in self.args.items()
            }
        return data

    @classmethod
    def from_data(cls, data: Any, fallback: str = "") -> str:
        """The message of :meth:`to_data` in the current language (*fallback* when
        *data* is not such a form)."""
        try:
            msgid = data["id"]
            plural, n = data.get("plural"), data.get("n")
            args = {
                k: cls.from_data(v, str(v)) if isinstance(v, dict) else v
                for k, v in (data.get("args") or {}).items()
            }
            if not isinstance(msgid, str) or (plural is not None and not isinstance(n, int)):
                return fallback
            message = cls("", msgid, plural, n, args)
            return cls(message.render(), msgid, plural, n, args)
        except (TypeError, KeyError, AttributeError, ValueError):
            return fallback

    def __reduce__(self):
        return (Message, (str(self), self.msgid, self.plural, self.n, self.args))


def _plain(value: Any) -> Any:
    return value if isinstance(value, int | float | bool) or value is None else str(value)


def _rendered(args: dict[str, Any], lang: str | None) -> dict[str, Any]:
    return {k: v.render(lang) if isinstance(v, Message) else v for k, v in args.items()}


def _(message: str) -> Message:
    """*message* (a msgid: the English text) in the current language."""
    return Message(translate(message), message)


def N_(message: str) -> str:
    """Mark *message* for translation where it is defined; translate it with _() where shown."""
    return message


def NP_(context: str, message: str) -> str:
    """Mark *message* for translation in *context* (see :func:`pgettext`)."""
    return message


def pgettext(context: str, message: str) -> str:
    """*message* in the current language, where the same English word needs another
    translation in *context* (e.g. a narrow column header)."""
    return translate_in(context, message) or translate(message)


def translate_in(context: str, message: str) -> str | None:
    """The translation of *message* in *context*, None when the catalog has none."""
    catalog = _catalog(_language)
    if catalog is None:
        return None
    return catalog.context.get((context, message))


def ngettext(singular: str, plural: str, n: int) -> Message:
    """The singular or plural form for *n*, in the current language (format it with n=)."""
    return Message(translate_plural(singular, plural, n), singular, plural, n)


#: argparse's own texts (Python 3.11-3.13), translated through the same catalog.
ARGPARSE_TEXTS = (
    N_("usage: "),
    N_("positional arguments"),
    N_("options"),
    N_("show this help message and exit"),
    N_("show program's version number and exit"),
    N_("the following arguments are required: %s"),
    N_("unrecognized arguments: %s"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("expected one argument"),
    N_("argument %(argument_name)s: %(message)s"),
    N_("not allowed with argument %s"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("invalid %(type)s value: %(value)r"),
    N_("one of the arguments %s is required"),
    N_("ignored explicit argument %r"),
)


def translate_argparse() -> None:
    """Let argparse's own texts (headings, "the following arguments are required", ...)
    speak the current language: argparse looks up ``_`` and ``ngettext`` in its module."""
    import argparse

    argparse._ = translate  # type: ignore[attr-defined]
    argparse.ngettext = translate_plural  # type: ignore[attr-defined]


def english(text: Any) -> Any:
    """*text* in English when it is a :class:`Message` (for JSON); anything else as it is."""
    return text.english() if isinstance(text, Message) else text


def english_tree(value: Any) -> Any:
    """*value* (dicts, lists, tuples of values) with every Message in English."""
    if isinstance(value, Message):
        return value.english()
    if isinstance(value, dict):
        return {k: english_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [english_tree(v) for v in value]
    return value


def shown(text: Any) -> str:
    """*text* in the current language: a Message rendered again (the language may have
    changed since it was made), anything else as ``str``."""
    return text.render() if isinstance(text, Message) else str(text)


__all__ = [
    "LANGUAGES",
    "LANGUAGE_CHOICES",
    "Message",
    "NP_",
    "N_",
    "_",
    "detect_language",
    "english",
    "translate_argparse",
    "english_tree",
    "get_language",
    "language_of_locale",
    "ngettext",
    "pgettext",
    "set_language",
    "shown",
    "speaking",
    "translate",
]
