"""How well does a cheap search proxy rank architectures like a longer, larger training does?

Samples ``--archs`` random architectures (seeded), evaluates each with every proxy setting and
with one reference setting, and prints the Spearman rank correlation of each proxy's reward
(and validation accuracy) with the reference's, with the proxy's seconds per candidate.

A setting is the search config ``-c`` plus overrides. Every proxy is ``-c`` with the overrides of
one ``--proxy NAME:KEY=VALUE,KEY=VALUE`` (none given: ``-c`` as it is); the reference is ``-c``
with ``--reference-override`` (repeatable) applied and ``evaluator.epochs=--long-epochs``. No
setting ever reads the test split: all are scored on validation images carved out of the
training split.

Records go to ``--out`` as JSON lines keyed by a hash of the full setting, so a rerun (or a new
proxy) skips every evaluation already done.

    python benchmarks/proxy_correlation.py -c configs/quick.yaml --archs 10 --long-epochs 15
    python benchmarks/proxy_correlation.py -c configs/proxy.yaml --archs 16 --long-epochs 10 \\
        --reference-override data.max_train_per_class=500 \\
        --proxy quick:data.source=bundled,network.dropout=0.5 --proxy p2:evaluator.epochs=2
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import statistics
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from autodl_design.config import SearchConfig, load_config
from autodl_design.search.backends import EvalSettings, EvalTask
from autodl_design.search.backends.factory import make_backend
from autodl_design.space import random_architecture


def settings_label(name: str, settings: EvalSettings) -> str:
    """``name`` plus a hash of everything that determines a record (cache key in ``--out``)."""
    blob = json.dumps(settings.to_dict(), sort_keys=True).encode()
    return f"{name}-{hashlib.sha256(blob).hexdigest()[:10]}"


def evaluate_all(config: SearchConfig, settings: EvalSettings, archs, label: str, out: Path):
    """Records of ``archs`` under ``settings``, reusing those already in ``out``."""
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
    if tasks:
        backend = make_backend(config.execution, settings)
        try:
            for task, record in backend.run(tasks):
                record.pop("history", None)
                done[task.task_id] = record
                entry = {"label": label, "task": task.task_id, "record": record}
                with out.open("a") as f:
                    f.write(json.dumps(entry) + "\n")
                print(
                    f"{task.task_id}: reward {record['reward']:.4f} "
                    f"val_acc {record['val_acc']} ({record['seconds']:.1f} s)",
                    flush=True,
                )
        finally:
            backend.close()
    return [done[f"{label}-{i}"] for i in range(len(archs))]


def parse_proxy(spec: str) -> tuple[str, list[str]]:
    """``NAME:k=v,k=v`` -> (NAME, ["k=v", "k=v"])."""
    name, _, rest = spec.partition(":")
    return name, [kv for kv in rest.split(",") if kv]


def _rho(a: list[dict], b: list[dict], key: str) -> float:
    pairs = [(x[key], y[key]) for x, y in zip(a, b, strict=True)]
    pairs = [(x, y) for x, y in pairs if x is not None and y is not None]
    return float(spearmanr(*zip(*pairs, strict=True)).statistic)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-c", "--config", default="configs/quick.yaml")
    p.add_argument("-o", "--override", action="append", default=[], help="for every setting")
    p.add_argument("--proxy", action="append", default=[], help="NAME:KEY=VALUE,... (repeat)")
    p.add_argument("--reference-override", action="append", default=[])
    p.add_argument("--archs", type=int, default=10)
    p.add_argument("--long-epochs", type=int, default=15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/proxy_correlation.jsonl")
    args = p.parse_args()

    base = load_config(SearchConfig, args.config, args.override)
    rng = np.random.default_rng(args.seed)
    archs = [
        random_architecture(rng, base.controller.n_nodes, base.random_edge_prob)
        for _ in range(args.archs)
    ]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    ref_cfg = load_config(SearchConfig, args.config, args.override + args.reference_override)
    ref_eval = dataclasses.replace(
        ref_cfg.evaluator, epochs=args.long_epochs, patience=args.long_epochs
    )
    ref_settings = EvalSettings(ref_cfg.data, ref_cfg.network, ref_eval)
    ref = evaluate_all(
        ref_cfg, ref_settings, archs, settings_label(f"long{args.long_epochs}", ref_settings), out
    )
    print(f"reference: {args.long_epochs} epochs, overrides {args.reference_override or 'none'}")

    rows = []
    for name, overrides in [parse_proxy(s) for s in args.proxy] or [("proxy", [])]:
        cfg = load_config(SearchConfig, args.config, args.override + overrides)
        settings = EvalSettings(cfg.data, cfg.network, cfg.evaluator)
        recs = evaluate_all(cfg, settings, archs, settings_label(name, settings), out)
        seconds = statistics.median(r["seconds"] for r in recs)
        rows.append(
            (name, overrides, _rho(recs, ref, "reward"), _rho(recs, ref, "val_acc"), seconds, recs)
        )

    print(f"\n{'arch':>4} {'reference':>9} " + " ".join(f"{r[0]:>12}" for r in rows))
    for i, r in enumerate(ref):
        cells = " ".join(f"{row[5][i]['reward']:>12.4f}" for row in rows)
        print(f"{i:>4} {r['reward']:>9.4f} {cells}")
    print(f"\nSpearman rank correlation with the reference ({args.archs} architectures):")
    for name, overrides, rho_r, rho_a, seconds, _ in rows:
        print(
            f"  {name:<10} reward {rho_r:6.3f}  val_acc {rho_a:6.3f}  "
            f"{seconds:5.1f} s/candidate  ({', '.join(overrides) or 'config as is'})"
        )


if __name__ == "__main__":
    main()
