"""Distillation from an ensemble's soft targets: a final-training stage (``TrainConfig.distill``).

A teacher is a manifest of trained models (the format of ``pretrained/manifest.yaml``). Its
targets are the averaged softmax of its members over every training image, computed once
(``autodl-design teacher-targets``, :func:`compute_targets`) and stored in a ``.npz`` file that
names the members' weights (sha256) and the images and labels it was computed on (sha256 of
their bytes, so a file computed for another training set, or another order of it, is refused).
Computing them costs one inference pass per member and view, against one teacher pass per
training step for each of a student's epochs online; the price is that a student's random crop
meets the target of the uncropped image (the crops shift it by at most 4 pixels). With ``tta:
flip`` each member's target is the mean over the image and its mirror, so a flipped crop and an
unflipped one meet the same target.

The student's loss (:func:`distillation_loss`) is
``(1 - weight) * CE(logits, labels, label_smoothing) + weight * T^2 * KL(q_T || softmax(logits/T))``
with ``q_T = softmax(log(targets) / T)``: the teacher's distribution sharpened or flattened by
the same temperature ``T`` as the student's (``T^2`` keeps the term's gradient scale independent
of ``T``, as in Hinton et al., 2015).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autodl_design.config import check
from autodl_design.fileio import replace_atomic, sha256_file

__all__ = [
    "TARGETS_FORMAT",
    "DistillConfig",
    "TargetsError",
    "TeacherTargets",
    "array_digest",
    "distillation_loss",
    "load_targets",
    "sharpen",
]

TARGETS_FORMAT = "autodl-design/teacher-targets/v1"
# Floor of a teacher probability before its log: a member's softmax can underflow to 0.
_MIN_PROB = 1e-8


@dataclass
class DistillConfig:
    """Distillation of a training run (off while ``targets`` is null).

    ``targets``: a teacher-targets file (``autodl-design teacher-targets``) computed on this
    run's training images; ``weight``: share of the distillation term in the loss (0: plain
    cross-entropy, 1: targets only); ``temperature``: ``T`` of both distributions.
    """

    targets: str | None = None
    weight: float = 0.8
    temperature: float = 2.0

    def validate(self) -> None:
        check(self.targets is None or self.targets != "", "targets", "must be a path or null")
        check(0 <= self.weight <= 1, "weight", "must be in [0, 1]")
        check(self.temperature > 0, "temperature", "must be > 0")


class TargetsError(ValueError):
    """A teacher-targets file is missing, malformed or not for these images; one line."""


def array_digest(a: np.ndarray) -> str:
    """sha256 of an array's dtype, shape and bytes (C order): equal arrays, equal digests."""
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(np.ascontiguousarray(a).data)
    return h.hexdigest()


@dataclass
class TeacherTargets:
    """Averaged teacher softmax ``probs`` float32 ``(N, K)`` for ``N`` training images.

    ``members``: ``[{"name", "sha256"}, ...]`` of the teacher's weights files; ``tta``: the views
    each member averaged (``"none"`` or ``"flip"``); ``images_sha256``/``labels_sha256``:
    :func:`array_digest` of the uint8 images ``(N, H, W, C)`` and int64 labels they are for;
    ``teacher_accuracy``: the targets' argmax against those labels (the teacher's accuracy on
    the student's training set, not a test figure).
    """

    probs: np.ndarray
    members: list[dict[str, str]]
    tta: str
    images_sha256: str
    labels_sha256: str
    teacher_accuracy: float

    def meta(self) -> dict[str, Any]:
        """Everything but ``probs``: what a run records of its teacher."""
        return {
            "format": TARGETS_FORMAT,
            "members": self.members,
            "tta": self.tta,
            "images": int(len(self.probs)),
            "classes": int(self.probs.shape[1]),
            "images_sha256": self.images_sha256,
            "labels_sha256": self.labels_sha256,
            "teacher_accuracy": self.teacher_accuracy,
        }

    def save(self, path: str | Path) -> None:
        """Write ``path`` (``.npz``, no pickled objects) atomically."""
        meta = np.array(json.dumps(self.meta()))
        replace_atomic(path, lambda tmp: _save_npz(tmp, probs=self.probs, meta=meta))

    def check_for(self, x: np.ndarray, y: np.ndarray, where: str) -> None:
        """Raise :class:`TargetsError` unless these targets were computed on ``x``, ``y``."""
        if len(self.probs) != len(y):
            raise TargetsError(
                f"{where}: targets for {len(self.probs)} images, training has {len(y)}"
            )
        if self.labels_sha256 != array_digest(np.asarray(y, dtype=np.int64)):
            raise TargetsError(f"{where}: computed for other labels (or another image order)")
        if self.images_sha256 != array_digest(x):
            raise TargetsError(f"{where}: computed for other training images")


