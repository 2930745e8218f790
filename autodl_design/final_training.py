"""Final training of one architecture (``autodl-design train --arch A.json -c C.yaml --output D``).

The network is trained on the *whole* training split of ``data.source`` (plus its ``val/``
split when it has one and ``train_on_val`` is set: for the bundled subset and image folders
that split is drawn from training images too). The source's ``test/`` split is used once, at the
end, to report test accuracy; nothing is chosen on it. ``data.val_fraction`` and
``data.max_val_per_class`` play no part here.

``DIR`` receives ``checkpoint.pdckpt`` (every epoch, every ``checkpoint_every`` steps, and when
stopped early; see :mod:`autodl_design.trainer`), ``train.log``, ``visualdl/`` scalars and, at
the end, ``model.pdparams`` (weights only) and ``metrics.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from autodl_design import cpu_tuning
from autodl_design.config import (
    ConfigError,
    DataConfig,
    InferenceEngine,
    NetworkConfig,
    SGDConfig,
    check,
    from_dict,
    load_config,
    to_yaml,
)
from autodl_design.data import DataError, read_source
from autodl_design.data.sampling import cap_per_class
from autodl_design.distillation import DistillConfig
from autodl_design.space import Architecture, ArchitectureError
from autodl_design.swa import SWAConfig

__all__ = [
    "CHECKPOINT_NAME",
    "OPERATIONAL_KEYS",
    "TrainConfig",
    "TrainData",
    "TrainingError",
    "cmd_train",
    "load_architecture",
    "load_train_data",
    "register",
    "train",
]

CHECKPOINT_NAME = "checkpoint.pdckpt"
# Settings that only change how a run reports or paces itself: a resume may change them.
OPERATIONAL_KEYS = (
    "num_threads", "log_every", "checkpoint_every", "visualdl", "max_test_per_class",
    "mkl_avx2", "inference_engine",
)  # fmt: skip
# Independent random streams per decision, as in the data package.
_STREAM_TRAIN_CAP, _STREAM_TEST_CAP = 2, 4


@dataclass
class TrainConfig(SGDConfig):
    """Final training of one architecture (the recipe of a pretrained model).

    SGD as in :class:`~autodl_design.config.SGDConfig` (the learning rate updated every step);
    the loss is cross-entropy with ``label_smoothing``; ``grad_clip`` (global norm) is off when
    null. ``init_from``: a weights file to start from instead of a random initialisation (a run's
    ``model.pdparams`` or a bundled ``pretrained/NAME.pdparams`` of the same architecture and
    network; a classifier of another class count is left freshly initialised, for fine-tuning on
    other classes); its sha256 goes into the metrics. ``distill``: distillation from a teacher's
    soft targets (:mod:`autodl_design.distillation`; off while ``distill.targets`` is null).
    ``swa``: stochastic weight averaging over the last epochs (:mod:`autodl_design.swa`; off
    while ``swa.last_epochs`` is null).
    ``max_test_per_class`` caps the test images of the final report (null: all).

    Operational settings a resumed run may change: ``num_threads``, ``log_every`` (steps between
    log lines, 0 = epoch lines only), ``checkpoint_every`` (steps between extra checkpoints, 0 =
    epoch ends only), ``visualdl``, ``max_test_per_class``, and the CPU switches ``mkl_avx2``
    (MKL's AVX2 kernels on AMD CPUs, :mod:`autodl_design.cpu_tuning`) and ``inference_engine`` of
    the test evaluation (``auto``, ``dygraph``, ``onednn``; see :class:`EvaluatorConfig`).
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

    def validate(self) -> None:
        super().validate()
        check(0 <= self.label_smoothing < 1, "label_smoothing", "must be in [0, 1)")
        check(self.grad_clip is None or self.grad_clip > 0, "grad_clip", "must be > 0 or null")
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


@dataclass
class TrainData:
    """Images for final training: uint8 ``(N, H, W, C)`` arrays, int64 ``(N,)`` labels.

    ``test_x``/``test_y`` are None when the source has no test split.
    """

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray | None
    test_y: np.ndarray | None
    classes: list[str]
    source: str


def load_train_data(config: TrainConfig) -> TrainData:
    """Decode the training (+ val) and test splits of ``config.data.source``.

    ``data.max_train_per_class`` and ``max_test_per_class`` subsample each class, seeded by
    ``data.seed``.
    """
    d = config.data
    raw = read_source(d.source, d.format, ("train", "val", "test"), d.image_size, d.channels)
    if "train" not in raw.splits:
        raise DataError(f"{d.source}: no train split")
    x, y = raw.splits["train"]
    if config.train_on_val and "val" in raw.splits:
        vx, vy = raw.splits["val"]
        x, y = np.concatenate([x, vx]), np.concatenate([y, vy])
    keep = cap_per_class(y, d.max_train_per_class, _rng(d, _STREAM_TRAIN_CAP))
    x, y = x[keep], y[keep]
    test_x, test_y = raw.splits.get("test", (None, None))
    if test_y is not None and config.max_test_per_class is not None:
        keep = cap_per_class(test_y, config.max_test_per_class, _rng(d, _STREAM_TEST_CAP))
        test_x, test_y = test_x[keep], test_y[keep]
    return TrainData(x, y, test_x, test_y, list(raw.classes), d.source)


def _rng(config: DataConfig, stream: int) -> np.random.Generator:
    return np.random.default_rng([config.seed % 2**32, stream])


def load_architecture(spec: str | Path) -> Architecture:
    """Architecture from a JSON file path or inline JSON text.

    Accepts a bare canonical architecture (``{"normal": ..., "reduction": ...}``) or a search
    result such as ``best_architecture.json`` (``{"architecture": {...}, "key": ..., ...}``,
    where ``architecture`` may also be the canonical JSON string). Raises
    :class:`ArchitectureError` naming the file.
    """
    text = str(spec)
    where = "inline architecture"
    if not text.lstrip().startswith("{"):
        path = Path(text)
        if not path.is_file():
            raise ArchitectureError(f"architecture file not found: {path}")
        where, text = str(path), path.read_text()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ArchitectureError(f"{where}: not valid JSON: {e}") from None
    if isinstance(data, dict) and "architecture" in data:
        data = data["architecture"]
    try:
        return (
            Architecture.from_json(data) if isinstance(data, str) else Architecture.from_dict(data)
        )
    except ArchitectureError as e:
        raise ArchitectureError(f"{where}: {e}") from None


def train(
    arch: Architecture,
    config: TrainConfig,
    output_dir: str | Path,
    resume: bool = False,
    stop_after_epochs: int | None = None,
    stop_after_steps: int | None = None,
    data: TrainData | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any] | None:
    """Train ``arch`` as ``config`` says, writing checkpoints and results to ``output_dir``.

    Returns the metrics (as written to ``metrics.json``) when every epoch is done, or None when
    ``stop_after_epochs``/``stop_after_steps`` (counted from the start of training) stopped it
    first; ``resume=True`` then continues exactly where it stopped. Without ``resume`` an
    existing checkpoint in ``output_dir`` is an error; with it, a checkpoint written for another
    architecture or config is refused (:class:`TrainingError`). ``data`` skips decoding the
    source (tests); ``log`` receives every log line, which also goes to ``train.log``.
    """
    # Paddle loads here, not at import, so the CLI can register this command cheaply.
    from autodl_design.evaluator import configure_threads
    from autodl_design.train_state import check_checkpoint
    from autodl_design.trainer import Trainer

    config = from_dict(TrainConfig, dataclasses.asdict(config))
    out = Path(output_dir)
    ckpt = out / CHECKPOINT_NAME
    state = None
    if ckpt.exists():
        if not resume:
            raise TrainingError(
                f"{out} already holds a training checkpoint; pass --resume to continue it "
                "or choose another --output"
            )
        state = check_checkpoint(ckpt, arch, config)
    out.mkdir(parents=True, exist_ok=True)
    log = _tee(log, out / "train.log")
    cpu_tuning.configure(config.mkl_avx2)
    configure_threads(config.num_threads)
    if data is None:
        log(f"loading {config.data.source} ...")
        data = load_train_data(config)
    if len(data.classes) != config.network.num_classes:
        raise ConfigError(
            f"network.num_classes: {config.network.num_classes}, but {data.source} has "
            f"{len(data.classes)} classes"
        )
    n_test = 0 if data.test_y is None else len(data.test_y)
    log(f"architecture {arch.key()}: {arch.to_json()}")
    log(f"{data.source}: train {len(data.train_y)}, test {n_test} images")
    writer = _visualdl_writer(out / "visualdl") if config.visualdl else None
    trainer = Trainer(arch, config, data.train_x, data.train_y, ckpt, log, writer)
    try:
        if state is not None:
            trainer.restore(state)
            p = trainer.progress
            log(f"resumed {ckpt} at epoch {p.epoch + 1} step {p.step_in_epoch}")
        else:
            if resume:
                log(f"no checkpoint in {out}: starting from scratch")
            log("config:\n" + to_yaml(config).rstrip())
            if config.init_from is not None:
                log(trainer.load_initial_weights(Path(config.init_from)))
        if not trainer.run(stop_after_epochs, stop_after_steps):
            p = trainer.progress
            mid_epoch = f"epoch {p.epoch + 1} step {p.step_in_epoch}"
            where = mid_epoch if p.step_in_epoch else f"the end of epoch {p.epoch}"
            log(f"stopped at {where}; continue with --resume")
            return None
        test = None if data.test_y is None else (data.test_x, data.test_y)
        extra = {"classes": data.classes, "test_source": data.source}
        metrics = trainer.finish(out, test, extra)
    finally:
        if writer is not None:
            writer.close()
    log(f"wrote {out / 'model.pdparams'} and {out / 'metrics.json'}")
    return metrics


def _tee(log: Callable[[str], None], path: Path) -> Callable[[str], None]:
    def both(line: str) -> None:
        log(line)
        with path.open("a") as f:
            f.write(line + "\n")

    return both


def _visualdl_writer(logdir: Path) -> Any:
    from visualdl import LogWriter

    return LogWriter(logdir=str(logdir))


def cmd_train(args: argparse.Namespace) -> int:
    """``autodl-design train``: final training of one architecture."""
    overrides = list(args.override)
    if args.data:
        overrides.append(f"data.source={args.data}")
    config = load_config(TrainConfig, args.config, overrides)
    arch = load_architecture(args.arch)
    train(arch, config, args.output, resume=args.resume, stop_after_epochs=args.stop_after_epochs)
    return 0


def register(
    subparsers: argparse._SubParsersAction,
    add_config_args: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Add the ``train`` command to the CLI's subparsers."""
    p = subparsers.add_parser("train", help="final training of one architecture (resumable)")
    add_config_args(p)
    p.add_argument(
        "--arch", required=True, help="architecture JSON file (or best_architecture.json)"
    )
    p.add_argument("--output", required=True, help="run directory (checkpoint, weights, metrics)")
    p.add_argument("--data", help="data source, same as -o data.source=...")
    p.add_argument("--resume", action="store_true", help="continue the checkpoint in --output")
    p.add_argument(
        "--stop-after-epochs",
        type=int,
        metavar="N",
        help="stop (with a checkpoint) once N epochs are done in all; --resume continues",
    )
    p.set_defaults(func=cmd_train)
