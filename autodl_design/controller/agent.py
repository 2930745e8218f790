"""The controller agent (a ``parl.Agent``): numpy in and out, tensors inside."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import paddle
import parl

from autodl_design.checkpoint import (
    config_changes,
    layer_state,
    load_layer_state,
    load_optimizer_state,
    load_state,
    optimizer_state,
    save_atomic,
)
from autodl_design.config import ControllerConfig
from autodl_design.controller.algorithm import Reinforce
from autodl_design.controller.baseline import MovingAverageBaseline
from autodl_design.controller.errors import CheckpointError
from autodl_design.controller.model import LSTMGenerator
from autodl_design.space import Architecture, SearchSpace

CHECKPOINT_FORMAT = "autodl-design/controller/v1"


class ControllerAgent(parl.Agent):
    """Samples architectures and learns from their rewards.

    Build it with :meth:`from_config`. ``sample`` returns numpy actions, ``learn`` takes rewards
    and turns them into advantages with the moving-average baseline. Actions are those of the
    search space ``space`` (default: the original's with ``config.n_nodes`` nodes): op tokens
    index its ops, and bits are its searched adjacency bits.
    """

    def __init__(
        self,
        algorithm: Reinforce,
        baseline: MovingAverageBaseline,
        config: ControllerConfig,
        space: SearchSpace | None = None,
    ):
        super().__init__(algorithm)
        self.baseline = baseline
        self.config = config
        self.space = space or SearchSpace(config.n_nodes)
        self.updates = 0
        # Sampling noise comes from the agent's own generator, so two agents never share a stream.
        self.rng = np.random.default_rng(config.seed)

    @classmethod
    def from_config(
        cls, config: ControllerConfig, space: SearchSpace | None = None
    ) -> ControllerAgent:
        """The agent of ``config``, its generator sized from ``space`` (default: the original
        space with ``config.n_nodes`` nodes, whose node count ``space`` must have)."""
        space = space or SearchSpace(config.n_nodes)
        if space.n_nodes != config.n_nodes:
            raise ValueError(
                f"the space has {space.n_nodes} nodes, controller.n_nodes is {config.n_nodes}"
            )
        paddle.seed(config.seed)  # weight initialisation
        model = LSTMGenerator(
            n_nodes=config.n_nodes,
            num_ops=space.num_ops,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            temperature=config.temperature,
            tanh_constant=config.tanh_constant,
            init_range=config.init_range,
            num_cells=space.num_cells,
            search_edges=space.searches_edges,
        )
        algorithm = Reinforce(model, lr=config.lr, entropy_weight=config.entropy_weight)
        baseline = MovingAverageBaseline(decay=config.baseline_decay, cube=config.cube_advantage)
        return cls(algorithm, baseline, config, space)

    def sample(self, batch_size: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sample B architectures (default: the configured batch size).

        Returns tokens int64 ``(B, space.num_tokens)`` (indices into the space's ops; ``2N`` in
        the default space), bits int64 ``(B, space.num_bits)`` (``N(N-1)``; none for a fixed
        adjacency), log_prob float32 ``(B,)``.
        """
        b = batch_size or self.config.batch_size
        model = self.alg.model
        u_tokens = self.rng.random((b, model.num_tokens), dtype=np.float32)
        u_bits = self.rng.random((b, model.num_bits), dtype=np.float32)
        rollout = self.alg.sample(paddle.to_tensor(u_tokens), paddle.to_tensor(u_bits))
        return (
            rollout.tokens.numpy(),
            rollout.bits.numpy().astype(np.int64),
            rollout.log_prob.numpy(),
        )

    def sample_architectures(self, batch_size: int | None = None) -> list[Architecture]:
        tokens, bits, _ = self.sample(batch_size)
        return [self.space.from_actions(t, b) for t, b in zip(tokens, bits, strict=True)]

    def log_prob(self, tokens: np.ndarray, bits: np.ndarray) -> np.ndarray:
        """Log-probability float32 ``(B,)`` of given actions under the current policy."""
        with paddle.no_grad():
            rollout = self.alg.evaluate(
                paddle.to_tensor(tokens, dtype="int64"), paddle.to_tensor(bits, dtype="float32")
            )
        return rollout.log_prob.numpy()

    def learn(self, tokens: np.ndarray, bits: np.ndarray, rewards: np.ndarray) -> dict:
        """One REINFORCE update from a batch of actions and their rewards float ``(B,)``.

        Returns a dict of float statistics: loss, entropy, baseline (after the update),
        advantage_mean and reward_mean.
        """
        baseline_before = self.baseline.value
        advantages = self.baseline.advantages(rewards)
        loss, entropy = self.alg.learn(
            paddle.to_tensor(tokens, dtype="int64"),
            paddle.to_tensor(bits, dtype="float32"),
            paddle.to_tensor(advantages),
        )
        self.updates += 1
        return {
            "loss": float(loss),
            "entropy": float(entropy),
            "baseline": float(self.baseline.value),
            "baseline_before": float("nan") if baseline_before is None else baseline_before,
            "advantage_mean": float(np.mean(advantages)),
            "reward_mean": float(np.mean(rewards)),
        }

    def checkpoint_state(self) -> dict:
        """Everything needed to continue exactly: weights, optimiser, baseline, counters, RNG."""
        model = self.alg.model
        return {
            "format": CHECKPOINT_FORMAT,
            "config": asdict(self.config),
            "space": self.space.to_dict(),
            "updates": self.updates,
            "model": layer_state(model),
            "optimizer": optimizer_state(self.alg.optimizer, model),
            "baseline": self.baseline.state_dict(),
            "rng": self.rng.bit_generator.state,
        }

    def save(self, save_path: str) -> None:
        """Write a self-describing checkpoint atomically (a kill never leaves half a file)."""
        save_atomic(self.checkpoint_state(), save_path)

    def restore(self, save_path: str) -> None:
        """Load a checkpoint written by :meth:`save`; the configuration must match."""
        try:
            state = load_state(save_path)
        except ValueError as e:
            raise CheckpointError(f"cannot read controller checkpoint: {e}") from None
        if state.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(f"{save_path} is not an autodl-design controller checkpoint")
        changes = config_changes(self.config, state["config"])
        if changes:
            detail = ", ".join(changes)
            raise CheckpointError(
                f"{save_path} was written with another controller config ({detail})"
            )
        # A checkpoint written before search spaces existed is the default space's.
        saved = state.get("space") or SearchSpace(self.config.n_nodes).to_dict()
        now = self.space.to_dict()
        if saved != now:
            detail = ", ".join(
                f"{k}: {saved.get(k)} -> {v}" for k, v in now.items() if saved.get(k) != v
            )
            raise CheckpointError(f"{save_path} was written for another search space ({detail})")
        model = self.alg.model
        load_layer_state(model, state["model"])
        load_optimizer_state(self.alg.optimizer, model, state["optimizer"])
        self.baseline.load_state_dict(state["baseline"])
        self.updates = int(state["updates"])
        self.rng.bit_generator.state = state["rng"]
