"""The bottom of the training package: its config, its error, and what a resume may change."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from autodl_design.config import DataConfig, InferenceEngine, NetworkConfig, SGDConfig, check
from autodl_design.train.distillation import DistillConfig
from autodl_design.train.swa import SWAConfig

__all__ = ["CHECKPOINT_NAME", "OPERATIONAL_KEYS", "TrainConfig", "TrainingError"]


CHECKPOINT_NAME = "checkpoint.pdckpt"


# Settings that only change how a run reports or paces itself: a resume may change them.
OPERATIONAL_KEYS = (
    "num_threads", "log_every", "checkpoint_every", "visualdl", "max_test_per_class",
    "mkl_avx2", "inference_engine", "tta",
)  # fmt: skip


@dataclass
class TrainConfig(SGDConfig):
    """Final training of one architecture (the recipe of a pretrained model).

    SGD as in :class:`~autodl_design.config.SGDConfig` (the learning rate updated every step; the
    recipe's fields are documented there), here with label smoothing 0.1 and gradient clipping
    at norm 5 unless set otherwise. ``init_from``: a weights file to start from instead of a
    random initialisation (a run's ``model.pdparams`` or a bundled ``pretrained/NAME.pdparams``
    of the same architecture and network; a classifier of another class count is left freshly
    initialised, for fine-tuning on other classes); its sha256 goes into the metrics.
    ``distill``: distillation from a teacher's soft targets
    (:mod:`autodl_design.train.distillation`; off while ``distill.targets`` is null). ``swa``:
    stochastic weight averaging over the last epochs (:mod:`autodl_design.train.swa`; off while
    ``swa.last_epochs`` is null). ``max_test_per_class`` caps the test images of the final
    report (null: all).

    ``tta``: test-time augmentation of the final evaluation (``flip``: mean logits of the image
    and its mirror; ``flip_translate``: also shifted by one pixel up-left and down-right).
    ``evaluate_on``: ``test`` reports on the test split; ``val`` carves ``data.val_fraction`` of
    the training images (stratified, seeded by ``data.seed``), trains on the rest and reports on
    them, never reading the test split: the mode for choosing settings.

    Operational settings a resumed run may change: ``num_threads``, ``log_every`` (steps between
    log lines, 0 = epoch lines only), ``checkpoint_every`` (steps between extra checkpoints, 0 =
    epoch ends only), ``visualdl``, ``max_test_per_class``, and the CPU switches ``mkl_avx2``
    (MKL's AVX2 kernels on AMD CPUs, :mod:`autodl_design.cpu_tuning`) and ``inference_engine`` of
    the test evaluation (``auto``, ``dygraph``, ``onednn``, ``onnx``; see :class:`EvaluatorConfig`).
    """

    network: NetworkConfig = field(default_factory=NetworkConfig)
    data: DataConfig = field(default_factory=DataConfig)
    label_smoothing: float = 0.1
    grad_clip: float | None = 5.0
    train_on_val: bool = True
    init_from: str | None = None
    distill: DistillConfig = field(default_factory=DistillConfig)
    swa: SWAConfig = field(default_factory=SWAConfig)
    max_test_per_class: int | None = None
    seed: int = 0
    num_threads: int = 1
    log_every: int = 50
    checkpoint_every: int = 0
    visualdl: bool = True
    mkl_avx2: bool = True
    inference_engine: InferenceEngine = "auto"
    tta: Literal["none", "flip", "flip_translate"] = "none"
    evaluate_on: Literal["test", "val"] = "test"

    def validate(self) -> None:
        super().validate()
        ok = self.swa.last_epochs is None or self.lr_schedule == "cosine"
        check(ok, "swa.last_epochs", "needs lr_schedule: cosine")
        check(self.init_from is None or self.init_from != "", "init_from", "must be a path or null")
        ok = self.swa.last_epochs is None or self.swa.last_epochs <= self.epochs
        check(ok, "swa.last_epochs", f"must be <= epochs ({self.epochs})")
        ok = self.max_test_per_class is None or self.max_test_per_class >= 1
        check(ok, "max_test_per_class", "must be >= 1 or null")
        check(self.num_threads >= 1, "num_threads", "must be >= 1")
        check(self.log_every >= 0, "log_every", "must be >= 0")
        check(self.checkpoint_every >= 0, "checkpoint_every", "must be >= 0")


class TrainingError(RuntimeError):
    """Final training cannot start or continue; the one-line message says why."""
