"""oneDNN ops for Paddle's dygraph training on CPU, through the oneDNN that Paddle bundles.

Why: Paddle 3.3's dygraph CPU convolution is im2col + one MKL ``sgemm`` per image; on the small
maps of CIFAR networks (15x15, 7x7, 3x3) those GEMMs are thin and the im2col copies dominate, so
a 3x3 conv trains at 0.3-0.7 of the speed the same CPU reaches in oneDNN (PyTorch's CPU path).
Paddle ships oneDNN (``paddle/libs/libdnnl.so.3``, 3.6) for its inference predictor, but its
dygraph never dispatches to it (``FLAGS_use_onednn`` has no effect there). This package calls
that library's C API with :mod:`ctypes` (:mod:`.library`) and wraps its primitives in
``paddle.autograd.PyLayer`` s: created once per shape and kept, the library choosing its blocked
layouts, Paddle's plain NCHW / OIHW tensors reordered in and out (:mod:`.conv`).

Only eager CPU float32 tensors go through here; a traced graph (``paddle.jit.save``, ONNX
export), a GPU or a switched-off library (``AUTODL_DESIGN_ONEDNN=0``) gets Paddle's own ops.
Measured: ``benchmarks/conv_speed.py``, ``docs/cpu_speed.md``.
"""

from autodl_design.nn.onednn.conv import Conv2D, ConvSpec, conv2d
from autodl_design.nn.onednn.library import SWITCH, OneDNNError, available, eager

__all__ = [
    "SWITCH", "Conv2D", "ConvSpec", "OneDNNError", "available", "conv2d", "eager"
]  # fmt: skip
