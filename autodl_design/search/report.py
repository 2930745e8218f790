"""End-of-search outputs: top-k table, best architecture, search-curve plot."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from autodl_design.search.history import History, measured
from autodl_design.space import Architecture

SUMMARY_KEYS = ("reward", "val_acc", "val_loss", "train_acc", "params", "flops", "epochs_run")


def ranked(history: History) -> list[dict[str, Any]]:
    """Trained (not cached) evaluations that measured their architecture, best first.

    Failed and errored candidates never rank: their reward (None, or chance level for an
    error) says nothing about the architecture.
    """
    entries = [
        e
        for e in history.unique_evaluations()
        if measured(e["record"]) and e["record"].get("reward") is not None
    ]
    return sorted(entries, key=lambda e: e["record"]["reward"], reverse=True)


def top_k_table(history: History, k: int) -> str:
    rows = ranked(history)[:k]
    header = f"{'rank':>4} {'reward':>9} {'val_acc':>7} {'val_loss':>8} {'params':>8} "
    header += f"{'MFLOPs':>7} {'epochs':>6} {'update':>6}  key"
    lines = [header]
    for rank, e in enumerate(rows, 1):
        r = e["record"]
        lines.append(
            f"{rank:>4} {r['reward']:>9.4f} {_num(r.get('val_acc'), '.3f'):>7} "
            f"{_num(r.get('val_loss'), '.4f'):>8} {_num(r.get('params'), 'd'):>8} "
            f"{_num(r.get('flops') and r['flops'] / 1e6, '.2f'):>7} "
            f"{_num(r.get('epochs_run'), 'd'):>6} {e['update']:>6}  {e['key']}"
        )
    return "\n".join(lines)


def _num(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def write_report(history: History, out: Path, k: int, log: Callable[[str], None]) -> bool:
    """Write ``top_k.txt``, ``best_architecture.json`` and the curve; False (and nothing
    written) when no candidate was measured."""
    rows = ranked(history)
    if not rows:
        return False
    table = top_k_table(history, k)
    (out / "top_k.txt").write_text(table + "\n")
    best = rows[0]
    arch = Architecture.from_json(best["arch"])
    summary = {key: best["record"].get(key) for key in SUMMARY_KEYS}
    (out / "best_architecture.json").write_text(
        json.dumps({"architecture": arch.to_dict(), "key": best["key"], **summary}, indent=2) + "\n"
    )
    plot_search_curve(history, out / "search_curve.png")
    log(f"top {min(k, len(rows))} of {len(rows)} trained candidates:\n{table}")
    log(f"best architecture: {out / 'best_architecture.json'}; curve: {out / 'search_curve.png'}")
    return True


def plot_search_curve(history: History, path: Path) -> None:
    """Mean and max reward per update, and the best reward so far."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps, means, maxes = [], [], []
    for u, entry in sorted(history.updates.items()):
        valid = [r for r in entry["rewards"] if r is not None and math.isfinite(r)]
        if valid:
            steps.append(u)
            means.append(float(np.mean(valid)))
            maxes.append(max(valid))
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, means, marker="o", label="mean reward")
    ax.plot(steps, maxes, marker=".", alpha=0.6, label="max reward")
    ax.plot(steps, np.maximum.accumulate(maxes) if maxes else [], label="best so far")
    ax.set_xlabel("update")
    ax.set_ylabel("reward")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
