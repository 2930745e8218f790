"""Loading the manifest's models (weights sha256-checked) and their averaged-softmax ensemble."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import paddle

from autodl_design.checkpoint import load_layer_state
from autodl_design.config import TTA_MODES, ConfigError, NetworkConfig, from_dict
from autodl_design.nn.network import build_network
from autodl_design.nn.runtime import predict, softmax
from autodl_design.space import Architecture, ArchitectureError
from autodl_design.zoo.manifest import PretrainedError, read_manifest, verify

__all__ = ["Ensemble", "check_tta", "load_ensemble", "load_model", "tta_views"]


def load_model(manifest_path: str | Path, entry: dict[str, Any], channels: int = 3):
    """Rebuild ``entry``'s network and load its checked weights; returned in eval mode."""
    path = verify(manifest_path, entry)
    where = f"{manifest_path}: model {entry['name']!r}"
    try:
        arch = Architecture.from_json(entry["architecture"])
        cfg = from_dict(NetworkConfig, entry["network"])
    except (ArchitectureError, ConfigError) as e:
        raise PretrainedError(f"{where}: {e}") from None
    net = build_network(arch, cfg, in_channels=channels)
    try:
        load_layer_state(net, paddle.load(str(path), return_numpy=True))
    except Exception as e:  # unreadable file or weights of another shape
        raise PretrainedError(f"{where}: cannot load {path}: {e}") from None
    net.eval()
    return net


def check_tta(tta: str) -> str:
    """``tta`` if it is one of :data:`~autodl_design.config.TTA_MODES`, else ValueError."""
    if tta not in TTA_MODES:
        raise ValueError(f"tta must be one of {', '.join(TTA_MODES)}, got {tta!r}")
    return tta


def tta_views(x: np.ndarray, tta: str = "none") -> list[np.ndarray]:
    """The views of uint8 images ``x`` ``(N, H, W, C)`` a model sees under ``tta``: ``[x]``, or
    ``[x, mirror of x]`` for ``"flip"`` (horizontal flip, as in training's augmentation)."""
    return [x] if check_tta(tta) == "none" else [x, np.ascontiguousarray(x[:, :, ::-1])]


@dataclass
class Ensemble:
    """Models whose softmax outputs are averaged.

    ``networks[i]`` maps standardised float32 ``(B, channels, image_size, image_size)`` to
    ``(B, len(classes))`` logits; ``names[i]`` is its manifest name. ``engine`` runs them:
    ``auto`` (a oneDNN Paddle Inference predictor from 2,500 images on, about 2x dygraph's
    img/s), ``dygraph`` or ``onednn`` (see :func:`autodl_design.nn.runtime.predict`). ``tta``:
    ``"none"`` (default, the manifest's headline figures) or ``"flip"`` (each member averages
    its softmax over the image and its mirror: twice the cost). ``weights_sha256[i]``: the sha256
    of ``networks[i]``'s checked weights file (empty when the networks were not loaded from a
    manifest).
    """

    names: list[str]
    networks: list[paddle.nn.Layer]
    classes: list[str]
    image_size: int = 32
    channels: int = 3
    engine: str = "auto"
    tta: str = "none"
    weights_sha256: list[str] = field(default_factory=list)

    def member_probabilities(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Per-model probabilities float32 ``(M, N, K)`` for uint8 images ``(N, H, W, C)``."""
        self._check_images(x)
        views = tta_views(x, self.tta)  # once for all members
        return np.stack(
            [
                np.mean(
                    [softmax(predict(net, v, batch_size, engine=self.engine)) for v in views], 0
                )
                for net in self.networks
            ]
        )

    def predict_proba(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Averaged softmax float32 ``(N, K)`` for uint8 images ``(N, H, W, C)``."""
        return self.member_probabilities(x, batch_size).mean(axis=0)

    def predict(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Class ids int64 ``(N,)``: argmax of :meth:`predict_proba`."""
        return self.predict_proba(x, batch_size).argmax(axis=1).astype(np.int64)

    def _check_images(self, x: np.ndarray) -> None:
        want = (self.image_size, self.image_size, self.channels)
        if x.dtype != np.uint8 or x.ndim != 4 or tuple(x.shape[1:]) != want:
            raise ValueError(
                f"expected uint8 images (N, {', '.join(map(str, want))}), got {x.shape}"
            )


def load_ensemble(manifest_path: str | Path, names: Sequence[str] | None = None) -> Ensemble:
    """The ensemble of the manifest's models (``names``: a subset, in that order).

    Every weights file is sha256-checked before any network is built; a missing or altered file
    raises :class:`PretrainedError` naming it.
    """
    manifest = read_manifest(manifest_path)
    entries = {e["name"]: e for e in manifest["models"]}
    chosen = list(entries) if names is None else list(names)
    unknown = [n for n in chosen if n not in entries]
    if unknown:
        raise PretrainedError(f"{manifest_path}: no model named {unknown[0]!r}")
    if not chosen:
        raise PretrainedError(f"{manifest_path}: lists no models")
    for name in chosen:
        verify(manifest_path, entries[name])
    channels = int(manifest["channels"])
    nets = [load_model(manifest_path, entries[n], channels) for n in chosen]
    return Ensemble(
        chosen,
        nets,
        list(manifest["classes"]),
        int(manifest["image_size"]),
        channels,
        weights_sha256=[str(entries[n]["sha256"]) for n in chosen],
    )
