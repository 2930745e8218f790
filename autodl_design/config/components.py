"""The components' dataclasses, each with its checks (:meth:`validate`, called on loading)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from autodl_design.config.io import ConfigError, check

__all__ = [
    "EXPORT_FORMATS",
    "INFERENCE_ENGINES",
    "TTA_MODES",
    "ControllerConfig",
    "CountOnesConfig",
    "DataConfig",
    "EvaluatorConfig",
    "ExecutionConfig",
    "InferenceEngine",
    "NetworkConfig",
    "SGDConfig",
]


@dataclass
class ControllerConfig:
    """The LSTM generator and its REINFORCE learner."""

    n_nodes: int = 10
    hidden_size: int = 64
    num_layers: int = 2
    temperature: float = 5.0
    tanh_constant: float = 2.5
    init_range: float = 0.1
    lr: float = 1e-3
    batch_size: int = 10
    baseline_decay: float = 0.9
    cube_advantage: bool = False
    entropy_weight: float = 0.0
    seed: int = 0

    def validate(self) -> None:
        check(self.n_nodes >= 2, "n_nodes", "must be >= 2")
        check(self.hidden_size >= 1, "hidden_size", "must be >= 1")
        check(self.num_layers >= 1, "num_layers", "must be >= 1")
        check(self.temperature > 0, "temperature", "must be > 0")
        check(self.tanh_constant > 0, "tanh_constant", "must be > 0")
        check(self.init_range >= 0, "init_range", "must be >= 0")
        check(self.lr > 0, "lr", "must be > 0")
        check(self.batch_size >= 1, "batch_size", "must be >= 1")
        check(0 <= self.baseline_decay < 1, "baseline_decay", "must be in [0, 1)")
        check(self.entropy_weight >= 0, "entropy_weight", "must be >= 0")


@dataclass
class CountOnesConfig:
    """The "count the 1s" demo: reward = number of tokens equal to ``target_op``."""

    # lr 0.06 with a cubed advantage reached >= 18.5 of 20 within 50 updates for 30 of 30
    # seeds; see benchmarks/count_ones_speed.py and README.md.
    controller: ControllerConfig = field(
        default_factory=lambda: ControllerConfig(lr=0.06, cube_advantage=True)
    )
    updates: int = 50
    target_op: int = 1
    smoothing_window: int = 10
    log_every: int = 5

    def validate(self) -> None:
        check(self.updates >= 1, "updates", "must be >= 1")
        check(0 <= self.target_op < 10, "target_op", "must be an op id in 0..9")
        check(self.smoothing_window >= 1, "smoothing_window", "must be >= 1")
        check(self.log_every >= 1, "log_every", "must be >= 1")


# "onnx" needs the onnx extra (paddle2onnx, onnxruntime); "auto" never picks it.
InferenceEngine = Literal["auto", "dygraph", "onednn", "onnx"]
INFERENCE_ENGINES: tuple[str, ...] = get_args(InferenceEngine)
# Test-time augmentation of the pretrained models: "flip" averages each model's softmax over the
# image and its horizontal mirror.
TTA_MODES = ("none", "flip")
# What `autodl-design export` writes: a Paddle Inference directory, or one ONNX file.
EXPORT_FORMATS = ("paddle", "onnx")


@dataclass
class DataConfig:
    """Where images come from and how they are split and augmented.

    ``source``: ``"bundled"`` (the CIFAR-10 search subset shipped in the package), ``"cifar10"``
    (the full CIFAR-10, found in ``$AUTODL_DESIGN_DATA``, default
    ``~/.cache/autodl-design/datasets``: :mod:`autodl_design.data.named`), or a path to
    the official ``cifar-10-python.tar.gz`` / ``cifar-10-batches-py/`` or to an image folder
    (``train/<class>/*``, optional ``test/<class>/*``; a directory or a .tar/.tar.gz of one).
    When the source has no validation split, ``val_fraction`` of the training images (stratified,
    seeded) become the validation split. ``augment``: pad 4 + random crop + horizontal flip of
    each training image; ``cutout`` (needs ``augment``): the side of a square, centred at random,
    zeroed in each training image after standardisation (Cutout; 0: none). ``translate``: the
    padding of the random crop (pixels each side; ``pad_mode`` ``zero`` or ``reflect``);
    ``flip``: ``random`` mirrors each image with probability 1/2 per epoch, ``alternating``
    mirrors a fixed random half of the images in even epochs and the other half in odd ones
    (airbench's scheme: every image is seen both ways in every two epochs; final training only).
    """

    source: str = "bundled"
    format: Literal["auto", "bundled", "cifar10-python", "image-folder"] = "auto"
    val_fraction: float = 0.1
    max_train_per_class: int | None = None
    max_val_per_class: int | None = None
    image_size: int = 32
    channels: int = 3
    augment: bool = True
    cutout: int = 0
    translate: int = 4
    pad_mode: Literal["zero", "reflect"] = "zero"
    flip: Literal["random", "alternating"] = "random"
    seed: int = 0

    def validate(self) -> None:
        check(bool(self.source), "source", "must not be empty")
        check(self.translate >= 0, "translate", "must be >= 0")
        check(0 < self.val_fraction < 1, "val_fraction", "must be in (0, 1)")
        for key in ("max_train_per_class", "max_val_per_class"):
            value = getattr(self, key)
            check(value is None or value >= 1, key, "must be >= 1 or null")
        check(self.image_size >= 8, "image_size", "must be >= 8")
        check(self.channels in (1, 3), "channels", "must be 1 or 3")
        check(self.cutout >= 0, "cutout", "must be >= 0 (0: no Cutout)")
        check(self.augment or self.cutout == 0, "cutout", "needs augment: true")


@dataclass
class NetworkConfig:
    """How a candidate network is built from an architecture.

    Stem conv 3x3 (``width``) -> ``stages`` x ``cells_per_stage`` cells; the first cell of every
    stage after the first is a reduction cell (stride 2, channels x2) -> BN-ReLU -> global
    average pool -> dropout -> FC. A node without inputs reads the cell input through a 1x1 conv
    to ``width // node_ratio`` channels (of the cell's width). ``residual`` adds the cell input
    to the cell output (through a stride-2 1x1 conv where the shape changes), which deeper
    final-training networks need; the search's shallow networks leave it off.

    ``frame``: ``"cells"`` is the frame above; ``"wide"`` is the CPU-efficient frame of
    :mod:`autodl_design.nn.wide` (a whitened 2x2 stem, then per width in ``widths``: conv 3x3 ->
    max-pool 2 -> BN-act -> the *normal* cell at full width -> BN-act; global max-pool, a
    bias-free linear head times ``logit_scale``; ``stages``, ``cells_per_stage``,
    ``node_ratio``, ``residual`` and ``dropout`` belong to ``"cells"`` only); ``"resnet"`` is a
    pre-activation ResNet whose blocks are the normal cell (:mod:`autodl_design.nn.resnet`;
    ``width``, ``stages``, ``cells_per_stage``). ``activation``:
    ``leaky_relu`` (slope ``leaky_slope``), ``relu`` or ``gelu``. ``bn_scale``: false fixes
    every BN's scale at 1 (only its bias trains). ``identity_init``: each conv's first
    ``c_in`` filters start as the identity (Dirac) map. ``init``: ``he``, truncated-normal He
    weights (std sqrt(2 / fan_in)); ``uniform``, U(+-1 / sqrt(fan_in)) for every trained conv and
    linear weight, PyTorch's default, which airbench's learning rates assume: behind a BN the
    weights' scale sets their effective learning rate (``wide`` and ``resnet`` frames).
    ``cell_input``: the wide frame's cell adds its input to its output (a residual); false
    leaves it out, which makes the one-conv cell exactly airbench94's network.
    """

    width: int = 16
    stages: int = 3
    cells_per_stage: int = 1
    node_ratio: int = 4
    dropout: float = 0.5
    num_classes: int = 10
    leaky_slope: float = 0.1
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-3
    residual: bool = False
    frame: Literal["cells", "wide", "resnet"] = "cells"
    widths: list[int] = field(default_factory=lambda: [32, 128, 128])
    activation: Literal["leaky_relu", "relu", "gelu"] = "leaky_relu"
    bn_scale: bool = True
    identity_init: bool = False
    logit_scale: float = 1.0
    init: Literal["he", "uniform"] = "he"
    cell_input: bool = True

    def validate(self) -> None:
        check(self.width >= 4, "width", "must be >= 4")
        check(self.stages >= 1, "stages", "must be >= 1")
        check(self.cells_per_stage >= 1, "cells_per_stage", "must be >= 1")
        check(self.node_ratio >= 1, "node_ratio", "must be >= 1")
        check(self.width // self.node_ratio >= 1, "node_ratio", "must be <= width")
        check(0 <= self.dropout < 1, "dropout", "must be in [0, 1)")
        check(self.num_classes >= 2, "num_classes", "must be >= 2")
        check(self.leaky_slope >= 0, "leaky_slope", "must be >= 0")
        check(0 < self.bn_momentum < 1, "bn_momentum", "must be in (0, 1)")
        check(self.bn_epsilon > 0, "bn_epsilon", "must be > 0")
        ok = len(self.widths) >= 1 and all(isinstance(w, int) and w >= 4 for w in self.widths)
        check(ok, "widths", "must be a non-empty list of ints >= 4")
        check(self.logit_scale > 0, "logit_scale", "must be > 0")

    def check_class_count(self, found: int, source: str) -> None:
        """ConfigError unless the data of ``source`` has ``num_classes`` classes (``found``):
        caught before anything trains, a mismatch would fail every candidate or step."""
        if found != self.num_classes:
            raise ConfigError(
                f"network.num_classes: {self.num_classes}, but {source} has {found} classes "
                f"(set -o network.num_classes={found})"
            )


@dataclass
class SGDConfig:
    """The SGD recipe of the evaluator's brief training and of final training.

    ``epochs`` passes over the data in batches of ``batch_size``; ``momentum`` (Nesterov when
    ``nesterov``); L2 ``weight_decay`` on every parameter; the loss is cross-entropy with
    ``label_smoothing``; ``grad_clip`` (global norm) is off when null. The learning rate, set
    every step, follows ``lr_schedule``: ``cosine`` from ``lr`` to ``lr_min`` over all steps, or
    ``triangle`` (linear from ``0.2 lr`` up to ``lr`` over the first ``warmup`` fraction of the
    steps, then linear down to ``lr_min``).

    The rest of airbench's list (``configs/train_wide.yaml``, measured in ``docs/recipe.md``):
    ``bias_lr_scale`` multiplies the learning rate of the BN biases (their L2 coefficient is
    divided by it, so their decay per step stays); ``lookahead_every`` > 0: every that many steps
    the weights move to a slow copy that follows them (``autodl_design.train.lookahead``);
    ``whiten_bias_epochs``: epochs the wide frame's whitening-stem bias trains before it is
    frozen. The defaults leave all of them off.
    """

    epochs: int = 20
    batch_size: int = 128
    lr: float = 0.1
    lr_min: float = 1e-4
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 1e-4
    label_smoothing: float = 0.0
    grad_clip: float | None = None
    lr_schedule: Literal["cosine", "triangle"] = "cosine"
    warmup: float = 0.23
    bias_lr_scale: float = 1.0
    lookahead_every: int = 0
    whiten_bias_epochs: int = 3

    def validate(self) -> None:
        check(self.epochs >= 1, "epochs", "must be >= 1")
        check(self.batch_size >= 1, "batch_size", "must be >= 1")
        check(self.lr > 0, "lr", "must be > 0")
        check(0 <= self.lr_min <= self.lr, "lr_min", "must be in [0, lr]")
        check(0 <= self.momentum < 1, "momentum", "must be in [0, 1)")
        check(self.weight_decay >= 0, "weight_decay", "must be >= 0")
        check(0 <= self.label_smoothing < 1, "label_smoothing", "must be in [0, 1)")
        check(self.grad_clip is None or self.grad_clip > 0, "grad_clip", "must be > 0 or null")
        check(0 < self.warmup < 1, "warmup", "must be in (0, 1)")
        check(self.bias_lr_scale > 0, "bias_lr_scale", "must be > 0")
        check(self.lookahead_every >= 0, "lookahead_every", "must be >= 0 (0: off)")
        check(self.whiten_bias_epochs >= 0, "whiten_bias_epochs", "must be >= 0")


@dataclass
class EvaluatorConfig(SGDConfig):
    """Brief training of one candidate, with early stopping, and how it becomes a reward.

    The SGD schedule fields come from :class:`SGDConfig`.

    Early stopping: stop at once when the training loss is NaN/inf or exceeds
    ``divergence_factor`` x its first-epoch value; stop when the validation loss has not improved
    by ``min_delta`` for ``patience`` epochs. ``reward``: ``neg_val_loss`` (default) or
    ``val_acc``; ``params_penalty`` is subtracted per million parameters and ``flops_penalty``
    per hundred million FLOPs (multiply-adds of one 32x32 image).

    CPU switches: ``mkl_avx2`` lets MKL use its AVX2 kernels on AMD CPUs
    (:mod:`autodl_design.cpu_tuning`; false restores MKL's default path); ``inference_engine``
    for the validation passes: ``auto`` (oneDNN predictor from 2,500 images on), ``dygraph``,
    ``onednn`` or ``onnx`` (onnxruntime; needs the onnx extra).
    """

    patience: int = 5
    min_delta: float = 0.0
    divergence_factor: float = 5.0
    reward: Literal["neg_val_loss", "val_acc"] = "neg_val_loss"
    params_penalty: float = 0.0
    flops_penalty: float = 0.0
    num_threads: int = 1
    seed: int = 0
    mkl_avx2: bool = True
    inference_engine: InferenceEngine = "auto"

    def validate(self) -> None:
        super().validate()
        check(self.patience >= 1, "patience", "must be >= 1")
        check(self.min_delta >= 0, "min_delta", "must be >= 0")
        check(self.divergence_factor > 1, "divergence_factor", "must be > 1")
        check(self.params_penalty >= 0, "params_penalty", "must be >= 0")
        check(self.flops_penalty >= 0, "flops_penalty", "must be >= 0")
        check(self.num_threads >= 1, "num_threads", "must be >= 1")


@dataclass
class ExecutionConfig:
    """Where candidates are trained.

    ``serial``: one after another in the search process. ``local``: ``workers`` separate
    processes on this machine, each limited to ``threads_per_worker`` math threads. ``xparl``:
    actors on a PARL xparl cluster at ``cluster`` (``HOST:PORT`` of its master), ``workers``
    actors at once. A candidate whose worker dies, hangs past ``timeout_seconds`` or loses its
    connection is retried ``retries`` times, then recorded as failed.
    """

    backend: Literal["serial", "local", "xparl"] = "serial"
    workers: int = 1
    threads_per_worker: int = 1
    cluster: str | None = None
    timeout_seconds: float = 3600.0
    retries: int = 1

    def validate(self) -> None:
        check(self.workers >= 1, "workers", "must be >= 1")
        check(self.threads_per_worker >= 1, "threads_per_worker", "must be >= 1")
        check(self.timeout_seconds > 0, "timeout_seconds", "must be > 0")
        check(self.retries >= 0, "retries", "must be >= 0")
        if self.backend == "xparl":
            ok = bool(self.cluster) and self.cluster.rpartition(":")[2].isdigit()
            check(ok, "cluster", "xparl needs cluster: HOST:PORT of the xparl master")
