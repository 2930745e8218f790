"""The final training's optimiser: Nesterov SGD, L2 decay, BN biases at a scaled rate."""

from __future__ import annotations

import paddle
from paddle import nn

from autodl_design.config import SGDConfig
from autodl_design.nn.ops import is_fixed

__all__ = ["build_optimizer", "freeze_whitening_bias"]


def build_optimizer(net: nn.Layer, config: SGDConfig, lr: float) -> paddle.optimizer.Momentum:
    """``paddle.optimizer.Momentum`` over ``net``'s trainable parameters at learning rate ``lr``
    (fixed ones, :func:`~autodl_design.nn.ops.is_fixed`, in a group at learning rate 0).

    With ``config.bias_lr_scale`` != 1 the BN biases form their own group: learning rate x the
    scale (Paddle's group ``learning_rate`` multiplies the optimiser's) and L2 coefficient / the
    scale, so their decay per step is the other parameters' (airbench's ``bias_scaler``: with
    BN scales fixed, the biases are the only affine freedom and move too slowly otherwise).
    """
    fixed = [p for p in net.parameters() if not p.stop_gradient and is_fixed(p)]
    params = [p for p in net.parameters() if not p.stop_gradient and not is_fixed(p)]
    groups: list = params
    if config.bias_lr_scale != 1.0:
        bn_bias = {
            id(layer.bias)
            for layer in net.sublayers(include_self=True)
            if isinstance(layer, nn.BatchNorm2D) and layer.bias is not None
        }
        biases = [p for p in params if id(p) in bn_bias]
        others = [p for p in params if id(p) not in bn_bias]
        scale = config.bias_lr_scale
        groups = [
            {"params": others},
            {"params": biases, "learning_rate": scale, "weight_decay": config.weight_decay / scale},
        ]
    if fixed:
        # learning rate 0, no decay: fixed BN scales (ops.batch_norm) get gradients, never steps
        groups = [{"params": params}] if groups is params else groups
        groups.append({"params": fixed, "learning_rate": 0.0, "weight_decay": 0.0})
    clip = paddle.nn.ClipGradByGlobalNorm(config.grad_clip) if config.grad_clip else None
    return paddle.optimizer.Momentum(
        learning_rate=lr,
        momentum=config.momentum,
        parameters=groups,
        use_nesterov=config.nesterov,
        weight_decay=config.weight_decay,
        grad_clip=clip,
    )


def freeze_whitening_bias(net: nn.Layer, epoch: int, config: SGDConfig) -> None:
    """The wide frame's whitening-stem bias trains for the first ``config.whiten_bias_epochs``
    epochs only (0-based ``epoch``); other networks are left alone."""
    stem = getattr(net, "stem", None)
    if getattr(net, "fit_whitening", None) is not None and stem is not None:
        stem.bias.stop_gradient = epoch >= config.whiten_bias_epochs
