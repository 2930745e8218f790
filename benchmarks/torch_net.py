"""PyTorch twin of :mod:`autodl_design.nn.network` and :mod:`autodl_design.nn.ops` (benchmarks).

Same layers, channel counts, strides, paddings and module names as the Paddle network, so the two
have equal parameter counts and :func:`copy_paddle_weights` can load a Paddle network's weights
into its twin (the benchmark checks that both then give the same logits). Differences that do
not change the arithmetic: Paddle's BN ``momentum`` m is PyTorch's ``1 - m``; Paddle's
``exclusive=True`` average pool is PyTorch's ``count_include_pad=False``; a Paddle ``Linear``
weight is ``(in, out)``, PyTorch's ``(out, in)``; BN running statistics are called ``_mean`` /
``_variance`` in Paddle and ``running_mean`` / ``running_var`` here. The He truncated-normal
initialiser is not mirrored: throughput does not depend on the initial values.

Importing this module needs ``torch`` (``pip install torch==2.13.0``, the local CPU wheel).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from autodl_design.config import NetworkConfig
from autodl_design.space import OP_NAMES, Architecture, Cell


def conv2d(
    c_in: int,
    c_out: int,
    kernel: int | tuple[int, int],
    stride: int | tuple[int, int] = 1,
    dilation: int = 1,
) -> nn.Conv2d:
    """Bias-free "same"-padded conv, as ``ops.conv2d``."""
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    padding = (dilation * (kh - 1) // 2, dilation * (kw - 1) // 2)
    return nn.Conv2d(c_in, c_out, (kh, kw), stride, padding, dilation, bias=False)


def activation(cfg: NetworkConfig) -> nn.Module:
    """As ``ops.activation``."""
    if cfg.activation == "gelu":
        return nn.GELU()
    return nn.ReLU() if cfg.activation == "relu" else nn.LeakyReLU(cfg.leaky_slope)


def bn_relu(channels: int, cfg: NetworkConfig) -> nn.Sequential:
    """BN then the activation, as ``ops.bn_relu`` (momentum converted to PyTorch's convention;
    a fixed scale, ``cfg.bn_scale`` false, is not trainable)."""
    bn = nn.BatchNorm2d(channels, eps=cfg.bn_epsilon, momentum=1.0 - cfg.bn_momentum)
    bn.weight.requires_grad = cfg.bn_scale
    return nn.Sequential(bn, activation(cfg))


OpFactory = Callable[[int, int, NetworkConfig], nn.Module]


def _conv(kernel: int, dilation: int = 1) -> OpFactory:
    return lambda c, s, cfg: conv2d(c, c, kernel, s, dilation)


def _factorised(k: int) -> OpFactory:
    return lambda c, s, cfg: nn.Sequential(
        conv2d(c, c, (1, k), (1, s)), bn_relu(c, cfg), conv2d(c, c, (k, 1), (s, 1))
    )


def _max_pool(k: int) -> OpFactory:
    return lambda c, s, cfg: nn.MaxPool2d(k, s, k // 2)


def _avg_pool(k: int) -> OpFactory:
    return lambda c, s, cfg: nn.AvgPool2d(k, s, k // 2, count_include_pad=False)


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


class CellLayer(nn.Module):
    """Twin of ``network.CellLayer`` (batched source path, per-node ops, 1x1 projection)."""

    def __init__(
        self, cell: Cell, c_in: int, c_out: int, reduction: bool, cfg: NetworkConfig
    ) -> None:
        super().__init__()
        c_node = max(1, c_out // cfg.node_ratio)
        stride = 2 if reduction else 1
        self._c_node = c_node
        self._preds = [cell.predecessors(j) for j in range(cell.n_nodes)]
        self._sinks = cell.sinks()
        self._sources = [j for j, p in enumerate(self._preds) if not p]
        n_src = len(self._sources)
        self.source_path = nn.Sequential(
            bn_relu(c_in, cfg), conv2d(c_in, n_src * c_node, 1), bn_relu(n_src * c_node, cfg)
        )
        self.node_acts = nn.ModuleList(
            [bn_relu(c_node, cfg) if p else nn.Identity() for p in self._preds]
        )
        self.node_ops = nn.ModuleList(
            [
                OPS[OP_NAMES[op]](c_node, 1 if p else stride, cfg)
                for op, p in zip(cell.ops, self._preds, strict=True)
            ]
        )
        self.project = conv2d(len(self._sinks) * c_node, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        src = self.source_path(x)
        src_parts = torch.split(src, self._c_node, dim=1) if len(self._sources) > 1 else [src]
        src_of = dict(zip(self._sources, src_parts, strict=True))
        outs: list[torch.Tensor] = []
        for j, preds in enumerate(self._preds):
            if preds:
                z = outs[preds[0]] if len(preds) == 1 else sum(outs[i] for i in preds)
                z = self.node_acts[j](z)
            else:
                z = src_of[j]
            outs.append(self.node_ops[j](z))
        sinks = [outs[j] for j in self._sinks]
        return self.project(sinks[0] if len(sinks) == 1 else torch.cat(sinks, dim=1))


class Network(nn.Module):
    """Twin of ``network.Network``: float32 NCHW images -> logits ``(B, K)``."""

    def __init__(self, arch: Architecture, cfg: NetworkConfig, in_channels: int = 3) -> None:
        super().__init__()
        self.stem = conv2d(in_channels, cfg.width, 3)
        cells = []
        c_prev = cfg.width
        for stage in range(cfg.stages):
            c = cfg.width * 2**stage
            for k in range(cfg.cells_per_stage):
                reduction = stage > 0 and k == 0
                cell = arch.reduction if reduction else arch.normal
                cells.append(CellLayer(cell, c_prev, c, reduction, cfg))
                c_prev = c
        self.cells = nn.ModuleList(cells)
        self.head_act = bn_relu(c_prev, cfg)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(cfg.dropout)
        self.fc = nn.Linear(c_prev, cfg.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        for cell in self.cells:
            h = cell(h)
        h = self.pool(self.head_act(h)).flatten(1)
        return self.fc(self.dropout(h))


class WideCell(nn.Module):
    """Twin of ``wide.WideCell``."""

    def __init__(self, cell: Cell, width: int, cfg: NetworkConfig, add_input: bool = True):
        super().__init__()
        self.add_input = add_input
        self._preds = [cell.predecessors(j) for j in range(cell.n_nodes)]
        self._sinks = cell.sinks()
        self.node_acts = nn.ModuleList(
            [bn_relu(width, cfg) if p else nn.Identity() for p in self._preds]
        )
        self.node_ops = nn.ModuleList([OPS[OP_NAMES[op]](width, 1, cfg) for op in cell.ops])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs: list[torch.Tensor] = []
        for j, preds in enumerate(self._preds):
            z = self.node_acts[j](sum(outs[i] for i in preds)) if preds else x
            outs.append(self.node_ops[j](z))
        ends = [outs[j] for j in self._sinks]
        return sum([x, *ends] if self.add_input else ends)


class WideGroup(nn.Module):
    """Twin of ``wide._Group``."""

    def __init__(self, c_in: int, width: int, cell: Cell, cfg: NetworkConfig) -> None:
        super().__init__()
        self.entry = nn.Sequential(conv2d(c_in, width, 3), nn.MaxPool2d(2), bn_relu(width, cfg))
        self.cell = WideCell(cell, width, cfg)
        self.out_act = bn_relu(width, cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out_act(self.cell(self.entry(x)))


class WideNetwork(nn.Module):
    """Twin of ``wide.WideNetwork`` (the stem's weights fixed, as there)."""

    def __init__(self, arch: Architecture, cfg: NetworkConfig, in_channels: int = 3) -> None:
        super().__init__()
        c_stem = 2 * in_channels * 4
        self.stem = nn.Conv2d(in_channels, c_stem, 2)
        self.stem.weight.requires_grad = False
        self.stem_act = activation(cfg)
        widths = [c_stem, *cfg.widths]
        self.groups = nn.ModuleList(
            [WideGroup(a, b, arch.normal, cfg) for a, b in zip(widths, widths[1:], strict=False)]
        )
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(widths[-1], cfg.num_classes, bias=False)
        self.scale = cfg.logit_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem_act(self.stem(x))
        for group in self.groups:
            h = group(h)
        return self.fc(self.pool(h).flatten(1)) * self.scale


def build_network(arch: Architecture, cfg: NetworkConfig, in_channels: int = 3) -> nn.Module:
    """PyTorch twin of ``autodl_design.nn.network.build_network`` (frames cells and wide)."""
    arch.validate()
    if cfg.frame == "wide":
        return WideNetwork(arch, cfg, in_channels)
    if cfg.frame != "cells":
        raise ValueError(f"no PyTorch twin of the {cfg.frame!r} frame")
    return Network(arch, cfg, in_channels)


def count_params(net: nn.Module) -> int:
    """Trainable scalars, as ``autodl_design.nn.flops.count_params``."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


_PADDLE_TO_TORCH_SUFFIX = {"_mean": "running_mean", "_variance": "running_var"}


def copy_paddle_weights(net: nn.Module, paddle_state: dict[str, np.ndarray]) -> None:
    """Load a Paddle twin's ``state_dict`` (as numpy) into ``net``; every tensor must fit."""
    mine = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    loaded = {}
    for key, value in paddle_state.items():
        head, _, leaf = key.rpartition(".")
        name = f"{head}.{_PADDLE_TO_TORCH_SUFFIX.get(leaf, leaf)}"
        if name not in mine:
            raise KeyError(f"Paddle weight {key!r} has no PyTorch twin {name!r}")
        array = np.asarray(value)
        if array.ndim == 2:
            array = array.T  # Linear: Paddle (in, out), PyTorch (out, in)
        if tuple(array.shape) != tuple(mine[name].shape):
            raise ValueError(f"{key}: shape {array.shape} != {tuple(mine[name].shape)}")
        loaded[name] = torch.from_numpy(np.ascontiguousarray(array))
    missing = sorted(set(mine) - set(loaded))
    if missing:
        raise KeyError(f"PyTorch weights without a Paddle twin: {missing[:3]}")
    net.load_state_dict(loaded, strict=False)
