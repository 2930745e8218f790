"""oneDNN convolutions for Paddle's dygraph training on CPU, through the oneDNN Paddle bundles.

Why: Paddle 3.3's dygraph CPU convolution is im2col + one MKL ``sgemm`` per image; on the small
maps of CIFAR networks (15x15, 7x7, 3x3) those GEMMs are thin and the im2col copies dominate, so
a 3x3 conv runs at ~0.4 of what the same CPU does in oneDNN (PyTorch's CPU path). Paddle ships
oneDNN (``paddle/libs/libdnnl.so.3``, 3.6) for its inference predictor but its dygraph never
dispatches to it (``FLAGS_use_onednn`` has no effect there). This module calls that library's C
API with :mod:`ctypes` and wraps it in a ``paddle.autograd.PyLayer``: forward, backward-data and
backward-weights primitives, created once per shape and kept, with the library choosing its
blocked layouts and the plain NCHW / OIHW tensors reordered in and out.

Measured (one thread, batch 256, forward + both gradients): see ``docs/recipe.md``.

Only CPU float32 tensors in dynamic mode go through here; :func:`available` says whether the
library loaded. Callers fall back to ``paddle.nn.functional.conv2d`` otherwise (export, static).
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import functools
import os
import threading
from dataclasses import dataclass

import paddle
from paddle.base.dygraph.base import in_sot_simulation_mode, in_to_static_mode

__all__ = ["Conv2D", "ConvSpec", "OneDNNError", "available", "conv2d", "eager"]

_F32 = 3  # dnnl_f32
_TAG_ANY, _TAG_NCHW = 1, 5  # dnnl_format_tag_any, dnnl_abcd (nchw = oihw)
_FORWARD_TRAINING = 64
_CONV_DIRECT = 0x1
_Q_SRC, _Q_DIFF_SRC, _Q_WEIGHTS, _Q_DIFF_WEIGHTS, _Q_DST, _Q_DIFF_DST = range(129, 135)
_ARG_SRC, _ARG_DST, _ARG_WEIGHTS = 1, 17, 33
_ARG_DIFF_SRC, _ARG_DIFF_DST, _ARG_DIFF_WEIGHTS = 129, 145, 161
_ARG_FROM, _ARG_TO = 1, 17  # a reorder's source and destination
_ENGINE_CPU = 1
_STREAM_IN_ORDER = 0x1
_MAX_DIMS = 12
_ALLOCATE = ctypes.c_void_p(2**64 - 1)  # DNNL_MEMORY_ALLOCATE: the library owns the buffer

Dims = ctypes.c_int64 * _MAX_DIMS


class _ExecArg(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_int), ("memory", ctypes.c_void_p)]


class OneDNNError(RuntimeError):
    """A oneDNN call returned a non-success status."""


@functools.cache
def _lib() -> ctypes.CDLL | None:
    path = os.path.join(os.path.dirname(paddle.__file__), "libs", "libdnnl.so.3")
    if os.environ.get("AUTODL_DESIGN_ONEDNN_CONV", "1").strip().lower() in {"0", "false", "off"}:
        return None
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        return None
    lib.dnnl_primitive_desc_query_md.restype = ctypes.c_void_p
    lib.dnnl_primitive_desc_query_md.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    lib.dnnl_memory_desc_equal.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.dnnl_memory_desc_get_size.restype = ctypes.c_size_t
    lib.dnnl_memory_desc_get_size.argtypes = [ctypes.c_void_p]
    lib.dnnl_memory_set_data_handle.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.dnnl_primitive_execute.argtypes = [
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.POINTER(_ExecArg),
    ]
    return lib


def available() -> bool:
    """Whether Paddle's bundled oneDNN loaded (``AUTODL_DESIGN_ONEDNN_CONV=0`` turns it off)."""
    return _lib() is not None


def _check(status: int, what: str) -> None:
    if status != 0:
        raise OneDNNError(f"oneDNN {what} failed with status {status}")


@dataclass(frozen=True)
class ConvSpec:
    """A 2-D convolution without bias, groups 1: strides, "same"-style paddings, dilations."""

    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]


