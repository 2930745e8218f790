"""Evaluate candidates one after another in the search process."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from autodl_design.search.backends.base import EvalSettings, EvalTask
from autodl_design.search.backends.worker import evaluate_json


class SerialBackend:
    """The simplest backend: no processes, no transport; a crash inside a candidate is already
    turned into an ``error`` record by the evaluator."""

    def __init__(self, settings: EvalSettings):
        self.settings = settings

    def run(self, tasks: Iterable[EvalTask]) -> Iterator[tuple[EvalTask, dict[str, Any]]]:
        for task in tasks:
            yield task, evaluate_json(task.arch_json, self.settings)

    def close(self) -> None:
        pass
