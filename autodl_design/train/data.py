"""The images of a final training: the whole training split (+ val) and the test split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autodl_design.config import DataConfig
from autodl_design.data import DataError, read_source
from autodl_design.data.sampling import cap_per_class, stratified_split
from autodl_design.train.config import TrainConfig

__all__ = ["TrainData", "load_train_data"]

# Independent random streams per decision, as in the data package.
_STREAM_TRAIN_CAP, _STREAM_TEST_CAP, _STREAM_HOLDOUT = 2, 4, 5


@dataclass
class TrainData:
    """Images for final training: uint8 ``(N, H, W, C)`` arrays, int64 ``(N,)`` labels.

    ``test_x``/``test_y`` are None when the source has no test split.
    """

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray | None
    test_y: np.ndarray | None
    classes: list[str]
    source: str


def load_train_data(config: TrainConfig) -> TrainData:
    """Decode the training (+ val) and test splits of ``config.data.source``.

    ``data.max_train_per_class`` and ``max_test_per_class`` subsample each class, seeded by
    ``data.seed``. With ``evaluate_on: val`` the "test" arrays are ``data.val_fraction`` of the
    training images (stratified) instead, and the test split is not read.
    """
    d = config.data
    splits = ("train", "val", "test") if config.evaluate_on == "test" else ("train", "val")
    raw = read_source(d.source, d.format, splits, d.image_size, d.channels)
    if "train" not in raw.splits:
        raise DataError(f"{d.source}: no train split")
    x, y = raw.splits["train"]
    if config.train_on_val and "val" in raw.splits:
        vx, vy = raw.splits["val"]
        x, y = np.concatenate([x, vx]), np.concatenate([y, vy])
    if config.evaluate_on == "val":
        # The held-out images stand in for the test split, which is never read in this mode.
        keep, held = stratified_split(y, d.val_fraction, _rng(d, _STREAM_HOLDOUT))
        (x, y), (test_x, test_y) = (x[keep], y[keep]), (x[held], y[held])
    else:
        test_x, test_y = raw.splits.get("test", (None, None))
    keep = cap_per_class(y, d.max_train_per_class, _rng(d, _STREAM_TRAIN_CAP))
    x, y = x[keep], y[keep]
    if test_y is not None and config.max_test_per_class is not None:
        keep = cap_per_class(test_y, config.max_test_per_class, _rng(d, _STREAM_TEST_CAP))
        test_x, test_y = test_x[keep], test_y[keep]
    return TrainData(x, y, test_x, test_y, list(raw.classes), d.source)


def _rng(config: DataConfig, stream: int) -> np.random.Generator:
    return np.random.default_rng([config.seed % 2**32, stream])
