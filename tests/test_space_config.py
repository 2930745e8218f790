"""User-defined search spaces: the space as data, its config section and its checks, the
strategies respecting it, the default space proposing exactly what it proposed before, and a
real tiny search in a small space."""

import numpy as np
import pytest

from autodl_design.space import (
    OP_NAMES,
    Architecture,
    ArchitectureError,
    Cell,
    SearchSpace,
    random_architecture,
)

SMALL = SearchSpace.from_names(
    6, ["conv3x3", "max_pool3x3", "conv1x1", "avg_pool3x3"], "chain", "one"
)


def test_default_space_actions_are_the_architectures_actions():
    rng = np.random.default_rng(0)
    for n in (2, 3, 5, 10):
        space = SearchSpace(n)
        assert space.is_default and space.num_tokens == 2 * n and space.num_bits == n * (n - 1)
        for _ in range(20):
            tokens = rng.integers(0, 10, size=2 * n)
            bits = rng.integers(0, 2, size=n * (n - 1))
            arch = space.from_actions(tokens, bits)
            assert arch == Architecture.from_actions(tokens, bits)
            assert space.to_actions(arch) == arch.to_actions()


def test_default_space_random_draws_are_random_architecture_draws():
    a, b = np.random.default_rng(7), np.random.default_rng(7)
    for _ in range(30):
        assert SearchSpace(5).random(a, 0.3) == random_architecture(b, 5, 0.3)
    assert a.random() == b.random()  # the generators went the same way


def test_a_chain_one_cell_space():
    ops = [OP_NAMES.index(name) for name in ("conv3x3", "max_pool3x3", "conv1x1", "avg_pool3x3")]
    assert SMALL.ops == tuple(ops) and SMALL.num_ops == 4
    assert SMALL.num_tokens == 6 and SMALL.num_bits == 0
    chain = ((0, 1), (1, 2), (2, 3), (3, 4), (4, 5))
    arch = SMALL.from_actions([0, 1, 2, 3, 3, 0], [])
    assert (
        arch.normal
        == arch.reduction
        == Cell((ops[0], ops[1], ops[2], ops[3], ops[3], ops[0]), chain)
    )
    assert SMALL.to_actions(arch) == ([0, 1, 2, 3, 3, 0], [])
    assert Architecture.from_json(arch.to_json()) == arch  # the JSON is an ordinary one
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(200):
        arch = SMALL.random(rng)
        assert SMALL.problem(arch) is None
        seen.update(arch.normal.ops)
    assert seen == set(ops)


def test_no_edges_and_searched_one_cell_spaces():
    none = SearchSpace.from_names(3, ["conv1x1", "conv3x3"], "none", "two")
    arch = none.from_actions([0, 1, 1, 1, 0, 0], [])
    assert arch.normal.edges == arch.reduction.edges == ()
    assert arch.normal.ops == (0, 1, 1) and arch.reduction.ops == (1, 0, 0)
    one = SearchSpace(4, cells="one")
    assert one.num_tokens == 4 and one.num_bits == 6
    arch = one.from_actions([1, 2, 3, 4], [1, 0, 1, 0, 0, 1])
    assert arch.normal == arch.reduction and arch.normal.edges == ((0, 1), (1, 2), (2, 3))


def test_architectures_outside_a_space_are_named():
    arch = random_architecture(np.random.default_rng(1), 6)
    assert "differs from its normal cell" in SMALL.problem(arch)
    same = Architecture(arch.normal, arch.normal)
    assert "not one of the space's ops" in SMALL.problem(same)
    inside = SMALL.random(np.random.default_rng(0))
    assert "6 nodes per cell, the space 5" in SearchSpace(5).problem(inside)
    loose = Architecture(Cell(inside.normal.ops, ((0, 2),)), Cell(inside.normal.ops, ((0, 2),)))
    assert "fixed (chain)" in SMALL.problem(loose)
    with pytest.raises(ArchitectureError, match="not in the search space"):
        SMALL.to_actions(arch)
    with pytest.raises(ArchitectureError, match="this space takes 6 and 0"):
        SMALL.from_actions([0] * 12, [])
    with pytest.raises(ArchitectureError, match="token 4 is not one of 0..3"):
        SMALL.from_actions([4] * 6, [])


def test_malformed_spaces_are_refused():
    with pytest.raises(ArchitectureError, match="name an op twice"):
        SearchSpace(3, (1, 2, 1))
    with pytest.raises(ArchitectureError, match="at least 1 op"):
        SearchSpace(3, ())
    with pytest.raises(ArchitectureError, match="unknown op 'conv7x7'"):
        SearchSpace.from_names(3, ["conv7x7"])
    with pytest.raises(ArchitectureError, match="adjacency 'ring'"):
        SearchSpace(3, adjacency="ring")
