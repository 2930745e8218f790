"""The common result of every reader: decoded splits plus class names."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autodl_design.data.errors import DataError


@dataclass
class RawData:
    """Decoded images of one source, before any val carve-out or per-class cap.

    ``splits`` maps a split name (``"train"``, ``"val"``, ``"test"``) to ``(x, y)`` with ``x``
    ``(N, H, W, C)`` uint8 and ``y`` ``(N,)`` int64 in ``[0, len(classes))``.
    """

    splits: dict[str, tuple[np.ndarray, np.ndarray]]
    classes: list[str]
    format: str
    source: str

    def check(self) -> RawData:
        """Verify shapes, dtypes and label ranges of every split; returns ``self``."""
        for name, (x, y) in self.splits.items():
            where = f"{self.source}: {name} split"
            if x.dtype != np.uint8 or x.ndim != 4:
                raise DataError(f"{where}: images must be (N, H, W, C) uint8, got {x.shape}")
            if y.shape != (len(x),):
                raise DataError(f"{where}: {len(x)} images but labels of shape {y.shape}")
            if len(y) and (y.min() < 0 or y.max() >= len(self.classes)):
                bad = int(y.min()) if y.min() < 0 else int(y.max())
                raise DataError(
                    f"{where}: label {bad} out of range for {len(self.classes)} classes"
                )
        return self
