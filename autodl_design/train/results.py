"""The end of a final training: SWA averaging, the test evaluation, weights and metrics."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from autodl_design.checkpoint import save_atomic
from autodl_design.fileio import sha256_file, write_text_atomic
from autodl_design.nn.flops import count_flops, count_params
from autodl_design.nn.runtime import evaluate_accuracy
from autodl_design.train.swa import apply_average

if TYPE_CHECKING:
    from autodl_design.train.trainer import Trainer

__all__ = ["finish"]


def _apply_average(trainer: Trainer, test: tuple[np.ndarray, np.ndarray] | None) -> dict[str, Any]:
    """Replace the network's weights by the SWA average (batch-norm statistics recomputed);
    the last iterate's test accuracy is measured first, for the record only."""
    last_acc = None
    if test is not None:
        _, last_acc = evaluate_accuracy(
            trainer.net, *test, trainer.config.batch_size, engine=trainer.config.inference_engine
        )
        trainer.log(f"last iterate (before averaging): test acc {last_acc:.4f}")
    seen = apply_average(trainer.net, trainer.average, trainer.train_x, trainer.config, trainer.log)
    return {
        "snapshots": trainer.average.count,
        "bn_images": seen,
        "last_iterate_test_acc": last_acc,
    }


def finish(
    trainer: Trainer,
    output_dir: Path,
    test: tuple[np.ndarray, np.ndarray] | None,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """Evaluate on ``test`` (uint8 images, labels) and write ``model.pdparams`` and
    ``metrics.json``; returns the metrics (``extra`` is merged in). With
    ``evaluate_on: val`` the held-out images are passed as ``test`` and the figures are
    recorded as ``val_*``; ``tta`` applies to this evaluation only."""
    p, cfg = trainer.progress, trainer.config
    test_loss = test_acc = None
    swa_record = None
    if trainer.lookahead is not None:
        trainer.lookahead.finalize(trainer.net)
    if cfg.swa.last_epochs is not None:
        swa_record = _apply_average(trainer, test)
    split = cfg.evaluate_on
    if test is not None:
        test_loss, test_acc = evaluate_accuracy(
            trainer.net, *test, cfg.batch_size, engine=cfg.inference_engine, tta=cfg.tta
        )
        trainer.log(
            f"{split} loss {test_loss:.4f} acc {test_acc:.4f} ({len(test[1])} images, "
            f"tta {cfg.tta})"
        )
    last = p.history[-1] if p.history else {}
    save_atomic(trainer.net.state_dict(), output_dir / "model.pdparams")
    metrics = {
        "architecture": trainer.arch.to_json(),
        "architecture_key": trainer.arch.key(),
        "config": dataclasses.asdict(trainer.config),
        "epochs": p.epoch,
        "steps": p.global_step,
        "train_images": len(trainer.train_y),
        "params": count_params(trainer.net),
        "flops": count_flops(trainer.net, trainer.input_shape),
        "train_loss": last.get("train_loss"),
        "train_acc": last.get("train_acc"),
        "evaluated_on": split,
        f"{split}_loss": test_loss,
        f"{split}_acc": test_acc,
        f"{split}_images": None if test is None else len(test[1]),
        "seconds": p.seconds,
        "train_img_per_s": p.epoch * len(trainer.train_y) / max(p.seconds, 1e-9),
        "weights_sha256": sha256_file(output_dir / "model.pdparams"),
        "init_from_sha256": p.init_sha256,
        "init_stage": p.init_stage,
        "distill_teacher": p.teacher,
        "swa": swa_record,
        **extra,
        "history": p.history,
    }
    write_text_atomic(output_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    if trainer.writer is not None and test_acc is not None:
        trainer.writer.add_scalar(f"{split}/acc", test_acc, p.epoch)
    return metrics
