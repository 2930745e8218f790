"""Architectures: round-trips, validity errors, and the isomorphism-invariant key."""

import itertools
import json

import numpy as np
import pytest

from autodl_design.space import (
    NUM_OPS,
    OP_NAMES,
    Architecture,
    ArchitectureError,
    Cell,
    canonical_cell_form,
    num_adjacency_bits,
    random_architecture,
)


def _relabel(cell: Cell, rng: np.random.Generator) -> Cell:
    """Renumber nodes along a random topological order (an isomorphic, valid cell)."""
    n = cell.n_nodes
    indeg = [len(cell.predecessors(j)) for j in range(n)]
    succ = [[j for i, j in cell.edges if i == v] for v in range(n)]
    ready, new = [v for v in range(n) if indeg[v] == 0], [0] * n
    for k in range(n):
        v = ready.pop(int(rng.integers(len(ready))))
        new[v] = k
        for s in succ[v]:
            indeg[s] -= 1
            if indeg[s] == 0:
                ready.append(s)
    ops = [0] * n
    for v in range(n):
        ops[new[v]] = cell.ops[v]
    return Cell(tuple(ops), tuple((new[i], new[j]) for i, j in cell.edges))


def _isomorphic(a: Cell, b: Cell) -> bool:
    if a.n_nodes != b.n_nodes:
        return False
    target = set(b.edges)
    for p in itertools.permutations(range(a.n_nodes)):
        if (
            all(a.ops[v] == b.ops[p[v]] for v in range(a.n_nodes))
            and {(p[i], p[j]) for i, j in a.edges} == target
        ):
            return True
    return False


def test_ten_ops_of_the_original():
    assert NUM_OPS == 10 and OP_NAMES[1] == "conv3x3" and len(set(OP_NAMES)) == 10


@pytest.mark.parametrize("n", [1, 2, 5, 10])
def test_round_trips(n):
    rng = np.random.default_rng(n)
    for _ in range(50):
        a = random_architecture(rng, n, edge_prob=float(rng.random()))
        assert Architecture.from_json(a.to_json()) == a
        assert Architecture.from_dict(json.loads(a.to_json())) == a
        assert Architecture.from_actions(*a.to_actions()) == a
        assert a.to_json() == Architecture.from_json(a.to_json()).to_json()
        tokens, bits = a.to_actions()
        assert len(tokens) == 2 * n and len(bits) == 2 * num_adjacency_bits(n)


def test_from_actions_bit_order_is_node_by_node():
    # N = 3: bits per cell are (0->1), (0->2), (1->2).
    a = Architecture.from_actions([0, 1, 2, 3, 4, 5], [1, 0, 1, 0, 1, 0])
    assert a.normal.edges == ((0, 1), (1, 2))
    assert a.reduction.edges == ((0, 2),)
    assert a.normal.sinks() == [2] and a.reduction.sinks() == [1, 2]


def test_key_is_invariant_under_renumbering():
    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(1, 11))
        a = random_architecture(rng, n, edge_prob=float(rng.random()))
        b = Architecture(_relabel(a.normal, rng), _relabel(a.reduction, rng))
        assert a.key() == b.key()


def test_key_separates_non_isomorphic_cells():
    rng = np.random.default_rng(1)
    equal = 0
    for _ in range(1500):
        n = int(rng.integers(2, 6))
        cells = [
            Cell.from_bits(
                rng.integers(0, 2, size=n), (rng.random(num_adjacency_bits(n)) < 0.5).astype(int)
            )
            for _ in range(2)
        ]
        same = canonical_cell_form(cells[0]) == canonical_cell_form(cells[1])
        assert same == _isomorphic(*cells), cells
        equal += same
    assert equal > 20  # the check above exercised both outcomes


def test_key_distinguishes_sharing_from_copies():
    # One node feeding two vs two identical nodes each feeding one: same "tree", other graph.
    shared = Cell((0, 1, 1, 2), ((0, 1), (0, 2)))
    copies = Cell((0, 0, 1, 1), ((0, 2), (1, 3)))
    assert canonical_cell_form(shared) != canonical_cell_form(copies)


def test_symmetric_cells_are_fast():
    n = 20
    star = Cell((0,) * n, tuple((i, n - 1) for i in range(n - 1)))
    chains = Cell((0,) * n, tuple((2 * k, 2 * k + 1) for k in range(n // 2)))
    full = Cell((0,) * n, tuple((i, j) for j in range(n) for i in range(j)))
    for c in (star, chains, full):
        canonical_cell_form(c)  # would take 20! steps without twin and component handling


def _cells(normal_ops, normal_edges, reduction_ops=("conv1x1",), reduction_edges=()):
    return json.dumps(
        {
            "normal": {"ops": list(normal_ops), "edges": normal_edges},
            "reduction": {"ops": list(reduction_ops), "edges": list(reduction_edges)},
        }
    )


TWO = ("conv1x1", "conv1x1")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not valid JSON"),
        ('{"normal": {"ops": [], "edges": []}}', "expected keys"),
        (_cells(["conv9x9"], []), "unknown op 'conv9x9'"),
        (_cells(TWO, [[1, 0]], TWO), "not upper-triangular"),
        (_cells(TWO, [[0, 5]], TWO), "outside 0..1"),
        (_cells(TWO, [[0, 1], [0, 1]], TWO), "repeated"),
        (_cells(["conv1x1"], [], TWO), "must match"),
        (_cells(["conv1x1"], "x"), "'edges' must be"),
        (_cells([], []), "at least 1 node"),
    ],
)
def test_malformed_json_gives_precise_errors(text, message):
    with pytest.raises(ArchitectureError, match=message):
        Architecture.from_json(text)


def test_malformed_actions_and_adjacency():
    with pytest.raises(ArchitectureError, match="expected 2N"):
        Architecture.from_actions([0, 1, 2], [])
    with pytest.raises(ArchitectureError, match="expected N\\(N-1\\) = 6"):
        Architecture.from_actions([0, 1, 2, 3, 4, 5], [1, 0, 1])
    with pytest.raises(ArchitectureError, match="op id 12"):
        Architecture.from_actions([0, 12], [])
    with pytest.raises(ArchitectureError, match="expected 0 or 1"):
        Architecture.from_actions([0, 1, 2, 3], [2, 0])
    with pytest.raises(ArchitectureError, match="on or below the diagonal"):
        Cell.from_adjacency([0, 1], [[0, 0], [1, 0]])
    with pytest.raises(ArchitectureError, match="shape"):
        Cell.from_adjacency([0, 1], [[0, 1]])
    assert Cell.from_adjacency([0, 1], [[0, 1], [0, 0]]).edges == ((0, 1),)