class _Memory:
    """A oneDNN memory object bound to a descriptor; its data pointer is set per call."""

    def __init__(self, md: int, engine: ctypes.c_void_p, owned: bool = False) -> None:
        lib = _lib()
        self.handle = ctypes.c_void_p()
        _check(
            lib.dnnl_memory_create(
                ctypes.byref(self.handle),
                ctypes.c_void_p(md),
                engine,
                _ALLOCATE if owned else ctypes.c_void_p(None),
            ),
            "memory_create",
        )

    def bind(self, ptr: int) -> ctypes.c_void_p:
        _check(_lib().dnnl_memory_set_data_handle(self.handle, ctypes.c_void_p(ptr)), "set_data")
        return self.handle

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown may have unloaded ctypes
            _lib().dnnl_memory_destroy(self.handle)


class _Primitive:
    """A oneDNN primitive, destroyed with this object (the descriptor is not kept)."""

    def __init__(self, pd: ctypes.c_void_p) -> None:
        self.handle = ctypes.c_void_p()
        _check(_lib().dnnl_primitive_create(ctypes.byref(self.handle), pd), "primitive_create")

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            _lib().dnnl_primitive_destroy(self.handle)


class _Runtime:
    """One engine and stream per thread (oneDNN objects are not shared across threads)."""

    def __init__(self) -> None:
        lib = _lib()
        self.engine, self.stream = ctypes.c_void_p(), ctypes.c_void_p()
        _check(lib.dnnl_engine_create(ctypes.byref(self.engine), _ENGINE_CPU, 0), "engine")
        _check(
            lib.dnnl_stream_create(ctypes.byref(self.stream), self.engine, _STREAM_IN_ORDER),
            "stream",
        )

    def plain_md(self, shape: tuple[int, ...]) -> ctypes.c_void_p:
        md = ctypes.c_void_p()
        _check(
            _lib().dnnl_memory_desc_create_with_tag(
                ctypes.byref(md), len(shape), Dims(*shape), _F32, _TAG_NCHW
            ),
            "memory_desc",
        )
        return md

    def any_md(self, shape: tuple[int, ...]) -> ctypes.c_void_p:
        md = ctypes.c_void_p()
        _check(
            _lib().dnnl_memory_desc_create_with_tag(
                ctypes.byref(md), len(shape), Dims(*shape), _F32, _TAG_ANY
            ),
            "memory_desc",
        )
        return md

    def execute(self, prim: _Primitive, args: list[tuple[int, ctypes.c_void_p]]) -> None:
        arr = (_ExecArg * len(args))(*[_ExecArg(a, m.value) for a, m in args])
        _check(_lib().dnnl_primitive_execute(prim.handle, self.stream, len(args), arr), "execute")
        _check(_lib().dnnl_stream_wait(self.stream), "stream_wait")


class _Port:
    """A plain-layout tensor slot of a primitive: the primitive's own memory (blocked, owned by
    oneDNN) plus, when the layouts differ, a reorder to or from the plain NCHW buffer."""

    def __init__(self, rt: _Runtime, plain: ctypes.c_void_p, chosen: int, into: bool) -> None:
        lib = _lib()
        self.rt, self.into = rt, into
        self.plain = _Memory(plain.value, rt.engine)
        self.same = bool(lib.dnnl_memory_desc_equal(plain, ctypes.c_void_p(chosen)))
        if self.same:
            self.inner = self.plain
            return
        self.inner = _Memory(chosen, rt.engine, owned=True)
        src, dst = (plain.value, chosen) if into else (chosen, plain.value)
        pd = ctypes.c_void_p()
        _check(
            lib.dnnl_reorder_primitive_desc_create(
                ctypes.byref(pd),
                ctypes.c_void_p(src),
                rt.engine,
                ctypes.c_void_p(dst),
                rt.engine,
                None,
            ),
            "reorder",
        )
        self.reorder = _Primitive(pd)
        lib.dnnl_primitive_desc_destroy(pd)

    def before(self, ptr: int) -> ctypes.c_void_p:
        """The memory the primitive reads (``into``) or writes, bound to ``ptr``'s data."""
        plain = self.plain.bind(ptr)
        if self.same:
            return plain
        if self.into:
            self.rt.execute(self.reorder, [(_ARG_FROM, plain), (_ARG_TO, self.inner.handle)])
        return self.inner.handle

    def after(self, ptr: int) -> None:
        """Copy the primitive's output into ``ptr``'s plain buffer (outputs only)."""
        if not self.same and not self.into:
            plain = self.plain.bind(ptr)
            self.rt.execute(self.reorder, [(_ARG_FROM, self.inner.handle), (_ARG_TO, plain)])


