"""Early stopping for the short candidate training: NaN/inf, divergence and plateau."""

from __future__ import annotations

import math

NAN_OR_INF = "nan_or_inf"
DIVERGED = "diverged"
PLATEAU = "plateau"


class EarlyStopping:
    """Per-epoch stop rule and best-epoch tracker.

    Call :meth:`update` once per epoch with that epoch's mean training loss and validation loss.
    It returns the reason to stop, or None to go on:

    * ``"nan_or_inf"`` -- either loss is NaN or infinite;
    * ``"diverged"`` -- the training loss exceeds ``divergence_factor`` x the first epoch's;
    * ``"plateau"`` -- the validation loss has not gone below ``best - min_delta`` for
      ``patience`` epochs in a row.

    ``best_epoch`` (0-based, None before the first finite epoch) is the epoch with the lowest
    validation loss; an epoch that only ties the best within ``min_delta`` does not replace it.
    """

    def __init__(self, patience: int, min_delta: float = 0.0, divergence_factor: float = 5.0):
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}")
        if min_delta < 0:
            raise ValueError(f"min_delta must be >= 0, got {min_delta}")
        if divergence_factor <= 1:
            raise ValueError(f"divergence_factor must be > 1, got {divergence_factor}")
        self.patience = patience
        self.min_delta = min_delta
        self.divergence_factor = divergence_factor
        self.epoch = -1
        self.first_train_loss: float | None = None
        self.best_val_loss = math.inf
        self.best_epoch: int | None = None
        self.bad_epochs = 0

    def update(self, train_loss: float, val_loss: float) -> str | None:
        """Record one epoch; return the stop reason or None."""
        self.epoch += 1
        if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
            return NAN_OR_INF
        if self.first_train_loss is None:
            self.first_train_loss = train_loss
        elif train_loss > self.divergence_factor * self.first_train_loss:
            return DIVERGED
        if val_loss < self.best_val_loss - self.min_delta:
            self.best_val_loss = val_loss
            self.best_epoch = self.epoch
            self.bad_epochs = 0
            return None
        self.bad_epochs += 1
        return PLATEAU if self.bad_epochs >= self.patience else None
