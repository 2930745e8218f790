"""The "wide" network frame: searched cells at full width in an airbench-shaped skeleton.

Why a second frame: on this CPU the ``cells`` frame (narrow nodes, each behind its own
BN-activation, joined by concat + 1x1) runs its convolutions at ~0.4 of sgemm's speed; the same
normal cell with every node at the group's full width runs at 0.7-0.9 of it
(``docs/frame_speed.md``). The shape is airbench94's (Jordan, arXiv 2404.00498), with each
group's second conv replaced by the searched *normal* cell, AutoDL Design's idea of a searched
local structure stacked in a fixed frame:

    whitening stem: conv 2x2 (c -> 2 c 2 2, no padding; weights fixed to the whitening map of
        the training patches, :func:`whitening_weights`; bias trained) -> act
    per width w in cfg.widths:  conv 3x3 (-> w) -> max-pool 2 -> BN-act -> WideCell(w) -> BN-act
    global max-pool -> linear (bias-free) x cfg.logit_scale

Shapes for 32x32 inputs: 31 -> 15 -> 7 -> 3 -> 1. Downsampling is by pooling between groups,
so the reduction cell of an architecture is not used in this frame.
"""

from __future__ import annotations

import numpy as np
import paddle
from paddle import nn

from autodl_design.config import NetworkConfig
from autodl_design.nn.onednn import Conv2D
from autodl_design.nn.onednn.pool import MaxPool2D
from autodl_design.nn.ops import (
    activation,
    bn_relu,
    conv2d,
    fan_in_uniform_init,
    identity_init,
    make_op,
)
from autodl_design.space import OP_NAMES, Architecture, Cell

__all__ = ["WIDE_STEM_KERNEL", "WideCell", "WideNetwork", "whitening_weights"]

WIDE_STEM_KERNEL = 2


def whitening_weights(x: np.ndarray, kernel: int = WIDE_STEM_KERNEL, eps: float = 5e-4):
    """Conv weights ``(2 * C * k * k, C, k, k)`` float32 that whiten the ``k x k`` patches of
    float32 NCHW images ``x``: the eigenvectors of the patches' covariance over
    ``sqrt(eigenvalue + eps)``, and their negatives (so a ReLU-like activation keeps both signs).
    The covariance is accumulated over chunks of images (memory stays ~100 MB)."""
    n, c = x.shape[:2]
    d = c * kernel * kernel
    total, outer, count = np.zeros(d), np.zeros((d, d)), 0
    for start in range(0, n, 500):
        win = np.lib.stride_tricks.sliding_window_view(
            x[start : start + 500], (kernel, kernel), axis=(2, 3)
        )
        patches = win.transpose(0, 2, 3, 1, 4, 5).reshape(-1, d).astype(np.float64)
        total += patches.sum(axis=0)
        outer += patches.T @ patches
        count += len(patches)
    mean = total / count
    cov = outer / count - np.outer(mean, mean)
    vals, vecs = np.linalg.eigh(cov)
    filters = (vecs / np.sqrt(np.maximum(vals, 0) + eps)).T.reshape(d, c, kernel, kernel)
    return np.concatenate([filters, -filters]).astype(np.float32)


class WideCell(nn.Layer):
    """A searched cell at full width: ``(B, w, H, W)`` -> ``(B, w, H, W)``, input already
    BN-activated.

    A node without inputs applies its op to the cell input; a node with inputs sums them ->
    BN-act -> its op. The out-degree-zero nodes and the cell input are summed (sum rather than
    concat + 1x1: fewer parameters and ~8% faster here, ``docs/frame_speed.md``); with
    ``add_input`` false the cell input is left out of that sum.
    """

    def __init__(self, cell: Cell, width: int, cfg: NetworkConfig, add_input: bool = True) -> None:
        super().__init__()
        self.add_input = add_input
        self._preds = [cell.predecessors(j) for j in range(cell.n_nodes)]
        self._sinks = cell.sinks()
        self.node_acts = nn.LayerList(
            [bn_relu(width, cfg) if p else nn.Identity() for p in self._preds]
        )
        self.node_ops = nn.LayerList([make_op(OP_NAMES[op], width, 1, cfg) for op in cell.ops])

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        outs: list[paddle.Tensor] = []
        for j, preds in enumerate(self._preds):
            if preds:
                z = outs[preds[0]] if len(preds) == 1 else paddle.add_n([outs[i] for i in preds])
                z = self.node_acts[j](z)
            else:
                z = x
            outs.append(self.node_ops[j](z))
        ends = [outs[j] for j in self._sinks]
        if self.add_input:
            ends.insert(0, x)
        return ends[0] if len(ends) == 1 else paddle.add_n(ends)


class _Group(nn.Layer):
    """conv 3x3 -> max-pool 2 -> BN-act -> cell -> BN-act: ``(B, c_in, H, W)`` ->
    ``(B, w, H // 2, W // 2)``."""

    def __init__(self, c_in: int, width: int, cell: Cell, cfg: NetworkConfig) -> None:
        super().__init__()
        self.entry = nn.Sequential(conv2d(c_in, width, 3), MaxPool2D(2), bn_relu(width, cfg))
        self.cell = WideCell(cell, width, cfg, add_input=cfg.cell_input)
        self.out_act = bn_relu(width, cfg)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.out_act(self.cell(self.entry(x)))


class WideNetwork(nn.Layer):
    """Image classifier: float32 NCHW ``(B, in_channels, H, W)`` -> float32 logits ``(B, K)``.

    Call :meth:`fit_whitening` with training images before training from scratch; a saved
    state dict carries the stem's fitted weights.
    """

    def __init__(self, arch: Architecture, cfg: NetworkConfig, in_channels: int = 3) -> None:
        super().__init__()
        self.arch, self.cfg = arch, cfg
        k = WIDE_STEM_KERNEL
        c_stem = 2 * in_channels * k * k
        self.stem = Conv2D(
            in_channels,
            c_stem,
            k,
            weight_attr=paddle.ParamAttr(trainable=False),
            bias_attr=paddle.ParamAttr(initializer=nn.initializer.Constant(0.0)),
        )
        self.stem_act = activation(cfg)
        groups, c_prev = [], c_stem
        for width in cfg.widths:
            groups.append(_Group(c_prev, width, arch.normal, cfg))
            c_prev = width
        self.groups = nn.LayerList(groups)
        self.pool = nn.AdaptiveMaxPool2D(1)
        self.fc = nn.Linear(c_prev, cfg.num_classes, bias_attr=False)
        if cfg.init == "uniform":
            fan_in_uniform_init(self)
        if cfg.identity_init:
            identity_init(self.groups)

    def fit_whitening(self, x: np.ndarray) -> None:
        """Fix the stem's weights to the whitening map of float32 NCHW images ``x``."""
        self.stem.weight.set_value(whitening_weights(x))

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        h = self.stem_act(self.stem(x))
        for group in self.groups:
            h = group(h)
        return self.fc(self.pool(h).flatten(1)) * self.cfg.logit_scale
