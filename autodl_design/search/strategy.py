"""How candidates are proposed: the RL controller, uniform random sampling, or regularized
evolution (:mod:`autodl_design.search.evolution`), each within the search's space
(:class:`~autodl_design.space.SearchSpace`, from the config's ``space`` section).

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
from autodl_design.space import Architecture, SearchSpace


class RLStrategy:
    """Proposals from the PARL controller agent; learns from rewards with REINFORCE."""

    name = "rl"
    checkpoint_name = "controller.pdparams"

    def __init__(self, config: ControllerConfig, space: SearchSpace | None = None):
        from autodl_design.controller import ControllerAgent

        self.agent = ControllerAgent.from_config(config, space)
        self._actions: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def updates(self) -> int:
        return self.agent.updates

    def propose(self, batch_size: int) -> list[Architecture]:
        tokens, bits, _ = self.agent.sample(batch_size)
        self._actions = (tokens, bits)
        return [self.agent.space.from_actions(t, b) for t, b in zip(tokens, bits, strict=True)]

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
    """Uniform ops of the space and, where its edges are searched, Bernoulli(edge_prob) edges,
    independent of rewards: the baseline. ``space``: a :class:`SearchSpace`, or a node count
    for the original space."""

    name = "random"
    checkpoint_name = "random_state.json"

    def __init__(self, space: SearchSpace | int, edge_prob: float, seed: int):
        self.space = space if isinstance(space, SearchSpace) else SearchSpace(space)
        self.n_nodes = self.space.n_nodes
        self.edge_prob = edge_prob
        self.rng = np.random.default_rng(seed)
        self.updates = 0

    def propose(self, batch_size: int) -> list[Architecture]:
        return [self.space.random(self.rng, self.edge_prob) for _ in range(batch_size)]

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
    """The strategy ``config.strategy`` names, set up from its sections of ``config``, in the
    search space of ``config.space``."""
    controller, space = config.controller, config.search_space()
    if config.strategy == "rl":
        return RLStrategy(controller, space)
    if config.strategy == "evolution":
        return EvolutionStrategy(space, config.random_edge_prob, config.evolution)
    return RandomStrategy(space, config.random_edge_prob, controller.seed)
