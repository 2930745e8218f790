"""The file listing of an image folder (``<split>/<class>/<file>``), from a directory or a tar.

Both kinds of source are reduced to the same list of relative paths (with file sizes), so
locating the root (possibly under one wrapper folder such as ``cifar10-jpeg/``), skipping hidden
files, refusing zero-byte images and counting ignored non-image files work identically for both.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from autodl_design.data.archive import iter_members
from autodl_design.data.errors import DataError, one_line
from autodl_design.data.imaging import is_image_name

SPLITS = ("train", "val", "test")

# Wrapper folders deeper than this are more likely a wrong path than a packaging habit.
_MAX_WRAPPERS = 2


@dataclass
class FolderTree:
    """Image files per split and class; names are relative to the located root.

    ``files[split][class]`` is the sorted list of image paths such as ``"train/cat/0001.jpg"``.
    ``root`` is the wrapper folder path the split folders sit in (empty when at the top).
    ``ignored`` lists the other (non-hidden) files under the root, such as ``README.txt`` or
    ``train/cat/notes.txt``. Bytes of tar members are kept in ``_data``; directory files are
    read on demand.
    """

    source: str
    files: dict[str, dict[str, list[str]]]
    root: tuple[str, ...]
    ignored: list[str] = field(default_factory=list)
    base_dir: Path | None = None
    _data: dict[str, bytes] = field(default_factory=dict, repr=False)

    def readable(self, name: str) -> bool:
        """Whether :meth:`read` can return ``name`` (tar members only when they were kept)."""
        return self.base_dir is not None or "/".join((*self.root, name)) in self._data

    def read(self, name: str) -> bytes:
        """The encoded bytes of image ``name`` (a path as listed in ``files``)."""
        if self.base_dir is None:
            if not self.readable(name):
                raise DataError(f"{self.source}: {name} was not loaded from the archive")
            return self._data["/".join((*self.root, name))]
        path = self.base_dir.joinpath(*self.root, name)
        try:
            return path.read_bytes()
        except OSError as e:
            raise DataError(f"cannot read image {path}: {one_line(e)}") from None


def list_tree(path: Path, want: Callable[[tuple[str, ...]], bool] | None = None) -> FolderTree:
    """List the image folder at ``path`` (a directory or a tar).

    For a tar, the bytes of an image file are kept when ``want(parts)`` is true, ``parts`` being
    its path components inside the archive (nothing is kept when ``want`` is ``None``); a
    directory's files are always readable on demand. Raises :class:`DataError` when no
    ``train/<class>/``, ``val/<class>/`` or ``test/<class>/`` folder is found (a test-only
    folder is valid here; :func:`~autodl_design.data.dataset.load_dataset` requires train), or
    when an image file is empty: training would fail on it, so listing it already does.
    """
    data: dict[str, bytes] = {}
    if path.is_dir():
        entries = _walk_dir(path)
        base_dir: Path | None = path
    else:
        entries, base_dir = [], None

        def read(name: str) -> bool:
            return want is not None and is_image_name(name) and want(_clean_parts(name))

        for member, blob in iter_members(path, read):
            parts = _clean_parts(member.name)
            if parts and not _hidden(parts) and (member.isdir() or member.isfile()):
                entries.append((parts, member.isdir(), member.size))
                if blob is not None:
                    data["/".join(parts)] = blob
    root = _find_root(entries, str(path))
    files, ignored = _group(entries, root, str(path))
    return FolderTree(str(path), files, root, ignored, base_dir, data)


def _clean_parts(name: str) -> tuple[str, ...]:
    return tuple(p for p in PurePosixPath(name.lstrip("/")).parts if p not in (".", ""))


def _hidden(parts: tuple[str, ...]) -> bool:
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


# (path components, is a directory, size in bytes; -1 where not needed).
_Entry = tuple[tuple[str, ...], bool, int]


def _walk_dir(path: Path) -> list[_Entry]:
    entries: list[_Entry] = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__MACOSX")
        rel = Path(dirpath).relative_to(path).parts
        if rel:
            entries.append((rel, True, -1))
        for name in filenames:
            if not name.startswith("."):
                # Only image sizes matter (zero-byte check); a stat per image, no read.
                size = os.stat(os.path.join(dirpath, name)).st_size if is_image_name(name) else -1
                entries.append(((*rel, name), False, size))
    return entries


def _find_root(entries: list[_Entry], source: str) -> tuple[str, ...]:
    root: tuple[str, ...] = ()
    for _ in range(_MAX_WRAPPERS + 1):
        below = [parts[len(root) :] for parts, _, _ in entries if len(parts) > len(root)]
        if any(len(rel) >= 2 and rel[0] in SPLITS for rel in below):
            return root
        tops = {rel[0] for rel in below}
        if len(tops) != 1:
            break
        root = (*root, tops.pop())
    raise DataError(
        f"{source}: unrecognised data format: no train/<class>/ (or val/, test/) image folder "
        "and no CIFAR-10 python batches"
    )


def _group(
    entries: list[_Entry], root: tuple[str, ...], source: str
) -> tuple[dict[str, dict[str, list[str]]], list[str]]:
    files: dict[str, dict[str, list[str]]] = {}
    ignored: list[str] = []
    empty: list[str] = []
    for parts, is_dir, size in entries:
        if parts[: len(root)] != root:
            continue
        rel = parts[len(root) :]
        name = "/".join(rel)
        if len(rel) < 2 or rel[0] not in SPLITS:
            if not is_dir:
                ignored.append(name)
            continue
        if len(rel) == 2 and not is_dir:
            if is_image_name(rel[1]):
                raise DataError(f"{source}: image {name} is not inside a class folder")
            ignored.append(name)
            continue
        # Any entry below a class folder shows the folder exists, images or not.
        names = files.setdefault(rel[0], {}).setdefault(rel[1], [])
        if is_dir:
            continue
        if is_image_name(rel[-1]):
            names.append(name)
            if size == 0:
                empty.append(name)
        else:
            ignored.append(name)
    if empty:
        more = f" (and {len(empty) - 1} more)" if len(empty) > 1 else ""
        raise DataError(f"{source}: empty image file {sorted(empty)[0]} (0 bytes){more}")
    for classes in files.values():
        for names in classes.values():
            names.sort()
    ordered = {split: dict(sorted(files[split].items())) for split in SPLITS if split in files}
    return ordered, sorted(ignored)
