"""How strong a backup password is, in words, and the shortest one accepted without an
explicit override.

The minimum is 8 characters, as NIST SP 800-63B asks of passwords people choose
(section 5.1.1.2); like that guideline it counts length and asks for no mix of
character kinds. What makes a short password survivable at all is that every guess
costs an Argon2id derivation (64 MiB, 3 passes: RFC 9106's second recommendation),
not that it has a digit in it. The words below therefore go by length: a few words in
a row ("Korrekt Pferd Batterie") beat a short jumble, and are easier to keep.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from therabak.i18n import _

#: The shortest password the app accepts without asking a second time.
MIN_LENGTH = 8
#: From this length on the password is called good, then strong.
GOOD_LENGTH = 12
STRONG_LENGTH = 16


class Strength(StrEnum):
    TOO_SHORT = "too-short"
    WEAK = "weak"  # long enough, but one character repeated or a run like 12345678
    FAIR = "fair"
    GOOD = "good"
    STRONG = "strong"


@dataclass(frozen=True)
class Assessment:
    strength: Strength
    length: int

    @property
    def acceptable(self) -> bool:
        """Accepted without an explicit override."""
        return self.strength not in (Strength.TOO_SHORT, Strength.WEAK)

    def words(self) -> str:
        """One line for the user, in the current language."""
        if self.strength is Strength.TOO_SHORT:
            return _(
                "Too short: {n} characters, at least {min} are needed. A few words in a row "
                "are long and easy to keep."
            ).format(n=self.length, min=MIN_LENGTH)
        if self.strength is Strength.WEAK:
            return _(
                "Weak: it repeats one character or runs through a row of keys. Choose another."
            )
        if self.strength is Strength.FAIR:
            return _(
                "Acceptable ({n} characters); longer is safer, e.g. a few words in a row."
            ).format(n=self.length)
        if self.strength is Strength.GOOD:
            return _("Good ({n} characters).").format(n=self.length)
        return _("Strong ({n} characters).").format(n=self.length)


_ROWS = ("0123456789", "abcdefghijklmnopqrstuvwxyz", "qwertzuiopasdfghjklyxcvbnm", "qwertyuiop")


def assess(password: str) -> Assessment:
    """How strong *password* is (by its length; a single repeated character or a run
    of a keyboard or alphabet row counts as weak whatever its length)."""
    n = len(password)
    if n < MIN_LENGTH:
        return Assessment(Strength.TOO_SHORT, n)
    folded = password.casefold()
    if len(set(folded)) <= 2 or any(folded in row or folded in row[::-1] for row in _ROWS):
        return Assessment(Strength.WEAK, n)
    if n < GOOD_LENGTH:
        return Assessment(Strength.FAIR, n)
    if n < STRONG_LENGTH:
        return Assessment(Strength.GOOD, n)
    return Assessment(Strength.STRONG, n)
