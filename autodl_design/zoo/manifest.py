"""Pretrained models: the manifest, sha256-checked loading, and the averaged-softmax ensemble.

``pretrained/manifest.yaml`` (format ``autodl-design/pretrained/v1``; see pretrained/README.md)
lists the models with everything needed to rebuild and judge them: architecture (canonical
JSON string), network config, training recipe, params, FLOPs, test accuracy, the weights file
(relative to the manifest) and its sha256. Figures come from training (:func:`add_to_manifest`
copies ``metrics.json``) or from ``autodl-design ensemble --write-manifest``; none is typed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from autodl_design.fileio import copy_atomic, sha256_file, write_text_atomic
from autodl_design.train.config import OPERATIONAL_KEYS

MANIFEST_FORMAT = "autodl-design/pretrained/v1"
DEFAULT_MANIFEST = "pretrained/manifest.yaml"
MODEL_KEYS = (
    "name", "weights", "sha256", "architecture", "architecture_key", "network", "recipe",
    "params", "flops", "test_accuracy", "test_set", "test_images",
)  # fmt: skip
# Settings that describe how a run was paced, not how the model was made.
_NOT_RECIPE = ("network", *OPERATIONAL_KEYS)
_HEADER = (
    "# Pretrained models of autodl-design. Written by `autodl-design add-pretrained` (from a\n"
    "# training run's metrics.json) and `autodl-design ensemble --write-manifest` (measured\n"
    "# accuracies); do not edit figures by hand. See pretrained/README.md.\n"
)


class PretrainedError(RuntimeError):
    """A manifest or weights file is missing, malformed or altered; the message names it."""


def resolve_manifest(path: str | Path | None = None) -> Path:
    """``path``, or the default ``pretrained/manifest.yaml`` (working directory first, then the
    source checkout this package lives in)."""
    if path is not None:
        return Path(path)
    local = Path(DEFAULT_MANIFEST)
    checkout = Path(__file__).resolve().parents[2] / DEFAULT_MANIFEST  # autodl_design/zoo/..
    return local if local.exists() or not checkout.exists() else checkout


def read_manifest(path: str | Path) -> dict[str, Any]:
    """Read and check a manifest (structure only; weights are checked by :func:`verify`)."""
    path = Path(path)
    if not path.is_file():
        raise PretrainedError(f"manifest not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise PretrainedError(f"{path}: not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise PretrainedError(f"{path}: not an autodl-design manifest (format {MANIFEST_FORMAT})")
    for key in ("classes", "image_size", "channels", "models"):
        if key not in data:
            raise PretrainedError(f"{path}: missing top-level key {key!r}")
    names = set()
    for i, entry in enumerate(data["models"] or []):
        missing = [k for k in MODEL_KEYS if not isinstance(entry, dict) or k not in entry]
        if missing:
            raise PretrainedError(f"{path}: model {i} lacks {', '.join(missing)}")
        if entry["name"] in names:
            raise PretrainedError(f"{path}: model name {entry['name']!r} is repeated")
        names.add(entry["name"])
    data["models"] = data["models"] or []
    return data


def write_manifest(path: str | Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest`` as YAML atomically (architectures stay one-line JSON strings)."""
    write_text_atomic(path, _HEADER + yaml.safe_dump(manifest, sort_keys=False, width=100_000))


def weights_path(manifest_path: str | Path, entry: dict[str, Any]) -> Path:
    return Path(manifest_path).parent / entry["weights"]


def verify(manifest_path: str | Path, entry: dict[str, Any]) -> Path:
    """Path of ``entry``'s weights after checking that the file exists and its sha256 matches."""
    path = weights_path(manifest_path, entry)
    if not path.is_file():
        raise PretrainedError(
            f"weights file missing: {path} (model {entry['name']!r} of {manifest_path})"
        )
    digest = sha256_file(path)
    if digest != entry["sha256"]:
        raise PretrainedError(
            f"weights file altered or corrupt: {path} (sha256 {digest[:12]}..., "
            f"manifest says {str(entry['sha256'])[:12]}...)"
        )
    return path


