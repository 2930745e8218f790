"""The oneDNN C API that Paddle bundles (``paddle/libs/libdnnl.so.3``, 3.6), through ctypes.

Only what the primitives of this package need: memory descriptors and objects, primitives, one
engine and stream per thread, and :class:`Port`, a tensor slot of a primitive that reorders
between Paddle's plain layout and the blocked layout the primitive chose. Enum values are those
of oneDNN 3.6's ``dnnl_types.h`` / ``dnnl_common_types.h``.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import functools
import os
import threading
import warnings

import paddle
from paddle.base.dygraph.base import in_sot_simulation_mode, in_to_static_mode

F32 = 3  # dnnl_f32
TAG_ANY, TAG_A, TAG_ABCD = 1, 2, 5  # format tags: any, plain 1-D, plain 4-D (nchw / oihw)
FORWARD_TRAINING, BACKWARD_DATA = 64, 160
Q_SRC, Q_DIFF_SRC, Q_WEIGHTS, Q_DIFF_WEIGHTS, Q_DST, Q_DIFF_DST, Q_WORKSPACE = range(129, 136)
ARG_SRC, ARG_DST, ARG_WEIGHTS, ARG_BIAS, ARG_WORKSPACE = 1, 17, 33, 41, 64
ARG_DIFF_SRC, ARG_DIFF_DST, ARG_DIFF_WEIGHTS, ARG_DIFF_BIAS = 129, 145, 161, 169
ARG_FROM, ARG_TO = 1, 17  # a reorder's source and destination
_ENGINE_CPU, _STREAM_IN_ORDER, _MAX_DIMS = 1, 0x1, 12
_ALLOCATE = ctypes.c_void_p(2**64 - 1)  # DNNL_MEMORY_ALLOCATE: the library owns the buffer
SWITCH = "AUTODL_DESIGN_ONEDNN"

Dims = ctypes.c_int64 * _MAX_DIMS


class OneDNNError(RuntimeError):
    """A oneDNN call returned a non-success status."""


class _ExecArg(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_int), ("memory", ctypes.c_void_p)]


@functools.cache
def lib() -> ctypes.CDLL | None:
    """The loaded library, or None when it is missing or switched off (``SWITCH=0``)."""
    if os.environ.get(SWITCH, "1").strip().lower() in {"0", "false", "no", "off"}:
        return None
    try:
        dll = ctypes.CDLL(os.path.join(os.path.dirname(paddle.__file__), "libs", "libdnnl.so.3"))
    except OSError:
        return None
    dll.dnnl_primitive_desc_query_md.restype = ctypes.c_void_p
    dll.dnnl_primitive_desc_query_md.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    dll.dnnl_memory_desc_get_size.restype = ctypes.c_size_t
    dll.dnnl_memory_desc_equal.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    dll.dnnl_memory_set_data_handle.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    dll.dnnl_primitive_execute.argtypes = [
        ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(_ExecArg)
    ]  # fmt: skip
    return dll


def available() -> bool:
    """Whether Paddle's bundled oneDNN loaded (``AUTODL_DESIGN_ONEDNN=0`` turns it off)."""
    return lib() is not None


def check(status: int, what: str) -> None:
    if status != 0:
        raise OneDNNError(f"oneDNN {what} failed with status {status}")


def memory_desc(shape: tuple[int, ...], tag: int) -> ctypes.c_void_p:
    """A float32 memory descriptor (the caller destroys it with :func:`destroy_desc`)."""
    md = ctypes.c_void_p()
    status = lib().dnnl_memory_desc_create_with_tag(
        ctypes.byref(md), len(shape), Dims(*shape), F32, tag
    )
    check(status, "memory_desc_create")
    return md


def plain_desc(shape: tuple[int, ...]) -> ctypes.c_void_p:
    """Paddle's layout of a contiguous tensor of rank 1 or 4."""
    return memory_desc(shape, TAG_A if len(shape) == 1 else TAG_ABCD)


def destroy_desc(*mds: ctypes.c_void_p) -> None:
    for md in mds:
        lib().dnnl_memory_desc_destroy(md)


def destroy_primitive_desc(*pds: ctypes.c_void_p) -> None:
    for pd in pds:
        lib().dnnl_primitive_desc_destroy(pd)


class Memory:
    """A oneDNN memory object for a descriptor: bound to a tensor's data per call, or owning a
    buffer of its own (``owned``: the blocked copies, the workspace)."""

    def __init__(self, md: int, owned: bool = False) -> None:
        self.handle = ctypes.c_void_p()
        handle = _ALLOCATE if owned else ctypes.c_void_p(None)
        status = lib().dnnl_memory_create(
            ctypes.byref(self.handle), ctypes.c_void_p(md), runtime().engine, handle
        )
        check(status, "memory_create")

    def bind(self, ptr: int) -> ctypes.c_void_p:
        check(lib().dnnl_memory_set_data_handle(self.handle, ctypes.c_void_p(ptr)), "set_data")
        return self.handle

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown may have unloaded ctypes
            lib().dnnl_memory_destroy(self.handle)


