"""Advantage shaping: a moving-average baseline, optionally cubing the advantage."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class MovingAverageBaseline:
    """Exponential moving average of the batch-mean reward.

    ``advantages(r) = shape(r - b)`` uses the baseline *before* this batch updates it, then
    ``b <- decay * b + (1 - decay) * mean(r)``. The first batch initialises ``b`` to its mean
    (so the first update is not dominated by an arbitrary starting value). With ``cube`` the
    advantage is cubed, which keeps its sign and amplifies large deviations (the original's CIFAR
    search did this).
    """

    decay: float = 0.9
    cube: bool = False
    value: float | None = None

    def advantages(self, rewards: np.ndarray) -> np.ndarray:
        """rewards float (B,) -> advantages float32 (B,); updates the baseline."""
        rewards = np.asarray(rewards, dtype=np.float64)
        if self.value is None:
            self.value = float(rewards.mean())
        adv = rewards - self.value
        if self.cube:
            adv = adv**3
        self.value = self.decay * self.value + (1.0 - self.decay) * float(rewards.mean())
        return adv.astype(np.float32)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "cube": self.cube, "value": self.value}

    def load_state_dict(self, state: dict) -> None:
        self.value = state["value"]
