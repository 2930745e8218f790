"""Measuring a manifest's models on a test split and, optionally, recording the figures.

:func:`measure` is what ``autodl-design ensemble`` runs (the command only parses and prints) and
what the build pipeline calls after a publication: one code path for the manifest's figures.
With ``write=True`` the measured accuracies (plain and with flip TTA), the ensemble's and the
check-slice counts go into the manifest, and the generated tables next to it are rewritten;
nothing outside the manifest's folder is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autodl_design.data import load_test_set
from autodl_design.zoo.ensemble import load_ensemble
from autodl_design.zoo.evaluation import (
    CHECK_IMAGES,
    check_slice_counts,
    evaluate_ensemble,
    seeded_subset,
)
from autodl_design.zoo.manifest import PretrainedError, read_manifest, write_manifest
from autodl_design.zoo.prob_cache import ProbabilityCache
from autodl_design.zoo.table import update_tables

__all__ = ["Measurement", "measure"]


@dataclass
class Measurement:
    """What :func:`measure` found: ``result`` as :func:`evaluate_ensemble` returns it, the test
    set's description, whether flip TTA was measured, and the cache's hit/miss counts."""

    result: dict[str, Any]
    test_set: str
    flip: bool
    cache: ProbabilityCache | None


def measure(
    manifest_path: Path,
    data: str = "bundled",
    *,
    engine: str = "auto",
    batch_size: int = 256,
    limit: int | None = None,
    flip: bool = False,
    write: bool = False,
    cache_dir: str | None = None,
    log: Callable[[str], None] = print,
    progress: Callable[[str], None] | None = None,
) -> Measurement:
    """Accuracy and speed of every model of ``manifest_path`` and of their ensemble on the test
    split of ``data`` (``limit``: a seeded subset of that many images). ``write`` records the
    figures (always with flip TTA, the manifest keeps both); ``log`` gets a line per file
    written, ``progress`` (``log`` when None) a line per member as it is done."""
    ensemble = load_ensemble(manifest_path)
    ensemble.engine = engine
    x, y, classes = load_test_set(data, image_size=ensemble.image_size, channels=ensemble.channels)
    if classes != ensemble.classes:
        raise PretrainedError(f"{data}: classes {classes} differ from the manifest's")
    n_all = len(y)
    check = check_slice_counts(ensemble, x, y) if write else None
    keep = seeded_subset(n_all, limit)
    x, y = x[keep], y[keep]
    test_set = f"{data} test split"
    if len(y) < n_all:
        test_set += f" (seeded subset of {len(y)} of {n_all})"
    flip = flip or write
    cache = None if cache_dir is None else ProbabilityCache(cache_dir)
    progress = progress or log
    result = evaluate_ensemble(ensemble, x, y, batch_size, flip=flip, cache=cache, log=progress)
    if write:
        _record(
            manifest_path, ensemble.names, result, test_set, data, min(CHECK_IMAGES, n_all), check
        )
        log(f"wrote the measured accuracies to {manifest_path}")
        # Only the manifest's own folder is written: its pages' tables, never pages elsewhere.
        for page in update_tables(
            Path(manifest_path).resolve().parent, read_manifest(manifest_path)
        ):
            log(f"updated the table in {page}")
    return Measurement(result, test_set, flip, cache)


def _record(path, names, result, test_set, data, check_images, check) -> None:
    manifest = read_manifest(path)
    measured = {m["name"]: m for m in result["models"]}
    n = result["images"]
    for entry in manifest["models"]:
        entry.update(
            test_accuracy=measured[entry["name"]]["accuracy"],
            test_accuracy_flip_tta=measured[entry["name"]]["accuracy_flip"],
            test_set=test_set,
            test_images=n,
        )
    e = result["ensemble"]
    manifest["ensemble"] = {
        "members": list(names),
        "rule": "argmax of the mean of the members' softmax",
        "test_accuracy": e["accuracy"],
        "test_accuracy_flip_tta": e["accuracy_flip"],
        "test_set": test_set,
        "test_images": n,
    }
    manifest["check"] = {
        "data": data,
        "images": check_images,
        "subset": "seeded permutation (numpy default_rng(0)) of the test split, first N",
        "correct": check,
    }
    write_manifest(path, manifest)
