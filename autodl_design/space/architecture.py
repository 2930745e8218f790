"""The search space as pure data: op names, cells and architectures (no Paddle import).

An :class:`Architecture` is a normal cell and a reduction cell. A :class:`Cell` has ``n`` nodes;
node ``j`` applies op ``ops[j]`` to the sum of its inputs, and ``edges`` holds pairs ``(i, j)``
with ``i < j`` (upper-triangular adjacency). A node without inputs reads the cell input; nodes
without outputs are concatenated into the cell output. So every sample is a valid network.

Canonical forms:

* ``arch.to_json()`` / ``Architecture.from_json`` -- compact JSON with sorted keys, op names and
  edge lists; this string is what records, caches, remote calls and the CLI carry.
* ``arch.key()`` -- equal for two architectures whose cells are the same labelled graph up to a
  renumbering of nodes (which computes the same network), different otherwise.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from autodl_design.space.graph_form import canonical_cell_form

OP_NAMES: tuple[str, ...] = (
    "conv1x1",
    "conv3x3",
    "conv5x5",
    "dil_conv3x3",
    "conv1x3_3x1",
    "conv1x5_5x1",
    "max_pool3x3",
    "max_pool5x5",
    "avg_pool3x3",
    "avg_pool5x5",
)
NUM_OPS = len(OP_NAMES)
_OP_ID = {name: i for i, name in enumerate(OP_NAMES)}
CELL_NAMES = ("normal", "reduction")


class ArchitectureError(ValueError):
    """An architecture (or its serialised form) is malformed; the message says where."""


def op_id(name: str) -> int:
    """Op id of ``name``; raises :class:`ArchitectureError` for an unknown op."""
    try:
        return _OP_ID[name]
    except KeyError:
        raise ArchitectureError(f"unknown op {name!r}; known ops: {', '.join(OP_NAMES)}") from None


def num_adjacency_bits(n_nodes: int) -> int:
    """Adjacency bits per cell: node ``j`` has ``j`` candidate inputs, so n(n-1)/2."""
    return n_nodes * (n_nodes - 1) // 2


@dataclass(frozen=True)
class Cell:
    """One cell: ``ops[j]`` is the op id of node j; ``edges`` are sorted ``(i, j)``, ``i < j``."""

    ops: tuple[int, ...]
    edges: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "ops", tuple(int(o) for o in self.ops))
        object.__setattr__(self, "edges", tuple(sorted((int(i), int(j)) for i, j in self.edges)))

    @property
    def n_nodes(self) -> int:
        return len(self.ops)

    def validate(self, where: str = "cell") -> None:
        """Raise :class:`ArchitectureError` naming the first problem found."""
        n = self.n_nodes
        if n < 1:
            raise ArchitectureError(f"{where}: needs at least 1 node, got 0")
        for j, op in enumerate(self.ops):
            if not 0 <= op < NUM_OPS:
                raise ArchitectureError(
                    f"{where}: node {j} has op id {op}, expected 0..{NUM_OPS - 1}"
                )
        seen = set()
        for i, j in self.edges:
            if not (0 <= i < n and 0 <= j < n):
                raise ArchitectureError(f"{where}: edge ({i}, {j}) names a node outside 0..{n - 1}")
            if i >= j:
                raise ArchitectureError(
                    f"{where}: edge ({i}, {j}) is not upper-triangular (need i < j)"
                )
            if (i, j) in seen:
                raise ArchitectureError(f"{where}: edge ({i}, {j}) is repeated")
            seen.add((i, j))

    def adjacency(self) -> np.ndarray:
        """Adjacency as an ``(n, n)`` uint8 matrix, ``a[i, j] = 1`` for an edge i -> j."""
        a = np.zeros((self.n_nodes, self.n_nodes), dtype=np.uint8)
        for i, j in self.edges:
            a[i, j] = 1
        return a

    def predecessors(self, j: int) -> list[int]:
        return [i for i, k in self.edges if k == j]

    def sinks(self) -> list[int]:
        """Nodes with out-degree zero: they are concatenated into the cell output."""
        has_out = {i for i, _ in self.edges}
        return [j for j in range(self.n_nodes) if j not in has_out]

    @classmethod
    def from_adjacency(cls, ops: Sequence[int], adjacency: np.ndarray | Sequence) -> Cell:
        """Build from ops and an ``(n, n)`` 0/1 matrix; only a strict upper triangle is valid."""
        a = np.asarray(adjacency)
        n = len(ops)
        if a.shape != (n, n):
            raise ArchitectureError(f"adjacency has shape {a.shape}, expected ({n}, {n})")
        if not np.isin(a, (0, 1)).all():
            raise ArchitectureError("adjacency entries must be 0 or 1")
        if np.tril(a).any():
            i, j = map(int, np.argwhere(np.tril(a))[0])
            raise ArchitectureError(
                f"adjacency[{i}][{j}] = 1 is on or below the diagonal (edges need i < j)"
            )
        return cls(tuple(ops), tuple(map(tuple, np.argwhere(a).tolist())))

    @classmethod
    def from_bits(cls, ops: Sequence[int], bits: Sequence[int]) -> Cell:
        """Build from the controller's bit order: for j = 1..n-1, bits for inputs i = 0..j-1."""
        n = len(ops)
        if len(bits) != num_adjacency_bits(n):
            raise ArchitectureError(
                f"{len(bits)} adjacency bits for {n} nodes, expected {num_adjacency_bits(n)}"
            )
        edges, k = [], 0
        for j in range(1, n):
            for i in range(j):
                if bits[k] not in (0, 1):
                    raise ArchitectureError(f"adjacency bit {k} is {bits[k]!r}, expected 0 or 1")
                if bits[k]:
                    edges.append((i, j))
                k += 1
        return cls(tuple(ops), tuple(edges))

    def to_bits(self) -> list[int]:
        a = self.adjacency()
        return [int(a[i, j]) for j in range(1, self.n_nodes) for i in range(j)]

    def to_dict(self) -> dict:
        return {"ops": [OP_NAMES[o] for o in self.ops], "edges": [list(e) for e in self.edges]}

    @classmethod
    def from_dict(cls, d: dict, where: str = "cell") -> Cell:
        if not isinstance(d, dict) or set(d) != {"ops", "edges"}:
            got = sorted(d) if isinstance(d, dict) else type(d).__name__
            raise ArchitectureError(f"{where}: expected keys ['edges', 'ops'], got {got}")
        if not isinstance(d["ops"], list) or not all(isinstance(o, str) for o in d["ops"]):
            raise ArchitectureError(f"{where}: 'ops' must be a list of op names")
        edges = d["edges"]
        if not isinstance(edges, list) or not all(
            isinstance(e, list | tuple) and len(e) == 2 and all(isinstance(x, int) for x in e)
            for e in edges
        ):
            raise ArchitectureError(f"{where}: 'edges' must be a list of [i, j] integer pairs")
        ops = []
        for j, name in enumerate(d["ops"]):
            try:
                ops.append(op_id(name))
            except ArchitectureError as e:
                raise ArchitectureError(f"{where}: node {j}: {e}") from None
        cell = cls(tuple(ops), tuple(tuple(e) for e in edges))
        if len(set(cell.edges)) != len(edges):
            raise ArchitectureError(f"{where}: an edge is repeated")
        cell.validate(where)
        return cell


