"""RL controller versus random search at equal budget, same evaluator, same seeds.

For each seed and strategy a full search runs (resumable: rerunning the script continues
unfinished runs and reuses finished ones), then a report is written: reward-per-update curves
(PNG), top-1 / top-5 mean reward, best architectures, wall time.

    python benchmarks/rl_vs_random.py -c configs/quick.yaml --seeds 0 1 2 --updates 10 \
        --out runs/rl_vs_random [-o key=value ...] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from autodl_design.config import SearchConfig, load_config
from autodl_design.search import History, run_search
from autodl_design.search.backends import EvalSettings
from autodl_design.search.backends.factory import make_backend
from autodl_design.search.report import ranked

STRATEGIES = ("rl", "random")


def run_one(args, strategy: str, seed: int) -> Path:
    out = Path(args.out) / f"{strategy}-seed{seed}"
    overrides = [
        *args.override,
        f"strategy={strategy}",
        f"controller.seed={seed}",
        f"evaluator.seed={seed}",
        f"updates={args.updates}",
        f"output_dir={out}",
    ]
    if args.workers:
        overrides += ["execution.backend=local", f"execution.workers={args.workers}"]
    config = load_config(SearchConfig, args.config, overrides)
    backend = make_backend(
        config.execution, EvalSettings(config.data, config.network, config.evaluator)
    )
    try:
        run_search(
            config,
            backend,
            resume=(out / "config.yaml").exists(),
            progress=False,
            log=lambda line: (
                print(f"[{strategy} seed {seed}] {line}", flush=True)
                if line.startswith("update")
                else None
            ),
        )
    finally:
        backend.close()
    return out


def summarise(out: Path) -> dict:
    history = History.open(out / "history.jsonl")
    rewards = [e["record"]["reward"] for e in ranked(history)]
    curve = [
        float(np.mean([r for r in u["rewards"] if r is not None]))
        for _, u in sorted(history.updates.items())
    ]
    seconds = sum(u["stats"].get("seconds", 0) or 0 for u in history.updates.values())
    best = ranked(history)[0]
    return {
        "top1": rewards[0],
        "top5_mean": float(np.mean(rewards[:5])),
        "evaluations": len(rewards),
        "curve": curve,
        "wall_seconds": seconds,
        "best_arch": best["arch"],
        "best_key": best["key"],
    }


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    colours = {"rl": "tab:blue", "random": "tab:orange"}
    for (strategy, seed), r in sorted(results.items()):
        steps = range(1, len(r["curve"]) + 1)
        ax.plot(
            steps, r["curve"], color=colours[strategy], alpha=0.7, label=f"{strategy} seed {seed}"
        )
    ax.set_xlabel("update (batch of candidates)")
    ax.set_ylabel("mean reward of the batch")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-c", "--config", default="configs/quick.yaml")
    p.add_argument("-o", "--override", action="append", default=[])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--updates", type=int, default=10)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--out", default="runs/rl_vs_random")
    args = p.parse_args()

    results = {}
    for seed in args.seeds:
        for strategy in STRATEGIES:
            results[(strategy, seed)] = summarise(run_one(args, strategy, seed))

    out = Path(args.out)
    plot(results, out / "rl_vs_random.png")
    print(f"{'strategy':>8} {'seed':>4} {'top1':>9} {'top5 mean':>9} {'evals':>5} {'wall s':>7}")
    for (strategy, seed), r in sorted(results.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        print(
            f"{strategy:>8} {seed:>4} {r['top1']:>9.4f} {r['top5_mean']:>9.4f} "
            f"{r['evaluations']:>5} {r['wall_seconds']:>7.0f}"
        )
    wins = sum(
        results[("rl", s)]["top5_mean"] > results[("random", s)]["top5_mean"] for s in args.seeds
    )
    print(f"RL top-5 mean above random's in {wins} of {len(args.seeds)} seeds")
    (out / "summary.json").write_text(
        json.dumps({f"{k[0]}-seed{k[1]}": v for k, v in results.items()}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
