"""The name rules of a file system: which names it can hold, which it treats as one.

A backup stores every name exactly as the source file system gave it (on POSIX, bytes
that are not UTF-8 included). Whether a name can be written back is a question about the
*target*: a Windows disk (or a FAT/exFAT stick anywhere) cannot hold ``Termin 14:00.txt``,
a Linux disk cannot hold a name of 200 × ``ü`` (400 bytes), a Mac treats ``Befund.txt``
and ``befund.txt`` as one name. This module answers those questions for a target folder;
``namemap`` decides what to do about the answers.

The rules come from, first one wins:

1. ``THERABAK_FS_RULES`` = ``windows`` | ``macos`` | ``posix`` (a test switch: restore onto
   this Linux disk as if it were a Windows one), taken as it is;
2. the platform (Windows, macOS, other: POSIX), and for a FAT or exFAT file system on any
   platform the Windows rules (``fsinfo``);
3. refined by :func:`probe` in an empty folder of our own on the target (the staging
   folder), which tries what the file system really does: one name in two cases, NFC and
   NFD, ``ß`` and ``ss``, and on POSIX a ``:`` and bytes that are not UTF-8.

Case-insensitive file systems never fold ``ß`` to ``ss`` by default (NTFS upper-cases
one UTF-16 unit at a time, HFS+ folds one character to one): ``str.casefold`` is used
only when a probe shows the target does that.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from operator import itemgetter
from pathlib import Path

ENV_VAR = "THERABAK_FS_RULES"


class FsKind(StrEnum):
    POSIX = "posix"  # Linux and other Unix file systems: any bytes but "/" and NUL
    WINDOWS = "windows"  # NTFS, FAT, exFAT, ReFS (and FAT/exFAT sticks on any system)
    MACOS = "macos"  # APFS, HFS+


class CaseRule(StrEnum):
    SENSITIVE = "sensitive"  # A and a are two names
    SIMPLE = "simple"  # one character to one character (NTFS, HFS+): ß stays ß
    FULL = "full"  # Unicode full case folding (str.casefold): ß and ss are one name


class Units(StrEnum):
    BYTES = "bytes"  # UTF-8 bytes (Linux, macOS)
    UTF16 = "utf16"  # UTF-16 code units (NTFS, FAT long names, exFAT)


class NameProblem(StrEnum):
    """Why a name is not written as it is."""

    CHARACTER = "character"  # holds a character the target does not allow
    RESERVED = "reserved"  # a Windows device name (CON, aux.txt, LPT1 ...)
    TRAILING = "trailing"  # ends with a dot or a space (Windows drops them)
    NOT_TEXT = "not-text"  # bytes that are not UTF-8 (Windows and macOS need text)
    TOO_LONG = "too-long"  # longer than one name may be on the target
    SAME_NAME = "same-name"  # the target treats it and another name as one
    PATH_TOO_LONG = "path-too-long"  # the whole path is longer than the target allows


#: Names Windows treats as devices, whatever the extension (CON.txt is CON) and with
#: spaces before it ("CON .txt"): COM0-9 and LPT0-9 including the superscript digits
#: Windows maps to 1-3, and the console's CONIN$ and CONOUT$.
WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul", "conin$", "conout$"}
    | {f"{dev}{d}" for dev in ("com", "lpt") for d in (*"0123456789", "\u00b9", "\u00b2", "\u00b3")}
)
WINDOWS_ILLEGAL = frozenset('<>:"/\\|?*') | frozenset(chr(i) for i in range(32))
POSIX_ILLEGAL = frozenset("/\x00")

# What may be a problem on Windows (the exact answer is worked out only then): one of
# these characters, a last dot or space, a name beginning like a device name.
_WINDOWS_CHARS = re.compile(r'[\x00-\x1f<>:"/\\|?*\ud800-\udfff]')
_DEVICE_STARTS = frozenset({"con", "prn", "aux", "nul", "com", "lpt"})
_DEVICE_AFTER_SLASH = re.compile(r"/(?:con|prn|aux|nul|com|lpt)")
_LAST = itemgetter(-1)
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def name_bytes(name: str) -> bytes:
    """The bytes of a name as POSIX holds it: UTF-8, and the bytes that are not UTF-8 as
    ``os.fsdecode`` carries them (surrogateescape). A lone surrogate of a Windows name
    (UTF-16 that is not valid Unicode) becomes its WTF-8 bytes."""
    try:
        return name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogatepass")


def is_text(name: str) -> bool:
    """Is *name* valid Unicode (no surrogate standing for a byte that is not UTF-8)?"""
    return _SURROGATE.search(name) is None


@dataclass(frozen=True)
class FsRules:
    """The name rules of one target. Build variants with :func:`dataclasses.replace`."""

    kind: FsKind
    illegal: frozenset[str]  # characters no name may hold
    reserved: frozenset[str]  # device names (lower case), with any extension
    no_trailing_dot_space: bool
    text_only: bool  # names must be valid Unicode (no bytes that are not UTF-8)
    max_name: int  # the longest name, in `units`
    units: Units
    max_path: int | None  # the longest path below the target's folder; None: no limit
    case: CaseRule
    normalization_insensitive: bool  # NFC and NFD spellings are one name
    decided_by: str = "platform"  # platform | THERABAK_FS_RULES | probe | file system

    @property
    def label(self) -> str:
        """The target as users call it: Windows, macOS, Linux."""
        return {FsKind.WINDOWS: "Windows", FsKind.MACOS: "macOS"}.get(self.kind, "Linux")

    def length(self, name: str) -> int:
        """The length of *name* as the target counts it (UTF-8 bytes or UTF-16 units)."""
        if self.units is Units.UTF16:
            if name.isascii():
                return len(name)
            return len(name.encode("utf-16-le", "surrogatepass")) // 2
        if name.isascii():
            return len(name)
        return len(name_bytes(name))

    def problem(self, name: str) -> NameProblem | None:
        """Why the target cannot hold the name *name* as it is (None: it can)."""
        # Windows: most names hold nothing it minds, and a quick look says so.
        if self.kind is not FsKind.WINDOWS or _windows_suspect(name):
            if any(c in self.illegal for c in name):
                return NameProblem.CHARACTER
            if self.text_only and not is_text(name):
                return NameProblem.NOT_TEXT
            if self.reserved and _device_stem(name) in self.reserved:
                return NameProblem.RESERVED
            if self.no_trailing_dot_space and name.endswith((" ", ".")):
                return NameProblem.TRAILING
        if len(name) * 4 > self.max_name and self.length(name) > self.max_name:
            return NameProblem.TOO_LONG
        return None

    def checker(self) -> Callable[[str], bool]:
        """A fast ``lambda name: problem(name) is not None``, for scanning many names."""
        problem = self.problem
        if self.kind is not FsKind.WINDOWS:
            return lambda name: problem(name) is not None
        short = self.max_name // 2  # a name of this many characters fits in any case

        search = _WINDOWS_CHARS.search

        def check(name: str) -> bool:  # _windows_suspect, inlined: called for every file
            if (
                search(name) is None
                and name[-1:] not in (" ", ".")
                and name[:3].lower() not in _DEVICE_STARTS
                and len(name) <= short
            ):
                return False
            return problem(name) is not None

        return check

    def odd_among(self, names: list[str], taken: set[str]) -> list[str]:
        """The names of one folder the target cannot hold as they are, or takes for a name
        before them or in *taken* (which gets their keys): for scanning many folders, so
        a folder of ordinary names costs a few calls, not a few per name."""
        if (
            self.kind is FsKind.WINDOWS
            and self.case is CaseRule.SIMPLE
            and _plain_for_windows(names, self.max_name // 2)
        ):
            keys = "/".join(names).upper().split("/")
            if len(set(keys)) == len(keys) and taken.isdisjoint(keys):
                taken.update(keys)
                return []
        check, key = self.checker(), self.key_function()
        out = []
        for name in names:
            k = key(name)
            if k in taken or check(name):
                out.append(name)
            taken.add(k)
        return out

    def key_function(self) -> Callable[[str], str]:
        """:meth:`key`, fast for names in ASCII."""
        key = self.key
        if self.case is CaseRule.SIMPLE:
            return lambda name: name.upper() if name.isascii() else key(name)
        return key

    def to_escape(self, name: str) -> set[int]:
        """The positions of the characters of *name* an escaped name writes as ``%XX``
        so that the target can hold it (``namemap``): characters it does not allow,
        bytes that are not text where text is needed, the first letter of a device name,
        the last dot or space of a name that ends with one."""
        out = {i for i, c in enumerate(name) if c in self.illegal}
        if self.text_only:
            out.update(m.start() for m in _SURROGATE.finditer(name))
        if name and self.reserved and _device_stem(name) in self.reserved:
            out.add(0)
        if name and self.no_trailing_dot_space and name.endswith((" ", ".")):
            out.add(len(name) - 1)
        return out

    def key(self, name: str) -> str:
        """Two names are one on this target when their keys are equal."""
        if self.normalization_insensitive and not name.isascii():
            name = unicodedata.normalize("NFD", name)
        if self.case is CaseRule.SIMPLE:
            return _simple_upper(name)
        if self.case is CaseRule.FULL:
            return name.casefold()
        return name


def _windows_suspect(name: str) -> bool:
    return (
        _WINDOWS_CHARS.search(name) is not None
        or name[-1:] in (" ", ".")
        or name[:3].lower() in _DEVICE_STARTS
    )


def _plain_for_windows(names: list[str], longest: int) -> bool:
    """True when every name is printable ASCII without a character Windows minds, ends
    neither in a dot nor a space, does not begin like a device name and has at most
    *longest* characters. (String methods on all names joined: measured 4x faster than
    a regular expression per name.)"""
    joined = "/".join(names)
    if not (joined.isascii() and joined.isprintable()) or any(c in joined for c in '<>:"\\|?*'):
        return False
    lasts = "".join(map(_LAST, names))
    if " " in lasts or "." in lasts:
        return False
    if _DEVICE_AFTER_SLASH.search("/" + joined.lower()) is not None:
        return False
    return max(map(len, names)) <= longest


def _device_stem(name: str) -> str:
    """ "CON .txt" -> "con": what Windows compares with its device names."""
    return name.split(".", 1)[0].rstrip(" ").lower()


def _simple_upper(name: str) -> str:
    """Upper case one character at a time, never one to several (ß stays ß, as NTFS's
    upcase table and HFS+'s folding do); only the Basic Multilingual Plane, as NTFS
    compares UTF-16 units."""
    if name.isascii():
        return name.upper()
    out = []
    for c in name:
        u = c.upper()
        out.append(u if len(u) == 1 and ord(c) < 0x10000 else c)
    return "".join(out)


WINDOWS = FsRules(
    kind=FsKind.WINDOWS,
    illegal=WINDOWS_ILLEGAL,
    reserved=WINDOWS_RESERVED,
    no_trailing_dot_space=True,
    text_only=True,
    max_name=255,
    units=Units.UTF16,
    # The Win32 limit for a path with the \\?\ prefix, which therabak uses for long ones.
    max_path=32767,
    case=CaseRule.SIMPLE,
    normalization_insensitive=False,
)
MACOS = FsRules(
    kind=FsKind.MACOS,
    illegal=POSIX_ILLEGAL,
    reserved=frozenset(),
    no_trailing_dot_space=False,
    text_only=True,  # APFS stores UTF-8 and refuses other bytes
    max_name=255,
    units=Units.BYTES,
    max_path=None,  # folders are created and opened one at a time: no limit applies
    case=CaseRule.SIMPLE,  # the default (case-insensitive) APFS and HFS+ volumes
    normalization_insensitive=True,
)
POSIX = FsRules(
    kind=FsKind.POSIX,
    illegal=POSIX_ILLEGAL,
    reserved=frozenset(),
    no_trailing_dot_space=False,
    text_only=False,
    max_name=255,
    units=Units.BYTES,
    max_path=None,
    case=CaseRule.SENSITIVE,
    normalization_insensitive=False,
)
BY_NAME = {"windows": WINDOWS, "macos": MACOS, "posix": POSIX, "linux": POSIX}
#: File systems that follow the Windows name rules on every platform.
WINDOWS_FILE_SYSTEMS = frozenset(
    {"vfat", "msdos", "fat", "fat12", "fat16", "fat32", "fusefat", "fuse.fusefat", "exfat"}
    | {"fuse.exfat", "fuseblk.exfat"}
)


def forced() -> FsRules | None:
    """The rules THERABAK_FS_RULES asks for (None when it is not set)."""
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if not value:
        return None
    rules = BY_NAME.get(value)
    if rules is None:
        from therabak.errors import UsageError
        from therabak.i18n import _

        raise UsageError(
            _("{var} must be windows, macos or posix, not {value!r}.").format(
                var=ENV_VAR, value=value
            )
        )
    return replace(rules, decided_by=ENV_VAR)


def platform_rules(platform: str | None = None) -> FsRules:
    platform = platform or sys.platform
    if platform == "win32":
        return WINDOWS
    if platform == "darwin":
        return MACOS
    return POSIX


def rules_for(folder: Path | None = None) -> FsRules:
    """The rules of the file system holding *folder* (without probing)."""
    rules = forced()
    if rules is not None:
        return rules
    rules = platform_rules()
    if folder is not None and rules.kind is not FsKind.WINDOWS:
        from therabak import fsinfo

        with contextlib.suppress(OSError, ValueError):
            fstype = fsinfo.probe(folder).fstype.lower()
            if fstype in WINDOWS_FILE_SYSTEMS:
                return replace(WINDOWS, decided_by="file system")
    return rules


_PROBE = ".therabak-probe-"


def probe(folder: Path, rules: FsRules) -> FsRules:
    """*rules*, corrected by what the file system holding *folder* really does.

    *folder* must be an empty folder this process created (the staging folder): files
    named ``.therabak-probe-…`` are created in it exclusively and removed again. Rules
    forced by THERABAK_FS_RULES are returned as they are; whatever a probe cannot find
    out keeps the platform's answer.
    """
    if rules.decided_by == ENV_VAR:
        return rules
    found: dict[str, object] = {}
    with contextlib.suppress(OSError):
        if _same(folder, "Ab", "aB"):
            found["case"] = CaseRule.FULL if _same(folder, "\u00df", "ss") else CaseRule.SIMPLE
        else:
            found["case"] = CaseRule.SENSITIVE
        found["normalization_insensitive"] = _same(folder, "\u00e9", "e\u0301")
    if os.name != "nt":  # on Windows a ":" would make an alternate data stream
        with contextlib.suppress(OSError):
            found["text_only"] = not _holds(folder, os.fsdecode(b"\xff\xfe"))
        with contextlib.suppress(OSError):
            if not _holds(folder, ":"):  # a FAT or exFAT file system (vfat refuses ":")
                found["kind"] = FsKind.WINDOWS
                found["illegal"] = WINDOWS_ILLEGAL
                found["reserved"] = WINDOWS_RESERVED
                found["no_trailing_dot_space"] = True
            elif _holds(folder, "x.") and _holds(folder, "CON"):
                if rules.kind is FsKind.WINDOWS:
                    found["kind"] = FsKind.POSIX
                found["illegal"] = POSIX_ILLEGAL
                found["reserved"] = frozenset()
                found["no_trailing_dot_space"] = False
    if not found:
        return rules
    return replace(rules, decided_by="probe", **found)


def _same(folder: Path, a: str, b: str) -> bool:
    """Is a file created as *a* found under the name *b*? Raises OSError when the probe
    cannot be made (nothing is then concluded)."""
    path = folder / f"{_PROBE}{a}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    try:
        try:
            os.lstat(folder / f"{_PROBE}{b}")
            return True
        except FileNotFoundError:
            return False
    finally:
        os.unlink(path)


def _holds(folder: Path, name: str) -> bool:
    """Can a file named ``.therabak-probe-<name>`` be created, and is it then listed under
    exactly that name (vfat drops a trailing dot)? False when the file system refuses or
    changes the name (EINVAL, EILSEQ ...); other errors are raised."""
    import errno

    path = folder / f"{_PROBE}{name}"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        if e.errno in (errno.EINVAL, errno.EILSEQ, getattr(errno, "ENOTSUP", -1)):
            return False
        raise
    os.close(fd)
    try:
        return path.name in os.listdir(folder)
    finally:
        for entry in os.listdir(folder):  # whatever name it got
            if entry.startswith(_PROBE):
                os.unlink(folder / entry)
