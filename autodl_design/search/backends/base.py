"""What every evaluation backend offers the search loop.

A backend trains candidates given as canonical architecture strings and yields their metrics
records as they finish, in any order, each paired with the task it answers. Tasks and the
evaluation settings travel as plain JSON-able data (never pickled objects), so the same
contract serves in-process, local-process and xparl backends.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from autodl_design.config import (
    DataConfig,
    EvaluatorConfig,
    NetworkConfig,
    from_dict,
)


@dataclass(frozen=True)
class EvalTask:
    """One candidate to train: ``task_id`` is unique within a search (e.g. ``"u3-i7"``)."""

    task_id: str
    arch_json: str


@dataclass(frozen=True)
class EvalSettings:
    """Everything a worker needs besides the architecture: data, network and training configs."""

    data: DataConfig
    network: NetworkConfig
    evaluator: EvaluatorConfig

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvalSettings:
        return cls(
            data=from_dict(DataConfig, d["data"], "data"),
            network=from_dict(NetworkConfig, d["network"], "network"),
            evaluator=from_dict(EvaluatorConfig, d["evaluator"], "evaluator"),
        )


def failure_record(arch_json: str, reason: str, attempts: int) -> dict[str, Any]:
    """Record for a candidate the backend could not evaluate (worker died, timeout, ...).

    ``reward`` is None: the search loop decides what a failed candidate is worth.
    """
    return {
        "arch": arch_json,
        "status": "failed",
        "error": reason,
        "attempts": attempts,
        "reward": None,
        "val_loss": None,
        "val_acc": None,
        "train_loss": None,
        "train_acc": None,
        "params": None,
        "flops": None,
        "epochs_run": 0,
        "seconds": None,
    }


class Backend(Protocol):
    """Trains candidates; ``run`` yields ``(task, record)`` as each finishes, in any order."""

    def run(self, tasks: Iterable[EvalTask]) -> Iterator[tuple[EvalTask, dict[str, Any]]]: ...

    def close(self) -> None: ...
