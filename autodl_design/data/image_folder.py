"""Reader for image folders: ``train/<class>/*`` plus optional ``val/`` and ``test/``.

Class names are the sorted folder names of ``train/``; every other split must have exactly the
same class folders, so label ``i`` means the same class in every split. A folder with only
``test/`` (such as the bundled test archive) is read the same way.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import numpy as np

from autodl_design.data.errors import DataError
from autodl_design.data.imaging import decode_image
from autodl_design.data.raw import RawData
from autodl_design.data.tree import SPLITS, FolderTree, list_tree


def read_image_folder(
    path: str | Path,
    splits: Collection[str] | None = None,
    image_size: int = 32,
    channels: int = 3,
    format: str = "image-folder",
) -> RawData:
    """Decode the image folder at ``path`` (a directory or a .tar/.tar.gz of one).

    ``splits`` selects which of ``train``/``val``/``test`` to decode (all present when
    ``None``); absent splits are simply missing from the result. Images come out as
    ``(N, image_size, image_size, channels)`` uint8, ordered by class then file name.
    """
    path = Path(path)
    wanted = set(SPLITS if splits is None else splits)
    # Split names sit before the class folder and file name (after any wrapper folders).
    tree = list_tree(path, lambda parts: bool(wanted.intersection(parts[:-2])))
    classes = check_classes(tree)
    present = [s for s in SPLITS if s in tree.files and s in wanted]
    decoded = {s: _decode_split(tree, s, classes, image_size, channels) for s in present}
    return RawData(decoded, classes, format, str(path)).check()


def check_classes(tree: FolderTree) -> list[str]:
    """Class names of ``tree`` after checking no class folder is empty and all splits agree.

    The names come from ``train/`` (from ``val/`` or ``test/`` in a folder without train).
    """
    for split, classes in tree.files.items():
        for name, files in classes.items():
            if not files:
                raise DataError(f"{tree.source}: empty class folder {split}/{name} (no images)")
    ref = next(s for s in SPLITS if s in tree.files)
    classes = list(tree.files[ref])
    for split, other in tree.files.items():
        if list(other) == classes:
            continue
        missing = sorted(set(classes) - set(other))
        extra = sorted(set(other) - set(classes))
        detail = "; ".join(
            text
            for text in (
                f"missing in {split}: {', '.join(missing)}" if missing else "",
                f"not in {ref}: {', '.join(extra)}" if extra else "",
            )
            if text
        )
        if len(other) != len(classes):
            raise DataError(
                f"{tree.source}: class count mismatch: {ref} has {len(classes)} classes, "
                f"{split} has {len(other)} ({detail})"
            )
        raise DataError(f"{tree.source}: class folders differ between {ref} and {split} ({detail})")
    return classes


def _decode_split(
    tree: FolderTree, split: str, classes: list[str], image_size: int, channels: int
) -> tuple[np.ndarray, np.ndarray]:
    names = [tree.files[split][c] for c in classes]
    x = np.empty((sum(map(len, names)), image_size, image_size, channels), dtype=np.uint8)
    y = np.repeat(np.arange(len(classes), dtype=np.int64), [len(n) for n in names])
    i = 0
    for class_names in names:
        for name in class_names:
            x[i] = decode_image(tree.read(name), f"{name} in {tree.source}", image_size, channels)
            i += 1
    return x, y
