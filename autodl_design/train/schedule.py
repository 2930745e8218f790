"""The learning rate of a final training as a pure function of the global step."""

from __future__ import annotations

from collections.abc import Callable

from autodl_design.config import SGDConfig
from autodl_design.nn.runtime import cosine_lr
from autodl_design.train.config import TrainConfig
from autodl_design.train.swa import swa_lr

__all__ = ["lr_schedule", "recipe_lr", "triangle_lr"]

# airbench's triangle starts at this fraction of the peak learning rate.
_TRIANGLE_START = 0.2


def triangle_lr(
    lr: float, lr_min: float, warmup: float, total_steps: int
) -> Callable[[int], float]:
    """Linear from ``0.2 lr`` (t = 0) up to ``lr`` at ``t = warmup * total_steps``, then linear
    down to ``lr_min`` at ``t = total_steps`` (airbench's schedule: a short warm-up lets the
    large batch's high rate start without diverging, the long linear decay ends it gently)."""
    peak = max(1, int(warmup * total_steps))

    def at(t: int) -> float:
        t = min(t, total_steps)
        if t < peak:
            frac = t / peak
            return lr * (_TRIANGLE_START + (1 - _TRIANGLE_START) * frac)
        frac = (t - peak) / max(1, total_steps - peak)
        return lr + (lr_min - lr) * frac

    return at


def recipe_lr(config: SGDConfig, steps_per_epoch: int) -> Callable[[int], float]:
    """The cosine or the triangle ``config.lr_schedule`` names, over ``config.epochs *
    steps_per_epoch`` steps (the search evaluator's schedule)."""
    total = config.epochs * steps_per_epoch
    if config.lr_schedule == "triangle":
        return triangle_lr(config.lr, config.lr_min, config.warmup, total)
    return cosine_lr(config.lr, config.lr_min, total)


def lr_schedule(config: TrainConfig, steps_per_epoch: int) -> Callable[[int], float]:
    """The schedule of a final training: SWA's when ``swa.last_epochs`` is set, else
    :func:`recipe_lr`."""
    swa = swa_lr(config.lr, config.swa, config.epochs, steps_per_epoch)
    return swa if swa is not None else recipe_lr(config, steps_per_epoch)