class _Conv:
    """The three primitives of one conv shape and their ports."""

    def __init__(self, rt: _Runtime, x_shape, w_shape, y_shape, spec: ConvSpec) -> None:
        lib = _lib()
        self.rt = rt
        strides = Dims(*spec.stride)
        dil = Dims(*(d - 1 for d in spec.dilation))  # oneDNN counts dilation from 0
        pad_l = Dims(*spec.padding)
        # Right padding so that the output has exactly y_shape (oneDNN checks the arithmetic).
        pad_r = Dims(
            *(
                (y - 1) * s + (k - 1) * d + 1 - i - p
                for y, s, k, d, i, p in zip(
                    y_shape[2:],
                    spec.stride,
                    w_shape[2:],
                    spec.dilation,
                    x_shape[2:],
                    spec.padding,
                    strict=True,
                )
            )
        )
        xa, wa, ya = rt.any_md(x_shape), rt.any_md(w_shape), rt.any_md(y_shape)
        fwd = ctypes.c_void_p()
        _check(
            lib.dnnl_convolution_forward_primitive_desc_create(
                ctypes.byref(fwd),
                rt.engine,
                _FORWARD_TRAINING,
                _CONV_DIRECT,
                xa,
                wa,
                None,
                ya,
                strides,
                dil,
                pad_l,
                pad_r,
                None,
            ),
            "conv forward",
        )
        bwd_d, bwd_w = ctypes.c_void_p(), ctypes.c_void_p()
        _check(
            lib.dnnl_convolution_backward_data_primitive_desc_create(
                ctypes.byref(bwd_d),
                rt.engine,
                _CONV_DIRECT,
                xa,
                wa,
                ya,
                strides,
                dil,
                pad_l,
                pad_r,
                fwd,
                None,
            ),
            "conv backward data",
        )
        _check(
            lib.dnnl_convolution_backward_weights_primitive_desc_create(
                ctypes.byref(bwd_w),
                rt.engine,
                _CONV_DIRECT,
                xa,
                wa,
                None,
                ya,
                strides,
                dil,
                pad_l,
                pad_r,
                fwd,
                None,
            ),
            "conv backward weights",
        )
        q = lib.dnnl_primitive_desc_query_md
        xp, wp, yp = rt.plain_md(x_shape), rt.plain_md(w_shape), rt.plain_md(y_shape)
        self.fwd = _Primitive(fwd)
        self.f_x, self.f_w = (
            _Port(rt, xp, q(fwd, _Q_SRC, 0), True),
            _Port(rt, wp, q(fwd, _Q_WEIGHTS, 0), True),
        )
        self.f_y = _Port(rt, yp, q(fwd, _Q_DST, 0), False)
        self.bd = _Primitive(bwd_d)
        self.d_dy = _Port(rt, yp, q(bwd_d, _Q_DIFF_DST, 0), True)
        self.d_w = _Port(rt, wp, q(bwd_d, _Q_WEIGHTS, 0), True)
        self.d_dx = _Port(rt, xp, q(bwd_d, _Q_DIFF_SRC, 0), False)
        self.bw = _Primitive(bwd_w)
        self.w_x = _Port(rt, xp, q(bwd_w, _Q_SRC, 0), True)
        self.w_dy = _Port(rt, yp, q(bwd_w, _Q_DIFF_DST, 0), True)
        self.w_dw = _Port(rt, wp, q(bwd_w, _Q_DIFF_WEIGHTS, 0), False)
        # The primitives and memories hold copies of what they need.
        for pd in (fwd, bwd_d, bwd_w):
            lib.dnnl_primitive_desc_destroy(pd)
        for md in (xa, wa, ya, xp, wp, yp):
            lib.dnnl_memory_desc_destroy(md)

    def forward(self, x: int, w: int, y: int) -> None:
        args = [
            (_ARG_SRC, self.f_x.before(x)),
            (_ARG_WEIGHTS, self.f_w.before(w)),
            (_ARG_DST, self.f_y.before(y)),
        ]
        self.rt.execute(self.fwd, args)
        self.f_y.after(y)

    def backward_data(self, dy: int, w: int, dx: int) -> None:
        args = [
            (_ARG_DIFF_DST, self.d_dy.before(dy)),
            (_ARG_WEIGHTS, self.d_w.before(w)),
            (_ARG_DIFF_SRC, self.d_dx.before(dx)),
        ]
        self.rt.execute(self.bd, args)
        self.d_dx.after(dx)

    def backward_weights(self, x: int, dy: int, dw: int) -> None:
        args = [
            (_ARG_SRC, self.w_x.before(x)),
            (_ARG_DIFF_DST, self.w_dy.before(dy)),
            (_ARG_DIFF_WEIGHTS, self.w_dw.before(dw)),
        ]
        self.rt.execute(self.bw, args)
        self.w_dw.after(dw)


