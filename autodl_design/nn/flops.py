"""Parameter and FLOP counts of a network (``paddle.flops`` fails with numpy 2 in Paddle 3.3.1).

FLOPs here are multiply-adds (MACs) of one forward pass on one image, counted by forward
post-hooks on the layers that do the arithmetic that matters:

* ``Conv2D``: ``H_out * W_out * C_out * (C_in / groups) * k_h * k_w`` (bias adds ignored);
* ``Linear``: ``in_features * out_features``.

BatchNorm, activations, pooling, element-wise sums and concatenation are not counted: they are
O(activations), not O(activations x channels), and the usual convention leaves them out.
Parameters are the trainable ones (BN running mean/variance are excluded).
"""

from __future__ import annotations

from collections.abc import Sequence

import paddle
from paddle import nn


def count_params(net: nn.Layer) -> int:
    """Number of trainable scalars in ``net``."""
    from autodl_design.nn.ops import is_fixed

    trained = [p for p in net.parameters() if not p.stop_gradient and not is_fixed(p)]
    return int(sum(p.numel().item() for p in trained))


def _conv_macs(layer: nn.Conv2D, output: paddle.Tensor) -> int:
    _, c_out, h, w = output.shape
    kh, kw = layer.weight.shape[2:]
    c_in_per_group = layer.weight.shape[1]
    return int(h * w * c_out * c_in_per_group * kh * kw)


def _linear_macs(layer: nn.Linear, output: paddle.Tensor) -> int:
    c_in, c_out = layer.weight.shape
    return int(c_in * c_out)


_COUNTERS = {nn.Conv2D: _conv_macs, nn.Linear: _linear_macs}


def count_flops(net: nn.Layer, input_shape: Sequence[int] = (1, 3, 32, 32)) -> int:
    """Multiply-adds of one forward pass per image, for float32 input ``input_shape`` (B, C, H, W).

    Runs one forward pass on zeros in eval mode without gradients (the training mode is restored).
    The hooks ignore the batch dimension, so the result is per image whatever the batch size.
    """
    total = [0]

    def hook(counter):
        def fn(layer, inputs, output):
            total[0] += counter(layer, output)

        return fn

    handles = []
    for layer in net.sublayers(include_self=True):
        for cls, counter in _COUNTERS.items():
            if isinstance(layer, cls):
                handles.append(layer.register_forward_post_hook(hook(counter)))
    was_training = net.training
    net.eval()
    try:
        with paddle.no_grad():
            net(paddle.zeros(list(input_shape), dtype="float32"))
    finally:
        for h in handles:
            h.remove()
        if was_training:
            net.train()
    return total[0]
