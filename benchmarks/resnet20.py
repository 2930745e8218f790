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
    from resnet20_paddle import ResNet20

    return ResNet20(num_classes)


def torch_resnet20(num_classes: int = 10) -> Any:
    """The reference network as a ``torch.nn.Module``."""
    from resnet20_torch import ResNet20

    return ResNet20(num_classes)
