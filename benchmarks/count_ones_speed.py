"""Count-ones learning speed: updates until the smoothed mean reward reaches a target.

Prints, per seed, the updates needed for the mean reward over the last 10 updates to reach
``--target`` (default 18.5 of 20) and the wall-clock seconds per update, then the median.

    python benchmarks/count_ones_speed.py --seeds 0 1 2 [-c configs/count_ones.yaml] [-o k=v]
"""

from __future__ import annotations

import argparse
import statistics

from autodl_design.config import CountOnesConfig, load_config
from autodl_design.controller.count_ones import run_count_ones


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-c", "--config", default="configs/count_ones.yaml")
    p.add_argument("-o", "--override", action="append", default=[])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--target", type=float, default=18.5)
    args = p.parse_args()

    reached, per_update = [], []
    for seed in args.seeds:
        config = load_config(
            CountOnesConfig, args.config, [*args.override, f"controller.seed={seed}"]
        )
        result = run_count_ones(config, log=lambda _line: None)
        n = result.updates_to(args.target)
        ms = result.seconds / len(result.mean_rewards) * 1000
        reached.append(n)
        per_update.append(ms)
        print(
            f"seed {seed}: updates to {args.target} = {n if n is not None else 'not reached'}  "
            f"final smoothed {result.smoothed():.2f}  {ms:.0f} ms/update  "
            f"({result.seconds:.1f} s for {len(result.mean_rewards)} updates)"
        )
    ok = [n for n in reached if n is not None]
    med = statistics.median(ok) if ok else float("nan")
    print(
        f"reached {args.target} in {len(ok)}/{len(reached)} seeds; median updates {med}; "
        f"median {statistics.median(per_update):.0f} ms/update"
    )


if __name__ == "__main__":
    main()
