"""The final-training loop of one architecture, resumable at any step with identical results.

:class:`Trainer` owns the network, the optimiser, the random generators and the progress
counters; :meth:`Trainer.checkpoint` captures all of them, :meth:`Trainer.restore` puts them back.

Exact resumption: batches come from :func:`~autodl_design.data.iterate_batches`, which draws an
epoch's permutation and augmentation from one numpy generator as it goes. The checkpoint stores
that generator's state *at the start of the current epoch* and the number of steps done in it;
a resumed run replays the epoch's first steps through the batch iterator without training (a few
milliseconds each), which reproduces the generator exactly. Paddle's generator (dropout) is
captured at the moment of saving. The learning rate is a pure function of the global step.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import paddle
import paddle.nn.functional as F

from autodl_design.checkpoint import (
    layer_state,
    load_layer_state,
    load_optimizer_state,
    optimizer_state,
    save_atomic,
)
from autodl_design.data import alternating_flips, iterate_batches, num_batches
from autodl_design.nn.network import build_network, fit_to_data
from autodl_design.space import Architecture
from autodl_design.train.config import TrainConfig, TrainingError
from autodl_design.train.distillation import TargetsError, distillation_loss, load_teacher
from autodl_design.train.initial_weights import earlier_stage, load_initial_weights
from autodl_design.train.lookahead import Lookahead
from autodl_design.train.optimizer import build_optimizer, freeze_whitening_bias
from autodl_design.train.results import finish
from autodl_design.train.schedule import lr_schedule
from autodl_design.train.state import CHECKPOINT_FORMAT, Progress
from autodl_design.train.swa import WeightAverage, parameters_of


class Trainer:
    """SGD (Nesterov) training of ``arch`` on uint8 ``train_x`` ``(N, H, W, C)``, int64 ``train_y``.

    Loss: cross-entropy with ``config.label_smoothing``, or with ``config.distill.targets`` the
    distillation loss (:func:`~autodl_design.train.distillation.distillation_loss`) against
    those teacher targets, checked to be for these images; learning rate: cosine from
    ``config.lr`` to ``config.lr_min`` over all steps, set every step (with ``config.swa``: the
    schedule of :func:`~autodl_design.train.swa.swa_lr`, and the model saved is the average of
    the SWA epochs' end weights); L2 weight decay on every parameter; optional global-norm
    gradient clipping. ``log`` receives one line per message.
    """

    def __init__(
        self,
        arch: Architecture,
        config: TrainConfig,
        train_x: np.ndarray,
        train_y: np.ndarray,
        checkpoint_path: Path,
        log: Callable[[str], None],
        writer: Any = None,
    ) -> None:
        self.arch, self.config = arch, config
        self.train_x, self.train_y = train_x, train_y
        self.checkpoint_path = checkpoint_path
        self.log, self.writer = log, writer
        paddle.seed(config.seed)
        self.rng = np.random.default_rng(config.seed)
        self.epoch_rng_state = self.rng.bit_generator.state
        _, h, w, c = train_x.shape
        self.net = build_network(arch, config.network, in_channels=c)
        fit_to_data(self.net, train_x)  # replaced by the checkpoint's weights on a resume
        self.input_shape = (1, c, h, w)
        self.steps_per_epoch = num_batches(len(train_x), config.batch_size)
        self.lr_at = lr_schedule(config, self.steps_per_epoch)
        self.average = WeightAverage()  # of the SWA epochs' end weights (config.swa)
        self.opt = build_optimizer(self.net, config, self.lr_at(0))
        total_steps = config.epochs * self.steps_per_epoch
        every = config.lookahead_every
        self.lookahead = Lookahead(every, total_steps) if every else None
        self.progress = Progress()
        self.soft_targets = None
        if config.distill.targets:
            try:
                self.soft_targets, self.progress.teacher = load_teacher(
                    config.distill, config.network.num_classes, train_x, train_y, log
                )
            except TargetsError as e:
                raise TrainingError(str(e)) from None

    def checkpoint(self) -> dict[str, Any]:
        """Everything needed to continue exactly, plus the config and architecture it is for."""
        return {
            "format": CHECKPOINT_FORMAT,
            "architecture": self.arch.to_json(),
            "config": dataclasses.asdict(self.config),
            "progress": dataclasses.asdict(self.progress),
            "model": layer_state(self.net),
            "optimizer": optimizer_state(self.opt, self.net),
            "rng": {"numpy_epoch_start": self.epoch_rng_state, "paddle": paddle.get_rng_state()},
            "swa_average": self.average.state(),
            "lookahead": None if self.lookahead is None else self.lookahead.state(),
        }

    def load_initial_weights(self, path: Path) -> str:
        """Start from the weights in ``path`` (a ``model.pdparams`` or bundled weights file of
        the same architecture and network) instead of the random initialisation (see
        :mod:`autodl_design.train.initial_weights`). The file's sha256 and, for a run's weights,
        that run's record are kept in the progress and so in the metrics. Returns a log line."""
        sha, fresh_head = load_initial_weights(self.net, path)
        self.progress.init_sha256 = sha
        self.progress.init_stage = earlier_stage(path, sha)
        kept = " (classifier re-initialised: other class count)" if fresh_head else ""
        stage = "" if self.progress.init_stage is None else " (its run's record kept)"
        return f"initial weights from {path}{kept}, sha256 {sha[:12]}...{stage}"

    def save(self) -> None:
        save_atomic(self.checkpoint(), self.checkpoint_path)

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint dict accepted by
        :func:`~autodl_design.train.state.check_checkpoint`."""
        teacher = self.progress.teacher
        saved = Progress(**state["progress"])
        if teacher is not None and (saved.teacher or {}).get("sha256") != teacher["sha256"]:
            raise TrainingError(
                f"distill.targets {teacher['path']} is not the file this run was distilling "
                "from (sha256 differs); restore that file or use another --output"
            )
        load_layer_state(self.net, state["model"])
        load_optimizer_state(self.opt, self.net, state["optimizer"])
        self.progress = saved
        self.average = WeightAverage.from_state(state.get("swa_average"))
        if self.lookahead is not None and state.get("lookahead") is not None:
            self.lookahead = Lookahead.from_state(state["lookahead"])
        self.epoch_rng_state = state["rng"]["numpy_epoch_start"]
        paddle.set_rng_state(state["rng"]["paddle"])

    def run(
        self,
        stop_after_epochs: int | None = None,
        stop_after_steps: int | None = None,
        stop: threading.Event | None = None,
    ) -> bool:
        """Train until all epochs are done (returns True) or a stop point is reached (False).

        ``stop_after_epochs``/``stop_after_steps`` count from the start of training (not of this
        session); ``stop``, once set (SIGTERM), stops after the step in progress. A checkpoint is
        written at every epoch end, every ``config.checkpoint_every`` steps (when > 0) and at a
        stop point.
        """
        cfg, p = self.config, self.progress
        # Batches carry image indices in place of labels (the draws do not depend on labels),
        # so labels and teacher targets are picked for exactly the images of a batch.
        index = np.arange(len(self.train_y))
        while p.epoch < cfg.epochs:
            self.rng.bit_generator.state = self.epoch_rng_state
            freeze_whitening_bias(self.net, p.epoch, cfg)
            d = cfg.data
            alternating = d.flip == "alternating"
            flips = alternating_flips(len(index), cfg.seed, p.epoch) if alternating else None
            batches = iterate_batches(
                self.train_x,
                index,
                cfg.batch_size,
                self.rng,
                True,
                d.augment,
                pad=d.translate,
                cutout=d.cutout,
                pad_mode=d.pad_mode,
                flips=flips,
            )
            for _ in range(p.step_in_epoch):
                next(batches)
            tick = time.perf_counter()
            for xb, ib in batches:
                self._step(xb, ib)
                now = time.perf_counter()
                p.seconds += now - tick
                p.epoch_seconds += now - tick
                if cfg.log_every and p.global_step % cfg.log_every == 0:
                    self._log_steps()
                if p.step_in_epoch == self.steps_per_epoch:
                    break
                at_limit = stop_after_steps is not None and p.global_step >= stop_after_steps
                if at_limit or (stop is not None and stop.is_set()):
                    self.save()
                    return False
                if cfg.checkpoint_every and p.global_step % cfg.checkpoint_every == 0:
                    self.save()
                tick = time.perf_counter()  # logging and saving are not training time
            self._end_epoch()
            self.save()
            if stop_after_epochs is not None and p.epoch >= stop_after_epochs:
                return p.epoch >= cfg.epochs
            if stop_after_steps is not None and p.global_step >= stop_after_steps:
                return p.epoch >= cfg.epochs
        return True

    def _step(self, xb: np.ndarray, ib: np.ndarray) -> None:
        p, cfg = self.progress, self.config
        lr = self.lr_at(p.global_step)
        self.opt.set_lr(lr)
        yb = self.train_y[ib]
        x, y = paddle.to_tensor(xb), paddle.to_tensor(yb.astype(np.int64))
        logits = self.net(x)
        if self.soft_targets is None:
            loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
        else:
            soft = paddle.to_tensor(self.soft_targets[ib])
            loss = distillation_loss(logits, y, soft, cfg.distill, cfg.label_smoothing)
        value = float(loss)
        if not math.isfinite(value):
            raise TrainingError(
                f"training loss became {value} at epoch {p.epoch + 1} step {p.step_in_epoch + 1} "
                f"(lr {lr:.4g}); the last checkpoint is before it: lower lr or set grad_clip"
            )
        loss.backward()
        self.opt.step()
        self.opt.clear_grad()
        if self.lookahead is not None:
            self.lookahead.after_step(self.net, p.global_step + 1)
        p.loss_sum += value * len(yb)
        p.correct += int((logits.argmax(axis=1) == y).sum())
        p.seen += len(yb)
        p.step_in_epoch += 1
        p.global_step += 1
        if self.writer is not None:
            self.writer.add_scalar("train/loss", value, p.global_step)
            self.writer.add_scalar("train/lr", lr, p.global_step)

    def _rates(self) -> tuple[float, float, float]:
        p = self.progress
        seen = max(1, p.seen)
        return p.loss_sum / seen, p.correct / seen, p.seen / max(p.epoch_seconds, 1e-9)

    def _log_steps(self) -> None:
        p = self.progress
        loss, acc, speed = self._rates()
        self.log(
            f"epoch {p.epoch + 1}/{self.config.epochs} step {p.step_in_epoch}/"
            f"{self.steps_per_epoch} loss {loss:.4f} acc {acc:.3f} "
            f"lr {self.lr_at(p.global_step):.5f} {speed:.1f} img/s"
        )

    def _end_epoch(self) -> None:
        p = self.progress
        loss, acc, speed = self._rates()
        entry = {
            "epoch": p.epoch + 1,
            "train_loss": loss,
            "train_acc": acc,
            "lr": self.lr_at(p.global_step),
            "seconds": p.epoch_seconds,
            "img_per_s": speed,
        }
        p.history.append(entry)
        p.epoch += 1
        p.step_in_epoch, p.loss_sum, p.correct, p.seen, p.epoch_seconds = 0, 0.0, 0, 0, 0.0
        self.epoch_rng_state = self.rng.bit_generator.state
        self.log(
            f"epoch {entry['epoch']}/{self.config.epochs} done: train loss {loss:.4f} "
            f"acc {acc:.3f} lr {entry['lr']:.5f} {speed:.1f} img/s ({entry['seconds']:.1f}s, "
            f"{self._eta_hours():.1f} h to go)"
        )
        swa = self.config.swa
        if swa.last_epochs is not None and p.epoch > self.config.epochs - swa.last_epochs:
            self.average.add(parameters_of(self.net))
            self.log(f"weight average: {self.average.count} of {swa.last_epochs} snapshots")
        if self.writer is not None:
            for key in ("train_loss", "train_acc", "img_per_s"):
                self.writer.add_scalar(f"epoch/{key}", entry[key], entry["epoch"])

    def _eta_hours(self) -> float:
        """Training time left at the mean seconds per step of all sessions so far."""
        p = self.progress
        left = self.config.epochs * self.steps_per_epoch - p.global_step
        return left * p.seconds / max(p.global_step, 1) / 3600

    def finish(
        self, output_dir: Path, test: tuple[np.ndarray, np.ndarray] | None, extra: dict[str, Any]
    ) -> dict[str, Any]:
        """Evaluate on ``test`` (uint8 images, labels) and write ``model.pdparams`` and
        ``metrics.json``; returns the metrics (``extra`` is merged in). See
        :func:`autodl_design.train.results.finish`."""
        return finish(self, output_dir, test, extra)