_local = threading.local()
# Shapes whose primitives are kept per thread, least recently used dropped first: a fixed network
# has a few dozen; a search meets new ones with each candidate, and each entry holds blocked
# copies of its tensors (a few MB at the wide frame's batch 512).
CACHE_SIZE = 96


def _conv_for(x_shape, w_shape, y_shape, spec: ConvSpec) -> _Conv:
    if not hasattr(_local, "rt"):
        _local.rt, _local.convs = _Runtime(), collections.OrderedDict()
    key = (x_shape, w_shape, spec)
    convs = _local.convs
    conv = convs.get(key)
    if conv is None:
        conv = convs[key] = _Conv(_local.rt, x_shape, w_shape, y_shape, spec)
        while len(convs) > CACHE_SIZE:
            convs.popitem(last=False)
    else:
        convs.move_to_end(key)
    return conv


def _out_shape(x_shape, w_shape, spec: ConvSpec) -> tuple[int, ...]:
    hw = [
        (i + 2 * p - d * (k - 1) - 1) // s + 1
        for i, p, d, k, s in zip(
            x_shape[2:], spec.padding, spec.dilation, w_shape[2:], spec.stride, strict=True
        )
    ]
    return (x_shape[0], w_shape[0], *hw)


class _ConvFunction(paddle.autograd.PyLayer):
    @staticmethod
    def forward(ctx, x, w, spec):
        x = x if x.is_contiguous() else x.contiguous()
        xs, ws = tuple(x.shape), tuple(w.shape)
        ys = _out_shape(xs, ws, spec)
        y = paddle.empty(ys, dtype="float32")
        _conv_for(xs, ws, ys, spec).forward(x.data_ptr(), w.data_ptr(), y.data_ptr())
        ctx.spec = spec
        ctx.save_for_backward(x, w)
        return y

    @staticmethod
    def backward(ctx, dy):
        # Paddle wants None for an input that needs no gradient (the whitening stem's fixed
        # weight, the images), and skipping its primitive saves a third of the work.
        x, w = ctx.saved_tensor()
        dy = dy if dy.is_contiguous() else dy.contiguous()
        conv = _conv_for(tuple(x.shape), tuple(w.shape), tuple(dy.shape), ctx.spec)
        dx = dw = None
        if not x.stop_gradient:
            dx = paddle.empty(x.shape, dtype="float32")
            conv.backward_data(dy.data_ptr(), w.data_ptr(), dx.data_ptr())
        if not w.stop_gradient:
            dw = paddle.empty(w.shape, dtype="float32")
            conv.backward_weights(x.data_ptr(), dy.data_ptr(), dw.data_ptr())
        return dx, dw


def conv2d(x: paddle.Tensor, weight: paddle.Tensor, spec: ConvSpec) -> paddle.Tensor:
    """``(B, C, H, W)`` float32 conv ``(O, C, kh, kw)`` -> ``(B, O, H', W')`` through oneDNN,
    differentiable in both ``x`` and ``weight`` (bias-free, groups 1)."""
    return _ConvFunction.apply(x, weight, spec)


def eager() -> bool:
    """Whether ops run eagerly now: dygraph, and not traced by ``to_static`` (AST or SOT), where
    a tensor has no data pointer and the program must hold Paddle's own ops."""
    return paddle.in_dynamic_mode() and not in_to_static_mode() and not in_sot_simulation_mode()


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
        if self._spec is not None and _usable(x):
            y = conv2d(x, self.weight, self._spec)
            return y if self.bias is None else y + self.bias.reshape([1, -1, 1, 1])
        return super().forward(x)


def _usable(x: paddle.Tensor) -> bool:
    return eager() and available() and x.dtype == paddle.float32 and x.place.is_cpu_place()
