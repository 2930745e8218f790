"""Inference through a Paddle Inference predictor with oneDNN: 1.3-2.4x dygraph's speed on a CPU.

Dygraph inference in Paddle 3.3.1 runs Paddle's own CPU kernels (conv = im2col + MKL sgemm per
image). A Paddle Inference predictor with oneDNN runs oneDNN's convolution, pooling and
batch-norm primitives and folds each BN that follows a conv into the conv. Measured here (one
thread, batch 128; ``benchmarks/train_throughput.py``): 1.3-2.4x the dygraph img/s on searched
networks and ~2.4x on a ResNet-20 (1.2x on the width-24 m1 of ``pretrained/archs``, idle
machine), at the price of ~0.5 s to export and build the predictor. It
pays off for many images with fixed weights (ensembles, a final test set), not for a validation
pass of 1,000 images every epoch.

Paddle 3.3.1's oneDNN pass list segfaults on these networks in
``conv_activation_onednn_fuse_pass`` (fusing LeakyReLU into a conv; ReLU fuses fine), so that
pass is deleted (:data:`BROKEN_ONEDNN_PASSES`) and the network saved with its LeakyReLU ops
(``save_static(portable=False)``: ~1.6x the speed of the portable form that needs no pass
deleted). Outputs match dygraph to float32 rounding (relative max difference ~1e-6 on trained
networks).

Dygraph *training* cannot use oneDNN in Paddle 3.3.1: the dygraph kernel choice ignores
``FLAGS_use_mkldnn``/``FLAGS_use_onednn``, and a ``to_static`` forward with them set crashes
in ``run_program`` (forward pass: "dst_tensor shall be defined"; training: SIGSEGV).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import paddle

from autodl_design.config import INFERENCE_ENGINES
from autodl_design.nn.static_model import save_static

BROKEN_ONEDNN_PASSES = ("conv_activation_onednn_fuse_pass",)
ENGINES = INFERENCE_ENGINES
# "auto" uses oneDNN from this many images on. Break-even of the ~0.5-0.7 s build measured here:
# ~600 images (ResNet-20) to ~2,000 (small 5-node cells); a 1,000-image validation stays dygraph.
ONEDNN_MIN_IMAGES = 2500
_PREFIX = "model"


def choose_engine(engine: str, n_images: int) -> str:
    """``"dygraph"``, ``"onednn"`` or ``"onnx"`` for ``engine`` in :data:`ENGINES` and
    ``n_images``; ``"auto"`` is oneDNN or dygraph, never ONNX (an optional extra)."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "auto":
        return "onednn" if n_images >= ONEDNN_MIN_IMAGES else "dygraph"
    return engine


_configured_threads: list[int] = []  # the last count remember_threads() was given


def remember_threads(num_threads: int) -> None:
    """Make ``num_threads`` what :func:`default_threads` returns from now on (called by
    :func:`autodl_design.nn.runtime.configure_threads`, so ``--threads`` reaches every engine)."""
    _configured_threads[:] = [max(1, int(num_threads))]


def default_threads() -> int:
    """The thread count of every inference engine here: the one last given to
    :func:`~autodl_design.nn.runtime.configure_threads` in this process, else
    ``OMP_NUM_THREADS`` (the count Paddle's CPU kernels can use in this process), else 1."""
    if _configured_threads:
        return _configured_threads[0]
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "1")))
    except ValueError:
        return 1


def predictor_config(
    model_file: str | Path,
    params_file: str | Path,
    num_threads: int | None = None,
    onednn: bool = True,
) -> Any:
    """A CPU ``paddle.inference.Config`` for a saved static model, oneDNN on or off.

    ``num_threads`` defaults to :func:`default_threads`.
    """
    import paddle.inference as pi

    config = pi.Config(str(model_file), str(params_file))
    config.disable_gpu()
    config.disable_glog_info()
    config.set_cpu_math_library_num_threads(num_threads or default_threads())
    if onednn:
        config.enable_onednn()
        for name in BROKEN_ONEDNN_PASSES:
            config.delete_pass(name)
    else:
        config.disable_onednn()
    return config


class Predictor:
    """One-input, one-output predictor: float32 array in, float32 array out."""

    def __init__(self, config: Any) -> None:
        import paddle.inference as pi

        self._predictor = pi.create_predictor(config)
        self._input = self._predictor.get_input_handle(self._predictor.get_input_names()[0])
        self._output = self._predictor.get_output_handle(self._predictor.get_output_names()[0])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self._input.reshape(list(x.shape))
        self._input.copy_from_cpu(np.ascontiguousarray(x, dtype=np.float32))
        self._predictor.run()
        return self._output.copy_to_cpu()


def layer_predictor(
    layer: paddle.nn.Layer,
    chw: tuple[int, int, int],
    num_threads: int | None = None,
    onednn: bool = True,
) -> Predictor:
    """A predictor of ``layer`` with its current weights (later weight changes are not seen)."""
    with tempfile.TemporaryDirectory(prefix="autodl-predictor-") as tmp:
        # LeakyReLU kept (with the broken pass deleted): ~1.6x the img/s of the portable form.
        model = save_static(layer, Path(tmp) / _PREFIX, chw, portable=False)
        # The predictor reads both files while it is created, so the directory can go after.
        return saved_predictor(model, num_threads, onednn)


def saved_predictor(model: Path, num_threads: int | None = None, onednn: bool = True) -> Predictor:
    """A predictor of a program :func:`~autodl_design.nn.static_model.save_static` wrote:
    ``model`` is its program file, the weights are the ``.pdiparams`` file beside it."""
    params = model.with_suffix(".pdiparams")
    return Predictor(predictor_config(model, params, num_threads, onednn))


Batches = Callable[..., Iterator[tuple[np.ndarray, np.ndarray]]]


def predict_logits(
    net: paddle.nn.Layer,
    x: np.ndarray,
    batch_size: int,
    batches: Batches,
    num_threads: int | None = None,
    onednn: bool = True,
) -> np.ndarray:
    """Logits ``(N, K)`` float32 of ``net`` (eval mode) for uint8 images ``(N, H, W, C)``.

    ``batches`` is :func:`autodl_design.data.iterate_batches` or a stand-in; it is called without
    shuffling or augmentation, as dygraph evaluation does.
    """
    _, h, w, c = x.shape
    predictor = layer_predictor(net, (c, h, w), num_threads, onednn)
    dummy = np.zeros(len(x), dtype=np.int64)
    rng = np.random.default_rng(0)
    outs = [predictor(xb) for xb, _ in batches(x, dummy, batch_size, rng, False, False)]
    return np.concatenate(outs).astype(np.float32, copy=False)
