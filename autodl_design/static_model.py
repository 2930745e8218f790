"""Saving a network as a static Paddle model (``paddle.jit.save``), for Paddle Inference.

Used for the oneDNN predictor (:mod:`autodl_design.onednn_predictor`) and the exported ensemble
(:func:`autodl_design.inference.export_ensemble`).

Paddle 3.3.1 writes ``W... eager_utils.cc] Paddle static graph(PIR) not support input out
tensor for now!!!!!`` to stderr the first time a traced network adds two tensors (every residual
cell does), although nothing is wrong with the saved model (Paddle issue #77031: PIR has no
``out=`` argument yet, and the add is traced without one). :func:`save_static` drops that line
and passes everything else Paddle writes to stderr through.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import paddle

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


def save_static(layer: paddle.nn.Layer, prefix: str | Path, chw: tuple[int, int, int]) -> Path:
    """Save ``layer`` in eval mode as a static model with input ``[None, C, H, W]`` float32.

    The input is named ``image``. Writes ``prefix.json`` (or ``.pdmodel``) and
    ``prefix.pdiparams`` and returns the program file. The layer's train/eval mode is restored
    afterwards.
    """
    import autodl_design.network
    import autodl_design.ops

    # dy2static cannot rewrite zip(strict=True) in the network code; its forward has no
    # tensor-dependent control flow, so running it as plain Python while tracing is exact.
    paddle.jit.ignore_module([autodl_design.network, autodl_design.ops])
    was_training = layer.training
    layer.eval()
    try:
        spec = paddle.static.InputSpec([None, *chw], "float32", name="image")
        with stderr_without(SPURIOUS_STDERR):
            paddle.jit.save(layer, str(prefix), input_spec=[spec])
    finally:
        if was_training:
            layer.train()
    path = model_file(prefix)
    if path is None:
        raise FileNotFoundError(f"paddle.jit.save wrote no model file for {prefix}")
    return path


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
