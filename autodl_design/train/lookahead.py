"""Lookahead with a slow copy whose pull grows over training (airbench's weight averaging).

Every ``every`` steps the slow copy moves towards the trained ("fast") weights,
``slow += (1 - decay) * (fast - slow)``, and the fast weights are set to it. ``decay`` grows as
``0.95**5 * (t / T)**3`` over the ``T`` steps of the run: near zero early (the slow copy simply
follows), ~0.77 at the end (an average over the last few hundred steps). Batch-norm's running
statistics are averaged alike. At the end the network is left at the slow copy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import paddle

__all__ = ["Lookahead"]


class Lookahead:
    """The slow copy of every float entry of a network's ``state_dict`` (numpy float32)."""

    def __init__(self, every: int, total_steps: int) -> None:
        self.every, self.total_steps = every, total_steps
        self.slow: dict[str, np.ndarray] = {}

    def decay(self, step: int) -> float:
        return 0.95**5 * (min(step, self.total_steps) / max(1, self.total_steps)) ** 3

    def after_step(self, net: paddle.nn.Layer, step: int) -> None:
        """Call after optimiser step ``step`` (1-based): updates every ``every`` steps."""
        if step % self.every == 0:
            self._update(net, self.decay(step))

    def finalize(self, net: paddle.nn.Layer) -> None:
        """Leave ``net`` at the slow copy (idempotent; nothing to do before the first update)."""
        if self.slow:
            self._update(net, 1.0)

    def _update(self, net: paddle.nn.Layer, decay: float) -> None:
        for name, tensor in net.state_dict().items():
            if tensor.dtype != paddle.float32:
                continue
            fast = tensor.numpy()
            slow = self.slow.get(name)
            slow = fast.copy() if slow is None else slow + (1.0 - decay) * (fast - slow)
            self.slow[name] = slow.astype(np.float32)
            tensor.set_value(self.slow[name])

    def state(self) -> dict[str, Any]:
        return {"every": self.every, "total_steps": self.total_steps, "slow": self.slow}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Lookahead:
        out = cls(state["every"], state["total_steps"])
        out.slow = dict(state["slow"])
        return out