def load_targets(path: str | Path) -> tuple[TeacherTargets, str]:
    """Read a teacher-targets file; returns it and the file's sha256. Raises
    :class:`TargetsError` naming the file if it is missing or not such a file."""
    path = Path(path)
    if not path.is_file():
        raise TargetsError(f"teacher targets not found: {path} (make them with teacher-targets)")
    try:
        with np.load(path, allow_pickle=False) as z:
            probs, meta = z["probs"], json.loads(str(z["meta"]))
    except Exception as e:  # noqa: BLE001  (any unreadable or foreign file)
        raise TargetsError(f"{path}: not a teacher-targets file ({e})") from None
    if meta.get("format") != TARGETS_FORMAT:
        raise TargetsError(f"{path}: not a teacher-targets file (format {meta.get('format')!r})")
    if probs.ndim != 2 or probs.dtype != np.float32 or not np.isfinite(probs).all():
        raise TargetsError(f"{path}: probs must be finite float32 (N, K), got {probs.shape}")
    targets = TeacherTargets(
        probs,
        meta["members"],
        meta["tta"],
        meta["images_sha256"],
        meta["labels_sha256"],
        meta["teacher_accuracy"],
    )
    return targets, sha256_file(path)


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    with path.open("wb") as f:
        np.savez_compressed(f, **arrays)


def sharpen(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log(probs) / temperature)`` row-wise, float32 ``(N, K)``: the teacher's
    distribution at the distillation temperature (``probs ** (1 / T)`` renormalised)."""
    from autodl_design.nn.runtime import softmax

    return softmax(np.log(np.maximum(probs, _MIN_PROB)) / temperature)


def distillation_loss(logits, labels, soft_targets, config: DistillConfig, label_smoothing: float):
    """Scalar loss tensor for a batch.

    ``logits``: float32 tensor ``(B, K)``; ``labels``: int64 tensor ``(B,)``; ``soft_targets``:
    float32 tensor ``(B, K)`` of the teacher at ``config.temperature`` (:func:`sharpen`).
    """
    import paddle
    import paddle.nn.functional as F

    hard = F.cross_entropy(logits, labels, label_smoothing=label_smoothing)
    t = config.temperature
    log_student = F.log_softmax(logits / t, axis=1)
    log_teacher = paddle.log(paddle.clip(soft_targets, min=_MIN_PROB))
    kl = (soft_targets * (log_teacher - log_student)).sum(axis=1).mean()
    return (1 - config.weight) * hard + config.weight * t * t * kl


def load_teacher(
    config: DistillConfig,
    num_classes: int,
    train_x: np.ndarray,
    train_y: np.ndarray,
    log: Callable[[str], None],
) -> tuple[np.ndarray, dict[str, Any]]:
    """The teacher's targets of ``config.targets`` at the distillation temperature, float32
    ``(N, K)``, and the record of the file (path, sha256, members) for the run's progress.

    Raises :class:`TargetsError` if the file is not for these images or classes.
    """
    path = config.targets
    targets, sha = load_targets(path)
    targets.check_for(train_x, train_y, f"distill.targets {path}")
    if targets.probs.shape[1] != num_classes:
        raise TargetsError(
            f"distill.targets {path}: {targets.probs.shape[1]} classes, the network has "
            f"{num_classes}"
        )
    names = ", ".join(m["name"] for m in targets.members)
    log(
        f"distilling from {path} (sha256 {sha[:12]}...): teacher of {names}, "
        f"tta {targets.tta}, accuracy on the training images {targets.teacher_accuracy:.4f}"
    )
    record = {"path": str(path), "sha256": sha, **targets.meta()}
    return sharpen(targets.probs, config.temperature), record
