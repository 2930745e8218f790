"""Batch-wide augmentation by array indexing (no per-image loop): pad + random crop + random
horizontal flip, and Cutout; the alternating flips of the fast recipe."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def pad_crop_flip(
    x: np.ndarray,
    top: np.ndarray,
    left: np.ndarray,
    flip: np.ndarray,
    pad: int = 4,
    mode: str = "zero",
) -> np.ndarray:
    """Pad every image by ``pad`` (``mode`` ``zero`` or ``reflect``), crop back to its size at
    ``(top, left)``, then mirror.

    ``x``: ``(B, H, W, C)`` (any dtype); ``top``/``left``: ``(B,)`` ints in ``[0, 2 * pad]``
    (``pad`` means no shift); ``flip``: ``(B,)`` bool, mirrors left-right after the crop.
    Returns a new ``(B, H, W, C)`` array of ``x.dtype`` (a channels-first buffer seen as NHWC,
    so the NCHW conversion that follows is a cheap contiguous copy).
    """
    b, h, w, _ = x.shape
    width = ((0, 0), (pad, pad), (pad, pad), (0, 0))
    padded = np.pad(x, width, mode="reflect") if mode == "reflect" else np.pad(x, width)
    # Every possible crop as a strided view (B, 2p+1, 2p+1, C, H, W): picking one per image is
    # a block copy, several times faster than gathering single pixels.
    windows = sliding_window_view(padded, (h, w), axis=(1, 2))
    out = windows[np.arange(b), top, left].transpose(0, 2, 3, 1)
    out[flip] = out[flip, :, ::-1]
    return out


def random_crop_flip(
    x: np.ndarray,
    rng: np.random.Generator,
    pad: int = 4,
    mode: str = "zero",
    flip: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`pad_crop_flip` with uniform offsets in ``[0, 2 * pad]`` and a fair-coin flip
    (or the given ``(B,)`` bool ``flip``)."""
    b = len(x)
    top = rng.integers(0, 2 * pad + 1, size=b)
    left = rng.integers(0, 2 * pad + 1, size=b)
    coin = rng.random(b) < 0.5  # drawn either way, so the other draws do not shift
    return pad_crop_flip(x, top, left, coin if flip is None else flip, pad, mode)


def cutout(x: np.ndarray, top: np.ndarray, left: np.ndarray, size: int) -> np.ndarray:
    """Zero a ``size x size`` square of each image whose top-left corner is ``(top, left)``.

    ``x``: ``(B, C, H, W)`` float (standardised, so zero is the image's mean); ``top``/``left``:
    ``(B,)`` ints, possibly negative or past the edge: the square is clipped to the image, as in
    Cutout (DeVries & Taylor, 2017). Writes into ``x`` and returns it.
    """
    _, _, h, w = x.shape
    rows = np.arange(h)[None, :] - top[:, None]  # (B, H): row offset inside the square
    cols = np.arange(w)[None, :] - left[:, None]
    inside = ((rows >= 0) & (rows < size))[:, :, None] & ((cols >= 0) & (cols < size))[:, None, :]
    x *= ~inside[:, None]
    return x


def random_cutout(x: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """:func:`cutout` with the square's centre uniform over the image (so it may be clipped)."""
    b, _, h, w = x.shape
    top = rng.integers(0, h, size=b) - size // 2
    left = rng.integers(0, w, size=b) - size // 2
    return cutout(x, top, left, size)


def alternating_flips(n: int, seed: int, epoch: int) -> np.ndarray:
    """``(n,)`` bool: which of ``n`` images are mirrored in 0-based ``epoch`` under airbench's
    alternating flips. A fixed random half (seeded by ``seed``) is mirrored in even epochs and
    the other half in odd ones, so every image is seen both ways every two epochs."""
    half = np.random.default_rng([seed, 11]).random(n) < 0.5
    return half ^ bool(epoch % 2)
