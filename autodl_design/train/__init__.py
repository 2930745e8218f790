"""Final training of one architecture: its config, the resumable trainer, distillation, SWA.

Names are imported on first use (PEP 562), so ``from autodl_design.train import TrainConfig``
does not load Paddle; :class:`Trainer` does.
"""

import importlib

_FROM = {
    "CHECKPOINT_NAME": "config",
    "OPERATIONAL_KEYS": "config",
    "TrainConfig": "config",
    "TrainingError": "config",
    "TrainData": "data",
    "load_train_data": "data",
    "DistillConfig": "distillation",
    "TargetsError": "distillation",
    "SWAConfig": "swa",
    "Trainer": "trainer",
    "train": "command",
}
__all__ = sorted(_FROM)


def __getattr__(name: str):
    if name not in _FROM:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_FROM[name]}"), name)
