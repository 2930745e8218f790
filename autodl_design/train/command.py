"""Final training of one architecture (``autodl-design train --arch A.json -c C.yaml --output D``).

The network is trained on the *whole* training split of ``data.source`` (plus its ``val/``
split when it has one and ``train_on_val`` is set: for the bundled subset and image folders
that split is drawn from training images too). The source's ``test/`` split is used once, at the
end, to report test accuracy; nothing is chosen on it. ``data.val_fraction`` and
``data.max_val_per_class`` play no part here.

``DIR`` receives ``checkpoint.pdckpt`` (every epoch, every ``checkpoint_every`` steps, and when
stopped early; see :mod:`autodl_design.train.trainer`), ``train.log``, ``visualdl/`` scalars and, at
the end, ``model.pdparams`` (weights only) and ``metrics.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from autodl_design import _compat, cpu_tuning
from autodl_design.config import from_dict, load_config, to_yaml
from autodl_design.config.arguments import add_config_args
from autodl_design.fileio import check_output_dir
from autodl_design.space import Architecture, load_architecture
from autodl_design.train.config import CHECKPOINT_NAME, TrainConfig, TrainingError
from autodl_design.train.data import TrainData, load_train_data

__all__ = ["cmd_train", "register", "train"]


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
    from autodl_design.nn.runtime import configure_threads
    from autodl_design.train.state import check_checkpoint
    from autodl_design.train.trainer import Trainer

    config = from_dict(TrainConfig, dataclasses.asdict(config))
    for name, value in (
        ("stop_after_epochs", stop_after_epochs),
        ("stop_after_steps", stop_after_steps),
    ):
        if value is not None and value < 1:
            raise TrainingError(f"--{name.replace('_', '-')}: must be >= 1, got {value}")
    # Every refusal (output path, checkpoint, data, class count) comes before anything is
    # written, so a refused command leaves the output path as it found it.
    out = check_output_dir(output_dir)
    ckpt = out / CHECKPOINT_NAME
    state = None
    if ckpt.exists():
        if not resume:
            raise TrainingError(
                f"{out} already holds a training checkpoint; pass --resume to continue it "
                "or choose another --output"
            )
        state = check_checkpoint(ckpt, arch, config)
    cpu_tuning.configure(config.mkl_avx2)
    configure_threads(config.num_threads)
    if data is None:
        log(f"loading {config.data.source} ...")
        data = load_train_data(config)
    config.network.check_class_count(len(data.classes), data.source)
    out.mkdir(parents=True, exist_ok=True)
    log = _tee(log, out / "train.log")
    n_test = 0 if data.test_y is None else len(data.test_y)
    log(f"architecture {arch.key()}: {arch.to_json()}")
    log(f"{data.source}: train {len(data.train_y)}, {config.evaluate_on} {n_test} images")
    writer = _visualdl_writer(out / "visualdl") if config.visualdl else None
    trainer = Trainer(arch, config, data.train_x, data.train_y, ckpt, log, writer)
    stop = threading.Event()
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
        with _compat.on_sigterm(stop.set):
            done = trainer.run(stop_after_epochs, stop_after_steps, stop)
        if not done:
            p = trainer.progress
            mid_epoch = f"epoch {p.epoch + 1} step {p.step_in_epoch}"
            where = mid_epoch if p.step_in_epoch else f"the end of epoch {p.epoch}"
            if stop.is_set():
                raise TrainingError(
                    f"stopped by SIGTERM at {where}, checkpoint {ckpt} written: "
                    "continue with --resume"
                )
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


def register(subparsers: argparse._SubParsersAction) -> None:
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
