"""A search space: which architectures a search may propose (pure data, no Paddle).

A :class:`SearchSpace` is ``n_nodes`` nodes per cell, a list of ``ops`` (global op ids, see
:data:`~autodl_design.space.OP_NAMES`), how edges are chosen (``adjacency``) and how many cell
types there are (``cells``):

* ``adjacency``: ``searched`` -- any DAG edge ``(i, j)``, ``i < j``, one bit each (the
  original); ``chain`` -- the fixed edges ``(i, i + 1)``, nothing searched; ``none`` -- no edges
  (every node reads the cell input, and all are concatenated into the cell output).
* ``cells``: ``two`` -- a normal and a reduction cell (the original); ``one`` -- one cell, used
  as both (the architecture's ``reduction`` is the same :class:`Cell` as its ``normal``).

Strategies speak in *actions*: ``tokens``, one per node of each searched cell, are indices into
``ops`` (so the controller's softmax has ``len(ops)`` outputs), and ``bits`` are the searched
adjacency bits in :meth:`Cell.from_bits` order. :meth:`SearchSpace.from_actions` turns them into
an :class:`Architecture`, whose cells hold global op ids: its JSON, key and network do not
depend on the space. In the default space (all ops in order, searched edges, two cells) a token
is its op id and the actions are :meth:`Architecture.from_actions`'s, bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from autodl_design.space.architecture import (
    NUM_OPS,
    OP_NAMES,
    Architecture,
    ArchitectureError,
    Cell,
    num_adjacency_bits,
    op_id,
)

__all__ = ["ADJACENCIES", "CELL_TYPES", "SearchSpace"]

ADJACENCIES = ("searched", "chain", "none")
CELL_TYPES = ("two", "one")


@dataclass(frozen=True)
class SearchSpace:
    """``n_nodes`` per cell; ``ops`` global op ids in the controller's order (default: all)."""

    n_nodes: int
    ops: tuple[int, ...] = tuple(range(NUM_OPS))
    adjacency: str = "searched"
    cells: str = "two"

    def __post_init__(self) -> None:
        object.__setattr__(self, "ops", tuple(int(o) for o in self.ops))
        if self.n_nodes < 1:
            raise ArchitectureError(f"a search space needs at least 1 node, got {self.n_nodes}")
        if not self.ops:
            raise ArchitectureError("a search space needs at least 1 op")
        for o in self.ops:
            if not 0 <= o < NUM_OPS:
                raise ArchitectureError(f"op id {o} is not one of 0..{NUM_OPS - 1}")
        if len(set(self.ops)) != len(self.ops):
            raise ArchitectureError(f"ops {self.op_names} name an op twice")
        if self.adjacency not in ADJACENCIES:
            raise ArchitectureError(f"adjacency {self.adjacency!r} is not one of {ADJACENCIES}")
        if self.cells not in CELL_TYPES:
            raise ArchitectureError(f"cells {self.cells!r} is not one of {CELL_TYPES}")

    @classmethod
    def from_names(
        cls,
        n_nodes: int,
        ops: Sequence[str] = OP_NAMES,
        adjacency: str = "searched",
        cells: str = "two",
    ) -> SearchSpace:
        return cls(n_nodes, tuple(op_id(name) for name in ops), adjacency, cells)

    @property
    def op_names(self) -> list[str]:
        return [OP_NAMES[o] for o in self.ops]

    @property
    def num_ops(self) -> int:
        return len(self.ops)

    @property
    def num_cells(self) -> int:
        """Cells whose actions are searched: 2 (normal, reduction) or 1 (used as both)."""
        return 2 if self.cells == "two" else 1

    @property
    def searches_edges(self) -> bool:
        return self.adjacency == "searched"

    @property
    def bits_per_cell(self) -> int:
        return num_adjacency_bits(self.n_nodes) if self.searches_edges else 0

    @property
    def num_tokens(self) -> int:
        return self.num_cells * self.n_nodes

    @property
    def num_bits(self) -> int:
        return self.num_cells * self.bits_per_cell

    @property
    def is_default(self) -> bool:
        """The original's space: all ops in order, searched edges, two cell types."""
        return self == SearchSpace(self.n_nodes)

    def fixed_edges(self) -> tuple[tuple[int, int], ...]:
        """The edges of every cell when they are not searched (empty for ``searched``)."""
        if self.adjacency == "chain":
            return tuple((i, i + 1) for i in range(self.n_nodes - 1))
        return ()

    def to_dict(self) -> dict:
        return {
            "nodes": self.n_nodes,
            "ops": self.op_names,
            "adjacency": self.adjacency,
            "cells": self.cells,
        }

    def _cell(self, tokens: Sequence[int], bits: Sequence[int]) -> Cell:
        ops = tuple(self.ops[t] for t in tokens)
        return Cell.from_bits(ops, bits) if self.searches_edges else Cell(ops, self.fixed_edges())

    def from_actions(self, tokens: Sequence[int], bits: Sequence[int]) -> Architecture:
        """Architecture from ``tokens`` (``num_tokens`` indices into ``ops``) and ``bits``
        (``num_bits``); raises :class:`ArchitectureError` for actions of another shape."""
        tokens = [int(t) for t in tokens]
        bits = [int(b) for b in bits]
        if len(tokens) != self.num_tokens or len(bits) != self.num_bits:
            raise ArchitectureError(
                f"{len(tokens)} tokens and {len(bits)} bits: this space takes "
                f"{self.num_tokens} and {self.num_bits}"
            )
        bad = [t for t in tokens if not 0 <= t < self.num_ops]
        if bad:
            raise ArchitectureError(f"token {bad[0]} is not one of 0..{self.num_ops - 1}")
        n, m = self.n_nodes, self.bits_per_cell
        cells = [
            self._cell(tokens[k * n : (k + 1) * n], bits[k * m : (k + 1) * m])
            for k in range(self.num_cells)
        ]
        return Architecture(cells[0], cells[-1])  # one cell type: the same Cell twice

    def problem(self, arch: Architecture) -> str | None:
        """Why ``arch`` is not in this space (one line), or None when it is."""
        if arch.n_nodes != self.n_nodes:
            return f"it has {arch.n_nodes} nodes per cell, the space {self.n_nodes}"
        if self.num_cells == 1 and arch.reduction != arch.normal:
            return "its reduction cell differs from its normal cell (the space has one cell type)"
        allowed = set(self.ops)
        for name, cell in zip(("normal", "reduction"), arch.cells, strict=True):
            other = [OP_NAMES[o] for o in cell.ops if o not in allowed]
            if other:
                return f"its {name} cell uses {other[0]}, which is not one of the space's ops"
            if not self.searches_edges and cell.edges != self.fixed_edges():
                return f"its {name} cell's edges are not the space's fixed ({self.adjacency}) ones"
        return None

    def to_actions(self, arch: Architecture) -> tuple[list[int], list[int]]:
        """Inverse of :meth:`from_actions`; raises :class:`ArchitectureError` for an
        architecture outside the space."""
        problem = self.problem(arch)
        if problem is not None:
            raise ArchitectureError(f"architecture is not in the search space: {problem}")
        index = {o: k for k, o in enumerate(self.ops)}
        cells = arch.cells[: self.num_cells]
        tokens = [index[o] for c in cells for o in c.ops]
        bits = [b for c in cells for b in c.to_bits()] if self.searches_edges else []
        return tokens, bits

    def random(self, rng: np.random.Generator, edge_prob: float = 0.5) -> Architecture:
        """Uniform ops of the space and, where edges are searched, independent
        Bernoulli(edge_prob) edges (in the default space, exactly
        :func:`~autodl_design.space.random_architecture`'s draws)."""
        tokens = rng.integers(0, self.num_ops, size=self.num_tokens)
        bits = (rng.random(self.num_bits) < edge_prob).astype(int) if self.num_bits else []
        return self.from_actions(tokens, bits)
