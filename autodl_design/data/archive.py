"""Reading tar archives (plain or compressed) in one sequential pass, checked for integrity.

Compressed tars cannot seek cheaply, so members are read in stored order while iterating; every
low-level failure becomes a one-line :class:`DataError` naming the archive. Left alone, tarfile
ends iteration without an error at the first unreadable header after the first one, so a
corrupted archive would read as a smaller one; here a bad header is an error, and once the
end-of-archive marker is reached the rest of the stream is read too, so gzip/bz2/xz check their
CRC and length over the whole archive (the stream was decompressed anyway: no second pass).
"""

from __future__ import annotations

import tarfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

from autodl_design.data.errors import DataError, one_line

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")

try:
    from lzma import LZMAError
except ImportError:  # Python built without liblzma: no .xz archives either

    class LZMAError(Exception):  # type: ignore[no-redef]
        """Stand-in that is never raised."""


_READ_ERRORS = (tarfile.TarError, EOFError, OSError, zlib.error, LZMAError)
_CHUNK = 1 << 20
# The compression is read from the content, as tarfile's "r:*" does, but opening with the one
# mode keeps the decompressor's own complaint ("r:*" reports only that no method worked).
_MAGIC = ((b"\x1f\x8b", "r:gz"), (b"BZh", "r:bz2"), (b"\xfd7zXZ\x00", "r:xz"))


class _StrictInfo(tarfile.TarInfo):
    """A header that tarfile would take as the quiet end of the archive raises instead.

    Only a zero block (the end-of-archive marker) ends iteration; an invalid checksum, a
    partial block or a stream ending between members is corruption or truncation.
    """

    @classmethod
    def fromtarfile(cls, tar: tarfile.TarFile) -> tarfile.TarInfo:
        try:
            return super().fromtarfile(tar)
        except (tarfile.InvalidHeaderError, tarfile.TruncatedHeaderError) as e:
            raise tarfile.ReadError(f"bad tar header at byte {tar.offset}: {e}") from None
        except tarfile.EmptyHeaderError:
            if tar.offset == 0:
                raise tarfile.ReadError("empty file") from None
            raise tarfile.ReadError(
                f"ends at byte {tar.offset} without an end-of-archive marker"
            ) from None


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
    (``read=None`` reads nothing), else ``None``. When iteration runs to the end, the archive's
    integrity is checked before the generator finishes, so a consumer that keeps nothing until
    then never acts on a corrupt archive; one that stops early has checked only what it read.
    """
    try:
        with tarfile.open(path, _mode(path), tarinfo=_StrictInfo) as tar:
            for member in tar:
                data = None
                if member.isfile() and read is not None and read(member.name):
                    handle = tar.extractfile(member)
                    data = handle.read() if handle is not None else b""
                    if len(data) != member.size:
                        raise tarfile.ReadError(f"{member.name} is truncated")
                yield member, data
            _read_to_end(tar)
    except _READ_ERRORS as e:
        # tarfile wraps the decompressor's error ("not a gzip file" from "CRC check failed").
        while e.__cause__ is not None:
            e = e.__cause__
        raise DataError(f"corrupt or truncated archive {path}: {one_line(e)}") from None


def _mode(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(6)
    return next((mode for magic, mode in _MAGIC if head.startswith(magic)), "r:")


def _read_to_end(tar: tarfile.TarFile) -> None:
    """Read what follows the end-of-archive marker: zero padding, then the compressed stream's
    end, where the decompressor checks CRC and length (``gzip -t``'s check, for free)."""
    while chunk := tar.fileobj.read(_CHUNK):
        if chunk.count(0) != len(chunk):
            # Another archive appended, or a corrupt header that happened to read as zeros.
            raise tarfile.ReadError(f"data after the end-of-archive marker at byte {tar.offset}")
