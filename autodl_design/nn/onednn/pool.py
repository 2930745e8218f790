"""2-D max and average pooling on oneDNN, differentiable, as Paddle's layer classes.

Why: Paddle 3.3's CPU max-pool gradient took ~8% of a wide-frame training step. Max pooling
keeps, per call, the workspace oneDNN writes in the forward pass (where each maximum was) for
the backward pass, in a uint8 Paddle tensor saved with the call. Average pooling excludes the
padding, as ``paddle.nn.AvgPool2D(exclusive=True)`` does.
"""

from __future__ import annotations

import ctypes

import paddle

from autodl_design.nn.onednn import library as dnnl

__all__ = ["AvgPool2D", "MaxPool2D"]

_MAX, _AVG_EXCLUDE = 0x1FF, 0x3FF  # dnnl_pooling_max, dnnl_pooling_avg_exclude_padding


def _out(size: int, k: int, s: int, p: int) -> int:
    return (size + 2 * p - k) // s + 1


class _Pool:
    """Forward (with its workspace for max) and backward primitives of one pooling shape."""

    def __init__(self, shape: tuple[int, ...], alg: int, k, s, p) -> None:
        lib, engine = dnnl.lib(), dnnl.runtime().engine
        y_shape = (
            *shape[:2],
            *(_out(n, k_, s_, p_) for n, k_, s_, p_ in zip(shape[2:], k, s, p, strict=True)),
        )
        pad_r = [
            (y - 1) * s_ + k_ - n - p_
            for y, s_, k_, n, p_ in zip(y_shape[2:], s, k, shape[2:], p, strict=True)
        ]
        geometry = (dnnl.Dims(*s), dnnl.Dims(*k), dnnl.Dims(0, 0), dnnl.Dims(*p), dnnl.Dims(*pad_r))
        xp, yp = dnnl.plain_desc(shape), dnnl.plain_desc(y_shape)
        fwd, bwd = ctypes.c_void_p(), ctypes.c_void_p()
        dnnl.check(lib.dnnl_pooling_forward_primitive_desc_create(
            ctypes.byref(fwd), engine, dnnl.FORWARD_TRAINING, alg, xp, yp, *geometry, None),
            "pooling forward")  # fmt: skip
        dnnl.check(lib.dnnl_pooling_backward_primitive_desc_create(
            ctypes.byref(bwd), engine, alg, xp, yp, *geometry, fwd, None),
            "pooling backward")  # fmt: skip
        self.y_shape = y_shape
        self.fwd, self.bwd = dnnl.Primitive(fwd), dnnl.Primitive(bwd)
        self.x, self.y, self.dy, self.dx = (dnnl.Memory(m.value) for m in (xp, yp, yp, xp))
        ws = lib.dnnl_primitive_desc_query_md(fwd, dnnl.Q_WORKSPACE, 0)
        self.ws_bytes = int(lib.dnnl_memory_desc_get_size(ctypes.c_void_p(ws))) if ws else 0
        self.ws = dnnl.Memory(ws) if ws else None
        dnnl.destroy_primitive_desc(fwd, bwd)
        dnnl.destroy_desc(xp, yp)


_pools = dnnl.ShapeCache(_Pool)


class _PoolFunction(paddle.autograd.PyLayer):
    @staticmethod
    def forward(ctx, x, alg, k, s, p):
        x = dnnl.contiguous(x)
        key = (tuple(x.shape), alg, k, s, p)
        op = _pools(*key)
        y = paddle.empty(op.y_shape, dtype="float32")
        args = [(dnnl.ARG_SRC, op.x.bind(x.data_ptr())), (dnnl.ARG_DST, op.y.bind(y.data_ptr()))]
        ws = None
        if op.ws is not None:
            ws = paddle.empty([max(op.ws_bytes, 1)], dtype="uint8")
            args.append((dnnl.ARG_WORKSPACE, op.ws.bind(ws.data_ptr())))
        op.fwd(args)
        ctx.key = key
        ctx.save_for_backward(*([ws] if ws is not None else []))
        return y

    @staticmethod
    def backward(ctx, dy):
        saved = ctx.saved_tensor()
        dy = dnnl.contiguous(dy)
        op = _pools(*ctx.key)
        dx = paddle.empty(ctx.key[0], dtype="float32")
        args = [(dnnl.ARG_DIFF_DST, op.dy.bind(dy.data_ptr())),
                (dnnl.ARG_DIFF_SRC, op.dx.bind(dx.data_ptr()))]  # fmt: skip
        if saved:
            args.append((dnnl.ARG_WORKSPACE, op.ws.bind(saved[0].data_ptr())))
        op.bwd(args)
        return dx


def _pair(v) -> tuple[int, int] | None:
    if isinstance(v, int):
        return (v, v)
    v = tuple(v)
    return v if len(v) == 2 and all(isinstance(i, int) for i in v) else None


def _geometry(layer) -> tuple | None:
    if layer.data_format != "NCHW" or layer.ceil_mode:
        return None
    k, s = _pair(layer.ksize), _pair(layer.stride if layer.stride is not None else layer.ksize)
    p = _pair(layer.padding) if not isinstance(layer.padding, str) else None
    return None if None in (k, s, p) else (k, s, p)


def _fits(x: paddle.Tensor, alg: int, geometry: tuple) -> bool:
    return x.ndim == 4 and dnnl.usable(x) and _pools.ready(tuple(x.shape), alg, *geometry)


class MaxPool2D(paddle.nn.MaxPool2D):
    """``paddle.nn.MaxPool2D`` on oneDNN when eager on CPU (no mask, floor mode, symmetric
    integer padding); Paddle's op otherwise."""

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        geometry = None if self.return_mask else _geometry(self)
        if geometry is not None and _fits(x, _MAX, geometry):
            return _PoolFunction.apply(x, _MAX, *geometry)
        return super().forward(x)


class AvgPool2D(paddle.nn.AvgPool2D):
    """``paddle.nn.AvgPool2D(exclusive=True)`` on oneDNN when eager on CPU; Paddle's op
    otherwise (inclusive averages, a divisor override, ceil mode)."""

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        ok = self.exclusive and self.divisor is None
        geometry = _geometry(self) if ok else None
        if geometry is not None and _fits(x, _AVG_EXCLUDE, geometry):
            return _PoolFunction.apply(x, _AVG_EXCLUDE, *geometry)
        return super().forward(x)
