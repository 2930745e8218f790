"""PARL controller: LSTM generator (Model), REINFORCE (Algorithm), agent and baseline; the
"count the 1s" demo.

Names are imported on first use (PEP 562), so registering the demo command does not load Paddle.
"""

from autodl_design import lazy_face

__all__ = [
    "CheckpointError",
    "ControllerAgent",
    "LSTMGenerator",
    "MovingAverageBaseline",
    "Reinforce",
    "run_count_ones",
]
__getattr__ = lazy_face(__name__, __all__, "errors agent algorithm baseline model count_ones")
