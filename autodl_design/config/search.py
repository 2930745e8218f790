"""The search's own sections: the search space, the strategy, regularized evolution, and the
whole search."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal, get_args

from autodl_design.config.components import (
    ControllerConfig,
    DataConfig,
    EvaluatorConfig,
    ExecutionConfig,
    NetworkConfig,
)
from autodl_design.config.io import check
from autodl_design.space.architecture import OP_NAMES
from autodl_design.space.search_space import SearchSpace

__all__ = ["STRATEGIES", "EvolutionConfig", "SearchConfig", "SpaceConfig", "Strategy"]


@dataclass
class SpaceConfig:
    """The search space, what the strategies may propose (:class:`autodl_design.space.SearchSpace`).

    ``ops``: registered op names (default: all of them, in their order); the controller's op
    tokens index this list, and architectures name the ops, as always. ``nodes``: nodes per cell,
    one setting with ``controller.n_nodes`` (its older name): a file or an ``-o`` that sets one
    sets both, the later winning (null: the controller's). ``adjacency``: ``searched`` (any edge
    ``i -> j``, ``i < j``, the original), ``chain`` (the fixed edges ``i -> i + 1``) or ``none``
    (no edges: every node reads the cell input). ``cells``: ``two`` (normal and reduction, the
    original) or ``one`` (one cell type, used as both).
    """

    ops: list[str] = field(default_factory=lambda: list(OP_NAMES))
    nodes: int | None = None
    adjacency: Literal["searched", "chain", "none"] = "searched"
    cells: Literal["two", "one"] = "two"

    def validate(self) -> None:
        check(len(self.ops) >= 1, "ops", "needs at least 1 op")
        for i, name in enumerate(self.ops):
            known = f"registered ops: {', '.join(OP_NAMES)}"
            check(name in OP_NAMES, f"ops[{i}]", f"unknown op {name!r}; {known}")
            first = self.ops.index(name)
            check(first == i, f"ops[{i}]", f"{name!r} is already ops[{first}]")
        ok = self.nodes is None or self.nodes >= 2
        check(ok, "nodes", "must be >= 2 (controller.n_nodes is the same setting)")
        one = len(self.ops) > 1 or self.adjacency == "searched"
        check(one, "ops", f"one op and adjacency: {self.adjacency} leave nothing to search")


@dataclass
class EvolutionConfig:
    """Regularized evolution (Real et al. 2019): ``population`` architectures, the first ones
    random; each later candidate is a one-step mutation of the best of ``sample`` members drawn
    uniformly (with replacement), and replaces the oldest member once its reward is known."""

    population: int = 20
    sample: int = 5
    seed: int = 0

    def validate(self) -> None:
        check(self.population >= 2, "population", "must be >= 2")
        check(self.sample >= 1, "sample", "must be >= 1")
        check(self.sample <= self.population, "sample", "must be <= population")


Strategy = Literal["rl", "random", "evolution"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)


@dataclass
class SearchConfig:
    """A whole architecture search: strategy, budget, and every component's configuration.

    ``updates`` batches of ``controller.batch_size`` candidates are sampled (by the controller for
    ``strategy: rl``, uniformly with edge probability ``random_edge_prob`` for ``random``, by
    mutating the population of ``evolution`` for ``evolution``), evaluated, and, for ``rl`` and
    ``evolution``, learnt from, all within the search space ``space``. Results go to
    ``output_dir``.
    """

    # space.nodes is controller.n_nodes (see SpaceConfig): setting one sets both on loading.
    LINKED_KEYS: ClassVar[tuple[tuple[str, ...], ...]] = (("space.nodes", "controller.n_nodes"),)

    strategy: Strategy = "rl"
    updates: int = 20
    output_dir: str = "runs/search"
    random_edge_prob: float = 0.5
    top_k: int = 5
    space: SpaceConfig = field(default_factory=SpaceConfig)
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    evolution: EvolutionConfig = field(default_factory=EvolutionConfig)
    data: DataConfig = field(default_factory=DataConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    evaluator: EvaluatorConfig = field(default_factory=EvaluatorConfig)
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)

    def validate(self) -> None:
        check(self.updates >= 1, "updates", "must be >= 1")
        check(bool(self.output_dir), "output_dir", "must not be empty")
        check(0 <= self.random_edge_prob <= 1, "random_edge_prob", "must be in [0, 1]")
        check(self.top_k >= 1, "top_k", "must be >= 1")
        self._check_nodes()

    def _check_nodes(self) -> None:
        nodes, n_nodes = self.space.nodes, self.controller.n_nodes
        check(nodes == n_nodes, "space.nodes", f"{nodes}, but controller.n_nodes is {n_nodes}")

    def __post_init__(self) -> None:
        if self.space.nodes is None:
            self.space.nodes = self.controller.n_nodes

    def search_space(self) -> SearchSpace:
        """The space the strategies propose from: ``space``, with ``controller.n_nodes`` nodes."""
        self._check_nodes()
        s = self.space
        return SearchSpace.from_names(self.controller.n_nodes, s.ops, s.adjacency, s.cells)
