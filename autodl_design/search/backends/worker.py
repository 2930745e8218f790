"""The unit of work every backend runs: train one architecture under given settings.

Kept free of any transport so in-process, subprocess and xparl workers share it; data is
loaded once per process and reused for every candidate with the same data settings.
"""

from __future__ import annotations

from typing import Any

from autodl_design.search.backends.base import EvalSettings
from autodl_design.space import Architecture

_DATA_CACHE: dict[str, Any] = {}


def load_data_cached(settings: EvalSettings):
    """The search data for ``settings.data``, decoded once per process."""
    from autodl_design.data import load_dataset

    key = repr(settings.data)
    if key not in _DATA_CACHE:
        _DATA_CACHE.clear()
        _DATA_CACHE[key] = load_dataset(settings.data, with_test=False)
    return _DATA_CACHE[key]


def drop_cached_data() -> None:
    """Forget the cached data (the main process checked it but its workers train)."""
    _DATA_CACHE.clear()


def evaluate_json(arch_json: str, settings: EvalSettings) -> dict[str, Any]:
    """Train the architecture given in canonical JSON; returns the evaluator's record."""
    from autodl_design.search.evaluator import evaluate

    arch = Architecture.from_json(arch_json)
    data = load_data_cached(settings)
    return evaluate(
        arch,
        data,
        settings.network,
        settings.evaluator,
        data_cfg=settings.data,
    )
