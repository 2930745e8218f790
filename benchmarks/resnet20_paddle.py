"""The reference ResNet-20 in Paddle (see :mod:`resnet20`); classes at module level so that
``paddle.jit.save`` can read their source. Its convolutions are the project's
(:class:`autodl_design.nn.onednn.Conv2D`: oneDNN in dygraph training on CPU, Paddle's own
convolution when exported)."""

import paddle.nn.functional as F
from paddle import nn
from resnet20 import WIDTHS, _plan

from autodl_design.nn.onednn import Conv2D


class Block(nn.Layer):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = Conv2D(c_in, c_out, 3, stride, 1, bias_attr=False)
        self.bn1 = nn.BatchNorm2D(c_out)
        self.conv2 = Conv2D(c_out, c_out, 3, 1, 1, bias_attr=False)
        self.bn2 = nn.BatchNorm2D(c_out)
        self.shortcut = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                Conv2D(c_in, c_out, 1, stride, bias_attr=False), nn.BatchNorm2D(c_out)
            )

    def forward(self, x):
        h = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(h + (x if self.shortcut is None else self.shortcut(x)))


class ResNet20(nn.Layer):
    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            Conv2D(3, WIDTHS[0], 3, 1, 1, bias_attr=False),
            nn.BatchNorm2D(WIDTHS[0]),
            nn.ReLU(),
        )
        self.blocks = nn.Sequential(*[Block(*p) for p in _plan()])
        self.fc = nn.Linear(WIDTHS[-1], num_classes)

    def forward(self, x):
        h = self.blocks(self.stem(x))
        return self.fc(F.adaptive_avg_pool2d(h, 1).flatten(1))
