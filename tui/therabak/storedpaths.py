"""How a path inside the data folder is stored and checked: the one name policy.

Shared by everything that stores the paths of Data's files and reads them back from
bytes someone else may have written: the archive's index (``archive/index.py``), the
folder-backup manifest (``datafolder/manifest.py``), the store's snapshots
(``store/snapshot.py``) and the copying of files below a folder
(``datafolder/filecopy.py``).

* :func:`check_relative_path` refuses only what is unsafe wherever it is written (a
  path that leaves its folder, a NUL, an absolute path, ...); a name some other system
  cannot hold is kept, and the target's rules decide what becomes of it (``fsrules``,
  ``namemap``);
* :func:`path_member` / :func:`path_from` write and read a path in JSON: as text
  (``"p"``), or, for a name that is not valid UTF-8 (POSIX names are bytes), as its
  bytes in base64 (``"pb"``).
"""

from __future__ import annotations

import base64
import binascii
import re
from json.encoder import encode_basestring as _json_str
from typing import Any

from therabak.errors import DamagedArchiveError
from therabak.fsrules import is_text, name_bytes
from therabak.i18n import _

#: The most any supported system holds (Windows, with the \\?\ prefix, in UTF-16 units;
#: Linux and macOS have no limit for paths opened one folder at a time).
MAX_PATH_LENGTH = 32767
#: No file system of Windows, macOS or Linux holds a longer name (255 bytes, or 255
#: UTF-16 units on NTFS: at most 255 characters either way).
MAX_COMPONENT_LENGTH = 255
# A surrogate that stands for no byte (surrogateescape gives U+DC80-U+DCFF only).
_NOT_A_BYTE = re.compile(r"[\ud800-\udc7f\udd00-\udfff]")
_DRIVE = re.compile(r"[A-Za-z]:")


def path_json(path: str, key: str = "p") -> str:
    """The path member of an entry's JSON: ``"p":"<text>"``, or for a path that is not
    valid UTF-8 (POSIX names are bytes) ``"pb":"<base64 of its bytes>"``."""
    if is_text(path):
        return f'"{key}":{_json_str(path)}'
    return f'"{key}b":"{base64.b64encode(name_bytes(path)).decode("ascii")}"'


def path_member(path: str, key: str = "p") -> dict[str, str]:
    """:func:`path_json` as a dict (for json.dumps)."""
    if is_text(path):
        return {key: path}
    return {key + "b": base64.b64encode(name_bytes(path)).decode("ascii")}


def path_from(doc: dict[str, Any], key: str = "p") -> Any:
    """The path an entry (index, entry metadata, folder manifest line) names, from ``p``
    (text) or ``pb`` (bytes, base64): as ``os.fsdecode`` would give it on POSIX. Not yet
    checked for safety (:func:`check_relative_path`); None when neither is there."""
    if key + "b" in doc:
        value = doc[key + "b"]
        if key in doc or not isinstance(value, str):
            raise DamagedArchiveError(_("The backup's index holds an empty or invalid path."))
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise DamagedArchiveError(
                _("The backup's index holds an empty or invalid path.")
            ) from None
        return raw.decode("utf-8", "surrogateescape")
    path = doc.get(key)
    if isinstance(path, str) and not is_text(path):  # text must be text: bytes go in "pb"
        raise DamagedArchiveError(_("The backup's index holds a path that is not text."))
    return path


def text_of(value: str) -> str:
    """*value* as valid text (a name's bytes that are not UTF-8 as \\xNN), for messages
    stored in the index."""
    if is_text(value):
        return value
    return name_bytes(value).decode("utf-8", "backslashreplace")


def check_relative_path(path: Any) -> str:
    """Return *path* if it is safe to write below a folder on every system, else raise
    DamagedArchiveError.

    Refused, because it is unsafe wherever it is written: not a string or empty; a NUL;
    an absolute path (a leading ``/``); a drive (``C:``) or UNC (``\\\\server``) prefix, or
    a first name that begins with a backslash; an empty, ``.`` or ``..`` name; a name with
    ``..`` between backslashes (a path that climbs out where ``\\`` separates); a
    surrogate that stands for no byte; more than MAX_PATH_LENGTH characters or a name of
    more than MAX_COMPONENT_LENGTH.

    Not refused: names that some other system cannot hold (``:``, ``CON``, a trailing dot,
    a newline, bytes that are not UTF-8 as ``os.fsdecode`` carries them ...). What becomes
    of them is decided by the rules of the target they are written to
    (``fsrules``, ``namemap``).
    """
    if not isinstance(path, str) or not path:
        raise DamagedArchiveError(_("The backup's index holds an empty or invalid path."))
    if _NOT_A_BYTE.search(path):  # a lone surrogate can never become a file name
        raise DamagedArchiveError(_("The backup's index holds a path that is not text."))

    def shown() -> str:  # only for a refusal: a reader checks thousands of good paths
        return text_of(path[:80]).encode("unicode_escape").decode("ascii")

    if len(path) > MAX_PATH_LENGTH:
        raise DamagedArchiveError(
            _("Refusing an overlong path in the backup: {shown}").format(shown=shown())
        )
    if "\x00" in path:
        raise DamagedArchiveError(
            _("Refusing a path with a NUL character in the backup: {shown}").format(shown=shown())
        )
    if path.startswith(("/", "\\")) or _DRIVE.match(path):
        raise DamagedArchiveError(
            _("Refusing an absolute path in the backup: {shown}").format(shown=shown())
        )
    for part in path.split("/"):
        if part in ("", ".", "..") or ("\\" in part and ".." in part.split("\\")):
            raise DamagedArchiveError(
                _("Refusing a path that leaves its folder: {shown}").format(shown=shown())
            )
        if len(part) > MAX_COMPONENT_LENGTH:
            raise DamagedArchiveError(
                _("Refusing an overlong name in the backup: {shown}").format(shown=shown())
            )
    return path


def unsafe_reason(path: str) -> str | None:
    """Why a backup must not store *path* (it would be refused when read), or None.
    Cheap for the paths a file system gives (the writer asks for every file)."""
    if len(path) <= 255 and path[1:2] != ":" and "\\" not in path and "\x00" not in path:
        return None  # nothing a reader refuses can be in it
    try:
        check_relative_path(path)
    except DamagedArchiveError as e:
        return e.message
    return None
