"""Controller hyper-parameters on the count-ones task: one setting changed at a time.

For every setting (a list of ``-o``-style overrides on ``configs/count_ones.yaml``) and every
seed, trains the controller for the config's updates and reports: how many seeds reached
``--target`` (smoothed mean reward, last 10 updates), the median number of sampled
architectures needed (updates x batch size, so batch sizes compare at equal samples) and the
median final smoothed reward.

    python benchmarks/controller_sweep.py --seeds 0 1 2 3 4 5 6 7 8 9
    python benchmarks/controller_sweep.py --grid controller.entropy_weight=0,0.01,0.05
"""

from __future__ import annotations

import argparse
import statistics

from autodl_design.config import CountOnesConfig, load_config
from autodl_design.controller.count_ones import run_count_ones

DEFAULT_GRID = (
    "controller.baseline_decay=0.5,0.8,0.9,0.95,0.99",
    "controller.entropy_weight=0,0.001,0.01,0.05",
    "controller.batch_size=5,10,20",
    "controller.cube_advantage=true,false",
)


def run_setting(config_path: str, overrides: list[str], seeds: list[int], target: float):
    """(seeds reached, median samples to target, median final smoothed reward)."""
    samples, finals = [], []
    for seed in seeds:
        config = load_config(CountOnesConfig, config_path, [*overrides, f"controller.seed={seed}"])
        result = run_count_ones(config, log=lambda _line: None)
        n = result.updates_to(target)
        if n is not None:
            samples.append(n * config.controller.batch_size)
        finals.append(result.smoothed())
    med = statistics.median(samples) if samples else float("nan")
    return len(samples), med, statistics.median(finals)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-c", "--config", default="configs/count_ones.yaml")
    p.add_argument("-o", "--override", action="append", default=[], help="for every setting")
    p.add_argument("--grid", action="append", help="KEY=V1,V2,... (repeat); default: a sweep")
    p.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    p.add_argument("--target", type=float, default=18.5)
    args = p.parse_args()

    print(f"{'setting':<34} {'reached':>8} {'median samples':>14} {'median final':>12}")
    for axis in args.grid or DEFAULT_GRID:
        key, _, values = axis.partition("=")
        for value in values.split(","):
            setting = f"{key}={value}"
            ok, med, final = run_setting(
                args.config, [*args.override, setting], args.seeds, args.target
            )
            print(
                f"{setting:<34} {ok:>4}/{len(args.seeds):<3} {med:>14.0f} {final:>12.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
