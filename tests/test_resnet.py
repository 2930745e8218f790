"""The resnet frame: with the ResNet block cell it is pre-activation ResNet-20."""

import numpy as np
import paddle

from autodl_design.config import NetworkConfig
from autodl_design.data.normalize import preprocess
from autodl_design.nn.flops import count_flops, count_params
from autodl_design.nn.network import build_network
from autodl_design.nn.resnet import ResNetFrame
from autodl_design.space import load_architecture, random_architecture
from tests.test_train import ARCH, quiet, tiny_config, tiny_data

RESNET20 = NetworkConfig(frame="resnet", width=16, stages=3, cells_per_stage=3)


def test_the_resnet_block_cell_gives_resnet20():
    arch = load_architecture("benchmarks/archs/resnet_block.json")
    net = build_network(arch, RESNET20)
    assert isinstance(net, ResNetFrame)
    convs = [m for m in net.sublayers() if isinstance(m, paddle.nn.Conv2D)]
    # stem + 9 blocks x 2 convs + 2 shortcut 1x1 = 21 convs; 19 3x3 convs + fc = 20 layers
    assert len(convs) == 21 and sum(c.weight.shape[2] == 3 for c in convs) == 19
    assert count_params(net) == 272_282  # ~0.27 M, ResNet-20 with projection shortcuts
    assert 40e6 < count_flops(net) < 42e6  # ~41 M multiply-adds per 32x32 image


def test_any_cell_builds_at_every_stage():
    for seed in range(3):
        arch = random_architecture(np.random.default_rng(seed), 4, edge_prob=0.5)
        net = build_network(arch, NetworkConfig(frame="resnet", width=8, stages=3))
        x = np.random.default_rng(seed).integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
        out = net(paddle.to_tensor(preprocess(x)))
        assert out.shape == [2, 10] and np.isfinite(out.numpy()).all()


def test_the_trainer_trains_a_resnet_frame(tmp_path):
    from autodl_design.train.command import train

    extra = ["network.frame=resnet", "network.width=8", "network.cells_per_stage=2"]
    metrics = train(ARCH, tiny_config(*extra), tmp_path, data=tiny_data(), log=quiet)
    assert metrics["config"]["network"]["frame"] == "resnet" and metrics["epochs"] == 2
    assert np.isfinite(metrics["train_loss"]) and metrics["test_acc"] is not None
