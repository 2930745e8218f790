"""Starting a training run from trained weights (``TrainConfig.init_from``), and its lineage.

A run started from another run's ``model.pdparams`` is a further training stage of the same
network. So that the final record still says how the weights came about, the earlier run's
``metrics.json`` is summarised into the new run's (:func:`earlier_stage`) when it belongs to
exactly those weights (its ``weights_sha256`` equals the file's), recursively for runs that
were themselves started from weights.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import paddle

from autodl_design.checkpoint import layer_state, load_layer_state
from autodl_design.train.config import TrainingError

# What a training stage's record keeps of its run's metrics.json.
STAGE_KEYS = (
    "architecture_key",
    "config",
    "epochs",
    "steps",
    "train_images",
    "train_loss",
    "train_acc",
    "seconds",
    "init_from_sha256",
    "init_stage",
    "distill_teacher",
)


def load_initial_weights(net: paddle.nn.Layer, path: Path) -> tuple[str, bool]:
    """Put the weights in ``path`` into ``net``; a classifier ``fc`` of another class count
    keeps ``net``'s fresh initialisation. Returns (sha256 of the file, whether the classifier
    was kept fresh).

    Raises :class:`TrainingError` (one line, starting ``init_from:``) if the file is missing,
    unreadable or does not fit ``net``.
    """
    if not path.is_file():
        raise TrainingError(f"init_from: weights file not found: {path}")
    # One read for both the weights and their hash, so the lineage names exactly what loaded.
    try:
        data = path.read_bytes()
        state = paddle.load(io.BytesIO(data), return_numpy=True)
    except Exception as e:  # noqa: BLE001  (any unreadable file)
        raise TrainingError(f"init_from: cannot read {path}: {e}") from None
    mine = layer_state(net)
    head = [k for k in mine if k.startswith("fc.") and k in state]
    fresh_head = any(np.shape(state[k]) != mine[k].shape for k in head)
    if fresh_head:
        state = {**state, **{k: mine[k] for k in head}}
    try:
        load_layer_state(net, state)
    except ValueError as e:
        raise TrainingError(f"init_from: {path}: {e}") from None
    return hashlib.sha256(data).hexdigest(), fresh_head


def earlier_stage(path: Path, sha256: str) -> dict[str, Any] | None:
    """The :data:`STAGE_KEYS` of the ``metrics.json`` next to weights file ``path`` if that
    record is of these weights (``weights_sha256`` equal to ``sha256``), else None (a bundled
    weights file, or a run whose record is missing, unreadable or of other weights)."""
    record = path.parent / "metrics.json"
    try:
        metrics = json.loads(record.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(metrics, dict) or metrics.get("weights_sha256") != sha256:
        return None
    return {k: metrics.get(k) for k in STAGE_KEYS}
