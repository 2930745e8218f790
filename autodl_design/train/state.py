"""What a final-training checkpoint holds besides weights: the run's counters
(:class:`Progress`), its format tag, and the check that a checkpoint belongs to a run
(:func:`check_checkpoint`); :class:`~autodl_design.train.trainer.Trainer` writes and restores
the rest."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autodl_design.checkpoint import config_changes, load_state
from autodl_design.space import Architecture
from autodl_design.train.config import OPERATIONAL_KEYS, TrainConfig, TrainingError

__all__ = ["CHECKPOINT_FORMAT", "Progress", "check_checkpoint"]

CHECKPOINT_FORMAT = "autodl-design/train/v1"


@dataclass
class Progress:
    """Counters of a run; ``loss_sum``/``correct``/``seen``/``epoch_seconds`` cover the current
    epoch so far, ``seconds`` all training time over every session."""

    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    seconds: float = 0.0
    epoch_seconds: float = 0.0
    loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    init_sha256: str | None = None  # of the weights training started from (config.init_from)
    init_stage: dict[str, Any] | None = None  # the record of the run those weights came from
    teacher: dict[str, Any] | None = None  # the distillation targets' file, sha256 and metadata


def check_checkpoint(path: Path, arch: Architecture, config: TrainConfig) -> dict:
    """Read checkpoint ``path`` and refuse it unless it was written for ``arch`` and ``config``.

    Returns the checkpoint dict for :meth:`Trainer.restore`. Raises :class:`TrainingError` with
    a one-line message naming the differing keys.
    """
    try:
        state = load_state(path)
    except ValueError as e:
        raise TrainingError(str(e)) from None
    if state.get("format") != CHECKPOINT_FORMAT:
        raise TrainingError(f"{path} is not an autodl-design training checkpoint")
    if state["architecture"] != arch.to_json():
        theirs = Architecture.from_json(state["architecture"]).key()
        raise TrainingError(
            f"{path} was written for another architecture (key {theirs}, now {arch.key()}); "
            "use the same --arch or another --output"
        )
    changes = config_changes(config, state["config"], OPERATIONAL_KEYS)
    if changes:
        detail = ", ".join(changes[:4])
        more = f" and {len(changes) - 4} more" if len(changes) > 4 else ""
        raise TrainingError(
            f"{path} was written with another config ({detail}{more}); "
            "use the same config or another --output"
        )
    return state
