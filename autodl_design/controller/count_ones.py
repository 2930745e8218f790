"""The "count the 1s" demo: the reward is the number of tokens equal to one op id.

No network is trained; the demo shows the controller learns. With the ``2.5 * tanh(l / 5)``
squash and 10 ops a token is 1 with probability at most ~0.943, so the expected count of
2N = 20 tokens is at most ~18.86.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from autodl_design.config import CountOnesConfig, load_config, to_yaml
from autodl_design.config.arguments import add_config_args


def count_ones_reward(tokens: np.ndarray, target_op: int = 1) -> np.ndarray:
    """tokens int (B, 2N) -> float32 (B,) number of tokens equal to ``target_op``."""
    return (np.asarray(tokens) == target_op).sum(axis=1).astype(np.float32)


def reward_ceiling(n_tokens: int, num_ops: int = 10, tanh_constant: float = 2.5) -> float:
    """Largest expected reward the squashed policy can reach."""
    top = math.exp(tanh_constant)
    return n_tokens * top / (top + (num_ops - 1) * math.exp(-tanh_constant))


@dataclass
class CountOnesResult:
    mean_rewards: list[float] = field(default_factory=list)
    seconds: float = 0.0
    window: int = 10

    def smoothed(self, upto: int | None = None) -> float:
        """Mean of the per-update mean rewards over the last ``window`` updates (up to ``upto``)."""
        r = self.mean_rewards[:upto] if upto else self.mean_rewards
        return float(np.mean(r[-self.window :]))

    def updates_to(self, target: float) -> int | None:
        """First update count at which the smoothed reward reaches ``target`` (None if never)."""
        for k in range(self.window, len(self.mean_rewards) + 1):
            if self.smoothed(k) >= target:
                return k
        return None


def run_count_ones(config: CountOnesConfig, log: Callable[[str], None] = print) -> CountOnesResult:
    """Train the controller on the count-ones reward for ``config.updates`` updates."""
    from autodl_design.controller.agent import ControllerAgent  # loads Paddle

    agent = ControllerAgent.from_config(config.controller)
    result = CountOnesResult(window=config.smoothing_window)
    n_tokens = 2 * config.controller.n_nodes
    start = time.perf_counter()
    for update in range(1, config.updates + 1):
        tokens, bits, _ = agent.sample()
        rewards = count_ones_reward(tokens, config.target_op)
        stats = agent.learn(tokens, bits, rewards)
        result.mean_rewards.append(float(rewards.mean()))
        if update % config.log_every == 0 or update == 1 or update == config.updates:
            log(
                f"update {update:4d}  mean reward {rewards.mean():5.2f} / {n_tokens}  "
                f"max {rewards.max():4.0f}  baseline {stats['baseline']:5.2f}  "
                f"entropy {stats['entropy']:6.2f}"
            )
    result.seconds = time.perf_counter() - start
    ceiling = reward_ceiling(n_tokens, tanh_constant=config.controller.tanh_constant)
    log(
        f"summary: smoothed mean reward (last {result.window} updates) "
        f"{result.smoothed():.2f} of {n_tokens} (ceiling {ceiling:.2f}) after {config.updates} "
        f"updates in {result.seconds:.1f} s "
        f"({result.seconds / config.updates * 1000:.0f} ms/update)"
    )
    return result


def cmd_count_ones(args: argparse.Namespace) -> int:
    """``autodl-design demo count-ones``."""
    config = load_config(CountOnesConfig, args.config, args.override)
    print("config:\n" + to_yaml(config).rstrip())
    run_count_ones(config)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``demo count-ones`` to the CLI's subparsers."""
    demo = subparsers.add_parser("demo", help="demonstrations")
    p = demo.add_subparsers(dest="demo", required=True).add_parser(
        "count-ones", help='the "count the 1s" controller demo'
    )
    add_config_args(p)
    p.set_defaults(func=cmd_count_ones)
