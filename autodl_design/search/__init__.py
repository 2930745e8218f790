"""The architecture search: strategies, the loop, its history and report."""

from autodl_design.search.history import History, HistoryError
from autodl_design.search.loop import SearchError, run_search

__all__ = ["History", "HistoryError", "SearchError", "run_search"]
