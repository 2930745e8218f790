"""Mini-batch iteration over in-memory uint8 images, with optional augmentation."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from autodl_design.data.augment import random_crop_flip, random_cutout
from autodl_design.data.normalize import preprocess


def num_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    """How many batches :func:`iterate_batches` yields for ``n`` images."""
    return n // batch_size if drop_last else -(-n // batch_size)


def iterate_batches(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    rng: np.random.Generator,
    shuffle: bool,
    augment: bool,
    drop_last: bool = False,
    pad: int = 4,
    cutout: int = 0,
    pad_mode: str = "zero",
    flips: np.ndarray | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(images, labels)`` batches: ``(B, C, H, W)`` float32 and ``(B,)`` int64.

    ``x`` is ``(N, H, W, C)`` uint8 and ``y`` ``(N,)`` integer labels. With ``shuffle`` the
    order is a fresh permutation from ``rng``; with ``augment`` each image is zero-padded by
    ``pad``, randomly cropped back to ``H x W`` and flipped with probability 1/2. Images are
    then standardised per image (see :func:`~autodl_design.data.normalize.standardize`), and with
    ``augment`` and ``cutout`` > 0 a ``cutout x cutout`` square centred uniformly at random is
    set to zero (the image's mean). The last short batch is kept unless ``drop_last``.
    ``pad_mode``: ``zero`` or ``reflect`` padding; ``flips``: ``(N,)`` bool, which images of
    ``x`` are mirrored (in place of the fair coin).
    """
    if x.ndim != 4 or x.dtype != np.uint8:
        raise ValueError(f"x must be (N, H, W, C) uint8, got {x.shape} {x.dtype}")
    if len(y) != len(x):
        raise ValueError(f"{len(x)} images but {len(y)} labels")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if cutout < 0:
        raise ValueError(f"cutout must be >= 0, got {cutout}")
    order = rng.permutation(len(x)) if shuffle else np.arange(len(x))
    stop = num_batches(len(x), batch_size, drop_last) * batch_size
    for start in range(0, min(stop, len(x)), batch_size):
        idx = order[start : start + batch_size]
        images = x[idx]
        if augment:
            flip = None if flips is None else flips[idx]
            images = random_crop_flip(images, rng, pad, pad_mode, flip)
        images = preprocess(images)
        if augment and cutout:
            images = random_cutout(images, rng, cutout)
        yield images, np.asarray(y[idx], dtype=np.int64)