def recipe_of(record: dict[str, Any]) -> dict[str, Any]:
    """The manifest's ``recipe`` of a training run's ``metrics.json`` (or of an earlier stage in
    its ``init_stage``): its config minus network and operational keys, what it trained on and
    how it ended; ``init_from_sha256`` and ``init_stage`` (the earlier stage's recipe, the same
    way) when it started from trained weights; ``distill_teacher`` (the teacher targets' file,
    sha256 and members) when it was distilled; ``swa_result`` (snapshots averaged, images of the
    batch-norm pass, the last iterate's test accuracy) when it averaged weights."""
    recipe = {k: v for k, v in record["config"].items() if k not in _NOT_RECIPE}
    recipe.update(
        train_images=record["train_images"],
        train_loss=record["train_loss"],
        train_acc=record["train_acc"],
        train_seconds=record["seconds"],
    )
    if record.get("init_from_sha256"):
        recipe["init_from_sha256"] = record["init_from_sha256"]
    if record.get("distill_teacher"):
        recipe["distill_teacher"] = record["distill_teacher"]
    if record.get("swa"):
        recipe["swa_result"] = record["swa"]
    if record.get("init_stage"):
        recipe["init_stage"] = recipe_of(record["init_stage"])
    return recipe


def add_to_manifest(
    manifest_path: str | Path, model_dir: str | Path, name: str, replace: bool = False
) -> dict[str, Any]:
    """Copy a finished training run (``model.pdparams`` + ``metrics.json``) into the manifest.

    The weights become ``<manifest dir>/<name>.pdparams``; their sha256 is computed here. The
    manifest is created when missing; the run must share its classes and input shape. The
    ensemble's measured figures are cleared (the membership changed). Returns the new entry.
    """
    manifest_path, model_dir = Path(manifest_path), Path(model_dir)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise PretrainedError(f"model name {name!r}: use letters, digits, '_', '-' and '.'")
    for needed in ("model.pdparams", "metrics.json"):
        if not (model_dir / needed).is_file():
            raise PretrainedError(f"{model_dir}: no {needed} (is the training finished?)")
    metrics = json.loads((model_dir / "metrics.json").read_text())
    config = metrics["config"]
    data = config["data"]
    if manifest_path.exists():
        manifest = read_manifest(manifest_path)
    else:
        manifest = {
            "format": MANIFEST_FORMAT,
            "classes": metrics["classes"],
            "image_size": data["image_size"],
            "channels": data["channels"],
            "preprocessing": "per-image standardisation (autodl_design.data.preprocess)",
            "ensemble": None,
            "models": [],
        }
    shape = (manifest["classes"], manifest["image_size"], manifest["channels"])
    if shape != (metrics["classes"], data["image_size"], data["channels"]):
        raise PretrainedError(f"{model_dir}: classes or input shape differ from {manifest_path}")
    models = manifest["models"]
    if any(m["name"] == name for m in models) and not replace:
        raise PretrainedError(f"{manifest_path}: already has a model named {name!r}")
    target = manifest_path.parent / f"{name}.pdparams"
    copy_atomic(model_dir / "model.pdparams", target)
    entry = {
        "name": name,
        "weights": target.name,
        "sha256": sha256_file(target),
        "architecture": metrics["architecture"],
        "architecture_key": metrics["architecture_key"],
        "network": config["network"],
        "recipe": recipe_of(metrics),
        "params": metrics["params"],
        "flops": metrics["flops"],
        "test_accuracy": metrics["test_acc"],
        "test_set": f"{metrics['test_source']} test split",
        "test_images": metrics["test_images"],
    }
    manifest["models"] = [m for m in models if m["name"] != name] + [entry]
    manifest["ensemble"] = None
    write_manifest(manifest_path, manifest)
    return entry
