"""What a search checks before it starts a worker or writes a file.

Every refusal a search can make up front is made here, in the main process: an output path
that cannot be written, an existing run without ``--resume`` (or a resume into a path without a
run, or with another config), a data source that cannot be read, a class count the network
does not match. Made later, inside workers, they became a batch of failed candidates and a
search that "succeeded" (issue 65); made after the workers started, the workers died with
broken-pipe tracebacks on top of the one-line refusal.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import yaml

from autodl_design.config import ConfigError, SearchConfig, from_dict
from autodl_design.fileio import check_output_dir

__all__ = ["RESUMABLE_CHANGES", "SearchError", "check_data", "check_output"]

# Keys that may change between a run and its resumption without changing its results.
RESUMABLE_CHANGES = ("updates", "execution")


class SearchError(RuntimeError):
    """The search cannot start, resume or go on (existing run, config mismatch, failures)."""


def check_output(config: SearchConfig, resume: bool) -> Path:
    """The output directory, checked for this run without writing to it; returns it.

    Raises :class:`~autodl_design.fileio.OutputPathError` when it cannot be written, and
    :class:`SearchError` when it holds a run but ``resume`` is off, or holds none (or another
    config's) while ``resume`` is on.
    """
    out = check_output_dir(config.output_dir)
    saved_config = out / "config.yaml"
    if resume:
        if not saved_config.exists():
            raise SearchError(f"cannot resume: {out} holds no search (no config.yaml)")
        try:
            saved = from_dict(SearchConfig, yaml.safe_load(saved_config.read_text()))
        except (ConfigError, yaml.YAMLError) as e:
            reason = str(e).splitlines()[0]
            raise SearchError(f"cannot resume: {saved_config}: {reason}") from None
        _check_resumable(saved, config)
    elif (out / "history.jsonl").exists():
        raise SearchError(f"{out} already holds a search: pass --resume or another output_dir")
    return out


def _check_resumable(saved: SearchConfig, config: SearchConfig) -> None:
    old, new = dataclasses.asdict(saved), dataclasses.asdict(config)
    diff = [k for k in old if k not in RESUMABLE_CHANGES and old[k] != new[k]]
    if diff:
        raise SearchError(
            f"cannot resume: the config differs from the run's in {', '.join(diff)} "
            f"(only {', '.join(RESUMABLE_CHANGES)} may change)"
        )


def check_data(config: SearchConfig) -> None:
    """Decode the search data once here and check its class count against the network.

    Raises :class:`~autodl_design.data.DataError` (unreadable source, empty split) or
    :class:`~autodl_design.config.ConfigError` (``network.num_classes`` differs). The decoded
    data stays cached for the serial backend, which trains in this process; the other backends'
    workers decode their own copy, so it is dropped rather than held for the whole search.

    An xparl search whose ``data.source`` is not a path on this machine is not checked here:
    the source is read by the cluster's workers, where it must exist (see the README).
    """
    from autodl_design.search.backends.worker import drop_cached_data, load_data_cached

    data_config = config.data
    elsewhere = not os.path.exists(os.path.expanduser(data_config.source))
    if config.execution.backend == "xparl" and data_config.source != "bundled" and elsewhere:
        return
    settings = _settings(config)
    data = load_data_cached(settings)
    try:
        config.network.check_class_count(data.num_classes, data_config.source)
    except ConfigError:
        drop_cached_data()
        raise
    if config.execution.backend != "serial":
        drop_cached_data()


def _settings(config: SearchConfig):
    from autodl_design.search.backends.base import EvalSettings

    return EvalSettings(config.data, config.network, config.evaluator)
