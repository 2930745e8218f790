"""Reader for the official CIFAR-10 python release (``cifar-10-python.tar.gz``).

Each batch file is a pickled dict: ``b"data"`` is ``(N, 3072)`` uint8 where a row holds the red
plane, then green, then blue, each 32x32 row-major; ``b"labels"`` is a list of N ints.
``batches.meta`` has ``b"label_names"``. The archive is read in memory, never extracted.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Collection
from pathlib import Path

import numpy as np

from autodl_design.data.archive import iter_members
from autodl_design.data.errors import DataError, one_line
from autodl_design.data.imaging import fit_images
from autodl_design.data.raw import RawData

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
CIFAR_FILES = frozenset({*TRAIN_FILES, TEST_FILE, META_FILE})
FOLDER = "cifar-10-batches-py"

_SIDE = 32
_ROW = 3 * _SIDE * _SIDE
# Tar headers to look at before deciding an archive is not the official release; the official
# archive has a batch file second.
_DETECT_MEMBERS = 16


def batches_dir(path: Path) -> Path | None:
    """The folder holding ``data_batch_1`` at or directly under ``path``, if any."""
    for folder in (path, path / FOLDER):
        if (folder / TRAIN_FILES[0]).is_file():
            return folder
    return None


def is_cifar_tar(path: Path) -> bool:
    """True when one of the first members of the tar at ``path`` is a CIFAR batch file."""
    for i, (member, _) in enumerate(iter_members(path)):
        if member.name.rsplit("/", 1)[-1] in CIFAR_FILES:
            return True
        if i >= _DETECT_MEMBERS:
            break
    return False


def read_cifar_python(
    path: str | Path,
    splits: Collection[str] | None = None,
    image_size: int = 32,
    channels: int = 3,
) -> RawData:
    """Decode the official release from its tar(.gz) or its unpacked folder.

    ``splits`` selects ``train`` (data_batch_1..5) and/or ``test`` (test_batch); both when
    ``None``. Images come out as ``(N, image_size, image_size, channels)`` uint8 (converted from
    the stored 32x32 RGB only when the configuration asks for something else).
    """
    path = Path(path)
    splits = ("train", "test") if splits is None else splits
    needed = {META_FILE}
    if "train" in splits:
        needed.update(TRAIN_FILES)
    if "test" in splits:
        needed.add(TEST_FILE)
    blobs = _read_files(path, needed)
    missing = sorted(needed - set(blobs))
    if missing:
        raise DataError(
            f"{path}: not a complete CIFAR-10 python release, missing {', '.join(missing)}"
        )
    meta = _unpickle(blobs[META_FILE], f"{META_FILE} in {path}")
    names = meta.get(b"label_names") if isinstance(meta, dict) else None
    if not isinstance(names, list) or not names:
        raise DataError(f"{path}: {META_FILE} has no label_names list")
    classes = [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names]
    out = {}
    if "train" in splits:
        parts = [_parse_batch(blobs[f], f"{f} in {path}") for f in TRAIN_FILES]
        out["train"] = (
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
        )
    if "test" in splits:
        out["test"] = _parse_batch(blobs[TEST_FILE], f"{TEST_FILE} in {path}")
    out = {k: (fit_images(x, image_size, channels), y) for k, (x, y) in out.items()}
    return RawData(out, classes, "cifar10-python", str(path)).check()


def _read_files(path: Path, needed: set[str]) -> dict[str, bytes]:
    folder = batches_dir(path) if path.is_dir() else None
    if path.is_dir():
        if folder is None:
            raise DataError(f"{path}: no {TRAIN_FILES[0]} in this folder or in {FOLDER}/")
        return {n: (folder / n).read_bytes() for n in needed if (folder / n).is_file()}
    blobs: dict[str, bytes] = {}
    for member, data in iter_members(path, lambda name: name.rsplit("/", 1)[-1] in needed):
        base = member.name.rsplit("/", 1)[-1]
        if data is not None and base not in blobs:
            blobs[base] = data
    return blobs


def _parse_batch(blob: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    batch = _unpickle(blob, where)
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataError(f"{where}: expected a dict with data and labels")
    data = batch[b"data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise DataError(f"{where}: data must be a 2-D uint8 array")
    if data.shape[1] != _ROW:
        raise DataError(f"{where}: data rows have {data.shape[1]} values, expected {_ROW}")
    try:
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise DataError(f"{where}: labels are not a list of integers") from None
    if labels.shape != (len(data),):
        raise DataError(f"{where}: {len(data)} images but labels of shape {labels.shape}")
    # Planes (C, H, W) per row -> (H, W, C).
    images = data.reshape(-1, 3, _SIDE, _SIDE).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only, so a hostile file cannot run code."""

    _ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
            ("numpy.core.numeric", "_frombuffer"),
            ("numpy._core.numeric", "_frombuffer"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            # Python 3 writes bytes as _codecs.encode(str, "latin1") under protocol 2.
            ("_codecs", "encode"),
        }
    )

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _unpickle(blob: bytes, where: str) -> object:
    try:
        return _BatchUnpickler(io.BytesIO(blob), encoding="bytes").load()
    except Exception as e:  # noqa: BLE001 - any unpickling failure means a corrupt file
        raise DataError(f"cannot unpickle {where}: {one_line(e)}") from None