@dataclass(frozen=True)
class Architecture:
    """A normal and a reduction cell with the same number of nodes."""

    normal: Cell
    reduction: Cell

    def __post_init__(self) -> None:
        self.validate()

    @property
    def n_nodes(self) -> int:
        return self.normal.n_nodes

    @property
    def cells(self) -> tuple[Cell, Cell]:
        return (self.normal, self.reduction)

    def validate(self) -> None:
        self.normal.validate("normal cell")
        self.reduction.validate("reduction cell")
        if self.normal.n_nodes != self.reduction.n_nodes:
            raise ArchitectureError(
                f"normal cell has {self.normal.n_nodes} nodes, reduction cell "
                f"{self.reduction.n_nodes}; they must match"
            )

    @classmethod
    def from_actions(cls, tokens: Sequence[int], bits: Sequence[int]) -> Architecture:
        """From controller output: ``tokens`` (2N,) op ids, ``bits`` (N(N-1),) adjacency bits."""
        tokens = [int(t) for t in tokens]
        bits = [int(b) for b in bits]
        if len(tokens) % 2:
            raise ArchitectureError(f"{len(tokens)} tokens: expected 2N (N per cell)")
        n = len(tokens) // 2
        m = num_adjacency_bits(n)
        if len(bits) != 2 * m:
            raise ArchitectureError(
                f"{len(bits)} adjacency bits for N={n} nodes, expected N(N-1) = {2 * m}"
            )
        return cls(Cell.from_bits(tokens[:n], bits[:m]), Cell.from_bits(tokens[n:], bits[m:]))

    def to_actions(self) -> tuple[list[int], list[int]]:
        """Inverse of :meth:`from_actions`: (tokens, bits) in the controller's order."""
        return (
            list(self.normal.ops) + list(self.reduction.ops),
            self.normal.to_bits() + self.reduction.to_bits(),
        )

    def to_dict(self) -> dict:
        return {"normal": self.normal.to_dict(), "reduction": self.reduction.to_dict()}

    def to_json(self) -> str:
        """Canonical string: compact JSON, sorted keys. ``from_json(a.to_json()) == a``."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict) -> Architecture:
        if not isinstance(d, dict) or set(d) != set(CELL_NAMES):
            got = sorted(d) if isinstance(d, dict) else type(d).__name__
            raise ArchitectureError(f"architecture: expected keys {list(CELL_NAMES)}, got {got}")
        return cls(
            Cell.from_dict(d["normal"], "normal cell"),
            Cell.from_dict(d["reduction"], "reduction cell"),
        )

    @classmethod
    def from_json(cls, text: str) -> Architecture:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ArchitectureError(f"architecture is not valid JSON: {e}") from None
        return cls.from_dict(d)

    def key(self) -> str:
        """Hex digest equal for architectures with the same graphs up to node renumbering."""
        form = json.dumps([canonical_cell_form(c) for c in self.cells], separators=(",", ":"))
        return hashlib.sha1(form.encode()).hexdigest()[:16]

    def __str__(self) -> str:
        return self.to_json()


def random_architecture(
    rng: np.random.Generator, n_nodes: int, edge_prob: float = 0.5
) -> Architecture:
    """Uniform ops and independent Bernoulli(edge_prob) edges: what random search samples."""
    m = num_adjacency_bits(n_nodes)
    tokens = rng.integers(0, NUM_OPS, size=2 * n_nodes)
    bits = (rng.random(2 * m) < edge_prob).astype(int)
    return Architecture.from_actions(tokens, bits)
