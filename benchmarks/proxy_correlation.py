"""How well does the search's cheap proxy rank architectures like a longer training does?

Samples ``--archs`` random architectures (seeded), evaluates each with the proxy setting (the
search config as is) and with a longer setting (``--long-epochs`` epochs, same data), and
prints the Spearman rank correlation of the two rewards (and of validation accuracies).
Records go to ``--out`` as JSON lines, so a rerun skips finished evaluations.

    python benchmarks/proxy_correlation.py -c configs/quick.yaml --archs 10 --long-epochs 15
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from autodl_design.backends import EvalSettings, EvalTask
from autodl_design.backends.factory import make_backend
from autodl_design.config import SearchConfig, load_config
from autodl_design.space import random_architecture


def evaluate_all(config: SearchConfig, settings: EvalSettings, archs, label: str, out: Path):
    done = {}
    if out.exists():
        for line in out.read_text().splitlines():
            entry = json.loads(line)
            if entry["label"] == label:
                done[entry["task"]] = entry["record"]
    tasks = [
        EvalTask(f"{label}-{i}", a.to_json())
        for i, a in enumerate(archs)
        if f"{label}-{i}" not in done
    ]
    backend = make_backend(config.execution, settings)
    try:
        for task, record in backend.run(tasks):
            record.pop("history", None)
            done[task.task_id] = record
            with out.open("a") as f:
                f.write(json.dumps({"label": label, "task": task.task_id, "record": record}) + "\n")
            print(
                f"{task.task_id}: reward {record['reward']:.4f} val_acc {record['val_acc']}",
                flush=True,
            )
    finally:
        backend.close()
    return [done[f"{label}-{i}"] for i in range(len(archs))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-c", "--config", default="configs/quick.yaml")
    p.add_argument("-o", "--override", action="append", default=[])
    p.add_argument("--archs", type=int, default=10)
    p.add_argument("--long-epochs", type=int, default=15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/proxy_correlation.jsonl")
    args = p.parse_args()

    config = load_config(SearchConfig, args.config, args.override)
    rng = np.random.default_rng(args.seed)
    archs = [
        random_architecture(rng, config.controller.n_nodes, config.random_edge_prob)
        for _ in range(args.archs)
    ]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    proxy_settings = EvalSettings(config.data, config.network, config.evaluator)
    long_eval = dataclasses.replace(
        config.evaluator, epochs=args.long_epochs, patience=args.long_epochs
    )
    long_settings = EvalSettings(config.data, config.network, long_eval)
    proxy = evaluate_all(config, proxy_settings, archs, "proxy", out)
    long = evaluate_all(config, long_settings, archs, f"long{args.long_epochs}", out)

    def rho(key):
        a = [r[key] for r in proxy]
        b = [r[key] for r in long]
        return spearmanr(a, b).statistic

    print(f"{'arch':>4} {'proxy reward':>12} {'long reward':>11} {'proxy acc':>9} {'long acc':>8}")
    for i, (a, b) in enumerate(zip(proxy, long, strict=True)):
        print(
            f"{i:>4} {a['reward']:>12.4f} {b['reward']:>11.4f} "
            f"{a['val_acc']:>9.3f} {b['val_acc']:>8.3f}"
        )
    print(
        f"Spearman rank correlation, proxy ({config.evaluator.epochs} epochs) vs "
        f"{args.long_epochs} epochs, {args.archs} architectures: reward {rho('reward'):.3f}, "
        f"val_acc {rho('val_acc'):.3f}"
    )


if __name__ == "__main__":
    main()
