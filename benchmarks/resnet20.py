"""The reference network of the speed benchmark, in Paddle and in PyTorch: a ResNet-20 for 32x32.

Stem conv 3x3 (16) -> BN -> ReLU, then 3 stages of 3 basic blocks (conv 3x3 - BN - ReLU -
conv 3x3 - BN, plus the identity or a strided 1x1 conv + BN projection, then ReLU) with 16, 32
and 64 channels (stride 2 at the start of stages 2 and 3) -> global average pool -> FC (10).
Bias-free convs, default BN settings: both builders give 272,474 parameters. Each framework is
imported only by its own builder, so a process loads one of them.
"""

from __future__ import annotations

from typing import Any

WIDTHS = (16, 32, 64)
BLOCKS_PER_STAGE = 3


def _plan() -> list[tuple[int, int, int]]:
    """``(c_in, c_out, stride)`` of every basic block."""
    plan, c = [], WIDTHS[0]
    for stage, width in enumerate(WIDTHS):
        for k in range(BLOCKS_PER_STAGE):
            plan.append((c, width, 2 if stage > 0 and k == 0 else 1))
            c = width
    return plan


def paddle_resnet20(num_classes: int = 10) -> Any:
    """The reference network as a ``paddle.nn.Layer``."""
    import paddle.nn.functional as F
    from paddle import nn

    class Block(nn.Layer):
        def __init__(self, c_in: int, c_out: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2D(c_in, c_out, 3, stride, 1, bias_attr=False)
            self.bn1 = nn.BatchNorm2D(c_out)
            self.conv2 = nn.Conv2D(c_out, c_out, 3, 1, 1, bias_attr=False)
            self.bn2 = nn.BatchNorm2D(c_out)
            self.shortcut = None
            if stride != 1 or c_in != c_out:
                self.shortcut = nn.Sequential(
                    nn.Conv2D(c_in, c_out, 1, stride, bias_attr=False), nn.BatchNorm2D(c_out)
                )

        def forward(self, x):
            h = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
            return F.relu(h + (x if self.shortcut is None else self.shortcut(x)))

    class ResNet20(nn.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(
                nn.Conv2D(3, WIDTHS[0], 3, 1, 1, bias_attr=False),
                nn.BatchNorm2D(WIDTHS[0]),
                nn.ReLU(),
            )
            self.blocks = nn.Sequential(*[Block(*p) for p in _plan()])
            self.fc = nn.Linear(WIDTHS[-1], num_classes)

        def forward(self, x):
            h = self.blocks(self.stem(x))
            return self.fc(F.adaptive_avg_pool2d(h, 1).flatten(1))

    return ResNet20()


def torch_resnet20(num_classes: int = 10) -> Any:
    """The reference network as a ``torch.nn.Module``."""
    import torch.nn.functional as F
    from torch import nn

    class Block(nn.Module):
        def __init__(self, c_in: int, c_out: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(c_out)
            self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(c_out)
            self.shortcut = None
            if stride != 1 or c_in != c_out:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
                )

        def forward(self, x):
            h = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
            return F.relu(h + (x if self.shortcut is None else self.shortcut(x)))

    class ResNet20(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(
                nn.Conv2d(3, WIDTHS[0], 3, 1, 1, bias=False), nn.BatchNorm2d(WIDTHS[0]), nn.ReLU()
            )
            self.blocks = nn.Sequential(*[Block(*p) for p in _plan()])
            self.fc = nn.Linear(WIDTHS[-1], num_classes)

        def forward(self, x):
            h = self.blocks(self.stem(x))
            return self.fc(F.adaptive_avg_pool2d(h, 1).flatten(1))

    return ResNet20()
