"""How candidates are proposed: the RL controller, uniform random sampling, or regularized
evolution (:mod:`autodl_design.search.evolution`).

Each keeps its own checkpoint so a resumed search proposes exactly the batches the killed
run would have proposed (the search loop relies on that to reuse finished evaluations).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from autodl_design.config import ControllerConfig, SearchConfig
from autodl_design.fileio import write_text_atomic
from autodl_design.search.evolution import EvolutionStrategy
from autodl_design.space import Architecture, random_architecture


class RLStrategy:
    """Proposals from the PARL controller agent; learns from rewards with REINFORCE."""

    name = "rl"
    checkpoint_name = "controller.pdparams"

    def __init__(self, config: ControllerConfig):
        from autodl_design.controller import ControllerAgent

        self.agent = ControllerAgent.from_config(config)
        self._actions: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def updates(self) -> int:
        return self.agent.updates

    def propose(self, batch_size: int) -> list[Architecture]:
        tokens, bits, _ = self.agent.sample(batch_size)
        self._actions = (tokens, bits)
        return [Architecture.from_actions(t, b) for t, b in zip(tokens, bits, strict=True)]

    def fill_failed(self, rewards: list[float | None]) -> np.ndarray:
        """A failed candidate counts as the batch's worst; an all-failed batch teaches nothing."""
        valid = [r for r in rewards if r is not None]
        if valid:
            fill = min(valid)
        else:
            fill = self.agent.baseline.value if self.agent.baseline.value is not None else 0.0
        return np.array([fill if r is None else r for r in rewards], dtype=np.float32)

    def learn(self, rewards: np.ndarray) -> dict[str, Any]:
        assert self._actions is not None, "propose() must come before learn()"
        stats = self.agent.learn(*self._actions, rewards)
        self._actions = None
        return stats

    def save(self, directory: Path) -> None:
        self.agent.save(str(directory / self.checkpoint_name))

    def restore(self, directory: Path) -> None:
        self.agent.restore(str(directory / self.checkpoint_name))


class RandomStrategy:
    """Uniform ops and Bernoulli(edge_prob) edges, independent of rewards: the baseline."""

    name = "random"
    checkpoint_name = "random_state.json"

    def __init__(self, n_nodes: int, edge_prob: float, seed: int):
        self.n_nodes = n_nodes
        self.edge_prob = edge_prob
        self.rng = np.random.default_rng(seed)
        self.updates = 0

    def propose(self, batch_size: int) -> list[Architecture]:
        return [
            random_architecture(self.rng, self.n_nodes, self.edge_prob) for _ in range(batch_size)
        ]

    def fill_failed(self, rewards: list[float | None]) -> np.ndarray:
        return np.array([np.nan if r is None else r for r in rewards], dtype=np.float32)

    def learn(self, rewards: np.ndarray) -> dict[str, Any]:
        self.updates += 1
        return {}

    def save(self, directory: Path) -> None:
        path = directory / self.checkpoint_name
        state = {"updates": self.updates, "rng": self.rng.bit_generator.state}
        write_text_atomic(path, json.dumps(state))

    def restore(self, directory: Path) -> None:
        state = json.loads((directory / self.checkpoint_name).read_text())
        self.updates = int(state["updates"])
        self.rng.bit_generator.state = state["rng"]


def make_strategy(config: SearchConfig) -> RLStrategy | RandomStrategy | EvolutionStrategy:
    """The strategy ``config.strategy`` names, set up from its sections of ``config``."""
    controller = config.controller
    if config.strategy == "rl":
        return RLStrategy(controller)
    if config.strategy == "evolution":
        return EvolutionStrategy(controller.n_nodes, config.random_edge_prob, config.evolution)
    return RandomStrategy(controller.n_nodes, config.random_edge_prob, controller.seed)
