"""``load_dataset``: one configured source -> in-memory train/val(/test) arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autodl_design.config import DataConfig
from autodl_design.data.errors import DataError
from autodl_design.data.sampling import cap_per_class, stratified_split
from autodl_design.data.sources import read_source

# Independent random streams per decision, so e.g. changing the train cap keeps the val split.
_STREAM_VAL_SPLIT, _STREAM_TRAIN_CAP, _STREAM_VAL_CAP = 1, 2, 3


@dataclass
class Dataset:
    """Decoded splits, all in memory.

    Images are ``(N, H, W, C)`` uint8 with ``H = W = image_size`` and ``C = channels``; labels
    are ``(N,)`` int64 in ``[0, len(classes))``. ``test_x``/``test_y`` are ``None`` when the
    source has no test split (or it was not requested).
    """

    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    classes: list[str]
    source: str
    format: str
    test_x: np.ndarray | None = None
    test_y: np.ndarray | None = None

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(H, W, C)`` of every image."""
        h, w, c = self.train_x.shape[1:]
        return h, w, c

    def summary(self) -> str:
        """One line such as ``bundled: train 1000, val 1000, test 10000 (32x32x3, 10 classes)``."""
        sizes = [f"train {len(self.train_y)}", f"val {len(self.val_y)}"]
        if self.test_y is not None:
            sizes.append(f"test {len(self.test_y)}")
        h, w, c = self.image_shape
        return f"{self.source}: {', '.join(sizes)} ({h}x{w}x{c}, {self.num_classes} classes)"


def load_dataset(config: DataConfig, with_test: bool = True) -> Dataset:
    """Read ``config.source`` once and split it as configured.

    The validation split is the source's own ``val/`` when it has one, else a stratified
    ``val_fraction`` carve-out of train (seeded by ``config.seed``); then ``max_train_per_class``
    and ``max_val_per_class`` subsample each class (also seeded). ``with_test=False`` skips
    decoding the test split.
    """
    config.validate()
    splits = ("train", "val", "test") if with_test else ("train", "val")
    raw = read_source(config.source, config.format, splits, config.image_size, config.channels)
    if "train" not in raw.splits:
        raise DataError(f"{config.source}: no train split")
    train_x, train_y = raw.splits["train"]
    if "val" in raw.splits:
        val_x, val_y = raw.splits["val"]
    else:
        keep, held = stratified_split(train_y, config.val_fraction, _rng(config, _STREAM_VAL_SPLIT))
        train_x, train_y, val_x, val_y = train_x[keep], train_y[keep], train_x[held], train_y[held]
    if config.max_train_per_class is not None:
        keep = cap_per_class(train_y, config.max_train_per_class, _rng(config, _STREAM_TRAIN_CAP))
        train_x, train_y = train_x[keep], train_y[keep]
    if config.max_val_per_class is not None:
        keep = cap_per_class(val_y, config.max_val_per_class, _rng(config, _STREAM_VAL_CAP))
        val_x, val_y = val_x[keep], val_y[keep]
    if len(train_y) == 0 or len(val_y) == 0:
        raise DataError(
            f"{config.source}: {len(train_y)} train and {len(val_y)} validation images; "
            "need at least one of each"
        )
    test_x, test_y = raw.splits.get("test", (None, None))
    return Dataset(
        train_x, train_y, val_x, val_y, raw.classes, config.source, raw.format, test_x, test_y
    )


def load_test_set(
    source: str = "bundled", format: str = "auto", image_size: int = 32, channels: int = 3
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The test split of ``source`` as ``(x, y, classes)``.

    ``x`` is ``(N, image_size, image_size, channels)`` uint8, ``y`` ``(N,)`` int64. For
    ``"bundled"`` this is the full 10,000-image CIFAR-10 test split.
    """
    raw = read_source(source, format, ("test",), image_size, channels)
    if "test" not in raw.splits:
        raise DataError(f"{source}: has no test split")
    x, y = raw.splits["test"]
    return x, y, raw.classes


def _rng(config: DataConfig, stream: int) -> np.random.Generator:
    return np.random.default_rng([config.seed % 2**32, stream])
