"""PARL controller: LSTM generator (Model), REINFORCE (Algorithm), agent and baseline; the
"count the 1s" demo.

Names are imported on first use (PEP 562), so registering the demo command does not load Paddle.
"""

import importlib

_FROM = {
    "CheckpointError": "agent",
    "ControllerAgent": "agent",
    "Reinforce": "algorithm",
    "MovingAverageBaseline": "baseline",
    "LSTMGenerator": "model",
    "run_count_ones": "count_ones",
}
__all__ = sorted(_FROM)


def __getattr__(name: str):
    if name not in _FROM:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_FROM[name]}"), name)
