"""The architecture search: strategies, the loop, its history and report, the evaluator of a
candidate and the backends that run it.

Names are imported on first use (PEP 562), so registering the search command does not load
Paddle or PARL.
"""

from autodl_design import lazy_face

__all__ = [
    "History",
    "HistoryError",
    "SearchError",
    "evaluate",
    "run_search",
]
__getattr__ = lazy_face(__name__, __all__, "history loop evaluator")
