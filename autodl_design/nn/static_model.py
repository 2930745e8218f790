"""Saving a network as a static Paddle model (``paddle.jit.save``), for Paddle Inference.

Used for the oneDNN predictor (:mod:`autodl_design.nn.predictor`) and the exported ensemble
(:func:`autodl_design.zoo.inference.export_ensemble`).

Paddle 3.3.1 writes ``W... eager_utils.cc] Paddle static graph(PIR) not support input out
tensor for now!!!!!`` to stderr the first time a traced network adds two tensors (every residual
cell does), although nothing is wrong with the saved model (Paddle issue #77031: PIR has no
``out=`` argument yet, and the add is traced without one). :func:`save_static` drops that line
and passes everything else Paddle writes to stderr through.

Paddle Inference's default CPU configuration (oneDNN on, all its passes) crashes (SIGSEGV in
``conv_activation_onednn_fuse_pass``) on a convolution followed by a LeakyReLU, which every
network here has. A *portable* save (the default; what ``autodl-design export`` writes) computes
LeakyReLU with slope ``s`` in [0, 1] as ``maximum(x, s * x)``, the same function with the same
float32 results, which that pass leaves alone: it runs under any Paddle Inference
configuration, oneDNN on or off. It is slower: measured on a width-24 network, one thread, idle
machine, 207 (oneDNN) / 236 (without) img/s against 333 for the LeakyReLU program with that pass
deleted, which is what the in-process oneDNN engine (:mod:`autodl_design.nn.predictor`) uses.
Every save also has the cells slice their sources rather than split them
(:func:`autodl_design.nn.network.sources_as_slices`), which the predictor without oneDNN needs.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import paddle

import autodl_design.nn.network
import autodl_design.nn.ops
from autodl_design.nn.network import sources_as_slices

# The part of Paddle's spurious message that identifies it.
SPURIOUS_STDERR = b"not support input out tensor for now"
MODEL_EXTENSIONS = (".json", ".pdmodel")  # Paddle 3 writes a PIR program (.json); Paddle 2 .pdmodel


def model_file(prefix: str | Path) -> Path | None:
    """The program file saved under ``prefix`` (``prefix.json`` or ``prefix.pdmodel``), or None."""
    for ext in MODEL_EXTENSIONS:
        path = Path(f"{prefix}{ext}")
        if path.is_file():
            return path
    return None


def save_static(
    layer: paddle.nn.Layer, prefix: str | Path, chw: tuple[int, int, int], portable: bool = True
) -> Path:
    """Save ``layer`` in eval mode as a static model with input ``[None, C, H, W]`` float32.

    The input is named ``image``. Writes ``prefix.json`` (or ``.pdmodel``) and
    ``prefix.pdiparams`` and returns the program file. ``portable``: LeakyReLU as ``maximum``,
    so that any Paddle Inference configuration runs it (see the module docstring); without it,
    a oneDNN predictor must delete ``conv_activation_onednn_fuse_pass``. The layer itself is left
    as it was (sublayers and train/eval mode).
    """
    # dy2static cannot rewrite zip(strict=True) in the network code; its forward has no
    # tensor-dependent control flow, so running it as plain Python while tracing is exact.
    paddle.jit.ignore_module([autodl_design.nn.network, autodl_design.nn.ops])
    was_training = layer.training
    layer.eval()
    try:
        spec = paddle.static.InputSpec([None, *chw], "float32", name="image")
        activations = leaky_relu_as_maximum(layer) if portable else contextlib.nullcontext()
        with stderr_without(SPURIOUS_STDERR), activations, sources_as_slices(layer):
            paddle.jit.save(layer, str(prefix), input_spec=[spec])
    finally:
        if was_training:
            layer.train()
    path = model_file(prefix)
    if path is None:
        raise FileNotFoundError(f"paddle.jit.save wrote no model file for {prefix}")
    return path


class MaximumLeakyReLU(paddle.nn.Layer):
    """LeakyReLU as ``maximum(x, slope * x)``, equal to it for ``0 <= slope <= 1``."""

    def __init__(self, slope: float) -> None:
        super().__init__()
        self.slope = slope

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return paddle.maximum(x, x * self.slope)


@contextlib.contextmanager
def leaky_relu_as_maximum(layer: paddle.nn.Layer) -> Iterator[None]:
    """Within the block, every ``nn.LeakyReLU`` of ``layer`` with a slope in [0, 1] is replaced
    by a :class:`MaximumLeakyReLU`; the original sublayers are put back afterwards."""
    swapped = []
    for parent in [layer, *layer.sublayers()]:
        for name, child in list(parent._sub_layers.items()):
            if isinstance(child, paddle.nn.LeakyReLU) and 0 <= child._negative_slope <= 1:
                parent._sub_layers[name] = MaximumLeakyReLU(child._negative_slope)
                swapped.append((parent, name, child))
    try:
        yield
    finally:
        for parent, name, child in swapped:
            parent._sub_layers[name] = child


@contextlib.contextmanager
def stderr_without(marker: bytes) -> Iterator[None]:
    """Hold back what is written to file descriptor 2 (C++ and Python alike) while the block
    runs, then write it out minus the lines containing ``marker``.

    Lines are delayed, never lost: they are written out even if the block raises.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines = held.read().splitlines(keepends=True)
            kept = b"".join(line for line in lines if marker not in line)
            while kept:
                kept = kept[os.write(2, kept) :]
