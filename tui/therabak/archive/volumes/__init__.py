"""Split sets: one archive stored as volumes below a file-size limit (FORMAT.md section 8).

The writer and the reader see one byte stream; here it is spread over files:

* ``<name>.therabak`` holds the archive's first bytes as they are (a single-file archive
  is a set of one volume, byte for byte what it always was);
* ``<name>.therabak.002``, ``.003``, ... each begin with an 80-byte volume header (the
  archive id names the set; the volume's number, the number of volumes, and which bytes
  of the archive it holds; a SHA-256 of the header) followed by those bytes.

:class:`VolumeSink` writes a set (as ``.partial`` files, renamed by :meth:`publish`, the
first volume last). It starts a new volume when the current one reaches the volume size,
or when the file system refuses to make it larger (``EFBIG``: a FAT32 drive nobody told
us about). :func:`open_source` reads a set from the path of any of its volumes; a
missing, foreign, swapped or cut-off volume is named in the error, or, for salvage,
becomes a hole in the stream (:class:`VolumeSource`) that reads raise
:class:`VolumeMissing` for and that scans skip.

The package, a module a responsibility: :mod:`.naming` (sizes, the volume header, the
names ``.002`` ...), :mod:`.sink` (writing), :mod:`.setcheck` (is the set whole?),
:mod:`.source` (reading it as one stream) and :mod:`.housekeeping` (listing and
deleting sets). Import from the package: its names are these modules' public ones.
"""

from __future__ import annotations

from therabak.archive.volumes.housekeeping import (
    SetInfo,
    delete_later_orphans,
    delete_set,
    describe_set,
    is_volume_file,
)
from therabak.archive.volumes.naming import (
    ARCHIVE_ID,
    MAX_VOLUMES,
    MIN_VOLUME_SIZE,
    VOLUME_HEADER_SIZE,
    VOLUME_MAGIC,
    VOLUME_MARGIN,
    VOLUME_VERSION,
    NotAVolume,
    VolumeHeader,
    first_volume,
    later_volume_name,
    later_volumes,
    set_size,
    volume_path,
    volume_size_for,
    volumes_needed,
)
from therabak.archive.volumes.setcheck import (
    Part,
    SetCheck,
    VolumeMissing,
    check_set,
    joined,
    read_later,
)
from therabak.archive.volumes.sink import (
    VolumeSink,
)
from therabak.archive.volumes.source import (
    VolumeSource,
    complete_alone,
    open_source,
)

__all__ = [
    "ARCHIVE_ID",
    "MAX_VOLUMES",
    "MIN_VOLUME_SIZE",
    "NotAVolume",
    "Part",
    "SetCheck",
    "SetInfo",
    "VOLUME_HEADER_SIZE",
    "VOLUME_MAGIC",
    "VOLUME_MARGIN",
    "VOLUME_VERSION",
    "VolumeHeader",
    "VolumeMissing",
    "VolumeSink",
    "VolumeSource",
    "check_set",
    "complete_alone",
    "delete_later_orphans",
    "delete_set",
    "describe_set",
    "first_volume",
    "is_volume_file",
    "joined",
    "later_volume_name",
    "later_volumes",
    "open_source",
    "read_later",
    "set_size",
    "volume_path",
    "volume_size_for",
    "volumes_needed",
]
