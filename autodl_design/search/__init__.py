"""The architecture search: strategies, the loop, its history and report, the evaluator of a
candidate and the backends that run it.

Names are imported on first use (PEP 562), so registering the search command does not load
Paddle or PARL.
"""

import importlib

_FROM = {
    "History": "history",
    "HistoryError": "history",
    "SearchError": "loop",
    "run_search": "loop",
    "evaluate": "evaluator",
}
__all__ = sorted(_FROM)


def __getattr__(name: str):
    if name not in _FROM:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_FROM[name]}"), name)
