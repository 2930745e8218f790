"""What training, search and inference share at run time: threads, eval passes, lr schedule.

* Threads: Paddle 3.3.1 has no ``paddle.set_num_threads``; ``paddle.base.core.set_num_threads``
  sets MKL's and OpenMP's thread count for the calling thread. With 2 threads it used ~2 cores
  only when ``OMP_NUM_THREADS`` >= 2 was already in the environment when Paddle was imported
  (the OpenMP runtime reads it once), so start multi-threaded workers with it set.
* :func:`predict` / :func:`evaluate_accuracy` run a oneDNN predictor
  (:mod:`autodl_design.nn.predictor`) for 2,500 images or more (``engine="auto"``): about 2x
  faster per image but ~0.5 s to build, so a 1,000-image validation pass keeps dygraph.
  ``engine="onnx"`` runs an onnxruntime session instead (:mod:`autodl_design.nn.onnx_engine`,
  the optional onnx extra); ``"auto"`` never chooses it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator

import numpy as np
import paddle
import paddle.nn.functional as F

__all__ = [
    "Batches",
    "configure_threads",
    "cosine_lr",
    "evaluate_accuracy",
    "predict",
    "softmax",
    "tta_views",
]


Batches = Callable[..., Iterator[tuple[np.ndarray, np.ndarray]]]
"""``batches(x_uint8, y, batch_size, rng, shuffle, augment, drop_last=False, cutout=0)`` yielding
``((B, C, H, W) float32, (B,) int64)``, as :func:`autodl_design.data.iterate_batches`."""


def configure_threads(num_threads: int) -> None:
    """Ask Paddle's CPU math libraries (MKL, OpenMP) for ``num_threads`` threads, and make it
    the thread count of the inference engines' predictors and sessions (oneDNN, ONNX)."""
    from autodl_design.nn.predictor import remember_threads

    paddle.base.core.set_num_threads(num_threads)
    remember_threads(num_threads)


def _default_batches() -> Batches:
    from autodl_design.data import iterate_batches

    return iterate_batches


def predict(
    net: paddle.nn.Layer,
    x: np.ndarray,
    batch_size: int,
    batches: Batches | None = None,
    engine: str = "auto",
) -> np.ndarray:
    """Logits ``(N, K)`` float32 for uint8 images ``x`` ``(N, H, W, C)``, in eval mode.

    ``engine``: ``"dygraph"``; ``"onednn"``, a Paddle Inference predictor of the current weights
    (about 2x the img/s, equal to float32 rounding, ~0.5 s to build); ``"onnx"``, an onnxruntime
    session of an ONNX export of them (:mod:`autodl_design.nn.onnx_engine`; needs the onnx
    extra, else :class:`~autodl_design.nn.onnx_engine.OnnxUnavailable`); ``"auto"``: oneDNN from
    ``autodl_design.nn.predictor.ONEDNN_MIN_IMAGES`` (2,500) images on, where it is faster in all.
    """
    dummy = np.zeros(len(x), dtype=np.int64)
    return _eval_pass(net, x, dummy, batch_size, batches, engine)[0]


def evaluate_accuracy(
    net: paddle.nn.Layer,
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    batches: Batches | None = None,
    engine: str = "auto",
    tta: str = "none",
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``net`` on uint8 ``x`` ``(N, H, W, C)``, labels ``y``.

    ``engine`` as in :func:`predict`; ``tta`` as in :func:`tta_views` (the loss is that of the
    views' weighted mean logits).
    """
    if tta == "none":
        logits, loss = _eval_pass(net, x, y, batch_size, batches, engine)
    else:
        logits = sum(w * predict(net, v, batch_size, batches, engine) for w, v in tta_views(x, tta))
        loss = float(F.cross_entropy(paddle.to_tensor(logits), paddle.to_tensor(y)))
    return loss, float(np.mean(logits.argmax(axis=1) == np.asarray(y)))


def tta_views(x: np.ndarray, tta: str) -> list[tuple[float, np.ndarray]]:
    """Weighted views of uint8 ``(N, H, W, C)`` images for test-time augmentation (airbench's):
    ``none``: the images; ``flip``: the images and their mirrors, 1/2 each; ``flip_translate``:
    those at 1/4 each, plus both shifted by one pixel up-left and down-right (reflected border)
    at 1/8 each."""
    mirror = x[:, :, ::-1]
    if tta == "none":
        return [(1.0, x)]
    if tta == "flip":
        return [(0.5, x), (0.5, mirror)]
    if tta != "flip_translate":
        raise ValueError(f"unknown tta {tta!r}: none, flip or flip_translate")
    h, w = x.shape[1:3]
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    shifted = [padded[:, :h, :w], padded[:, 2 : h + 2, 2 : w + 2]]
    views = [(0.25, x), (0.25, mirror)]
    for s in shifted:
        views += [(0.125, np.ascontiguousarray(s)), (0.125, np.ascontiguousarray(s[:, :, ::-1]))]
    return views


def _eval_pass(net, x, y, batch_size, batches, engine="auto") -> tuple[np.ndarray, float]:
    from autodl_design.nn.predictor import choose_engine, predict_logits

    batches = batches or _default_batches()
    chosen = choose_engine(engine, len(x))
    if chosen == "onnx":  # chosen by name only: its errors (extra missing, export) are raised
        from autodl_design.nn.onnx_engine import predict_logits as onnx_logits

        logits = onnx_logits(net, x, batch_size, batches)
        return logits, _mean_loss(logits, y)
    if chosen == "onednn":
        try:
            logits = predict_logits(net, x, batch_size, batches)
        except Exception as e:  # "auto" must not lose a trained model's evaluation to it
            if engine == "onednn":
                raise
            message = f"oneDNN inference failed, using dygraph: {type(e).__name__}: {e}"
            warnings.warn(message, stacklevel=3)
        else:
            return logits, _mean_loss(logits, y)
    was_training = net.training
    net.eval()
    outs, loss_sum = [], 0.0
    try:
        with paddle.no_grad():
            rng = np.random.default_rng(0)
            for xb, yb in batches(x, y, batch_size, rng, shuffle=False, augment=False):
                logits = net(paddle.to_tensor(xb))
                loss_sum += float(F.cross_entropy(logits, paddle.to_tensor(yb), reduction="sum"))
                outs.append(logits.numpy())
    finally:
        if was_training:
            net.train()
    return np.concatenate(outs), loss_sum / max(1, len(x))


def _mean_loss(logits: np.ndarray, y: np.ndarray) -> float:
    if len(y) == 0:
        return 0.0
    loss = F.cross_entropy(paddle.to_tensor(logits), paddle.to_tensor(y), reduction="sum")
    return float(loss) / len(y)


def cosine_lr(lr: float, lr_min: float, total_steps: int) -> Callable[[int], float]:
    """Learning rate at step ``t``: cosine from ``lr`` (t = 0) to ``lr_min`` (t = total_steps)."""

    def at(t: int) -> float:
        frac = min(t, total_steps) / max(1, total_steps)
        return lr_min + 0.5 * (lr - lr_min) * (1.0 + math.cos(math.pi * frac))

    return at


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of float ``(N, K)`` logits, float32."""
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z, dtype=np.float32)
    return e / e.sum(axis=-1, keepdims=True)
