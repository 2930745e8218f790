"""``autodl-design export``: a bundled model, a training run or the whole ensemble, as a static
Paddle model (a directory, for Paddle Inference) or as one ONNX file (for onnxruntime).

What is exported (the command's optional ``MODEL_OR_WEIGHTS``):

* nothing given: every model of the manifest, as their averaged-softmax ensemble;
* a model name of the manifest (``m4``);
* a training run's directory (``model.pdparams`` + ``metrics.json``, as ``autodl-design train``
  writes them), or that ``model.pdparams`` itself. An existing path is read as a run, anything
  else as a model name.

``--format paddle`` (default) writes a directory (:func:`~autodl_design.zoo.inference.
export_ensemble`; one model is an ensemble of one). ``--format onnx`` writes one file: input
``image`` float32 ``(B, C, H, W)``, per-image standardised (``autodl_design.data.preprocess``);
output ``logits`` for one model, ``probabilities`` (the mean softmax) for the ensemble or with
``--tta flip``; its metadata_props say so, and name the classes, members and input size.

Either way the export is checked before the command reports success: reloaded (Paddle) or run
by onnxruntime (ONNX) on 8 random images and compared with the models in dygraph. An ONNX file
is written atomically and only after that check; every mistake in the input (unknown name, a
folder that is not a run, weights of another network, an output path that cannot be written,
the onnx extra missing) is one line, before anything is written.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import paddle

from autodl_design.checkpoint import load_layer_state
from autodl_design.config import EXPORT_FORMATS, ConfigError, NetworkConfig, from_dict
from autodl_design.data import preprocess
from autodl_design.fileio import check_output_dir, check_output_file
from autodl_design.nn.network import build_network
from autodl_design.nn.runtime import predict
from autodl_design.space import Architecture, ArchitectureError
from autodl_design.zoo.ensemble import Ensemble, check_tta, load_ensemble
from autodl_design.zoo.inference import EnsembleLayer, export_ensemble, load_exported
from autodl_design.zoo.manifest import PretrainedError, read_manifest, resolve_manifest

__all__ = ["ONNX_FORMAT", "export", "load_run", "load_source"]

ONNX_FORMAT = "autodl-design/onnx/v1"
RUN_FILES = ("model.pdparams", "metrics.json")
_CHECK_IMAGES = 8


def export(
    source: str | None,
    output: str | Path,
    fmt: str = "paddle",
    manifest: str | Path | None = None,
    tta: str = "none",
) -> str:
    """Export ``source`` (see the module docstring) to ``output`` in ``fmt``; returns the line
    the command prints. Output paths and the onnx extra are checked before any model loads."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    check_tta(tta)
    if fmt == "onnx":
        from autodl_design.nn.onnx_engine import require_onnx

        out = check_output_file(output)
        require_onnx()
    else:
        out = check_output_dir(output)
    ensemble = load_source(source, manifest)
    ensemble.tta = tta
    x = np.random.default_rng(0).integers(
        0, 256, (_CHECK_IMAGES, ensemble.image_size, ensemble.image_size, ensemble.channels),
        dtype=np.uint8,
    )  # fmt: skip
    what = _describe(ensemble)
    if fmt == "paddle":
        export_ensemble(ensemble, out)
        diff = np.abs(load_exported(out).predict_proba(x) - ensemble.predict_proba(x)).max()
        return f"exported {what} to {out}; reloaded: max |diff| {diff:.2e}"
    output_name, diff = _export_onnx(ensemble, out, x)
    return (
        f"exported {what} to {out} (ONNX, input image float32 (B, {ensemble.channels}, "
        f"{ensemble.image_size}, {ensemble.image_size}), output {output_name}); onnxruntime "
        f"against Paddle on {len(x)} images: max |diff| {diff:.2e}"
    )


