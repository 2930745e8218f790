"""The candidate network built from an :class:`~autodl_design.space.Architecture`.

Stem conv 3x3 (``cfg.width``) -> ``cfg.stages`` stages of ``cfg.cells_per_stage`` cells (the first
cell of every stage after the first is a reduction cell: stride 2, channels x2) -> BN-LeakyReLU
-> global average pool -> dropout -> FC. Cell internals are described on :class:`CellLayer`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import paddle
from paddle import nn

from autodl_design.config import NetworkConfig
from autodl_design.nn.ops import bn_relu, conv2d, make_op
from autodl_design.space import OP_NAMES, Architecture, Cell


class CellLayer(nn.Layer):
    """One cell: ``(B, c_in, H, W)`` -> ``(B, c_out, ceil(H / s), ceil(W / s))``, s = 2 if reducing.

    Every node works on ``c_out // cfg.node_ratio`` channels. A node without inputs ("source")
    reads the cell input through BN-LeakyReLU -> conv 1x1 -> BN-LeakyReLU -> its op (stride 2 in a
    reduction cell); a node with inputs sums them -> BN-LeakyReLU -> its op (stride 1: its inputs
    are already reduced). The out-degree-zero nodes are concatenated and a conv 1x1 maps them to
    ``c_out``. Every node reaches a sink, so all of them contribute. With ``cfg.residual`` the
    cell input is added to that output, as is when the shapes agree, else through a bias-free 1x1
    conv (stride 2 in a reduction cell).

    The sources' input paths are batched into one layer: one BN-LeakyReLU of the cell input, one
    1x1 conv to ``n_sources * c_node`` channels, one BN-LeakyReLU, then a split per source. The
    1x1 convs and the second BN are exactly per-node (both act per output channel); only the
    first BN's affine is shared between sources, which saves ~4 small ops per source on this
    overhead-bound CPU.
    """

    def __init__(
        self, cell: Cell, c_in: int, c_out: int, reduction: bool, cfg: NetworkConfig
    ) -> None:
        super().__init__()
        c_node = self._c_node = max(1, c_out // cfg.node_ratio)
        # paddle.split trains ~1.5x faster than slices (its backward is one concat), but Paddle
        # 3.3.1's inference predictor without oneDNN mis-infers the shapes of split outputs that
        # feed pooling ops; saved programs take slices instead (see sources_as_slices).
        self.slice_sources = False
        stride = 2 if reduction else 1
        self._preds = [cell.predecessors(j) for j in range(cell.n_nodes)]
        self._sinks = cell.sinks()
        self._sources = [j for j, p in enumerate(self._preds) if not p]
        n_src = len(self._sources)
        self.source_path = nn.Sequential(
            bn_relu(c_in, cfg), conv2d(c_in, n_src * c_node, 1), bn_relu(n_src * c_node, cfg)
        )
        self.node_acts = nn.LayerList(
            [bn_relu(c_node, cfg) if p else nn.Identity() for p in self._preds]
        )
        self.node_ops = nn.LayerList(
            [
                make_op(OP_NAMES[op], c_node, 1 if p else stride, cfg)
                for op, p in zip(cell.ops, self._preds, strict=True)
            ]
        )
        self.project = conv2d(len(self._sinks) * c_node, c_out, 1)
        self.shortcut: nn.Layer | None = None
        if cfg.residual:
            same = c_in == c_out and stride == 1
            self.shortcut = nn.Identity() if same else conv2d(c_in, c_out, 1, stride)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        src = self.source_path(x)
        n = len(self._sources)
        if n == 1:
            parts = [src]
        elif self.slice_sources:
            c = self._c_node
            parts = [src[:, i * c : (i + 1) * c] for i in range(n)]
        else:
            parts = paddle.split(src, n, axis=1)
        src_of = dict(zip(self._sources, parts, strict=True))
        outs: list[paddle.Tensor] = []
        for j, preds in enumerate(self._preds):
            if preds:
                z = outs[preds[0]] if len(preds) == 1 else paddle.add_n([outs[i] for i in preds])
                z = self.node_acts[j](z)
            else:
                z = src_of[j]
            outs.append(self.node_ops[j](z))
        sinks = [outs[j] for j in self._sinks]
        out = self.project(sinks[0] if len(sinks) == 1 else paddle.concat(sinks, axis=1))
        return out if self.shortcut is None else out + self.shortcut(x)


class Network(nn.Layer):
    """Image classifier: float32 NCHW ``(B, in_channels, H, W)`` -> float32 logits ``(B, K)``."""

    def __init__(self, arch: Architecture, cfg: NetworkConfig, in_channels: int = 3) -> None:
        super().__init__()
        self.arch = arch
        self.cfg = cfg
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
        self.cells = nn.LayerList(cells)
        self.head_act = bn_relu(c_prev, cfg)
        self.pool = nn.AdaptiveAvgPool2D(1)
        self.dropout = nn.Dropout(cfg.dropout)
        self.fc = nn.Linear(c_prev, cfg.num_classes)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        h = self.stem(x)
        for cell in self.cells:
            h = cell(h)
        h = self.pool(self.head_act(h)).flatten(1)
        return self.fc(self.dropout(h))


@contextlib.contextmanager
def sources_as_slices(layer: nn.Layer) -> Iterator[None]:
    """Within the block, the cells of ``layer`` take their sources' channels as slices rather
    than with ``paddle.split`` (same values; for saving a program, see ``CellLayer``)."""
    cells = [c for c in [layer, *layer.sublayers()] if isinstance(c, CellLayer)]
    for cell in cells:
        cell.slice_sources = True
    try:
        yield
    finally:
        for cell in cells:
            cell.slice_sources = False


def build_network(arch: Architecture, cfg: NetworkConfig, in_channels: int = 3) -> nn.Layer:
    """Build the network for ``arch`` in the frame ``cfg.frame`` (:class:`Network` for
    ``"cells"``, :class:`~autodl_design.nn.wide.WideNetwork` for ``"wide"``,
    :class:`~autodl_design.nn.resnet.ResNetFrame` for ``"resnet"``); any valid architecture
    (even edgeless) builds.

    Input float32 NCHW ``(B, in_channels, H, W)``, output float32 logits ``(B, cfg.num_classes)``.
    Parameters are drawn from Paddle's global generator: call ``paddle.seed`` first to reproduce.
    A network trained from scratch is then fitted to its data with :func:`fit_to_data`.
    """
    arch.validate()
    if cfg.frame == "wide":
        from autodl_design.nn.wide import WideNetwork

        return WideNetwork(arch, cfg, in_channels)
    if cfg.frame == "resnet":
        from autodl_design.nn.resnet import ResNetFrame

        return ResNetFrame(arch, cfg, in_channels)
    return Network(arch, cfg, in_channels)


def fit_to_data(net: nn.Layer, images: np.ndarray) -> None:
    """Set what a fresh network derives from its training data (the wide frame's whitening
    stem) from uint8 images ``(N, H, W, C)``; the first 5,000 are used. No-op for other frames."""
    fit = getattr(net, "fit_whitening", None)
    if fit is not None:
        from autodl_design.data.normalize import preprocess

        fit(preprocess(images[:5000]))
