"""Brief training of one candidate architecture and the reward it earns.

:func:`evaluate` builds the network, trains it with the SGD recipe of
:class:`~autodl_design.config.SGDConfig` (the trainer's: cosine or triangle learning rate set
every step, label smoothing, BN-bias rate scale, lookahead, the wide frame's whitening-bias
freeze) and early stopping, and returns a JSON-serialisable record.

Choices (see also the ``evaluate`` docstring):

* Reported ``val_*``/``train_*`` metrics and the reward come from the *best epoch* (lowest
  validation loss), i.e. the model early stopping would keep; ``history`` has every epoch.
* A failed run (``status`` "nan", "diverged" or "error") gets at most a chance-level reward:
  ``neg_val_loss`` -> ``-max(ln K, best finite val loss so far)``, so failing never scores above a
  uniform guess or above what the run had reached; ``val_acc`` -> the training accuracy so far
  (over the batches of the epoch in which it failed, 0 if none ran), the original's rule.
  Chance level keeps failures from becoming huge outliers, which a cubed advantage would amplify.
* CPU speed: importing the package applies :mod:`autodl_design.cpu_tuning` (MKL's AVX2 kernels
  on AMD CPUs; 1.3-2x faster training here), which works only before the process's first Paddle
  op; ``EvaluatorConfig.mkl_avx2`` turns it off. Validation passes and threads are
  :mod:`autodl_design.nn.runtime`'s.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import paddle
import paddle.nn.functional as F

from autodl_design import cpu_tuning
from autodl_design.config import DataConfig, EvaluatorConfig, NetworkConfig
from autodl_design.data import alternating_flips, iterate_batches, num_batches
from autodl_design.nn.flops import count_flops, count_params
from autodl_design.nn.network import build_network, fit_to_data
from autodl_design.nn.runtime import Batches, configure_threads, evaluate_accuracy
from autodl_design.search.early_stopping import DIVERGED, NAN_OR_INF, EarlyStopping
from autodl_design.space import Architecture
from autodl_design.train.lookahead import Lookahead
from autodl_design.train.optimizer import build_optimizer, freeze_whitening_bias
from autodl_design.train.schedule import recipe_lr


class ImageData(Protocol):
    """Uint8 ``(N, H, W, C)`` images and int64 ``(N,)`` labels for training and validation."""

    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray


class _TrainingFailed(Exception):
    """NaN/inf training loss in the middle of an epoch."""


def evaluate(
    arch: Architecture,
    data: ImageData,
    net_cfg: NetworkConfig,
    eval_cfg: EvaluatorConfig,
    batches: Batches | None = None,
    data_cfg: DataConfig | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train ``arch`` briefly on ``data`` and return its metrics record (JSON-serialisable).

    Keys: ``status`` ("ok" | "nan" | "diverged" | "error"), ``stop_reason`` (None when all
    epochs ran, else "plateau", "nan_or_inf" or "diverged"), ``reward``, ``val_loss``,
    ``val_acc``, ``train_loss``, ``train_acc`` (at ``best_epoch``, 1-based; None if no epoch
    finished), ``epochs_run`` (epochs started), ``params``, ``flops`` (multiply-adds of one
    image), ``seconds`` (wall time of the whole call), ``history`` (per-epoch lists
    ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``, ``lr``, ``seconds``), ``error``
    (message or None), ``traceback`` (str or None), ``arch`` (``arch.to_json()``).
    Non-finite numbers become None.

    ``data_cfg`` (default :class:`DataConfig`'s defaults) chooses the training batches'
    augmentation: its ``augment``, ``cutout``, ``translate``, ``pad_mode`` and ``flip`` (as in
    :func:`autodl_design.data.iterate_batches`; ``alternating`` flips mirror a fixed random half
    of the images in even epochs, the trainer's rule). ``log`` receives a line per epoch.

    Seeds Paddle's global generator (``paddle.seed(eval_cfg.seed)``: weights, dropout) and a
    numpy generator for batching and augmentation, so equal inputs give equal records on one
    machine. An exception while building or training becomes status "error" with
    ``"Type: message"`` in ``error`` and a short ``traceback``; KeyboardInterrupt propagates.
    """
    start = time.perf_counter()
    batches = batches or iterate_batches
    run = _Run(net_cfg.num_classes)
    record: dict[str, Any] = {"arch": arch.to_json(), "params": None, "flops": None}
    record.update(error=None, traceback=None)
    try:
        cpu_tuning.configure(eval_cfg.mkl_avx2)
        configure_threads(eval_cfg.num_threads)
        d = data_cfg or DataConfig()
        _train(arch, data, net_cfg, eval_cfg, batches, d, run, record, log)
    except Exception as e:  # the caller (a search loop) must survive any candidate
        run.status, run.stop_reason = "error", None
        record["error"] = f"{type(e).__name__}: {e}"
        record["traceback"] = traceback.format_exc(limit=5)
    record.update(run.summary())
    record["reward"] = _reward(run, record, eval_cfg)
    record["seconds"] = time.perf_counter() - start
    return _finite(record)


