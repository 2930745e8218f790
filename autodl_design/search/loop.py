"""The search loop: propose a batch -> evaluate -> reward -> learn -> checkpoint, repeated.

Output directory layout (all written as the run goes):

* ``config.yaml``         the full configuration of the run;
* ``history.jsonl``       append-only record of every evaluation and update (see history.py);
* ``controller.pdparams`` / ``random_state.json`` / ``evolution_state.json``  the strategy's
  checkpoint after each update;
* ``vdl/``                VisualDL scalars;
* at the end: ``best_architecture.json``, ``top_k.txt``, ``search_curve.png``.

Resuming (``resume=True``) restores the strategy's checkpoint, which includes its random state,
so it proposes the same batch the killed run was working on; finished evaluations of that batch
are taken from the history instead of being trained again (failed and errored ones are trained
again). A batch in which no candidate was measured stops the search before the strategy learns
(see :func:`run_search`); the checks that can be made before it starts are in
:mod:`autodl_design.search.preflight`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from autodl_design.config import SearchConfig, to_yaml
from autodl_design.fileio import OutputPathError
from autodl_design.search.backends import Backend, EvalTask
from autodl_design.search.history import History, measured
from autodl_design.search.preflight import RESUMABLE_CHANGES, SearchError, check_output
from autodl_design.search.report import write_report
from autodl_design.search.strategy import make_strategy

__all__ = ["RESUMABLE_CHANGES", "SearchError", "prepare_output", "run_search"]


def prepare_output(config: SearchConfig, resume: bool) -> Path:
    """Check the output directory (see :func:`~autodl_design.search.preflight.check_output`),
    then create it and write ``config.yaml``; returns it."""
    out = check_output(config, resume)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # e.g. the path was taken by a file since the check
        raise OutputPathError(f"output {out}: cannot create it ({e.strerror or e})") from None
    (out / "config.yaml").write_text(to_yaml(config))
    return out


class _Scalars:
    """VisualDL scalars; a missing or broken VisualDL must never stop a search."""

    def __init__(self, logdir: Path):
        try:
            from visualdl import LogWriter

            self.writer = LogWriter(logdir=str(logdir))
        except Exception:  # optional dependency: log nothing rather than fail
            self.writer = None

    def add(self, step: int, values: dict[str, float]) -> None:
        if self.writer is None:
            return
        for tag, value in values.items():
            if value is not None and math.isfinite(value):
                self.writer.add_scalar(tag=tag, value=float(value), step=step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def run_search(
    config: SearchConfig,
    backend: Backend,
    resume: bool = False,
    log: Callable[[str], None] = print,
    progress: bool = True,
) -> History:
    """Run (or resume) a search to ``config.updates`` updates; returns its history."""
    out = prepare_output(config, resume)
    log("config:\n" + to_yaml(config).rstrip())
    strategy = make_strategy(config)
    if resume and (out / strategy.checkpoint_name).exists():
        strategy.restore(out)
    history = History.open(out / "history.jsonl")
    _recover_update_line(history, strategy.updates, config.controller.batch_size)
    scalars = _Scalars(out / "vdl")
    batch = config.controller.batch_size
    bar = _progress_bar(config.updates * batch, strategy.updates * batch, progress)
    best = max((r["reward"] for r in _measured_records(history)), default=-math.inf)
    if strategy.updates:
        log(f"resumed at update {strategy.updates} of {config.updates} from {out}")
    try:
        while strategy.updates < config.updates:
            u = strategy.updates + 1
            start = time.perf_counter()
            archs = strategy.propose(batch)
            records, counts = _evaluate_batch(u, archs, history, backend, bar)
            if not any(measured(r) for r in records):
                # Nothing was measured, so there is nothing to learn: an update would move the
                # policy on fill-in rewards and spend the budget. With the data and the class
                # count checked up front, a whole batch failing means the machine is at fault
                # (workers dying, out of memory, timeouts), which more batches would not fix.
                # So the search stops before learning; the evaluations are in the history and
                # the checkpoint is the previous update's, so --resume proposes this batch
                # again and retrains exactly these candidates.
                raise SearchError(_all_failed(u, records))
            rewards = strategy.fill_failed([r.get("reward") for r in records])
            stats = strategy.learn(rewards)
            strategy.save(out)
            valid = [r["reward"] for r in records if measured(r) and r.get("reward") is not None]
            best = max([best, *valid])
            stats.update(counts, seconds=time.perf_counter() - start, best_so_far=best)
            history.add_update(u, [r.get("reward") for r in records], _plain(stats))
            scalars.add(u, _scalar_values(valid, stats))
            log(_update_line(u, config.updates, valid, stats))
    finally:
        bar.close()
        scalars.close()
    if not write_report(history, out, config.top_k, log):
        raise SearchError(f"no candidate was trained successfully: no report written in {out}")
    return history


def _evaluate_batch(
    u: int, archs, history: History, backend: Backend, bar
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    records: list[dict[str, Any] | None] = [None] * len(archs)
    keys = [a.key() for a in archs]
    counts = {"evaluated": 0, "cached": 0, "reused": 0, "failed": 0}
    pending: dict[str, list[int]] = {}
    for i, (arch, key) in enumerate(zip(archs, keys, strict=True)):
        done = history.evaluations.get((u, i))
        if done is not None and done["key"] == key and measured(done["record"]):
            records[i] = done["record"]  # finished before the run was killed
            counts["reused"] += 1
        elif key in history.by_key:
            records[i] = history.by_key[key]
            history.add_evaluation(u, i, key, arch.to_json(), records[i], cached=True)
            counts["cached"] += 1
        else:
            pending.setdefault(key, []).append(i)
            continue
        bar.update(1)
    tasks, by_task = [], {}
    for key, (first, *_) in pending.items():
        tasks.append(EvalTask(f"u{u}-i{first}", archs[first].to_json()))
        by_task[tasks[-1].task_id] = key
    for task, record in backend.run(tasks):
        key = by_task[task.task_id]
        first, *duplicates = pending[key]
        history.add_evaluation(u, first, key, task.arch_json, record, cached=False)
        records[first] = record
        counts["evaluated"] += 1
        counts["failed"] += record.get("status") != "ok"
        for i in duplicates:  # the same graph twice in one batch is trained once
            history.add_evaluation(u, i, key, task.arch_json, record, cached=True)
            records[i] = record
            counts["cached"] += 1
        bar.update(1 + len(duplicates))
    missing = [i for i, r in enumerate(records) if r is None]
    if missing:
        raise RuntimeError(f"backend returned no result for candidates {missing} of update {u}")
    return records, counts


def _recover_update_line(history: History, updates_done: int, batch: int) -> None:
    """A kill between checkpoint and history line leaves the line missing: write it now."""
    if updates_done and updates_done not in history.updates:
        rewards = [
            history.evaluations[(updates_done, i)]["record"].get("reward")
            for i in range(batch)
            if (updates_done, i) in history.evaluations
        ]
        history.add_update(updates_done, rewards, {"recovered": True})


def _measured_records(history: History):
    return (
        e["record"]
        for e in history.evaluations.values()
        if measured(e["record"]) and e["record"].get("reward") is not None
    )


def _all_failed(u: int, records: list[dict[str, Any]]) -> str:
    reason = str(records[0].get("error") or records[0].get("status")).strip()
    reason = reason.splitlines()[0] if reason else "no reason recorded"
    return (
        f"update {u}: all {len(records)} candidates failed (first: {reason[:300]}); "
        "the controller was not updated; fix the cause, then continue with --resume"
    )


def _plain(stats: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in stats.items()
    }


def _scalar_values(valid: list[float], stats: dict[str, Any]) -> dict[str, float]:
    values = {
        "reward/mean": float(np.mean(valid)) if valid else None,
        "reward/max": max(valid) if valid else None,
        "reward/best_so_far": stats.get("best_so_far"),
        "search/failed": stats.get("failed"),
        "search/seconds_per_update": stats.get("seconds"),
    }
    for name in ("baseline", "loss", "entropy"):
        if name in stats:
            values[f"controller/{name}"] = stats[name]
    for name in ("population_best", "population_mean"):
        if name in stats:
            values[f"evolution/{name}"] = stats[name]
    return values


def _update_line(u: int, total: int, valid: list[float], stats: dict[str, Any]) -> str:
    mean = f"{np.mean(valid):8.4f}" if valid else "     n/a"
    top = f"{max(valid):8.4f}" if valid else "     n/a"
    line = f"update {u:3d}/{total}  reward mean {mean}  max {top}  best {stats['best_so_far']:8.4f}"
    if "baseline" in stats:
        line += f"  baseline {stats['baseline']:8.4f}  entropy {stats['entropy']:6.2f}"
    if "population" in stats:
        line += f"  population {stats['population']}"
    line += (
        f"  [{stats['evaluated']} trained, {stats['cached']} cached, {stats['reused']} resumed, "
        f"{stats['failed']} failed, {stats['seconds']:.0f} s]"
    )
    return line


def _progress_bar(total: int, initial: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(
        total=total,
        initial=initial,
        unit="cand",
        desc="search",
        # None: tqdm shows the bar only on a terminal, so a log file or pipe gets plain lines.
        disable=None if enabled else True,
        leave=False,
        dynamic_ncols=True,
    )
