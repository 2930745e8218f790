"""Stratified, seeded index selection: validation carve-outs and per-class caps."""

from __future__ import annotations

import numpy as np


def stratified_split(
    y: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices of ``y`` into ``(keep, held_out)`` with ``fraction`` of each class held out.

    ``y`` is ``(N,)`` int64. Each class holds out ``round(fraction * n)`` images, but keeps at
    least one image when it has any. Both index arrays are sorted int64.
    """
    keep, held = [], []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        n_held = min(round(fraction * len(members)), len(members) - 1)
        held.append(members[:n_held])
        keep.append(members[n_held:])
    return _sorted(keep), _sorted(held)


def cap_per_class(y: np.ndarray, limit: int | None, rng: np.random.Generator) -> np.ndarray:
    """Sorted int64 indices of at most ``limit`` randomly chosen images per class of ``y``.

    ``limit=None`` keeps everything.
    """
    if limit is None:
        return np.arange(len(y), dtype=np.int64)
    chosen = []
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        chosen.append(rng.choice(members, size=min(limit, len(members)), replace=False))
    return _sorted(chosen)


def _sorted(parts: list[np.ndarray]) -> np.ndarray:
    if not parts:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(parts)).astype(np.int64)
