"""2-D convolution (groups 1, optional bias) on oneDNN, differentiable, and a Conv2D layer."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import paddle

from autodl_design.nn.onednn import library as dnnl

__all__ = ["Conv2D", "ConvSpec", "conv2d"]

_CONV_DIRECT = 0x1


@dataclass(frozen=True)
class ConvSpec:
    """A 2-D convolution, groups 1: strides, top/left paddings, dilations (1 = none)."""

    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]

    def out_shape(self, x_shape: tuple[int, ...], w_shape: tuple[int, ...]) -> tuple[int, ...]:
        """``(B, O, H', W')`` for input ``(B, C, H, W)`` and weight ``(O, C, kh, kw)``."""
        hw = [
            (i + 2 * p - d * (k - 1) - 1) // s + 1
            for i, p, d, k, s in zip(
                x_shape[2:], self.padding, self.dilation, w_shape[2:], self.stride, strict=True
            )
        ]
        return (x_shape[0], w_shape[0], *hw)


class _Conv:
    """The forward, backward-data and backward-weights primitives of one shape, and their ports.

    ``x_shape`` ``(B, C, H, W)``, ``w_shape`` ``(O, C, kh, kw)``, ``bias``: whether a ``(O,)``
    bias is added (forward) and its gradient computed (backward-weights)."""

    def __init__(self, x_shape, w_shape, spec: ConvSpec, bias: bool) -> None:
        lib, q = dnnl.lib(), dnnl.lib().dnnl_primitive_desc_query_md
        y_shape = spec.out_shape(x_shape, w_shape)
        strides = dnnl.Dims(*spec.stride)
        dil = dnnl.Dims(*(d - 1 for d in spec.dilation))  # oneDNN counts dilation from 0
        pad_l = dnnl.Dims(*spec.padding)
        pad_r = dnnl.Dims(*(  # what makes the output exactly y_shape (oneDNN checks)
            (y - 1) * s + (k - 1) * d + 1 - i - p
            for y, s, k, d, i, p in zip(y_shape[2:], spec.stride, w_shape[2:], spec.dilation,
                                        x_shape[2:], spec.padding, strict=True)
        ))  # fmt: skip
        geometry = (strides, dil, pad_l, pad_r)
        xa, wa, ya = (dnnl.memory_desc(s, dnnl.TAG_ANY) for s in (x_shape, w_shape, y_shape))
        bp = dnnl.plain_desc((w_shape[0],)) if bias else None
        engine = dnnl.runtime().engine
        fwd, bwd_d, bwd_w = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()
        dnnl.check(lib.dnnl_convolution_forward_primitive_desc_create(
            ctypes.byref(fwd), engine, dnnl.FORWARD_TRAINING, _CONV_DIRECT, xa, wa, bp, ya,
            *geometry, None), "convolution forward")  # fmt: skip
        dnnl.check(lib.dnnl_convolution_backward_data_primitive_desc_create(
            ctypes.byref(bwd_d), engine, _CONV_DIRECT, xa, wa, ya, *geometry, fwd, None),
            "convolution backward data")  # fmt: skip
        dnnl.check(lib.dnnl_convolution_backward_weights_primitive_desc_create(
            ctypes.byref(bwd_w), engine, _CONV_DIRECT, xa, wa, bp, ya, *geometry, fwd, None),
            "convolution backward weights")  # fmt: skip
        xp, wp, yp = (dnnl.plain_desc(s) for s in (x_shape, w_shape, y_shape))
        self.bias = dnnl.Memory(bp.value) if bias else None
        self.fwd, self.bwd_data, self.bwd_weights = (dnnl.Primitive(p) for p in (fwd, bwd_d, bwd_w))
        self.f_x = dnnl.Port(xp, q(fwd, dnnl.Q_SRC, 0), True)
        self.f_w = dnnl.Port(wp, q(fwd, dnnl.Q_WEIGHTS, 0), True)
        self.f_y = dnnl.Port(yp, q(fwd, dnnl.Q_DST, 0), False)
        self.d_dy = dnnl.Port(yp, q(bwd_d, dnnl.Q_DIFF_DST, 0), True)
        self.d_w = dnnl.Port(wp, q(bwd_d, dnnl.Q_WEIGHTS, 0), True)
        self.d_dx = dnnl.Port(xp, q(bwd_d, dnnl.Q_DIFF_SRC, 0), False)
        self.w_x = dnnl.Port(xp, q(bwd_w, dnnl.Q_SRC, 0), True)
        self.w_dy = dnnl.Port(yp, q(bwd_w, dnnl.Q_DIFF_DST, 0), True)
        self.w_dw = dnnl.Port(wp, q(bwd_w, dnnl.Q_DIFF_WEIGHTS, 0), False)
        # The primitives and memories hold copies of what they need.
        dnnl.destroy_primitive_desc(fwd, bwd_d, bwd_w)
        dnnl.destroy_desc(xa, wa, ya, xp, wp, yp, *([bp] if bias else []))

    def _run(self, prim, inputs, output, bias_arg=None, bias_ptr=None) -> None:
        """Run ``prim`` on ``(arg, port, data pointer)`` inputs and output (plus the bias, bound
        to ``bias_ptr``, under ``bias_arg`` when this conv has one), then copy the output out."""
        args = [(arg, port.before(ptr)) for arg, port, ptr in (*inputs, output)]
        if bias_arg is not None and self.bias is not None:
            args.append((bias_arg, self.bias.bind(bias_ptr)))
        prim(args)
        output[1].after(output[2])

    def forward(self, x: int, w: int, b: int | None, y: int) -> None:
        inputs = [(dnnl.ARG_SRC, self.f_x, x), (dnnl.ARG_WEIGHTS, self.f_w, w)]
        self._run(self.fwd, inputs, (dnnl.ARG_DST, self.f_y, y), dnnl.ARG_BIAS, b)

    def backward_data(self, dy: int, w: int, dx: int) -> None:
        inputs = [(dnnl.ARG_DIFF_DST, self.d_dy, dy), (dnnl.ARG_WEIGHTS, self.d_w, w)]
        self._run(self.bwd_data, inputs, (dnnl.ARG_DIFF_SRC, self.d_dx, dx))

    def backward_weights(self, x: int, dy: int, dw: int, db: int | None) -> None:
        inputs = [(dnnl.ARG_SRC, self.w_x, x), (dnnl.ARG_DIFF_DST, self.w_dy, dy)]
        output = (dnnl.ARG_DIFF_WEIGHTS, self.w_dw, dw)
        self._run(self.bwd_weights, inputs, output, dnnl.ARG_DIFF_BIAS, db)


_convs = dnnl.ShapeCache(_Conv)


class _ConvFunction(paddle.autograd.PyLayer):
    @staticmethod
    def forward(ctx, x, w, spec, b=None):
        x = dnnl.contiguous(x)
        conv = _convs(tuple(x.shape), tuple(w.shape), spec, b is not None)
        y = paddle.empty(spec.out_shape(tuple(x.shape), tuple(w.shape)), dtype="float32")
        conv.forward(x.data_ptr(), w.data_ptr(), None if b is None else b.data_ptr(), y.data_ptr())
        ctx.spec, ctx.has_bias = spec, b is not None
        ctx.save_for_backward(x, w, *([b] if b is not None else []))
        return y

    @staticmethod
    def backward(ctx, dy):
        # Paddle wants None for an input that needs no gradient (the whitening stem's fixed
        # weight, the images); skipping its primitive saves a third of the work. oneDNN computes
        # the bias gradient with the weights' one, so a bias needs a trainable weight.
        x, w, *b = ctx.saved_tensor()
        dy = dnnl.contiguous(dy)
        conv = _convs(tuple(x.shape), tuple(w.shape), ctx.spec, ctx.has_bias)
        dx = dw = db = None
        if not x.stop_gradient:
            dx = paddle.empty(x.shape, dtype="float32")
            conv.backward_data(dy.data_ptr(), w.data_ptr(), dx.data_ptr())
        if not w.stop_gradient or (b and not b[0].stop_gradient):
            dw = paddle.empty(w.shape, dtype="float32")
            db = paddle.empty(b[0].shape, dtype="float32") if b else None
            conv.backward_weights(x.data_ptr(), dy.data_ptr(), dw.data_ptr(),
                                  None if db is None else db.data_ptr())  # fmt: skip
        if w.stop_gradient:
            dw = None
        if not b:
            return dx, dw
        return dx, dw, (None if b[0].stop_gradient else db)


def conv2d(
    x: paddle.Tensor, weight: paddle.Tensor, spec: ConvSpec, bias: paddle.Tensor | None = None
) -> paddle.Tensor:
    """``(B, C, H, W)`` float32 conv ``(O, C, kh, kw)`` (+ ``(O,)`` bias) -> ``(B, O, H', W')``
    through oneDNN, differentiable in ``x``, ``weight`` and ``bias``."""
    if bias is None:
        return _ConvFunction.apply(x, weight, spec)
    return _ConvFunction.apply(x, weight, spec, bias)


class Conv2D(paddle.nn.Conv2D):
    """``paddle.nn.Conv2D`` (same parameters, same state dict) whose eager forward on CPU
    float32 NCHW tensors runs through :func:`conv2d`; any other case (a traced or static graph
    for export, GPU, groups, asymmetric padding, oneDNN switched off) is Paddle's own conv."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._spec = self._onednn_spec()

    def _onednn_spec(self) -> ConvSpec | None:
        pad = list(self._updated_padding)
        if (
            self._groups != 1
            or self._data_format != "NCHW"
            or self._padding_mode != "zeros"
            or self._padding_algorithm != "EXPLICIT"
            or len(pad) != 2
        ):
            return None
        return ConvSpec(tuple(self._stride), tuple(pad), tuple(self._dilation))

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        if (
            self._spec is not None
            and dnnl.usable(x)
            and _convs.ready(
                tuple(x.shape), tuple(self.weight.shape), self._spec, self.bias is not None
            )
        ):
            return conv2d(x, self.weight, self._spec, self.bias)
        return super().forward(x)
