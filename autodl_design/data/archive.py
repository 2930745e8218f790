"""Reading tar archives (plain or compressed) in one sequential pass, with clear errors.

Compressed tars cannot seek cheaply, so members are read in stored order while iterating; every
low-level failure (bad header, truncated gzip stream, CRC error) becomes a one-line
:class:`DataError` naming the archive.
"""

from __future__ import annotations

import tarfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

from autodl_design.data.errors import DataError, one_line

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")

_READ_ERRORS = (tarfile.TarError, EOFError, OSError, zlib.error)


def looks_like_tar(path: Path) -> bool:
    """True when ``path`` has a tar suffix or, failing that, tar content."""
    if path.name.lower().endswith(TAR_SUFFIXES):
        return True
    try:
        return tarfile.is_tarfile(path)
    except _READ_ERRORS:
        return False


def iter_members(
    path: Path, read: Callable[[str], bool] | None = None
) -> Iterator[tuple[tarfile.TarInfo, bytes | None]]:
    """Yield ``(member, data)`` for every member of the tar at ``path``, in stored order.

    ``data`` is the member's bytes when it is a regular file and ``read(member.name)`` is true
    (``read=None`` reads nothing), else ``None``.
    """
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                data = None
                if member.isfile() and read is not None and read(member.name):
                    handle = tar.extractfile(member)
                    data = handle.read() if handle is not None else b""
                    if len(data) != member.size:
                        raise tarfile.ReadError(f"{member.name} is truncated")
                yield member, data
    except _READ_ERRORS as e:
        raise DataError(f"corrupt or truncated archive {path}: {one_line(e)}") from None
