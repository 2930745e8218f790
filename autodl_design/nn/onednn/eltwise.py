"""Activations on oneDNN (GELU, ReLU, LeakyReLU), differentiable, as Paddle's layer classes.

Why: Paddle 3.3's CPU GELU and its gradient ran ~4x slower than PyTorch's on the wide frame's
maps (``docs/cpu_speed.md``); oneDNN's eltwise primitives work on the plain NCHW tensors
directly, so nothing is reordered.
"""

from __future__ import annotations

import ctypes

import paddle

from autodl_design.nn.onednn import library as dnnl

__all__ = ["GELU", "LeakyReLU", "ReLU", "activate"]

_RELU, _GELU_ERF = 0x20, 0x20 + 17  # dnnl_eltwise_relu (alpha: negative slope), _gelu_erf


class _Eltwise:
    """Forward and backward primitives of one activation on one shape (plain layout)."""

    def __init__(self, shape: tuple[int, ...], alg: int, alpha: float) -> None:
        lib, md = dnnl.lib(), dnnl.plain_desc(shape)
        engine = dnnl.runtime().engine
        fwd, bwd = ctypes.c_void_p(), ctypes.c_void_p()
        a, b = ctypes.c_float(alpha), ctypes.c_float(0.0)
        dnnl.check(lib.dnnl_eltwise_forward_primitive_desc_create(
            ctypes.byref(fwd), engine, dnnl.FORWARD_TRAINING, alg, md, md, a, b, None),
            "eltwise forward")  # fmt: skip
        dnnl.check(lib.dnnl_eltwise_backward_primitive_desc_create(
            ctypes.byref(bwd), engine, alg, md, md, md, a, b, fwd, None),
            "eltwise backward")  # fmt: skip
        self.fwd, self.bwd = dnnl.Primitive(fwd), dnnl.Primitive(bwd)
        self.x, self.y, self.dy, self.dx = (dnnl.Memory(md.value) for _ in range(4))
        dnnl.destroy_primitive_desc(fwd, bwd)
        dnnl.destroy_desc(md)


_eltwises = dnnl.ShapeCache(_Eltwise)


class _EltwiseFunction(paddle.autograd.PyLayer):
    @staticmethod
    def forward(ctx, x, alg, alpha):
        x = dnnl.contiguous(x)
        op = _eltwises(tuple(x.shape), alg, alpha)
        y = paddle.empty(x.shape, dtype="float32")
        op.fwd([(dnnl.ARG_SRC, op.x.bind(x.data_ptr())), (dnnl.ARG_DST, op.y.bind(y.data_ptr()))])
        ctx.key = (tuple(x.shape), alg, alpha)
        ctx.save_for_backward(x)
        return y

    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved_tensor()
        dy = dnnl.contiguous(dy)
        op = _eltwises(*ctx.key)
        dx = paddle.empty(x.shape, dtype="float32")
        op.bwd([(dnnl.ARG_SRC, op.x.bind(x.data_ptr())),
                (dnnl.ARG_DIFF_DST, op.dy.bind(dy.data_ptr())),
                (dnnl.ARG_DIFF_SRC, op.dx.bind(dx.data_ptr()))])  # fmt: skip
        return dx


def _alg(kind: str, slope: float) -> tuple[int, float]:
    return (_GELU_ERF, 0.0) if kind == "gelu" else (_RELU, float(slope if kind != "relu" else 0))


def activate(x: paddle.Tensor, kind: str, slope: float = 0.0) -> paddle.Tensor:
    """``gelu`` (erf form), ``relu`` or ``leaky_relu`` (``slope``) of a 4-D float32 tensor."""
    return _EltwiseFunction.apply(x, *_alg(kind, slope))


def _fits(x: paddle.Tensor, kind: str, slope: float = 0.0) -> bool:
    return x.ndim == 4 and dnnl.usable(x) and _eltwises.ready(tuple(x.shape), *_alg(kind, slope))


class GELU(paddle.nn.GELU):
    """``paddle.nn.GELU`` (erf form) on oneDNN when eager on CPU; Paddle's op otherwise."""

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        if not self._approximate and _fits(x, "gelu"):
            return activate(x, "gelu")
        return super().forward(x)


class ReLU(paddle.nn.ReLU):
    """``paddle.nn.ReLU`` on oneDNN when eager on CPU; Paddle's op otherwise."""

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return activate(x, "relu") if _fits(x, "relu") else super().forward(x)


class LeakyReLU(paddle.nn.LeakyReLU):
    """``paddle.nn.LeakyReLU`` on oneDNN when eager on CPU; Paddle's op otherwise."""

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        if _fits(x, "leaky_relu", self._negative_slope):
            return activate(x, "leaky_relu", self._negative_slope)
        return super().forward(x)
