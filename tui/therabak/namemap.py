"""Where each file goes on a target that cannot hold every name as it is.

A restore (or a folder backup) writes a set of paths onto a target whose rules
(``fsrules``) may not hold some of the names. This module decides, once for the whole
set, the name each file and folder gets there:

* a name the target holds, and no other name of its folder takes first, stays as it is;
* otherwise it gets an **escaped name**: the characters the target cannot hold, and
  every ``%``, written as ``%`` and two upper-case hex digits per UTF-8 byte (a byte
  that is not UTF-8: that byte), e.g. ``Termin 14:00.txt`` -> ``Termin 14%3A00.txt``,
  ``CON`` -> ``%43ON``, ``Notiz.`` -> ``Notiz%2E``, the byte ``ff`` -> ``%FF``. Replacing
  every ``%XX`` by its byte gives the original name back, exactly;
* the second of two names the target treats as one (``Befund.txt`` and ``befund.txt`` on
  Windows and macOS; NFC and NFD spellings on macOS) is escaped further: every character
  but ``a-z``, ``0-9``, space, ``.``, ``_``, ``-`` (``%42efund.txt``), or, when that is
  still taken, every character. The name kept is the one with only those characters
  (else the first in byte order);
* a name still too long for the target (a name of 200 × ``ü`` is 400 bytes; Linux and
  macOS hold 255) is **shortened**: the start of the (escaped) name, ``%~``, the first
  8 hex digits of the SHA-256 of the original name's bytes, and the extension when it
  has one of at most 16 characters: ``üüüü…ü%~3fa94c1e.txt``. A shortened name cannot be
  turned back by itself: the restore lists it (summary, and ``therabak-renamed.json`` in
  the restored folder);
* a path still longer than the target allows (``max_path``) gets its longest names
  shortened the same way, folder by folder, until it fits.

What was renamed is reported per file (``renamed``), with the reasons.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import count

from therabak.errors import DataFolderError
from therabak.fsrules import CaseRule, FsKind, FsRules, NameProblem, name_bytes
from therabak.i18n import _

ESCAPE = "%"
SHORT_MARK = "%~"
#: The characters a name escaped for a second time (two names that are one) keeps.
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyz0123456789 ._-")
_HEX = re.compile(rb"%([0-9A-F]{2})")
_EXTENSION = re.compile(r"\.[^.%]{1,15}\Z")
#: The length (in the target's units) of a name shortened so that a path fits.
_SHORT_PATH_NAME = 40


def escape(name: str, positions: Iterable[int]) -> str:
    """*name* with the characters at *positions*, and every ``%``, as ``%XX``."""
    chosen = set(positions)
    out = []
    for i, c in enumerate(name):
        if i in chosen or c == ESCAPE:
            out.append("".join(f"%{b:02X}" for b in name_bytes(c)))
        else:
            out.append(c)
    return "".join(out)


def unescape(name: str) -> str:
    """The original of an escaped (not shortened) name: every ``%XX`` as its byte."""
    raw = _HEX.sub(lambda m: bytes([int(m.group(1), 16)]), name_bytes(name))
    return raw.decode("utf-8", "surrogateescape")


def shorten(name: str, original: str, rules: FsRules, limit: int, extra: str = "") -> str:
    """A name of at most *limit* (target units): the start of *name*, ``%~`` and a hash
    of *original*'s bytes (and *extra*), then *name*'s extension."""
    mark = SHORT_MARK + hashlib.sha256(name_bytes(original)).hexdigest()[:8] + extra
    m = _EXTENSION.search(name)
    ext = m.group(0) if m and rules.problem(m.group(0)[1:]) is None else ""
    head = name[: len(name) - len(ext)]
    room = limit - rules.length(mark + ext)
    head = head[: max(0, room)]
    while head and rules.length(head) > room:  # no character takes more than 4 units
        head = head[: len(head) - max(1, (rules.length(head) - room) // 4)]
    # never cut a %XX in two, nor end the start on a dot or space (Windows drops those)
    cut = head.rfind(ESCAPE, max(0, len(head) - 2))
    if cut >= 0:
        head = head[:cut]
    return head.rstrip(" .") + mark + ext


@dataclass(frozen=True)
class Renamed:
    """A file written under another name than its own."""

    path: str  # its path (relative, "/"-separated), as in the backup or the data
    target: str  # the path it was written to
    reasons: tuple[NameProblem, ...]  # why, for its own name and its folders' names

    def to_json(self) -> dict:
        return {
            "path": self.path,
            "restored_as": self.target,
            "reasons": [r.value for r in self.reasons],
        }


class PathTooLong(DataFolderError):
    """A path that no shortening makes fit the target."""


def reason_text(reason: NameProblem | str, system: str) -> str:
    """Why a name was changed, for people; *system* says whose rules (``FsRules.label``)."""
    texts = {
        NameProblem.CHARACTER: _("holds a character {system} does not allow"),
        NameProblem.RESERVED: _("is a device name on Windows"),
        NameProblem.TRAILING: _("ends with a dot or a space, which Windows drops"),
        NameProblem.NOT_TEXT: _("holds bytes that are not text (UTF-8), which {system} needs"),
        NameProblem.TOO_LONG: _("is longer than {system} allows for a name"),
        NameProblem.SAME_NAME: _("{system} takes it for another name in the same folder"),
        NameProblem.PATH_TOO_LONG: _("its path is longer than {system} allows"),
    }
    return texts[NameProblem(reason)].format(system=system)


class NamePlan:
    """The name every path of a set gets on one target (see the module's description).

    *root_length* is the length (target units) of the folder the paths go below, for
    the target's path limit. ``target(path)`` gives the path to write; ``renamed`` lists
    the files whose path changed.
    """

    def __init__(self, rules: FsRules, paths: Iterable[str], *, root_length: int = 0) -> None:
        self.rules = rules
        self.root_length = root_length
        paths = list(paths)
        self._top: set[str] = set()  # the target names of the top folder
        self._moved: dict[str, str] = {}  # path -> target, for the paths that change
        self.renamed: list[Renamed] = []
        if self._trivial(paths):
            self._top = {rules.key(p.partition("/")[0]) for p in paths}
            return
        # every folder (by its path) -> its members (names); "" is the top folder
        members: dict[str, set[str]] = {"": set()}
        for p in paths:
            parent, _sep, name = p.rpartition("/")
            if parent in members:
                members[parent].add(name)
                continue
            members[parent] = {name}
            while parent:
                grand, _sep, folder = parent.rpartition("/")
                known = grand in members
                members.setdefault(grand, set()).add(folder)
                if known:
                    break
                parent = grand
        # (folder, name) -> (new name, why), for the names that change
        self._new: dict[tuple[str, str], tuple[str, NameProblem]] = {}
        self._taken: dict[str, set[str]] = {}
        for folder, names in members.items():
            self._assign(folder, names)
        self._top = self._taken[""]
        self._dirs: dict[str, str] = {"": ""}
        if rules.max_path is not None:
            self._fit_paths(paths)
        if not self._new:  # every name stays: every path too
            return
        for p in paths:
            target = self._target_of(p)
            if target != p:
                self._moved[p] = target
                self.renamed.append(Renamed(p, target, self._reasons(p)))
        self.renamed.sort(key=lambda r: name_bytes(r.path))

    # ---- answers ---------------------------------------------------------------------------

    def target(self, path: str) -> str:
        return self._moved.get(path, path)

    def free_top_name(self, wanted: str) -> str:
        """*wanted* (``x.json``), or ``x-2.json``, ``x-3.json`` ...: the first that no path
        of the set takes in the top folder (for a file written beside them)."""
        stem, dot, ext = wanted.rpartition(".")
        candidate = wanted
        for n in count(2):
            if self.rules.key(candidate) not in self._top:
                return candidate
            candidate = f"{stem}-{n}{dot}{ext}"
        raise AssertionError("unreachable")

    # ---- planning --------------------------------------------------------------------------

    def _trivial(self, paths: list[str]) -> bool:
        """True when every name certainly stays: POSIX rules and no name long enough to
        exceed the target's limit (the common case, decided in one pass)."""
        r = self.rules
        if r.kind is not FsKind.POSIX or r.case is not CaseRule.SENSITIVE:
            return False
        if r.normalization_insensitive or r.text_only or r.max_path is not None:
            return False
        if len(r.illegal - {"/", "\x00"}) or r.reserved or r.no_trailing_dot_space:
            return False
        longest = r.max_name // 4  # no character takes more than 4 units
        return all(len(p) <= longest for p in paths)

    def _assign(self, folder: str, names: set[str]) -> None:
        rules = self.rules
        taken: set[str] = set()
        if not rules.odd_among(list(names), taken):  # every name stays (most folders)
            self._taken[folder] = taken
            return
        problems = {n: rules.problem(n) for n in names}
        order = sorted(names, key=lambda n: (problems[n] is not None, not _plain(n), name_bytes(n)))
        taken = set()
        pending: list[tuple[str, NameProblem]] = []
        for n in order:
            why = problems[n]
            if why is None:
                k = rules.key(n)
                if k not in taken:
                    taken.add(k)
                    continue
                why = NameProblem.SAME_NAME
            pending.append((n, why))
        for n, why in pending:
            for candidate in self._candidates(n):
                k = rules.key(candidate)
                if k not in taken:
                    taken.add(k)
                    self._new[(folder, n)] = (candidate, why)
                    break
        self._taken[folder] = taken

    def _candidates(self, name: str):
        """Escaped names for *name*, each escaping more; then shortened ones with a count."""
        rules = self.rules
        base = rules.to_escape(name)
        tried = set()
        levels = (base, base | {i for i, c in enumerate(name) if c not in _PLAIN})
        for positions in (*levels, range(len(name))):
            candidate = escape(name, positions)
            if rules.length(candidate) > rules.max_name:
                candidate = shorten(candidate, name, rules, rules.max_name)
            if candidate != name and candidate not in tried and rules.problem(candidate) is None:
                tried.add(candidate)
                yield candidate
        plain = escape(name, base)
        for n in count(2):
            yield shorten(plain, name, rules, rules.max_name, extra=f"-{n}")

    def _name(self, folder: str, name: str) -> str:
        new = self._new.get((folder, name))
        return name if new is None else new[0]

    def _dir_target(self, folder: str) -> str:
        got = self._dirs.get(folder)
        if got is None:
            parent, _sep, name = folder.rpartition("/")
            above = self._dir_target(parent)
            mine = self._name(parent, name)
            got = self._dirs[folder] = f"{above}/{mine}" if above else mine
        return got

    def _target_of(self, path: str) -> str:
        parent, _sep, name = path.rpartition("/")
        above = self._dir_target(parent)
        mine = self._name(parent, name)
        return f"{above}/{mine}" if above else mine

    def _reasons(self, path: str) -> tuple[NameProblem, ...]:
        out: list[NameProblem] = []
        parts = path.split("/")
        for i, name in enumerate(parts):
            new = self._new.get(("/".join(parts[:i]), name))
            if new is not None and new[1] not in out:
                out.append(new[1])
        return tuple(out)

    def _fit_paths(self, paths: list[str]) -> None:
        """Shorten the longest names of every path longer than the target allows."""
        rules = self.rules
        limit = rules.max_path
        assert limit is not None
        for p in paths:
            now = self._target_of(p) if self._new else p
            if self.root_length + 1 + 4 * len(now) <= limit:  # no character takes more than 4
                continue
            while self.root_length + 1 + rules.length(self._target_of(p)) > limit:
                parts = p.split("/")
                options = []
                for i, name in enumerate(parts):
                    folder = "/".join(parts[:i])
                    now = self._name(folder, name)
                    if SHORT_MARK not in now and rules.length(now) > _SHORT_PATH_NAME:
                        options.append((rules.length(now), folder, name, now))
                if not options:
                    raise PathTooLong(
                        _(
                            "{path} cannot be written here: its path is longer than {system} "
                            "allows, even with shortened names. Nothing was changed."
                        ).format(path=p[:200], system=rules.label)
                    )
                _length, folder, name, now = max(options)
                taken = self._taken[folder]
                taken.discard(rules.key(now))
                for n in count(1):
                    short = shorten(now, name, rules, _SHORT_PATH_NAME, f"-{n}" if n > 1 else "")
                    if rules.key(short) not in taken:
                        break
                taken.add(rules.key(short))
                why = self._new.get((folder, name), (now, NameProblem.PATH_TOO_LONG))[1]
                self._new[(folder, name)] = (short, why)
                self._dirs = {"": ""}  # folder targets may have changed


def _plain(name: str) -> bool:
    return all(c in _PLAIN for c in name)
