"""ONNX as an optional inference engine: a network exported with paddle2onnx, run by onnxruntime.

Both packages are the ``onnx`` extra (``pip install "autodl-design[onnx]"``); without them,
choosing this engine is a one-line :class:`OnnxUnavailable` that says how to install it, and
``engine="auto"`` never picks it. :func:`onnx_program` saves the network as a static Paddle
program (:func:`~autodl_design.nn.static_model.save_static`, its portability workarounds
included), converts it with ``paddle2onnx`` and checks the ONNX model's outputs against the
network's own before it returns it; :class:`OnnxPredictor` runs one with ``intra_op_num_threads``
from the thread setting every engine uses (:func:`~autodl_design.nn.predictor.default_threads`).

paddle2onnx 2.1.0 gets LeakyReLU wrong with Paddle 3.3: Paddle stores ``leaky_relu``'s
``negative_slope`` as a double in its PIR programs (``"a_f64"``, since Paddle PR #75547), and
paddle2onnx reads that attribute as a float, so every exported ``LeakyRelu`` has a garbage
``alpha`` (-1053.6 for a slope of 0.1) and the logits are far off. The converter is not fixed
here; the export path works around it: when every LeakyReLU of the layer has the same slope (all
networks of this package: ``cfg.leaky_slope``), the program keeps its ``leaky_relu`` ops and the
``alpha`` of every ``LeakyRelu`` node is set to that slope afterwards; otherwise the *portable*
program is converted, which computes LeakyReLU as ``maximum(x, slope * x)`` (no ``leaky_relu``
op at all; slower, as it is two elementwise ops instead of one that onnxruntime can fuse).

paddle2onnx also prints progress lines on standard output and, on a failure, logs the reason
there and calls ``sys.exit(-1)``: :func:`onnx_program` holds both file descriptors back while it
runs, drops its ``[Paddle2ONNX]`` lines, and turns a failure into one :class:`OnnxExportError`
line quoting the reason.

Paddle and the extra's packages are imported on first use: the errors above can be named (the
CLI's one-line errors) without loading them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from autodl_design.fileio import replace_atomic

if TYPE_CHECKING:
    from autodl_design.nn.predictor import Batches

__all__ = [
    "INPUT_NAME",
    "INSTALL_HINT",
    "OnnxExportError",
    "OnnxPredictor",
    "OnnxUnavailable",
    "onnx_available",
    "onnx_program",
    "predict_logits",
    "require_onnx",
    "write_onnx",
]

INSTALL_HINT = 'pip install "autodl-design[onnx]" (in a checkout: pip install -e ".[onnx]")'
PACKAGES = ("paddle2onnx", "onnxruntime", "onnx")
OPSET = 13
INPUT_NAME = "image"
# The largest |ONNX - Paddle| accepted, relative to max(1, the largest |output|): float32
# rounding of a deep network is ~1e-6 of it; a wrong attribute is orders of magnitude above.
TOLERANCE = 1e-3
_CHATTER = b"[Paddle2ONNX]"
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


class OnnxUnavailable(RuntimeError):
    """The onnx extra (paddle2onnx, onnxruntime) is not installed; the message says how to."""


class OnnxExportError(RuntimeError):
    """paddle2onnx could not convert a network, or its ONNX model computes something else."""


def onnx_available() -> bool:
    """Whether the onnx extra's packages can be imported (looked up, not imported)."""
    return all(importlib.util.find_spec(name) is not None for name in PACKAGES)


def require_onnx() -> None:
    """Import the extra's packages, or raise :class:`OnnxUnavailable` saying how to install."""
    try:
        for name in PACKAGES:
            __import__(name)
    except ImportError as e:
        raise OnnxUnavailable(
            f"the onnx engine needs paddle2onnx and onnxruntime ({e}): {INSTALL_HINT}"
        ) from None


def onnx_program(
    layer: Any,
    chw: tuple[int, int, int],
    output_name: str = "logits",
    metadata: dict[str, str] | None = None,
) -> bytes:
    """The ONNX model (bytes) of ``layer`` in eval mode: input ``image`` float32
    ``[batch, C, H, W]``, output ``output_name``; ``metadata`` becomes its metadata_props.

    Its outputs are checked against the layer's on random inputs (:data:`TOLERANCE`) before it
    is returned. The layer itself is left as it was. Raises :class:`OnnxUnavailable` or
    :class:`OnnxExportError`.
    """
    require_onnx()
    import onnx

    slopes = _leaky_slopes(layer)
    portable = len(slopes) > 1  # several slopes: see the module docstring
    model = onnx.load_from_string(_convert(layer, chw, portable))
    graph = model.graph
    if not portable and slopes:
        (slope,) = slopes
        for node in graph.node:
            if node.op_type == "LeakyRelu":
                kept = [a for a in node.attribute if a.name != "alpha"]
                node.ClearField("attribute")
                node.attribute.extend([*kept, onnx.helper.make_attribute("alpha", slope)])
    _rename_output(graph, output_name)
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=str(value))
    data = model.SerializeToString()
    check_program(layer, data, chw)
    return data


def write_onnx(data: bytes, path: str | Path) -> Path:
    """Write an ONNX model atomically (a sibling ``.tmp``, then a rename); returns ``path``."""
    path = Path(path)
    replace_atomic(path, lambda tmp: tmp.write_bytes(data))
    return path


