"""PARL controller: LSTM generator (Model), REINFORCE (Algorithm), agent and baseline."""

from autodl_design.controller.agent import CheckpointError, ControllerAgent
from autodl_design.controller.algorithm import Reinforce
from autodl_design.controller.baseline import MovingAverageBaseline
from autodl_design.controller.model import LSTMGenerator

__all__ = [
    "CheckpointError",
    "ControllerAgent",
    "LSTMGenerator",
    "MovingAverageBaseline",
    "Reinforce",
]
