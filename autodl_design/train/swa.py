"""Stochastic weight averaging (SWA; Izmailov et al., 2018): a final-training option
(``TrainConfig.swa``).

The last ``last_epochs`` epochs of a run train at the constant learning rate ``lr`` (the epochs
before them follow the run's cosine from ``TrainConfig.lr`` down to ``lr``); the weights at the
end of each of those epochs are averaged (:class:`WeightAverage`), and the run's model is that
average. Averaging moves batch-norm's inputs, so the running statistics of the averaged network
are computed again (:func:`recompute_bn_statistics`) from ``bn_images`` training images, without
augmentation, before it is evaluated and saved.

Why: the average of points along one low-loss valley lies nearer its centre, which generalises
better than the valley's edge a single SGD run ends on; the price is one pass over a part of the
training set at the end.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from autodl_design.config import check

__all__ = [
    "SWAConfig",
    "WeightAverage",
    "apply_average",
    "load_average",
    "parameters_of",
    "recompute_bn_statistics",
    "swa_lr",
]

# Random stream of the batch-norm images' choice, apart from the run's other draws.
_STREAM_BN = 7


@dataclass
class SWAConfig:
    """Stochastic weight averaging of a training run (off while ``last_epochs`` is null).

    ``last_epochs``: how many final epochs run at the constant ``lr`` and have their end-of-epoch
    weights averaged (at most the run's ``epochs``); ``bn_images``: training images used to
    recompute the averaged network's batch-norm statistics.
    """

    last_epochs: int | None = None
    lr: float = 0.01
    bn_images: int = 10000

    def validate(self) -> None:
        ok = self.last_epochs is None or self.last_epochs >= 1
        check(ok, "last_epochs", "must be >= 1 or null")
        check(self.lr > 0, "lr", "must be > 0")
        check(self.bn_images >= 1, "bn_images", "must be >= 1")


def swa_lr(
    lr: float, swa: SWAConfig, epochs: int, steps_per_epoch: int
) -> Callable[[int], float] | None:
    """Learning rate at global step ``t`` of a run of ``epochs`` from ``lr`` with SWA ``swa``:
    a cosine from ``lr`` to ``swa.lr`` over the steps before the last ``swa.last_epochs``
    epochs, then ``swa.lr``. None without SWA (the run keeps its own schedule)."""
    if swa.last_epochs is None:
        return None
    start = (epochs - swa.last_epochs) * steps_per_epoch

    def at(t: int) -> float:
        if t >= start:
            return swa.lr
        return swa.lr + 0.5 * (lr - swa.lr) * (1.0 + math.cos(math.pi * t / start))

    return at


class WeightAverage:
    """Running mean of a network's parameters (float arrays by structural name), one
    :meth:`add` per snapshot; batch-norm statistics are not averaged (they are recomputed)."""

    def __init__(self) -> None:
        self.count = 0
        self.mean: dict[str, np.ndarray] = {}

    def add(self, params: dict[str, np.ndarray]) -> None:
        """Fold one snapshot (``{name: array}``, the same names and shapes each time) in."""
        if self.count and set(params) != set(self.mean):
            raise ValueError("weight snapshot has other parameters than the average")
        self.count += 1
        if self.count == 1:
            self.mean = {k: np.array(v, dtype=np.float32) for k, v in params.items()}
            return
        for k, v in params.items():
            self.mean[k] += (np.asarray(v, dtype=np.float32) - self.mean[k]) / self.count

    def state(self) -> dict[str, Any]:
        """Checkpointable form: ``{"count": int, "mean": {name: float32 array}}``."""
        return {"count": self.count, "mean": self.mean}

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> WeightAverage:
        avg = cls()
        if state:
            avg.count, avg.mean = int(state["count"]), dict(state["mean"])
        return avg


def parameters_of(net: Any) -> dict[str, np.ndarray]:
    """Trainable parameters of Paddle layer ``net`` as numpy arrays, by structural name
    (batch-norm running statistics, Paddle parameters too, are left out)."""
    return {name: p.numpy() for name, p in _trainable(net).items()}


def _trainable(net: Any) -> dict[str, Any]:
    return {name: p for name, p in net.named_parameters() if p.trainable}


def load_average(net: Any, average: WeightAverage) -> None:
    """Set ``net``'s parameters to ``average``'s mean (cast to each parameter's dtype)."""
    params = _trainable(net)
    if set(params) != set(average.mean):
        raise ValueError("the weight average does not fit the network")
    for name, p in params.items():
        p.set_value(average.mean[name].astype(p.numpy().dtype))


def recompute_bn_statistics(
    net: Any, batches: Any, log: Callable[[str], None] | None = None
) -> int:
    """Replace the running statistics of every ``BatchNorm2D`` in ``net`` by their plain mean
    over ``batches`` (an iterable of float32 ``(B, C, H, W)`` arrays); returns images seen.

    Each layer's momentum is set so batch ``k`` gets weight ``1/k``, then restored.
    """
    import paddle

    norms = [m for m in net.sublayers() if isinstance(m, paddle.nn.BatchNorm2D)]
    saved = [m._momentum for m in norms]
    was_training = net.training
    net.train()
    seen = 0
    try:
        with paddle.no_grad():
            for k, xb in enumerate(batches, start=1):
                for m in norms:
                    m._momentum = (k - 1) / k
                net(paddle.to_tensor(xb))
                seen += len(xb)
    finally:
        for m, momentum in zip(norms, saved, strict=True):
            m._momentum = momentum
        if not was_training:
            net.eval()
    if log is not None:
        log(f"batch-norm statistics recomputed on {seen} training images ({len(norms)} layers)")
    return seen


def apply_average(
    net: Any,
    average: WeightAverage,
    train_x: np.ndarray,
    config: Any,
    log: Callable[[str], None] | None = None,
) -> int:
    """Load ``average`` into ``net`` and recompute its batch-norm statistics on
    ``config.swa.bn_images`` of the uint8 training images ``train_x`` ``(N, H, W, C)`` (drawn
    with ``config.seed``, not augmented, in batches of ``config.batch_size``); returns how many.

    ``config`` is the run's :class:`~autodl_design.train.config.TrainConfig`. Raises
    ``ValueError`` when the average is empty (no SWA epoch ended).
    """
    from autodl_design.data import iterate_batches

    if average.count == 0:
        raise ValueError("the weight average holds no snapshot")
    load_average(net, average)
    rng = np.random.default_rng([config.seed % 2**32, _STREAM_BN])
    pick = rng.permutation(len(train_x))[: config.swa.bn_images]
    batches = iterate_batches(
        train_x[pick], pick, config.batch_size, rng, shuffle=False, augment=False
    )
    return recompute_bn_statistics(net, (xb for xb, _ in batches), log)
