"""The manifest: what a folder backup or a before-restore folder holds, in one file.

``therabak-manifest.json`` in the folder's top (JSON Lines; jobs/FORMAT.md). A folder
backup's starts with one summary line (format, time, account key id, counts), so
listing restore points reads one line, followed by one line per file with its size,
modification time and the SHA-256 of the bytes as copied (and where it lies in the
copy when the destination could not hold its name). A before-restore folder's is the
summary line alone. Read back, every field is checked: a manifest is untrusted input.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from therabak.errors import DamagedArchiveError
from therabak.fsutil import write_private
from therabak.i18n import _
from therabak.storedpaths import path_from, path_member

MANIFEST_NAME = "therabak-manifest.json"
FOLDER_FORMAT = "therabak-folder-backup"
BEFORE_RESTORE_FORMAT = "therabak-before-restore"
MANIFEST_VERSION = 1
MAX_MANIFEST_LINE = 64 * 1024


@dataclass(slots=True)  # one per file of a folder backup: no dict each (~100 bytes)
class ManifestFile:
    path: str  # as in Data
    size: int
    mtime_ns: int
    sha256: str
    # where it lies in the copy, when the destination could not hold its name (namemap)
    stored: str = ""

    def __post_init__(self) -> None:
        if not self.stored:
            self.stored = self.path


@dataclass
class ManifestHeader:
    format: str
    kind: str  # folder | before-restore
    created: datetime | None
    account_key_id: str
    files: int
    bytes: int
    raw: dict = field(default_factory=dict, repr=False)


def read_manifest_header(folder: Path) -> ManifestHeader | None:
    """The first line of ``folder/therabak-manifest.json``; None when there is no manifest.

    Raises DamagedArchiveError when the manifest exists but is not ours or not readable.
    """
    path = Path(folder) / MANIFEST_NAME
    try:
        with open(path, "rb") as f:
            line = f.readline(MAX_MANIFEST_LINE)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise DamagedArchiveError(
            _("The manifest {path} cannot be read ({strerror}).").format(
                path=path, strerror=e.strerror
            )
        ) from None
    try:
        doc = json.loads(line)
        fmt = doc["format"]
        if fmt not in (FOLDER_FORMAT, BEFORE_RESTORE_FORMAT) or doc.get("version") != 1:
            raise ValueError
        created = datetime.fromisoformat(doc["created"]) if doc.get("created") else None
        key_id = str(doc.get("account_key_id", ""))
        return ManifestHeader(
            format=fmt,
            kind=str(doc.get("kind", "folder")),
            created=created,
            account_key_id=key_id,
            files=int(doc.get("files", 0)),
            bytes=int(doc.get("bytes", 0)),
            raw=doc,
        )
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError):
        raise DamagedArchiveError(
            _("The manifest {path} is damaged or not a therabak manifest.").format(path=path)
        ) from None


def iter_manifest_files(folder: Path) -> Iterator[ManifestFile]:
    """The file lines of a folder backup's manifest (untrusted: every field is checked)."""
    path = Path(folder) / MANIFEST_NAME
    with open(path, "rb") as f:
        f.readline(MAX_MANIFEST_LINE)
        for n, line in enumerate(f, start=2):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                p, s, m, h = path_from(d), d["s"], d["m"], d["h"]
                stored = path_from(d, "d") if ("d" in d or "db" in d) else p
                if not (
                    isinstance(p, str)
                    and isinstance(stored, str)
                    and isinstance(s, int)
                    and isinstance(m, int)
                    and isinstance(h, str)
                    and len(h) == 64
                    and s >= 0
                    and m >= 0
                ):
                    raise ValueError
                int(h, 16)
            except (ValueError, KeyError, TypeError, AttributeError, DamagedArchiveError):
                raise DamagedArchiveError(
                    _("The manifest {path} is damaged (line {n}).").format(path=path, n=n)
                ) from None
            yield ManifestFile(p, s, m, h, stored)


def _manifest_line(f: ManifestFile) -> str:
    line = {**path_member(f.path), "s": f.size, "m": f.mtime_ns, "h": f.sha256}
    if f.stored != f.path:
        line.update(path_member(f.stored, "d"))
    return json.dumps(line, ensure_ascii=False)


#: lines of a folder backup's manifest encoded at a time
_LINES_AT_ONCE = 1024


def folder_manifest(
    *, created: datetime, account_key_id: str, data_dir: Path, files: list[ManifestFile]
) -> bytearray:
    """A folder backup's manifest: the summary line, then one line per file. Its bytes
    grow batch by batch: no list of every line, nor the text whole beside its bytes
    (113,571 files: a list of lines, the joined text, the text with its last newline and
    its bytes were ~60 MB at the end of a folder backup, for a 16 MB manifest)."""
    header = {
        "format": FOLDER_FORMAT,
        "version": MANIFEST_VERSION,
        "kind": "folder",
        "created": created.isoformat(),
        "account_key_id": account_key_id,
        "data_dir": str(data_dir),
        "files": len(files),
        "bytes": sum(f.size for f in files),
    }
    out = bytearray((json.dumps(header, ensure_ascii=False) + "\n").encode("utf-8"))
    for i in range(0, len(files), _LINES_AT_ONCE):
        batch = map(_manifest_line, files[i : i + _LINES_AT_ONCE])
        out += ("\n".join(batch) + "\n").encode("utf-8")
    return out


# ---- a before-restore folder's ------------------------------------------------------------


def before_restore_manifest(
    *,
    account_key_id: str,
    replaced_by: str,
    files: int,
    size: int,
    data_dir: Path,
    when: datetime | None = None,
) -> dict:
    """The manifest of the folder that keeps the data a restore replaced."""
    return {
        "format": BEFORE_RESTORE_FORMAT,
        "version": 1,
        "kind": "before-restore",
        "created": (when or datetime.now().astimezone()).isoformat(timespec="seconds"),
        "account_key_id": account_key_id,
        "replaced_by": replaced_by,
        "data_dir": str(data_dir),
        "files": files,
        "bytes": size,
    }


def write_before_restore_manifest(folder: Path, manifest: dict) -> None:
    """Write *manifest* into the kept folder (once; a failure leaves it without: the
    folder is still found by its name)."""
    path = folder / MANIFEST_NAME
    if path.exists():
        return
    with contextlib.suppress(OSError):
        write_private(path, (json.dumps(manifest, ensure_ascii=False) + "\n").encode("utf-8"))