def check_program(layer: Any, data: bytes, chw: tuple[int, int, int], n: int = 4) -> float:
    """Largest |ONNX - layer| on ``n`` random inputs (relative to max(1, max |output|)); raises
    :class:`OnnxExportError` when it is over :data:`TOLERANCE`."""
    import paddle

    x = np.random.default_rng(0).standard_normal((n, *chw)).astype(np.float32)
    was_training = layer.training
    layer.eval()
    try:
        with paddle.no_grad():
            expected = layer(paddle.to_tensor(x)).numpy()
    finally:
        if was_training:
            layer.train()
    got = OnnxPredictor(data, num_threads=1)(x)
    if got.shape != expected.shape:
        raise OnnxExportError(
            f"the ONNX model's output has shape {got.shape}, the network's {expected.shape}"
        )
    diff = float(np.abs(got - expected).max()) / max(1.0, float(np.abs(expected).max()))
    if not diff <= TOLERANCE:  # also NaN
        raise OnnxExportError(
            f"the ONNX model computes something else than the network (relative max difference "
            f"{diff:.2e} > {TOLERANCE:g}): a paddle2onnx conversion error"
        )
    return diff


class OnnxPredictor:
    """One-input, one-output onnxruntime session (CPU): float32 array in, float32 array out.

    ``model``: ONNX bytes or a file; ``num_threads`` (onnxruntime's ``intra_op_num_threads``)
    defaults to :func:`~autodl_design.nn.predictor.default_threads`, as the oneDNN predictor's.
    """

    def __init__(self, model: bytes | str | Path, num_threads: int | None = None) -> None:
        require_onnx()
        import onnxruntime as ort

        from autodl_design.nn.predictor import default_threads

        options = ort.SessionOptions()
        options.intra_op_num_threads = num_threads or default_threads()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # warnings ("Removing initializer ... not used") are noise; errors are raised anyway
        options.log_severity_level = 3
        source = model if isinstance(model, bytes) else str(model)
        self.session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        feed = {self.input_name: np.ascontiguousarray(x, dtype=np.float32)}
        return self.session.run([self.output_name], feed)[0]


def predict_logits(
    net: Any,
    x: np.ndarray,
    batch_size: int,
    batches: Batches,
    num_threads: int | None = None,
) -> np.ndarray:
    """Logits ``(N, K)`` float32 of ``net`` (eval mode) for uint8 images ``(N, H, W, C)``,
    through an ONNX export of its current weights; ``batches`` as in
    :func:`autodl_design.nn.predictor.predict_logits`."""
    _, h, w, c = x.shape
    predictor = OnnxPredictor(onnx_program(net, (c, h, w)), num_threads)
    dummy = np.zeros(len(x), dtype=np.int64)
    rng = np.random.default_rng(0)
    outs = [predictor(xb) for xb, _ in batches(x, dummy, batch_size, rng, False, False)]
    if not outs:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(outs).astype(np.float32, copy=False)


def _leaky_slopes(layer: Any) -> set[float]:
    import paddle

    return {
        float(m._negative_slope)
        for m in layer.sublayers(include_self=True)
        if isinstance(m, paddle.nn.LeakyReLU)
    }


def _convert(layer: Any, chw: tuple[int, int, int], portable: bool) -> bytes:
    """paddle2onnx's ONNX bytes of ``layer``'s static program (no file left behind)."""
    import paddle2onnx

    from autodl_design.nn.static_model import save_static

    with tempfile.TemporaryDirectory(prefix="autodl-onnx-") as tmp:
        program = save_static(layer, Path(tmp) / "model", chw, portable=portable)
        params = program.with_suffix(".pdiparams")
        with _held_output() as held:
            try:
                # save_file=None: the bytes come back and no optimisation tool runs (the
                # default, polygraphy, would try to pip-install onnx-graphsurgeon at run time);
                # onnxruntime optimises the graph itself when a session is created.
                data = paddle2onnx.export(
                    str(program), str(params), save_file=None, opset_version=OPSET
                )
            except (Exception, SystemExit) as e:
                data, error = None, e
            else:
                error = None
                held.passthrough = True
    if not isinstance(data, bytes) or not data:
        reason = _failure_line(held.text) or (f"{type(error).__name__}: {error}" if error else "")
        raise OnnxExportError(f"paddle2onnx could not convert the network: {reason or 'no model'}")
    return data


def _rename_output(graph: Any, name: str) -> None:
    old = graph.output[0].name
    if old == name:
        return
    for node in graph.node:
        node.output[:] = [name if o == old else o for o in node.output]
        node.input[:] = [name if i == old else i for i in node.input]
    graph.output[0].name = name


class _Held:
    text = ""
    passthrough = False  # set when the block succeeded: its other output is written out


@contextlib.contextmanager
def _held_output() -> Iterator[_Held]:
    """Hold back what is written to file descriptors 1 and 2 while the block runs; afterwards,
    if the block set ``passthrough``, write to stderr what is not paddle2onnx's progress
    chatter (else nothing: a failure's traceback would break the one-line error). The held
    text is kept for the caller (a failure's reason is in it)."""
    held = _Held()
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        # Python's own streams too, for when sys.stdout is not file descriptor 1 (pytest)
        stream = open(os.dup(sink.fileno()), "w", buffering=1, closefd=True)  # noqa: SIM115
        try:
            with stream, contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
                yield held
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in zip((1, 2), saved, strict=True):
                os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            raw = sink.read()
            held.text = _COLOUR.sub("", raw.decode(errors="replace"))
            lines = raw.splitlines(keepends=True) if held.passthrough else []
            kept = b"".join(line for line in lines if _CHATTER not in line)
            while kept:
                kept = kept[os.write(2, kept) :]


def _failure_line(text: str) -> str:
    """paddle2onnx's reason for a failure, on one line, from its held output."""
    for line in text.splitlines():
        if "Failed to convert" in line:
            reason = line.split("Failed to convert PaddlePaddle model:", 1)[-1]
            return " ".join(reason.split()).rstrip(".")
    return ""
