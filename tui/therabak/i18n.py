"""The translation hook for user-facing text.

Every string a user reads in the app goes through :func:`_` (counted phrases through
:func:`ngettext`; constants are marked with :func:`N_` and translated where shown), so a
gettext catalog can be plugged in here later without touching the screens. For now all
three are the identity: the interface is English.
"""

from __future__ import annotations


def _(message: str) -> str:
    """Translate *message* (identity until catalogs exist)."""
    return message


def N_(message: str) -> str:
    """Mark *message* for translation where it is defined; translate it with _() where shown."""
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    """Pick the singular or plural form for *n* (and translate it)."""
    return singular if n == 1 else plural


__all__ = ["N_", "_", "ngettext"]
