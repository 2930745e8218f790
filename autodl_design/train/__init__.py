"""Final training of one architecture: its config, the resumable trainer, distillation, SWA.

Names are imported on first use (PEP 562), so ``from autodl_design.train import TrainConfig``
does not load Paddle; :class:`Trainer` does.
"""

from autodl_design import lazy_face

__all__ = [
    "CHECKPOINT_NAME",
    "DistillConfig",
    "OPERATIONAL_KEYS",
    "SWAConfig",
    "TargetsError",
    "TrainConfig",
    "TrainData",
    "Trainer",
    "TrainingError",
    "load_train_data",
    "train",
]
__getattr__ = lazy_face(__name__, __all__, "config data distillation swa trainer command")
