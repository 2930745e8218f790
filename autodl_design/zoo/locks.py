"""File locks of the pretrained-model pipeline, so that two queues (two processes) can run at
once: one lock around publishing (add to the manifest + re-measure the ensemble), one per model
(so a model named in both queues is trained by one of them only).

``fcntl.flock`` locks belong to the open file: the kernel drops them when the process ends, so
a killed queue never leaves a stale lock behind (a lock file's mere existence means nothing).
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["PUBLISH_LOCK", "holding", "model_lock", "publish_lock"]

PUBLISH_LOCK = Path("runs/.publish.lock")


@contextmanager
def publish_lock(path: Path = PUBLISH_LOCK) -> Iterator[None]:
    """Hold the publishing lock (waiting for another queue's publication to end)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


@contextmanager
def model_lock(root: Path, name: str) -> Iterator[bool]:
    """Try to hold model ``name``'s lock in run root ``root``: yields False, without waiting,
    when another process holds it (that process trains the model now)."""
    path = _model_lock_path(root, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


def holding(root: Path, name: str) -> bool:
    """Whether another process holds model ``name``'s lock now (for ``zoo status``)."""
    path = _model_lock_path(root, name)
    if not path.exists():
        return False
    with model_lock(root, name) as got:
        return not got


def _model_lock_path(root: Path, name: str) -> Path:
    return root / f".{name}.lock"
