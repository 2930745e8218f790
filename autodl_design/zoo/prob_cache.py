"""Members' softmax outputs on a test split, kept on disk so a re-measurement computes only what
changed.

``autodl-design ensemble --write-manifest`` measures every bundled model on the 10,000 test
images and their mirrors each time a model is added: with six models that is 120,000 forward
passes on one CPU core, five sixths of them repeating the last measurement. With ``--cache DIR``
each member's probabilities are stored under a key made of what determines them (the weights
file's sha256, the images' :func:`~autodl_design.train.distillation.array_digest` and the inference
engine), so an unchanged member on unchanged images is read back instead of computed. A file that
cannot be read as the expected ``(N, K)`` float32 array counts as missing and is recomputed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from autodl_design.fileio import replace_atomic


class ProbabilityCache:
    """Softmax outputs float32 ``(N, K)`` in ``folder``, one ``.npy`` file per key."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.hits = 0
        self.misses = 0

    def path(self, weights_sha256: str, images_digest: str, engine: str) -> Path:
        """The file of the key; the digests are full sha256 hex strings."""
        return self.folder / f"{weights_sha256}-{images_digest}-{engine}.npy"

    def get(self, weights_sha256: str, images_digest: str, engine: str, shape: tuple[int, int]):
        """The stored probabilities of ``shape``, or None (not stored, unreadable, other shape)."""
        path = self.path(weights_sha256, images_digest, engine)
        try:
            probs = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            probs = None
        if probs is None or probs.dtype != np.float32 or probs.shape != tuple(shape):
            self.misses += 1
            return None
        self.hits += 1
        return probs

    def put(self, weights_sha256: str, images_digest: str, engine: str, probs: np.ndarray):
        """Store ``probs`` (float32 ``(N, K)``) under the key, atomically."""
        probs = np.ascontiguousarray(probs, dtype=np.float32)

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                np.save(f, probs, allow_pickle=False)

        replace_atomic(self.path(weights_sha256, images_digest, engine), write)
