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

from autodl_design.config import TTA_MODES, check
from autodl_design.fileio import replace_atomic, sha256_file, write_text_atomic

__all__ = [
    "TARGETS_FORMAT",
    "DistillConfig",
    "TargetsError",
    "TeacherTargets",
    "array_digest",
    "compute_targets",
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


def compute_targets(
    manifest_path: str | Path,
    x: np.ndarray,
    y: np.ndarray,
    tta: str = "flip",
    parts_dir: str | Path | None = None,
    batch_size: int = 256,
    log: Callable[[str], None] = print,
) -> TeacherTargets:
    """The averaged softmax of every model of ``manifest_path`` on uint8 images ``x``.

    Each member's weights are sha256-checked (:func:`autodl_design.pretrained.load_ensemble`).
    With ``parts_dir`` every member's probabilities for each view are kept there as they are
    done (``<name>-<sha256[:12]>-<view>.npy``), so a computation that is stopped resumes at the
    next member and view; a part is reused only for the same weights and images.
    """
    from autodl_design.evaluator import predict
    from autodl_design.pretrained import check_tta, load_ensemble, read_manifest, softmax, tta_views

    check_tta(tta)
    ensemble = load_ensemble(manifest_path)
    entries = {e["name"]: e for e in read_manifest(manifest_path)["models"]}
    images_sha = array_digest(x)
    parts = None if parts_dir is None else Path(parts_dir)
    if parts is not None:
        parts.mkdir(parents=True, exist_ok=True)
    views = tta_views(x, tta)
    members, per_member = [], []
    for name, net in zip(ensemble.names, ensemble.networks, strict=True):
        sha = entries[name]["sha256"]
        members.append({"name": name, "sha256": sha})
        probs = []
        for v, view in enumerate(views):
            part = None if parts is None else parts / f"{name}-{sha[:12]}-{v}.npy"
            got = _read_part(part, images_sha, len(x))
            if got is None:
                log(f"teacher {name}: view {v + 1}/{len(views)} of {len(x)} images ...")
                got = softmax(predict(net, view, batch_size, engine=ensemble.engine))
                if part is not None:
                    _write_part(part, got, images_sha)
            probs.append(got)
        per_member.append(np.mean(probs, axis=0))
        acc = float((per_member[-1].argmax(1) == y).mean())
        log(f"teacher {name}: done, accuracy on these images {acc:.4f}")
    mean = np.mean(per_member, axis=0).astype(np.float32)
    y64 = np.asarray(y, dtype=np.int64)
    accuracy = float((mean.argmax(1) == y64).mean())
    return TeacherTargets(mean, members, tta, images_sha, array_digest(y64), accuracy)


def _read_part(path: Path | None, images_sha: str, n: int) -> np.ndarray | None:
    """A finished part for these images, else None (absent, partial or for other images)."""
    if path is None or not path.is_file():
        return None
    meta = path.with_suffix(".json")
    try:
        if json.loads(meta.read_text()).get("images_sha256") != images_sha:
            return None
        probs = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    return probs if probs.shape[0] == n else None


def _write_part(path: Path, probs: np.ndarray, images_sha: str) -> None:
    replace_atomic(path, lambda tmp: _save_npy(tmp, probs))
    write_text_atomic(path.with_suffix(".json"), json.dumps({"images_sha256": images_sha}) + "\n")


# Through a file object: given a path, numpy would append ``.npy``/``.npz`` to the temporary name.
def _save_npy(path: Path, array: np.ndarray) -> None:
    with path.open("wb") as f:
        np.save(f, array)


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    with path.open("wb") as f:
        np.savez_compressed(f, **arrays)


def sharpen(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log(probs) / temperature)`` row-wise, float32 ``(N, K)``: the teacher's
    distribution at the distillation temperature (``probs ** (1 / T)`` renormalised)."""
    from autodl_design.pretrained import softmax

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


def cmd_teacher_targets(args: Any) -> int:
    """``autodl-design teacher-targets``: a teacher's targets on a training config's images."""
    from autodl_design import cpu_tuning
    from autodl_design.config import load_config
    from autodl_design.evaluator import configure_threads
    from autodl_design.final_training import TrainConfig, load_train_data

    config = load_config(TrainConfig, args.config, list(args.override))
    out = Path(args.output)
    if out.suffix != ".npz":
        raise TargetsError(f"--output {out}: must end in .npz")
    cpu_tuning.configure(config.mkl_avx2)
    configure_threads(config.num_threads)
    print(f"loading {config.data.source} ...")
    data = load_train_data(config)
    parts = out.with_name(out.stem + ".parts")
    targets = compute_targets(args.teacher, data.train_x, data.train_y, args.tta, parts)
    targets.save(out)
    print(
        f"wrote {out}: {len(targets.probs)} images, {len(targets.members)} members, tta "
        f"{targets.tta}, teacher accuracy on them {targets.teacher_accuracy:.4f}"
    )
    return 0


def register(subparsers: Any, add_config_args: Callable[[Any], None]) -> None:
    """Add the ``teacher-targets`` command to the CLI's subparsers."""
    p = subparsers.add_parser(
        "teacher-targets",
        help="a teacher ensemble's soft targets on a training config's images (for distill)",
    )
    add_config_args(p)
    p.add_argument("--teacher", required=True, help="manifest of the teacher's models")
    p.add_argument("--output", required=True, help="targets file to write (.npz)")
    p.add_argument(
        "--tta", choices=TTA_MODES, default="flip", help="views each member averages (flip)"
    )
    p.set_defaults(func=cmd_teacher_targets)