class Primitive:
    """A oneDNN primitive made from a primitive descriptor, destroyed with this object."""

    def __init__(self, pd: ctypes.c_void_p) -> None:
        self.handle = ctypes.c_void_p()
        check(lib().dnnl_primitive_create(ctypes.byref(self.handle), pd), "primitive_create")

    def __call__(self, args: list[tuple[int, ctypes.c_void_p]]) -> None:
        rt = runtime()
        arr = (_ExecArg * len(args))(*[_ExecArg(a, m.value) for a, m in args])
        check(lib().dnnl_primitive_execute(self.handle, rt.stream, len(args), arr), "execute")
        check(lib().dnnl_stream_wait(rt.stream), "stream_wait")

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            lib().dnnl_primitive_destroy(self.handle)


class _Runtime:
    def __init__(self) -> None:
        self.engine, self.stream = ctypes.c_void_p(), ctypes.c_void_p()
        check(lib().dnnl_engine_create(ctypes.byref(self.engine), _ENGINE_CPU, 0), "engine")
        status = lib().dnnl_stream_create(ctypes.byref(self.stream), self.engine, _STREAM_IN_ORDER)
        check(status, "stream_create")


_local = threading.local()


def runtime() -> _Runtime:
    """This thread's engine and stream (oneDNN streams are not shared across threads)."""
    if not hasattr(_local, "runtime"):
        _local.runtime = _Runtime()
    return _local.runtime


class Port:
    """A tensor slot of a primitive, in Paddle's plain layout outside: the memory the primitive
    uses, which is the tensor itself when the primitive chose the plain layout, else a blocked
    buffer of its own with a reorder from the tensor (``into``) or back to it (an output)."""

    def __init__(self, plain: ctypes.c_void_p, chosen: int, into: bool) -> None:
        self.into = into
        self.plain = Memory(plain.value)
        self.same = bool(lib().dnnl_memory_desc_equal(plain, ctypes.c_void_p(chosen)))
        if self.same:
            self.inner = self.plain
            return
        self.inner = Memory(chosen, owned=True)
        src, dst = (plain.value, chosen) if into else (chosen, plain.value)
        pd, engine = ctypes.c_void_p(), runtime().engine
        status = lib().dnnl_reorder_primitive_desc_create(
            ctypes.byref(pd), ctypes.c_void_p(src), engine, ctypes.c_void_p(dst), engine, None
        )
        check(status, "reorder")
        self.reorder = Primitive(pd)
        destroy_primitive_desc(pd)

    def before(self, ptr: int) -> ctypes.c_void_p:
        """The memory the primitive reads or writes, for the tensor whose data is at ``ptr``."""
        plain = self.plain.bind(ptr)
        if self.same:
            return plain
        if self.into:
            self.reorder([(ARG_FROM, plain), (ARG_TO, self.inner.handle)])
        return self.inner.handle

    def after(self, ptr: int) -> None:
        """An output's values into the tensor at ``ptr`` (nothing to do in the plain layout)."""
        if not self.same and not self.into:
            self.reorder([(ARG_FROM, self.inner.handle), (ARG_TO, self.plain.bind(ptr))])


class ShapeCache:
    """Objects built per key (a shape) and kept per thread, least recently used dropped first:
    a fixed network has a few dozen shapes; a search meets new ones with each candidate, and an
    entry may hold blocked copies of its tensors (a few MB at the wide frame's batch 512)."""

    def __init__(self, build, size: int = 96) -> None:
        self.build, self.size, self._local = build, size, threading.local()
        self.failed: set = set()

    def ready(self, *key) -> bool:
        """Whether the entry for ``key`` exists or can be built. A key oneDNN refuses (an
        :class:`OneDNNError`) is remembered, warned about once, and its callers fall back to
        Paddle's own op: an odd shape costs speed, never a failed training."""
        if key in self.failed:
            return False
        try:
            self(*key)
        except OneDNNError as err:
            self.failed.add(key)
            warnings.warn(f"{err} for {key}; Paddle's own op is used there", stacklevel=3)
            return False
        return True

    def __call__(self, *key):
        if not hasattr(self._local, "items"):
            self._local.items = collections.OrderedDict()
        items = self._local.items
        item = items.get(key)
        if item is None:
            item = items[key] = self.build(*key)
            while len(items) > self.size:
                items.popitem(last=False)
        else:
            items.move_to_end(key)
        return item

    def __len__(self) -> int:
        return len(getattr(self._local, "items", ()))


def eager() -> bool:
    """Whether ops run eagerly now: dygraph, and not traced by ``to_static`` (AST or SOT), where
    a tensor has no data pointer and the program must hold Paddle's own ops."""
    return paddle.in_dynamic_mode() and not in_to_static_mode() and not in_sot_simulation_mode()


def usable(x: paddle.Tensor) -> bool:
    """Whether an op on ``x`` may run here: eager, the library loaded, CPU float32."""
    return eager() and available() and x.dtype == paddle.float32 and x.place.is_cpu_place()


def contiguous(t: paddle.Tensor) -> paddle.Tensor:
    """``t`` itself when its data is contiguous, else a contiguous copy (oneDNN reads raw data)."""
    return t if t.is_contiguous() else t.contiguous()
