"""Inference on image files, and export of an ensemble as one static Paddle model.

* :func:`load_images` decodes files of any size and mode as the data package does (RGB or L,
  bilinear resize); :func:`classify` turns probabilities into per-image class and probability.
* :func:`export_ensemble` saves one layer that averages its members' softmax, input float32
  NCHW per-image standardised ``(B, C, H, W)``, with ``paddle.jit.save``;
  :func:`load_exported` reloads it (``paddle.jit.load``, or a Paddle Inference predictor).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import paddle
import paddle.nn.functional as F

from autodl_design.data import DataError, preprocess
from autodl_design.data.errors import one_line
from autodl_design.data.imaging import decode_image
from autodl_design.fileio import write_text_atomic
from autodl_design.nn.static_model import model_file, save_static
from autodl_design.zoo.ensemble import check_tta
from autodl_design.zoo.manifest import PretrainedError

if TYPE_CHECKING:
    from autodl_design.nn.predictor import Predictor

EXPORT_FORMAT = "autodl-design/exported-ensemble/v2"
MODEL_PREFIX = "ensemble"
META_NAME = "ensemble_meta.json"


class Classifier(Protocol):
    """What :func:`classify` needs: :class:`~autodl_design.zoo.ensemble.Ensemble` or
    :class:`ExportedEnsemble`."""

    classes: list[str]
    image_size: int
    channels: int

    def predict_proba(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray: ...


def load_images(paths: list[str | Path], image_size: int = 32, channels: int = 3) -> np.ndarray:
    """Decode image files to uint8 ``(N, image_size, image_size, channels)``.

    Any Pillow-readable mode and size is converted like the data package converts training
    images. A missing, unreadable, undecodable or oversized file, or a directory, raises
    :class:`DataError` naming it.
    """
    out = np.empty((len(paths), image_size, image_size, channels), dtype=np.uint8)
    for i, p in enumerate(paths):
        path = Path(p)
        if path.is_dir():
            raise DataError(f"{path} is a directory, not an image file")
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise DataError(f"image not found: {path}") from None
        except OSError as e:
            raise DataError(f"cannot read image {path}: {one_line(e)}") from None
        out[i] = decode_image(data, str(path), image_size, channels)
    return out


def classify(
    model: Classifier, paths: list[str | Path], batch_size: int = 256
) -> list[dict[str, Any]]:
    """Per file: ``{"path", "label", "class", "probability", "probabilities"}`` (all K)."""
    x = load_images(paths, model.image_size, model.channels)
    probs = model.predict_proba(x, batch_size)
    out = []
    for path, p in zip(paths, probs, strict=True):
        label = int(p.argmax())
        out.append(
            {
                "path": str(path),
                "label": label,
                "class": model.classes[label],
                "probability": float(p[label]),
                "probabilities": p.tolist(),
            }
        )
    return out


class EnsembleLayer(paddle.nn.Layer):
    """Standardised float32 ``(B, C, H, W)`` -> averaged softmax float32 ``(B, K)``.

    With ``tta="flip"`` the average also runs over each image's horizontal mirror.
    """

    def __init__(self, networks: list[paddle.nn.Layer], tta: str = "none") -> None:
        super().__init__()
        self.members = paddle.nn.LayerList(networks)
        self.tta = check_tta(tta)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        views = [x] if self.tta == "none" else [x, paddle.flip(x, axis=[3])]
        probs = [F.softmax(net(v), axis=1) for net in self.members for v in views]
        return paddle.add_n(probs) / len(probs)


def export_ensemble(ensemble: Any, output_dir: str | Path) -> Path:
    """Save ``ensemble`` (a :class:`~autodl_design.zoo.ensemble.Ensemble`) to ``output_dir``.

    Writes ``ensemble.json`` + ``ensemble.pdiparams`` (Paddle 3's static program and weights,
    input spec ``[None, C, H, W]`` float32 named ``image``) and ``ensemble_meta.json`` (class
    names, input size, member names, ``tta``). The ensemble's ``tta`` is part of the program:
    with ``"flip"`` it averages over each image and its mirror too. The program is the portable one
    (:func:`~autodl_design.nn.static_model.save_static`): any Paddle Inference configuration runs
    it, the default one (oneDNN on) included. Returns ``output_dir``.
    """
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    layer = EnsembleLayer(list(ensemble.networks), ensemble.tta)
    # A new layer is in train mode, which save_static would restore, members included.
    layer.eval()
    c, s = ensemble.channels, ensemble.image_size
    save_static(layer, out / MODEL_PREFIX, (c, s, s))
    meta = {
        "format": EXPORT_FORMAT,
        "members": list(ensemble.names),
        "classes": list(ensemble.classes),
        "image_size": s,
        "channels": c,
        "input": "float32 (B, C, H, W), per-image standardised (autodl_design.data.preprocess)",
        "output": "float32 (B, K), mean of the members' softmax",
        "tta": ensemble.tta,
        "activations": "LeakyReLU as maximum(x, slope * x): runs under any Paddle Inference config",
    }
    write_text_atomic(out / META_NAME, json.dumps(meta, indent=2) + "\n")
    return out


class ExportedEnsemble:
    """An ensemble reloaded from :func:`export_ensemble`'s directory.

    ``backend="jit"`` uses ``paddle.jit.load``; ``"predictor"`` a Paddle Inference predictor,
    without oneDNN unless ``onednn=True``: the exported program is the portable one
    (:mod:`autodl_design.nn.static_model`), which runs ~1.15x faster without oneDNN here.
    """

    def __init__(
        self,
        directory: str | Path,
        backend: str = "jit",
        num_threads: int = 1,
        onednn: bool = False,
    ):
        self.directory = Path(directory)
        meta_path = self.directory / META_NAME
        if not meta_path.is_file():
            raise PretrainedError(f"{self.directory}: no {META_NAME} (not an exported ensemble)")
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != EXPORT_FORMAT:
            raise PretrainedError(
                f"{meta_path}: format {meta.get('format')!r}, expected {EXPORT_FORMAT!r}"
                " (export it again with this version)"
            )
        self.names: list[str] = meta["members"]
        self.classes: list[str] = meta["classes"]
        self.image_size: int = meta["image_size"]
        self.channels: int = meta["channels"]
        self.tta: str = meta.get("tta", "none")  # baked into the program
        self.backend = backend
        prefix = str(self.directory / MODEL_PREFIX)
        if backend == "jit":
            self._layer = paddle.jit.load(prefix)
            self._layer.eval()
        elif backend == "predictor":
            self._predictor = _make_predictor(self.directory, num_threads, onednn)
        else:
            raise ValueError(f"backend must be 'jit' or 'predictor', got {backend!r}")

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Averaged softmax ``(B, K)`` for standardised float32 ``(B, C, H, W)``."""
        if self.backend == "jit":
            with paddle.no_grad():
                return self._layer(paddle.to_tensor(x)).numpy()
        return self._predictor(x)

    def predict_proba(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Averaged softmax float32 ``(N, K)`` for uint8 images ``(N, H, W, C)``."""
        if len(x) == 0:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        parts = [
            self.forward(preprocess(x[i : i + batch_size])) for i in range(0, len(x), batch_size)
        ]
        return np.concatenate(parts).astype(np.float32, copy=False)

    def predict(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Class ids int64 ``(N,)``."""
        return self.predict_proba(x, batch_size).argmax(axis=1).astype(np.int64)


def _make_predictor(directory: Path, num_threads: int, onednn: bool = False) -> Predictor:
    from autodl_design.nn.predictor import saved_predictor

    model = model_file(directory / MODEL_PREFIX)
    if model is None:
        raise PretrainedError(f"{directory}: no {MODEL_PREFIX}.json or .pdmodel")
    return saved_predictor(model, num_threads, onednn)


def load_exported(
    directory: str | Path, backend: str = "jit", num_threads: int = 1, onednn: bool = False
) -> ExportedEnsemble:
    """Reload an exported ensemble; same predictions as the ensemble it came from (oneDNN:
    to float32 rounding)."""
    return ExportedEnsemble(directory, backend, num_threads, onednn)
