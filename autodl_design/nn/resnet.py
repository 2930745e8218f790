"""The "resnet" network frame: searched cells as the blocks of a pre-activation ResNet.

The skeleton of He et al.'s CIFAR ResNets (v2, pre-activation), with every block that keeps
the shape replaced by ``x + WideCell(BN-act(x))``, the architecture's *normal* cell at full
width:

    stem: conv 3x3 (-> cfg.width)
    stage s = 0 .. cfg.stages - 1, width w_s = cfg.width * 2**s, cfg.cells_per_stage blocks:
        s > 0, first block: a ResNet downsampling block, BN-act -> conv 3x3 stride 2 (-> w_s)
            -> BN-act -> conv 3x3, plus a 1x1 stride-2 conv shortcut of the BN-activated input
        other blocks: x + cell(BN-act(x))
    BN-act -> global average pool -> linear

With the two-node chain cell ``conv3x3 -> conv3x3`` (``benchmarks/archs/resnet_block.json``),
width 16, 3 stages of 3 blocks this is exactly pre-activation ResNet-20 (0.27 M parameters): the
hand-designed reference the searched cells are measured against, trained by the same trainer.
"""

from __future__ import annotations

import paddle
from paddle import nn

from autodl_design.config import NetworkConfig
from autodl_design.nn.ops import bn_relu, conv2d, fan_in_uniform_init, identity_init
from autodl_design.nn.wide import WideCell
from autodl_design.space import Architecture, Cell

__all__ = ["ResNetFrame"]


class _CellBlock(nn.Layer):
    """``x + cell(BN-act(x))``: ``(B, w, H, W)`` -> ``(B, w, H, W)``."""

    def __init__(self, cell: Cell, width: int, cfg: NetworkConfig) -> None:
        super().__init__()
        self.act = bn_relu(width, cfg)
        self.cell = WideCell(cell, width, cfg, add_input=False)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return x + self.cell(self.act(x))


class _DownBlock(nn.Layer):
    """ResNet's downsampling block: ``(B, c_in, H, W)`` -> ``(B, c, ceil(H / 2), ceil(W / 2))``."""

    def __init__(self, c_in: int, c: int, cfg: NetworkConfig) -> None:
        super().__init__()
        self.act = bn_relu(c_in, cfg)
        self.body = nn.Sequential(conv2d(c_in, c, 3, 2), bn_relu(c, cfg), conv2d(c, c, 3))
        self.shortcut = conv2d(c_in, c, 1, 2)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        a = self.act(x)
        return self.body(a) + self.shortcut(a)


class ResNetFrame(nn.Layer):
    """Image classifier: float32 NCHW ``(B, in_channels, H, W)`` -> float32 logits ``(B, K)``."""

    def __init__(self, arch: Architecture, cfg: NetworkConfig, in_channels: int = 3) -> None:
        super().__init__()
        self.arch, self.cfg = arch, cfg
        self.stem = conv2d(in_channels, cfg.width, 3)
        blocks, c_prev = [], cfg.width
        for stage in range(cfg.stages):
            c = cfg.width * 2**stage
            for k in range(cfg.cells_per_stage):
                if stage > 0 and k == 0:
                    blocks.append(_DownBlock(c_prev, c, cfg))
                else:
                    blocks.append(_CellBlock(arch.normal, c, cfg))
                c_prev = c
        self.blocks = nn.LayerList(blocks)
        self.head_act = bn_relu(c_prev, cfg)
        self.pool = nn.AdaptiveAvgPool2D(1)
        self.fc = nn.Linear(c_prev, cfg.num_classes)
        if cfg.init == "uniform":
            fan_in_uniform_init(self)
        if cfg.identity_init:
            identity_init(self.blocks)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        h = self.stem(x)
        for block in self.blocks:
            h = block(h)
        return self.fc(self.pool(self.head_act(h)).flatten(1)) * self.cfg.logit_scale
