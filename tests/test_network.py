"""Networks build from any architecture, run forward and backward, and are counted correctly."""

import numpy as np
import paddle
import pytest

from autodl_design.config import NetworkConfig
from autodl_design.nn.flops import count_flops, count_params
from autodl_design.nn.network import build_network, sources_as_slices
from autodl_design.space import Architecture, Cell, op_id, random_architecture

SMALL = NetworkConfig(width=8, stages=3, cells_per_stage=1)


def _full(n: int, ops: list[int]) -> Cell:
    return Cell(tuple(ops), tuple((i, j) for j in range(n) for i in range(j)))


def _forward_backward(arch: Architecture, cfg: NetworkConfig, size: int = 16, batch: int = 2):
    paddle.seed(0)
    net = build_network(arch, cfg)
    x = paddle.randn([batch, 3, size, size])
    out = net(x)
    assert tuple(out.shape) == (batch, cfg.num_classes)
    out.mean().backward()
    grads = [p.grad for p in net.parameters() if not p.stop_gradient]
    assert all(g is not None for g in grads)
    assert all(np.isfinite(g.numpy()).all() for g in grads)
    assert np.isfinite(out.numpy()).all()
    return net


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n_nodes", [2, 3])
def test_random_architectures_build_and_train(seed, n_nodes):
    arch = random_architecture(np.random.default_rng(seed), n_nodes, edge_prob=0.5)
    net = _forward_backward(arch, SMALL)
    assert count_params(net) > 0
    assert count_flops(net, (1, 3, 16, 16)) > 0


def test_edgeless_architecture_builds():
    ops = list(range(5))
    arch = Architecture(Cell(tuple(ops), ()), Cell(tuple(reversed(ops)), ()))
    _forward_backward(arch, SMALL)


def test_fully_connected_architecture_builds():
    arch = Architecture(_full(4, [1, 4, 6, 9]), _full(4, [3, 5, 7, 8]))
    _forward_backward(arch, SMALL)


def test_default_ten_nodes_and_two_cells_per_stage():
    arch = random_architecture(np.random.default_rng(7), 10, edge_prob=0.5)
    cfg = NetworkConfig(width=8, cells_per_stage=2)
    _forward_backward(arch, cfg, size=32)


def test_odd_input_size_and_grey_images():
    arch = random_architecture(np.random.default_rng(3), 4, edge_prob=0.3)
    net = build_network(arch, SMALL, in_channels=1)
    assert tuple(net(paddle.randn([3, 1, 15, 15])).shape) == (3, 10)


def test_eval_mode_is_deterministic():
    arch = random_architecture(np.random.default_rng(1), 3)
    net = build_network(arch, SMALL)
    net.eval()
    x = paddle.randn([2, 3, 16, 16])
    np.testing.assert_array_equal(net(x).numpy(), net(x).numpy())


def test_counts_match_hand_count():
    # width 4, node_ratio 2, 3x8x8 input, 2 classes; normal cell = one conv3x3 node, reduction
    # cell = one max-pool node (both are sources and sinks).
    cfg = NetworkConfig(width=4, stages=2, cells_per_stage=1, node_ratio=2, num_classes=2)
    arch = Architecture(Cell((op_id("conv3x3"),), ()), Cell((op_id("max_pool3x3"),), ()))
    net = build_network(arch, cfg)
    params = {
        "stem conv3x3 3->4": 3 * 4 * 9,
        # normal (4 -> 4 channels, node width 2): BN(4), conv1x1 4->2, BN(2), conv3x3 2->2,
        # project 2->4
        "normal": 8 + 4 * 2 + 4 + 2 * 2 * 9 + 2 * 4,
        # reduction (4 -> 8, node width 4): BN(4), conv1x1 4->4, BN(4), pool, project 4->8
        "reduction": 8 + 4 * 4 + 8 + 0 + 4 * 8,
        "head BN(8) + FC 8->2": 16 + 8 * 2 + 2,
    }
    macs = {
        "stem": 8 * 8 * 4 * 3 * 9,
        "normal": 8 * 8 * (2 * 4 + 2 * 2 * 9 + 4 * 2),
        "reduction": 8 * 8 * 4 * 4 + 4 * 4 * 8 * 4,  # projection runs at 4x4 after the pool
        "fc": 8 * 2,
    }
    assert count_params(net) == sum(params.values()) == 270
    assert count_flops(net, (1, 3, 8, 8)) == sum(macs.values()) == 11792
    assert count_flops(net, (5, 3, 8, 8)) == 11792  # per image, whatever the batch
    assert net.training  # count_flops restores the mode


def test_flops_of_plain_layers():
    net = paddle.nn.Sequential(
        paddle.nn.Conv2D(3, 6, 3, stride=2, padding=1, groups=3),
        paddle.nn.Flatten(),
        paddle.nn.Linear(6 * 5 * 5, 7),
    )
    # grouped conv: each output channel sees 3 / 3 = 1 input channel
    assert count_flops(net, (1, 3, 10, 10)) == 5 * 5 * 6 * 1 * 9 + 150 * 7
    assert count_params(net) == (6 * 1 * 9 + 6) + (150 * 7 + 7)


def test_residual_cells_add_their_input():
    arch = random_architecture(np.random.default_rng(3), 4, edge_prob=0.5)
    cfg = NetworkConfig(width=8, stages=3, cells_per_stage=2, residual=True)
    net = _forward_backward(arch, cfg, size=15)
    plain = build_network(arch, NetworkConfig(width=8, stages=3, cells_per_stage=2))
    # one 1x1 shortcut conv per reduction cell (8 -> 16 -> 32 channels); the rest are identities
    extra = count_params(net) - count_params(plain)
    assert extra == 8 * 16 + 16 * 32
    cell = net.cells[1]  # a normal cell: output = cell(x) - x is the plain branch
    x = paddle.randn([2, 8, 15, 15])
    cell.eval()
    cell.shortcut = None
    without = cell(x).numpy()
    cell.shortcut = paddle.nn.Identity()
    assert np.allclose(cell(x).numpy() - without, x.numpy(), atol=1e-5)


def test_sources_as_slices_computes_the_same_values_and_gradients():
    paddle.seed(0)
    arch = random_architecture(np.random.default_rng(3), 5, edge_prob=0.3)
    net = build_network(arch, NetworkConfig(width=8, residual=True, dropout=0.0))
    assert any(len(cell._sources) > 1 for cell in net.cells)
    net.eval()  # BN with fixed statistics: both passes see the same function
    x = paddle.to_tensor(np.random.default_rng(0).standard_normal((2, 3, 16, 16)), "float32")

    def output_and_grads():
        net.clear_gradients()
        out = net(x)
        out.sum().backward()
        return [out.numpy()] + [
            p.grad.numpy().copy() for p in net.parameters() if p.grad is not None
        ]

    split = output_and_grads()
    with sources_as_slices(net):
        assert all(cell.slice_sources for cell in net.cells)
        sliced = output_and_grads()
    assert not any(cell.slice_sources for cell in net.cells)
    assert all(np.array_equal(a, b) for a, b in zip(split, sliced, strict=True))
