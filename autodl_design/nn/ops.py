"""The evaluator's op registry: one layer factory per op name in :data:`space.OP_NAMES`.

``OPS[name](channels, stride, cfg)`` returns a ``paddle.nn.Layer`` mapping a float32 NCHW tensor
``(B, channels, H, W)`` to ``(B, channels, ceil(H / stride), ceil(W / stride))``. Every op pads
"same" (``padding = dilation * (k - 1) / 2``), so stride 1 keeps the size and stride 2 gives
``ceil(H / 2)`` for every op alike: summed node inputs always have equal shapes.

The cell applies BN-LeakyReLU *before* each op (pre-activation), and every consumer of an op's
output (the next node, the cell's 1x1 projection, the next cell) normalises again, so a single
conv op is a bias-free conv without a trailing BN: on this CPU small nets are bound by per-op
overhead, and a BN there would be redundant work. The factorised ``conv1xk_kx1`` ops put
BN-LeakyReLU between their two convs; without it the pair is one linear rank-limited kxk conv.

Adding an op = one entry in :data:`OPS` (and its name in ``space.OP_NAMES``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import paddle
from paddle import nn

from autodl_design.config import NetworkConfig
from autodl_design.nn.onednn import Conv2D
from autodl_design.nn.onednn.eltwise import GELU, LeakyReLU, ReLU
from autodl_design.nn.onednn.pool import AvgPool2D, MaxPool2D
from autodl_design.space import OP_NAMES

OpFactory = Callable[[int, int, NetworkConfig], nn.Layer]

# TF's truncated-normal variance scaling divides the std by the std of a unit normal truncated at
# +-2 so the weights keep the He variance 2 / fan_in after truncation.
_TRUNCATED_STD = 0.87962566103423978


def he_truncated_normal(fan_in: int) -> nn.initializer.Initializer:
    """Truncated-normal He initialiser: N(0, 2/fan_in) cut at 2 std, variance kept at 2/fan_in."""
    std = math.sqrt(2.0 / fan_in) / _TRUNCATED_STD
    return nn.initializer.TruncatedNormal(mean=0.0, std=std, a=-2.0 * std, b=2.0 * std)


def conv2d(
    c_in: int,
    c_out: int,
    kernel: int | tuple[int, int],
    stride: int | tuple[int, int] = 1,
    dilation: int = 1,
) -> nn.Conv2D:
    """Bias-free "same"-padded conv with truncated-normal He weights (odd kernels only); a
    :class:`autodl_design.nn.onednn.Conv2D`, so CPU training runs it through oneDNN."""
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    padding = (dilation * (kh - 1) // 2, dilation * (kw - 1) // 2)
    return Conv2D(
        c_in,
        c_out,
        (kh, kw),
        stride=stride,
        padding=padding,
        dilation=dilation,
        weight_attr=paddle.ParamAttr(initializer=he_truncated_normal(c_in * kh * kw)),
        bias_attr=False,
    )


# Marks a parameter that the optimiser must leave at its initial value (see batch_norm).
FIXED = "autodl_design_fixed"


def is_fixed(param: paddle.Tensor) -> bool:
    """Whether ``param`` is a fixed (never updated) parameter: see :func:`batch_norm`."""
    return bool(getattr(param, FIXED, False))


def batch_norm(channels: int, cfg: NetworkConfig) -> nn.BatchNorm2D:
    """BN with the config's momentum; Paddle's convention matches TF's:
    ``running = momentum * running + (1 - momentum) * batch``. With ``cfg.bn_scale`` false the
    scale stays at 1 (marked :data:`FIXED`: the optimiser gives it learning rate 0); the bias
    always trains. The scale cannot simply be non-trainable: Paddle 3.3's batch-norm backward
    then computes no gradient for the bias either."""
    bn = nn.BatchNorm2D(channels, momentum=cfg.bn_momentum, epsilon=cfg.bn_epsilon)
    if not cfg.bn_scale:
        setattr(bn.weight, FIXED, True)
    return bn


def activation(cfg: NetworkConfig) -> nn.Layer:
    """The config's activation: ``leaky_relu`` (slope ``cfg.leaky_slope``), ``relu`` or ``gelu``
    (Paddle's layer classes, computed by oneDNN in eager CPU training: :mod:`.onednn`)."""
    if cfg.activation == "gelu":
        return GELU()
    if cfg.activation == "relu":
        return ReLU()
    return LeakyReLU(cfg.leaky_slope)


def bn_relu(channels: int, cfg: NetworkConfig) -> nn.Sequential:
    """BN then the config's activation: the pre-activation used throughout the networks."""
    return nn.Sequential(batch_norm(channels, cfg), activation(cfg))


def fan_in_uniform_init(layer: nn.Layer) -> None:
    """Every trained ``Conv2D`` and ``Linear`` weight in ``layer`` drawn from U(+-1/sqrt(fan_in))
    (PyTorch's default init; Paddle's RNG, so ``paddle.seed`` fixes it). Fixed weights (the
    whitening stem) are left alone."""
    for m in layer.sublayers(include_self=True):
        if not isinstance(m, (nn.Conv2D, nn.Linear)) or m.weight.stop_gradient:
            continue
        shape = m.weight.shape
        fan_in = shape[0] if isinstance(m, nn.Linear) else int(np.prod(shape[1:]))
        bound = 1.0 / math.sqrt(fan_in)
        m.weight.set_value(paddle.uniform(shape, min=-bound, max=bound))


def identity_init(layer: nn.Layer) -> None:
    """Set the first ``c_in`` filters of every ``Conv2D`` in ``layer`` to the identity (Dirac)
    map, as airbench does: at the start a conv passes its input through, a deep stack of them
    trains like a shallow one. Other filters keep their random initialisation."""
    for conv in [m for m in layer.sublayers(include_self=True) if isinstance(m, nn.Conv2D)]:
        w = conv.weight.numpy()
        c_out, c_in, kh, kw = w.shape
        if conv._groups != 1 or conv.weight.stop_gradient:
            continue
        n = min(c_out, c_in)
        w[:n] = 0.0
        w[np.arange(n), np.arange(n), kh // 2, kw // 2] = 1.0
        conv.weight.set_value(w)


def _conv(kernel: int, dilation: int = 1) -> OpFactory:
    def factory(channels: int, stride: int, cfg: NetworkConfig) -> nn.Layer:
        return conv2d(channels, channels, kernel, stride, dilation)

    return factory


def _factorised(k: int) -> OpFactory:
    def factory(channels: int, stride: int, cfg: NetworkConfig) -> nn.Layer:
        return nn.Sequential(
            conv2d(channels, channels, (1, k), (1, stride)),
            bn_relu(channels, cfg),
            conv2d(channels, channels, (k, 1), (stride, 1)),
        )

    return factory


def _max_pool(k: int) -> OpFactory:
    def factory(channels: int, stride: int, cfg: NetworkConfig) -> nn.Layer:
        return MaxPool2D(k, stride=stride, padding=k // 2)

    return factory


def _avg_pool(k: int) -> OpFactory:
    # exclusive=True: border windows average only real pixels, not the zero padding.
    def factory(channels: int, stride: int, cfg: NetworkConfig) -> nn.Layer:
        return AvgPool2D(k, stride=stride, padding=k // 2, exclusive=True)

    return factory


OPS: dict[str, OpFactory] = {
    "conv1x1": _conv(1),
    "conv3x3": _conv(3),
    "conv5x5": _conv(5),
    "dil_conv3x3": _conv(3, dilation=2),
    "conv1x3_3x1": _factorised(3),
    "conv1x5_5x1": _factorised(5),
    "max_pool3x3": _max_pool(3),
    "max_pool5x5": _max_pool(5),
    "avg_pool3x3": _avg_pool(3),
    "avg_pool5x5": _avg_pool(5),
}

_missing = set(OP_NAMES) - set(OPS)
if _missing:
    raise ImportError(f"ops.OPS lacks factories for {sorted(_missing)}")


def make_op(name: str, channels: int, stride: int, cfg: NetworkConfig) -> nn.Layer:
    """Build op ``name`` (channels in = channels out); KeyError lists the known ops."""
    try:
        factory = OPS[name]
    except KeyError:
        raise KeyError(f"unknown op {name!r}; registered ops: {', '.join(OPS)}") from None
    return factory(channels, stride, cfg)
