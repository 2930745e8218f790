"""The search's own sections: the strategy, regularized evolution, and the whole search."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from autodl_design.config.components import (
    ControllerConfig,
    DataConfig,
    EvaluatorConfig,
    ExecutionConfig,
    NetworkConfig,
)
from autodl_design.config.io import check

__all__ = ["STRATEGIES", "EvolutionConfig", "SearchConfig", "Strategy"]


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
    ``evolution``, learnt from. Results go to ``output_dir``.
    """

    strategy: Strategy = "rl"
    updates: int = 20
    output_dir: str = "runs/search"
    random_edge_prob: float = 0.5
    top_k: int = 5
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
