"""The CIFAR-10 data shipped inside the package (``autodl_design/data/bundled/``).

``cifar10_search.tar.gz``: ``train/<class>/`` and ``val/<class>/``, 100 images per class each,
disjoint, drawn from the CIFAR-10 training split. ``cifar10_test.tar.gz``: the full 10,000-image
test split as ``test/<class>/``. Both hold the original JPEG bytes; rebuild them with
``scripts/build_bundled_data.py``.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from autodl_design.data.errors import DataError
from autodl_design.data.image_folder import read_image_folder
from autodl_design.data.raw import RawData

BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"
SEARCH_TAR = "cifar10_search.tar.gz"
TEST_TAR = "cifar10_test.tar.gz"


def bundled_path(name: str) -> Path:
    """Absolute path of bundled file ``name``; :class:`DataError` if it is not installed."""
    path = BUNDLED_DIR / name
    if not path.is_file():
        raise DataError(
            f"bundled data file missing: {path} "
            "(reinstall the package or run scripts/build_bundled_data.py)"
        )
    return path


def read_bundled(
    splits: Collection[str] | None = None, image_size: int = 32, channels: int = 3
) -> RawData:
    """Decode the bundled splits (``train``, ``val``, ``test``; all when ``None``)."""
    wanted = {"train", "val", "test"} if splits is None else set(splits)
    out: dict = {}
    classes: list[str] | None = None
    for name, parts in ((SEARCH_TAR, {"train", "val"}), (TEST_TAR, {"test"})):
        if not wanted & parts:
            continue
        raw = read_image_folder(bundled_path(name), wanted & parts, image_size, channels)
        if classes is not None and raw.classes != classes:
            raise DataError(f"bundled data: classes of {name} differ from {SEARCH_TAR}")
        classes = raw.classes
        out.update(raw.splits)
    if classes is None:
        raise DataError(f"bundled data has no split among {sorted(wanted)}")
    return RawData(out, classes, "bundled", "bundled").check()
