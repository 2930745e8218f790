"""Building blocks for self-describing training checkpoints (no policy, no file layout).

* :func:`save_atomic` / :func:`load_state`: a dict written with ``paddle.save`` through a temporary
  file and ``os.replace`` (:mod:`autodl_design.fileio`), so a kill never leaves half a
  checkpoint behind.
* :func:`optimizer_state` / :func:`load_optimizer_state`: optimiser slots keyed by *structural*
  parameter names (``cells.0.project.weight``) instead of Paddle's process-global unique names
  (``conv2d_17.w_0``), which differ in the process that resumes.
* :func:`rng_state` / :func:`restore_rng_state`: numpy generator and Paddle global generator.
* :func:`config_diff`: dotted keys whose values differ between two nested config dicts.
* :func:`with_defaults`: a saved config completed with the keys added to its class since.
* :func:`config_changes`: what resuming a checkpoint with a config would change, as
  ``key: saved -> now`` lines; the check both checkpoint kinds run on resume.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np
import paddle

from autodl_design.fileio import replace_atomic


def save_atomic(state: dict, path: str | Path) -> None:
    """Write ``state`` (numpy arrays, plain Python values, RNG states) to ``path`` atomically."""
    replace_atomic(path, lambda tmp: paddle.save(state, str(tmp)))


def load_state(path: str | Path) -> dict:
    """Read a dict written by :func:`save_atomic`; tensors come back as numpy arrays.

    Raises ``ValueError`` (one line) when the file is unreadable or not a dict.
    """
    try:
        state = paddle.load(str(path), return_numpy=True)
    except Exception as e:  # paddle raises assorted types for truncated or foreign files
        raise ValueError(f"cannot read checkpoint {path}: {type(e).__name__}: {e}") from None
    if not isinstance(state, dict):
        raise ValueError(f"{path} is not a checkpoint (top level is {type(state).__name__})")
    return state


def layer_state(layer: paddle.nn.Layer) -> dict[str, np.ndarray]:
    """Weights and buffers (BN running statistics) of ``layer`` as numpy, by structural name."""
    return {k: v.numpy() for k, v in layer.state_dict().items()}


def load_layer_state(layer: paddle.nn.Layer, state: dict[str, np.ndarray]) -> None:
    """Inverse of :func:`layer_state`; every key and shape must match the layer exactly."""
    mine = layer.state_dict()
    if set(mine) != set(state):
        missing, extra = sorted(set(mine) - set(state)), sorted(set(state) - set(mine))
        raise ValueError(
            f"weights do not fit the network (missing {missing[:3]}, extra {extra[:3]})"
        )
    for key, value in mine.items():
        if tuple(value.shape) != tuple(np.shape(state[key])):
            raise ValueError(
                f"weights do not fit the network ({key}: shape {list(np.shape(state[key]))} in "
                f"the weights, {list(value.shape)} in the network)"
            )
    layer.set_state_dict({k: paddle.to_tensor(v) for k, v in state.items()})


def _param_names(layer: paddle.nn.Layer) -> dict[str, str]:
    """Paddle's unique parameter name -> structural name, longest unique name first."""
    names = {p.name: name for name, p in layer.named_parameters()}
    return dict(sorted(names.items(), key=lambda item: -len(item[0])))


def _rename(key: str, names: dict[str, str]) -> str:
    # Slots are named "<param>_<slot>_<n>" (e.g. conv2d_3.w_0_velocity_0).
    for old, new in names.items():
        if key.startswith(old + "_"):
            return new + key[len(old) :]
    return key


def optimizer_state(optimizer: paddle.optimizer.Optimizer, layer: paddle.nn.Layer) -> dict:
    """``optimizer.state_dict()`` with numpy values and structural parameter names."""
    names = _param_names(layer)
    out = {}
    for key, value in optimizer.state_dict().items():
        if isinstance(value, paddle.Tensor):
            value = value.numpy()
        out[_rename(key, names)] = value
    return out


def load_optimizer_state(
    optimizer: paddle.optimizer.Optimizer, layer: paddle.nn.Layer, state: dict
) -> None:
    """Inverse of :func:`optimizer_state` for an optimiser over ``layer``'s parameters."""
    names = {new: old for old, new in _param_names(layer).items()}
    names = dict(sorted(names.items(), key=lambda item: -len(item[0])))
    translated = {}
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            value = paddle.to_tensor(value)
        translated[_rename(key, names)] = value
    optimizer.set_state_dict(translated)


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """States of ``rng`` and of Paddle's global generator (dropout, weight init)."""
    return {"numpy": rng.bit_generator.state, "paddle": paddle.get_rng_state()}


def restore_rng_state(rng: np.random.Generator, state: dict[str, Any]) -> None:
    """Inverse of :func:`rng_state`."""
    rng.bit_generator.state = state["numpy"]
    paddle.set_rng_state(state["paddle"])


def config_diff(
    mine: dict, theirs: dict, ignore: Collection[str] = (), prefix: str = ""
) -> list[str]:
    """Sorted dotted keys whose values differ between nested dicts (``ignore``: dotted keys)."""
    out = []
    for key in sorted(set(mine) | set(theirs)):
        path = f"{prefix}{key}"
        if path in ignore:
            continue
        a, b = mine.get(key), theirs.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_diff(a, b, ignore, path + ".")
        elif a != b:
            out.append(path)
    return out


def with_defaults(saved: dict, defaults: dict) -> dict:
    """``saved`` (a checkpoint's nested config dict) plus every key of ``defaults`` it lacks.

    A key added to a config class after a checkpoint was written takes its default there: new
    keys are added with defaults that keep the earlier behaviour, so a checkpoint from before an
    upgrade still resumes (and still refuses a config that really differs).
    """
    out = dict(saved)
    for key, default in defaults.items():
        if key not in out:
            out[key] = default
        elif isinstance(out[key], dict) and isinstance(default, dict):
            out[key] = with_defaults(out[key], default)
    return out


def config_changes(config: Any, saved: dict, ignore: Collection[str] = ()) -> list[str]:
    """``"key: saved -> now"`` for each dotted key where dataclass ``config`` differs from a
    checkpoint's config dict ``saved`` (completed by :func:`with_defaults` with the defaults of
    ``type(config)``); ``ignore``: dotted keys that may differ. Empty when resuming is safe."""
    mine = dataclasses.asdict(config)
    theirs = with_defaults(saved, dataclasses.asdict(type(config)()))
    return [
        f"{k}: {lookup(theirs, k)!r} -> {lookup(mine, k)!r}"
        for k in config_diff(mine, theirs, ignore)
    ]


def lookup(config: dict, dotted: str) -> Any:
    """Value at a dotted key of a nested dict (None when absent)."""
    node: Any = config
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node