def load_source(source: str | None, manifest: str | Path | None = None) -> Ensemble:
    """The models ``source`` names, as an :class:`~autodl_design.zoo.ensemble.Ensemble` (of
    one, unless ``source`` is None: then the manifest's every model)."""
    if source is not None and Path(source).exists():
        return load_run(source)
    path = resolve_manifest(manifest)
    if source is None:
        return load_ensemble(path)
    names = [m["name"] for m in read_manifest(path)["models"]]
    if source not in names:
        listed = ", ".join(names) or "none"
        raise PretrainedError(
            f"{source}: no such file or directory, nor a model of {path} (its models: {listed})"
        )
    return load_ensemble(path, [source])


def load_run(path: str | Path) -> Ensemble:
    """The network of a training run (its directory, or its ``model.pdparams``) as an ensemble
    of one, named after the run's directory; loaded in eval mode."""
    path = Path(path)
    run = path.parent if path.is_file() else path
    if path.is_file() and path.name != RUN_FILES[0]:
        raise PretrainedError(f"{path}: not a training run's {RUN_FILES[0]}")
    missing = [name for name in RUN_FILES if not (run / name).is_file()]
    if missing:
        raise PretrainedError(
            f"{run}: not a training run (no {' or '.join(missing)}; `autodl-design train` "
            "writes both when it finishes)"
        )
    where = run / RUN_FILES[1]
    try:
        metrics = json.loads(where.read_text())
        config = metrics["config"]
        arch = Architecture.from_json(metrics["architecture"])
        cfg = from_dict(NetworkConfig, config["network"])
        classes = list(metrics["classes"])
        size, channels = int(config["data"]["image_size"]), int(config["data"]["channels"])
    except (ValueError, KeyError, TypeError, ArchitectureError, ConfigError) as e:
        reason = f"missing {e}" if isinstance(e, KeyError) else str(e).splitlines()[0]
        raise PretrainedError(f"{where}: not a training run's metrics ({reason})") from None
    net = build_network(arch, cfg, in_channels=channels)
    weights = run / RUN_FILES[0]
    try:
        load_layer_state(net, paddle.load(str(weights), return_numpy=True))
    except Exception as e:  # unreadable file or weights of another network
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise PretrainedError(
            f"{weights}: cannot load it into {where}'s network: {reason}"
        ) from None
    net.eval()
    return Ensemble([run.resolve().name], [net], classes, size, channels, engine="dygraph")


def _describe(ensemble: Ensemble) -> str:
    n = len(ensemble.names)
    what = f"model {ensemble.names[0]}" if n == 1 else f"{n} models"
    return what if ensemble.tta == "none" else f"{what} with {ensemble.tta} TTA"


def _export_onnx(ensemble: Ensemble, out: Path, x: np.ndarray) -> tuple[str, float]:
    """Convert, run on ``x`` against the dygraph models, then write; (output name, max diff)."""
    from autodl_design.nn.onnx_engine import OnnxPredictor, onnx_program, write_onnx

    single = len(ensemble.networks) == 1 and ensemble.tta == "none"
    if single:
        layer, output_name = ensemble.networks[0], "logits"
        expected = predict(layer, x, len(x), engine="dygraph")
        meaning = "float32 (B, K) logits: argmax is the class, softmax the probabilities"
    else:
        layer, output_name = EnsembleLayer(list(ensemble.networks), ensemble.tta), "probabilities"
        layer.eval()  # a new layer is in train mode
        engine, ensemble.engine = ensemble.engine, "dygraph"
        expected = ensemble.predict_proba(x)
        ensemble.engine = engine
        meaning = "float32 (B, K), mean of the members' softmax"
    c, s = ensemble.channels, ensemble.image_size
    metadata = {
        "format": ONNX_FORMAT,
        "members": json.dumps(list(ensemble.names)),
        "classes": json.dumps(list(ensemble.classes)),
        "image_size": str(s),
        "channels": str(c),
        "tta": ensemble.tta,
        "input": "image: float32 (B, C, H, W): uint8 RGB / 255, then each image minus its "
        "mean, over max(its std, 1 / sqrt(C * H * W)) (autodl_design.data.preprocess)",
        "output": f"{output_name}: {meaning}",
    }
    data = onnx_program(layer, (c, s, s), output_name, metadata)
    diff = float(np.abs(OnnxPredictor(data)(preprocess(x)) - expected).max())
    write_onnx(data, out)
    return output_name, diff
