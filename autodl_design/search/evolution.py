"""Regularized evolution (Real et al. 2019, "Regularized Evolution for Image Classifier
Architecture Search"): the search strategy ``evolution``.

The population holds at most ``population`` architectures, each with its reward and its birth
number (its age: the lower, the older), in birth order. The first ``population`` proposals are
random architectures, sampled as the random strategy samples them. Every later proposal is a
child: ``sample`` members are drawn uniformly with replacement (as in the paper's Algorithm 1),
the best of them is the parent (:func:`tournament`) and the child is the parent with exactly one
mutation (:func:`mutate`), which stays in the search space (its ops, its searched edges). When
the batch's rewards are known, its candidates join the population in proposal order, and
whenever it holds more than ``population`` members the oldest leaves, however good it was (the
aging that makes the evolution "regularized").

All children of a batch are bred from the population as it stood before the batch (their
siblings' rewards are not known yet): the batched form of the paper's loop. While the population
is empty (a first batch larger than ``population``) proposals stay random.

A failed candidate (reward None: the backend lost it, see :meth:`EvolutionStrategy.fill_failed`)
measured nothing: it does not join, and nobody leaves for it, so the population may stay short
for a while, as the random strategy ignores such a candidate. The state (population, counters,
the numpy generator's state) is written after every update as JSON (``evolution_state.json``),
so a resumed search proposes exactly what the uninterrupted one would have.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autodl_design.config import EvolutionConfig
from autodl_design.fileio import write_text_atomic
from autodl_design.space import Architecture, ArchitectureError, Cell, SearchSpace

__all__ = ["EvolutionStrategy", "Member", "mutate", "tournament"]

STATE_FORMAT = "autodl-design/evolution/v1"


@dataclass(frozen=True)
class Member:
    """One member of the population: its architecture, reward and birth number."""

    arch: Architecture
    reward: float
    born: int

    def to_dict(self) -> dict[str, Any]:
        return {"arch": self.arch.to_json(), "reward": self.reward, "born": self.born}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Member:
        return cls(Architecture.from_json(d["arch"]), float(d["reward"]), int(d["born"]))


def mutate(arch: Architecture, rng: np.random.Generator, space: SearchSpace | None = None):
    """``arch`` with exactly one change, within ``space`` (default: the original space), in
    one of its cells chosen uniformly (the only one for one cell type, then used as both).

    With probability 1/2 one node (uniform) gets another op (uniform among the space's other
    ops); otherwise one adjacency bit (uniform among the cell's ``n(n-1)/2``) flips. A space
    with fixed edges mutates only ops, a space of one op only edges. Either change alters the
    op multiset or the edge count of the cell, so the child is never isomorphic to its parent
    (its :meth:`~Architecture.key` differs).
    """
    space = space or SearchSpace(arch.n_nodes)
    can_op, can_edge = space.num_ops > 1, space.bits_per_cell > 0
    if not (can_op or can_edge):
        raise ArchitectureError("the space holds one architecture: nothing to mutate")
    which = int(rng.integers(space.num_cells))
    cell = arch.cells[which]
    if can_op and (not can_edge or rng.random() < 0.5):
        node = int(rng.integers(cell.n_nodes))
        ops = list(cell.ops)
        k = space.num_ops
        ops[node] = space.ops[(space.ops.index(ops[node]) + 1 + int(rng.integers(k - 1))) % k]
        child = Cell(tuple(ops), cell.edges)
    else:
        bits = cell.to_bits()
        k = int(rng.integers(len(bits)))
        bits[k] = 1 - bits[k]
        child = Cell.from_bits(cell.ops, bits)
    if space.num_cells == 1:
        return Architecture(child, child)
    cells = list(arch.cells)
    cells[which] = child
    return Architecture(*cells)


def tournament(members: list[Member], rng: np.random.Generator, size: int) -> Member:
    """The best of ``size`` members drawn uniformly with replacement (the first drawn on a tie)."""
    picks = rng.integers(len(members), size=size)
    return max((members[int(i)] for i in picks), key=lambda m: m.reward)


class EvolutionStrategy:
    """Proposals by aging evolution: tournament selection, one mutation, the oldest leaves;
    all within ``space`` (a :class:`SearchSpace`, or a node count for the original space)."""

    name = "evolution"
    checkpoint_name = "evolution_state.json"

    def __init__(self, space: SearchSpace | int, edge_prob: float, config: EvolutionConfig):
        self.space = space if isinstance(space, SearchSpace) else SearchSpace(space)
        self.n_nodes = self.space.n_nodes
        self.edge_prob = edge_prob
        self.size = config.population
        self.sample = config.sample
        self.rng = np.random.default_rng(config.seed)
        self.population: list[Member] = []
        self.born = 0  # candidates learnt from so far: the next one's birth number
        self.updates = 0
        self._pending: list[Architecture] | None = None

    def propose(self, batch_size: int) -> list[Architecture]:
        parents = list(self.population)
        archs = []
        for i in range(batch_size):
            if self.born + i < self.size or not parents:
                archs.append(self.space.random(self.rng, self.edge_prob))
            else:
                parent = tournament(parents, self.rng, self.sample).arch
                archs.append(mutate(parent, self.rng, self.space))
        self._pending = archs
        return archs

    def fill_failed(self, rewards: list[float | None]) -> np.ndarray:
        """NaN for a failed candidate: :meth:`learn` leaves it out of the population."""
        return np.array([np.nan if r is None else r for r in rewards], dtype=np.float64)

    def learn(self, rewards: np.ndarray) -> dict[str, Any]:
        assert self._pending is not None, "propose() must come before learn()"
        assert len(rewards) == len(self._pending), "one reward per proposed candidate"
        for arch, reward in zip(self._pending, rewards, strict=True):
            if math.isfinite(reward):
                self.population.append(Member(arch, float(reward), self.born))
                if len(self.population) > self.size:
                    self.population.pop(0)  # kept in birth order: the oldest is first
            self.born += 1
        self._pending = None
        self.updates += 1
        values = [m.reward for m in self.population]
        return {
            "population": len(values),
            "population_best": max(values, default=None),
            "population_mean": float(np.mean(values)) if values else None,
        }

    def state(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "updates": self.updates,
            "born": self.born,
            "population": [m.to_dict() for m in self.population],
            "rng": self.rng.bit_generator.state,
        }

    def save(self, directory: Path) -> None:
        text = json.dumps(self.state(), indent=1, allow_nan=False)
        write_text_atomic(Path(directory) / self.checkpoint_name, text + "\n")

    def restore(self, directory: Path) -> None:
        state = json.loads((Path(directory) / self.checkpoint_name).read_text())
        self.updates = int(state["updates"])
        self.born = int(state["born"])
        members = [Member.from_dict(m) for m in state["population"]]
        self.population = sorted(members, key=lambda m: m.born)
        self.rng.bit_generator.state = state["rng"]
        self._pending = None
