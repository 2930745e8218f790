"""How well does a cheap search proxy rank architectures like a longer, larger training does?

Samples ``--archs`` random architectures of the config's search space (seeded), evaluates each
with every proxy setting and with one reference setting, and prints, for each proxy, the
Spearman rank correlation of its reward (and of its validation accuracy) with the reference's
validation accuracy, a bootstrap 95% interval over the architectures, and the proxy's median
seconds per candidate.

A setting is the search config ``-c`` plus overrides. Every proxy is ``-c`` with the overrides of
one ``--proxy NAME:KEY=VALUE;KEY=VALUE`` (none given: ``-c`` as it is); the reference is ``-c``
with ``--reference-override`` (repeatable) applied. No setting ever reads the test split: all
are scored on validation images carved out of the training split.

Records go to ``--out`` as JSON lines keyed by a hash of the full setting, so a rerun (or a new
proxy) skips every evaluation already done; ``--summary`` writes the table as JSON.

    python benchmarks/proxy_correlation.py -c configs/proxy.yaml --archs 20 \
        --reference-override network.widths=[32,128,128] ... \
        --proxy bundled:data.source=bundled --proxy p3:evaluator.epochs=3
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from autodl_design.config import SearchConfig, load_config
from autodl_design.search.backends import EvalSettings, EvalTask
from autodl_design.search.backends.factory import make_backend


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
    """``NAME:k=v;k=v`` -> (NAME, ["k=v", "k=v"]) (``;`` because values may hold commas)."""
    name, _, rest = spec.partition(":")
    return name, [kv for kv in rest.split(";") if kv]


def rho_with_interval(
    proxy: list[float | None], reference: list[float | None], draws: int = 2000, seed: int = 0
) -> tuple[float, float, float, int]:
    """Spearman rho of the pairs where both are known, its bootstrap 95% interval (percentiles
    of rho over ``draws`` resamples of the architectures with replacement), and the pair count."""
    pairs = np.array(
        [(x, y) for x, y in zip(proxy, reference, strict=True) if x is not None and y is not None]
    )
    rho = float(spearmanr(pairs[:, 0], pairs[:, 1]).statistic)
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(draws):
        sample = pairs[rng.integers(0, len(pairs), len(pairs))]
        if len(set(sample[:, 0])) > 1 and len(set(sample[:, 1])) > 1:
            boot.append(spearmanr(sample[:, 0], sample[:, 1]).statistic)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return rho, float(lo), float(hi), len(pairs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-c", "--config", default="configs/proxy.yaml")
    p.add_argument("-o", "--override", action="append", default=[], help="for every setting")
    p.add_argument("--proxy", action="append", default=[], help="NAME:KEY=VALUE;... (repeat)")
    p.add_argument("--reference-override", action="append", default=[])
    p.add_argument("--archs", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/proxy_correlation.jsonl")
    p.add_argument("--summary", help="write the table (and every record's key figures) as JSON")
    p.add_argument("--reference-only", action="store_true", help="train the reference, no proxy")
    args = p.parse_args()

    base = load_config(SearchConfig, args.config, args.override)
    rng = np.random.default_rng(args.seed)
    space = base.search_space()
    archs = [space.random(rng, base.random_edge_prob) for _ in range(args.archs)]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    ref_cfg = load_config(SearchConfig, args.config, args.override + args.reference_override)
    ref_settings = EvalSettings(ref_cfg.data, ref_cfg.network, ref_cfg.evaluator)
    ref = evaluate_all(ref_cfg, ref_settings, archs, settings_label("ref", ref_settings), out)
    print(f"reference: overrides {args.reference_override or 'none'}")
    if args.reference_only:
        return
    ref_acc = [r["val_acc"] for r in ref]

    rows = []
    for name, overrides in [parse_proxy(s) for s in args.proxy] or [("proxy", [])]:
        cfg = load_config(SearchConfig, args.config, args.override + overrides)
        settings = EvalSettings(cfg.data, cfg.network, cfg.evaluator)
        recs = evaluate_all(cfg, settings, archs, settings_label(name, settings), out)
        seconds = statistics.median(r["seconds"] for r in recs if r["seconds"] is not None)
        by_reward = rho_with_interval([r["reward"] for r in recs], ref_acc)
        by_acc = rho_with_interval([r["val_acc"] for r in recs], ref_acc)
        rows.append({
            "proxy": name, "overrides": overrides, "seconds_per_candidate": seconds,
            "spearman_reward": by_reward[:3], "spearman_val_acc": by_acc[:3], "n": by_reward[3],
            "val_acc": [r["val_acc"] for r in recs], "reward": [r["reward"] for r in recs],
        })  # fmt: skip

    print(f"\n{'arch':>4} {'ref acc':>8} " + " ".join(f"{r['proxy']:>12}" for r in rows))
    for i, acc in enumerate(ref_acc):
        cells = " ".join(f"{row['reward'][i]:>12.4f}" for row in rows)
        print(f"{i:>4} {acc:>8.4f} {cells}")
    print(f"\nSpearman rank correlation with the reference's val_acc ({len(archs)} architectures):")
    for r in rows:
        (rr, rlo, rhi), (ar, alo, ahi) = r["spearman_reward"], r["spearman_val_acc"]
        print(
            f"  {r['proxy']:<10} reward {rr:6.3f} [{rlo:.2f}, {rhi:.2f}]  val_acc {ar:6.3f} "
            f"[{alo:.2f}, {ahi:.2f}]  {r['seconds_per_candidate']:5.1f} s/candidate  "
            f"({'; '.join(r['overrides']) or 'config as is'})"
        )
    if args.summary:
        summary = {
            "config": args.config, "overrides": args.override, "archs": len(archs),
            "seed": args.seed, "reference_overrides": args.reference_override,
            "reference_val_acc": ref_acc,
            "reference_seconds": [r["seconds"] for r in ref],
            "architectures": [a.to_json() for a in archs], "proxies": rows,
        }  # fmt: skip
        Path(args.summary).write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
