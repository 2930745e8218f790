"""Search strategies (RL controller, random, regularized evolution) at equal budget, same
evaluator, same seeds.

For each seed and strategy a full search runs (resumable: rerunning the script continues
unfinished runs and reuses finished ones), then a report is written: per-update mean reward and
best-so-far curves (PNG), top-1 / top-5 mean reward, best architectures, wall time, and for each
strategy against random a paired comparison over the seeds of the top-5 mean (wins, mean
difference, Wilcoxon signed-rank p-value, exact sign-test p-value).

    python benchmarks/rl_vs_random.py -c configs/proxy.yaml --seeds 0 1 2 3 4 --updates 15 \
        --strategies rl random evolution --out runs/strategies [-o key=value ...] [--workers 2]
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

STRATEGIES = ("rl", "random", "evolution")


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
    by_update = [
        max((r for r in u["rewards"] if r is not None), default=float("-inf"))
        for _, u in sorted(history.updates.items())
    ]
    seconds = sum(u["stats"].get("seconds", 0) or 0 for u in history.updates.values())
    best = ranked(history)[0]
    return {
        "top1": rewards[0],
        "top5_mean": float(np.mean(rewards[:5])),
        "evaluations": len(rewards),
        "curve": curve,
        "best_so_far": [float(x) for x in np.maximum.accumulate(by_update)],
        "wall_seconds": seconds,
        "best_arch": best["arch"],
        "best_key": best["key"],
    }


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    colours = {"rl": "tab:blue", "random": "tab:orange", "evolution": "tab:green"}
    for (strategy, seed), r in sorted(results.items()):
        steps = range(1, len(r["curve"]) + 1)
        label = f"{strategy} seed {seed}"
        axes[0].plot(steps, r["curve"], color=colours[strategy], alpha=0.6, label=label)
        axes[1].plot(steps, r["best_so_far"], color=colours[strategy], alpha=0.6)
    axes[0].set_ylabel("mean reward of the batch")
    axes[1].set_ylabel("best reward so far")
    for ax in axes:
        ax.set_xlabel("update (batch of candidates)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=6, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def paired(results: dict, strategy: str, seeds: list[int]) -> dict:
    """``strategy`` against random over ``seeds``: top-5 mean differences, wins, Wilcoxon
    signed-rank and exact two-sided sign-test p-values (None with fewer than 2 seeds)."""
    from scipy.stats import binomtest, wilcoxon

    top5 = {key: r["top5_mean"] for key, r in results.items()}
    diff = [top5[(strategy, s)] - top5[("random", s)] for s in seeds]
    wins = sum(d > 0 for d in diff)
    nonzero = [d for d in diff if d != 0]
    ok = len(nonzero) >= 2
    return {
        "wins": wins,
        "seeds": len(seeds),
        "mean_difference": float(np.mean(diff)),
        "wilcoxon_p": float(wilcoxon(nonzero).pvalue) if ok else None,
        "sign_test_p": float(binomtest(wins, len(nonzero)).pvalue) if nonzero else None,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-c", "--config", default="configs/quick.yaml")
    p.add_argument("-o", "--override", action="append", default=[])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--updates", type=int, default=10)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--strategies", nargs="+", choices=STRATEGIES, default=["rl", "random"])
    p.add_argument("--out", default="runs/rl_vs_random")
    args = p.parse_args()
    if "random" not in args.strategies:
        p.error("--strategies must include random (the baseline of the comparison)")

    results = {}
    for seed in args.seeds:
        for strategy in args.strategies:
            results[(strategy, seed)] = summarise(run_one(args, strategy, seed))

    out = Path(args.out)
    plot(results, out / "rl_vs_random.png")
    print(f"{'strategy':>8} {'seed':>4} {'top1':>9} {'top5 mean':>9} {'evals':>5} {'wall s':>7}")
    for (strategy, seed), r in sorted(results.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        print(
            f"{strategy:>8} {seed:>4} {r['top1']:>9.4f} {r['top5_mean']:>9.4f} "
            f"{r['evaluations']:>5} {r['wall_seconds']:>7.0f}"
        )
    tests = {}
    for strategy in [s for s in args.strategies if s != "random"]:
        t = tests[strategy] = paired(results, strategy, args.seeds)
        print(
            f"{strategy} top-5 mean above random's in {t['wins']} of {t['seeds']} seeds "
            f"(mean difference {t['mean_difference']:+.4f}, Wilcoxon p {t['wilcoxon_p']}, "
            f"sign test p {t['sign_test_p']})"
        )
    summary = {f"{k[0]}-seed{k[1]}": v for k, v in results.items()}
    summary["paired_against_random"] = tests
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