class _Run:
    """Mutable state of one training run, so a failure keeps everything measured so far."""

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.status = "ok"
        self.stop_reason: str | None = None
        self.best_epoch: int | None = None
        self.partial_train_acc = 0.0
        self.history: dict[str, list] = {
            k: [] for k in ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")
        }

    def best(self, key: str) -> float | None:
        return None if self.best_epoch is None else self.history[key][self.best_epoch]

    def summary(self) -> dict[str, Any]:
        out = {k: self.best(k) for k in ("val_loss", "val_acc", "train_loss", "train_acc")}
        out.update(
            status=self.status,
            stop_reason=self.stop_reason,
            best_epoch=None if self.best_epoch is None else self.best_epoch + 1,
            epochs_run=len(self.history["lr"]),
            history=self.history,
        )
        return out


def _train(arch, data, net_cfg, eval_cfg, batches, data_cfg, run, record, log) -> None:
    paddle.seed(eval_cfg.seed)
    rng = np.random.default_rng(eval_cfg.seed)
    _, h, w, c = data.train_x.shape
    net = build_network(arch, net_cfg, in_channels=c)
    fit_to_data(net, data.train_x)
    record["params"] = count_params(net)
    record["flops"] = count_flops(net, (1, c, h, w))

    steps_per_epoch = num_batches(len(data.train_x), eval_cfg.batch_size)
    lr_at = recipe_lr(eval_cfg, steps_per_epoch)
    opt = build_optimizer(net, eval_cfg, lr_at(0))
    total_steps = eval_cfg.epochs * steps_per_epoch
    every = eval_cfg.lookahead_every
    lookahead = Lookahead(every, total_steps) if every else None
    d = data_cfg
    augmentation = {"augment": d.augment, "cutout": d.cutout, "pad": d.translate}
    augmentation["pad_mode"] = d.pad_mode
    stopper = EarlyStopping(eval_cfg.patience, eval_cfg.min_delta, eval_cfg.divergence_factor)
    hist = run.history
    step = 0
    for epoch in range(eval_cfg.epochs):
        t0 = time.perf_counter()
        hist["lr"].append(lr_at(step))
        freeze_whitening_bias(net, epoch, eval_cfg)
        if d.flip == "alternating":  # the trainer's rule
            augmentation["flips"] = alternating_flips(len(data.train_x), eval_cfg.seed, epoch)
        net.train()
        n_seen, loss_sum, correct = 0, 0.0, 0
        run.partial_train_acc = 0.0
        for xb, yb in batches(
            data.train_x, data.train_y, eval_cfg.batch_size, rng, shuffle=True, **augmentation
        ):
            opt.set_lr(lr_at(step))
            x, y = paddle.to_tensor(xb), paddle.to_tensor(yb)
            logits = net(x)
            loss = F.cross_entropy(logits, y, label_smoothing=eval_cfg.label_smoothing)
            loss_value = float(loss)
            if not math.isfinite(loss_value):
                _append(hist, train_loss=None, train_acc=None, val_loss=None, val_acc=None)
                hist["seconds"].append(time.perf_counter() - t0)
                run.status, run.stop_reason = "nan", NAN_OR_INF
                return
            loss.backward()
            opt.step()
            opt.clear_grad()
            step += 1
            if lookahead is not None:
                lookahead.after_step(net, step)
            n_seen += len(yb)
            loss_sum += loss_value * len(yb)
            correct += int((logits.argmax(axis=1) == y).sum())
            run.partial_train_acc = correct / n_seen
        train_loss, train_acc = loss_sum / n_seen, correct / n_seen
        if lookahead is not None and epoch == eval_cfg.epochs - 1:
            lookahead.finalize(net)  # the last epoch is validated at the slow weights
        val_loss, val_acc = evaluate_accuracy(
            net, data.val_x, data.val_y, eval_cfg.batch_size, batches, eval_cfg.inference_engine
        )
        _append(
            hist, train_loss=train_loss, train_acc=train_acc, val_loss=val_loss, val_acc=val_acc
        )
        hist["seconds"].append(time.perf_counter() - t0)
        reason = stopper.update(train_loss, val_loss)
        run.best_epoch = stopper.best_epoch
        if log:
            log(
                f"epoch {epoch + 1}/{eval_cfg.epochs} train {train_loss:.4f}/{train_acc:.3f} "
                f"val {val_loss:.4f}/{val_acc:.3f} ({hist['seconds'][-1]:.1f}s)"
            )
        if reason is not None:
            run.stop_reason = reason
            run.status = {NAN_OR_INF: "nan", DIVERGED: "diverged"}.get(reason, "ok")
            return


def _append(hist: dict[str, list], **values: float | None) -> None:
    for key, value in values.items():
        hist[key].append(value)


def _reward(run: _Run, record: dict[str, Any], cfg: EvaluatorConfig) -> float:
    chance_loss = math.log(run.num_classes)
    if run.status == "ok":
        base = -run.best("val_loss") if cfg.reward == "neg_val_loss" else run.best("val_acc")
    elif cfg.reward == "neg_val_loss":
        best = run.best("val_loss")
        base = -max(chance_loss, best if best is not None else chance_loss)
    else:
        base = run.partial_train_acc
    penalty = cfg.params_penalty * (record["params"] or 0) / 1e6
    penalty += cfg.flops_penalty * (record["flops"] or 0) / 1e8
    return float(base - penalty)


def _finite(value: Any) -> Any:
    """Copy of ``value`` with numpy scalars made Python and NaN/inf floats made None."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
