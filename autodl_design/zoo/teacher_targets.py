"""``autodl-design teacher-targets``: an ensemble's soft targets on a training set's images.

The targets are the averaged softmax of the teacher's members over every training image,
computed once and stored in the file format of :mod:`autodl_design.train.distillation`, which a
training stage then reads (``-o distill.targets=T.npz``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from autodl_design.config import TTA_MODES
from autodl_design.config.arguments import add_config_args
from autodl_design.fileio import replace_atomic, write_text_atomic
from autodl_design.train.distillation import TargetsError, TeacherTargets, array_digest

__all__ = ["cmd_teacher_targets", "compute_targets", "register"]


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

    Each member's weights are sha256-checked (:func:`autodl_design.zoo.ensemble.load_ensemble`).
    With ``parts_dir`` every member's probabilities for each view are kept there as they are
    done (``<name>-<sha256[:12]>-<view>.npy``), so a computation that is stopped resumes at the
    next member and view; a part is reused only for the same weights and images.
    """
    from autodl_design.nn.runtime import predict, softmax
    from autodl_design.zoo.ensemble import check_tta, load_ensemble, tta_views
    from autodl_design.zoo.manifest import read_manifest

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


def cmd_teacher_targets(args: Any) -> int:
    """``autodl-design teacher-targets``: a teacher's targets on a training config's images."""
    from autodl_design import cpu_tuning
    from autodl_design.config import load_config
    from autodl_design.nn.runtime import configure_threads
    from autodl_design.train.config import TrainConfig
    from autodl_design.train.data import load_train_data

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


def register(subparsers: argparse._SubParsersAction) -> None:
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
