"""Format detection and dispatch from a ``source`` string to the right reader.

A source is ``"bundled"``, a dataset name (``"cifar10"``: :mod:`autodl_design.data.named`,
resolved here, in :func:`source_path`, so every reader and ``data info`` accepts it) or a path.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from autodl_design.data.archive import looks_like_tar
from autodl_design.data.bundled import read_bundled
from autodl_design.data.cifar_python import batches_dir, is_cifar_tar, read_cifar_python
from autodl_design.data.errors import DataError
from autodl_design.data.image_folder import read_image_folder
from autodl_design.data.named import is_named, resolve_named
from autodl_design.data.raw import RawData

FORMATS = ("bundled", "cifar10-python", "image-folder")


def detect_format(source: str) -> str:
    """``"bundled"``, ``"cifar10-python"`` or ``"image-folder"`` for ``source``.

    A directory or tar holding ``data_batch_1`` (directly or under ``cifar-10-batches-py/``) is
    the official release; any other directory or tar is taken as an image folder, which its
    reader then validates.
    """
    if source == "bundled":
        return "bundled"
    path = source_path(source)
    if path.is_dir():
        return "cifar10-python" if batches_dir(path) is not None else "image-folder"
    if looks_like_tar(path):
        return "cifar10-python" if is_cifar_tar(path) else "image-folder"
    raise DataError(
        f"{source}: unrecognised data format "
        "(expected 'bundled', 'cifar10', a directory, or a .tar/.tar.gz archive)"
    )


def source_path(source: str) -> Path:
    """``source`` as an existing path (a name resolved to the copy found on this machine);
    :class:`DataError` when it does not exist."""
    if is_named(source):
        return resolve_named(source)
    path = Path(source).expanduser()
    if not path.exists():
        raise DataError(f"data source not found: {source}")
    return path


def read_source(
    source: str,
    format: str = "auto",
    splits: Collection[str] | None = None,
    image_size: int = 32,
    channels: int = 3,
) -> RawData:
    """Decode ``splits`` (all present when ``None``) of ``source``, auto-detecting its format."""
    fmt = detect_format(source) if format == "auto" else format
    if fmt == "bundled":
        return read_bundled(splits, image_size, channels)
    if fmt == "cifar10-python":
        return read_cifar_python(source_path(source), splits, image_size, channels)
    if fmt == "image-folder":
        return read_image_folder(source_path(source), splits, image_size, channels)
    raise DataError(f"unknown data format {fmt!r}; expected auto or one of {', '.join(FORMATS)}")
