"""Cost of final-training network settings: params, MFLOPs and training img/s (one thread).

For choosing how far the pretrained models' networks can be scaled on this CPU::

    python benchmarks/recipe_cost.py --archs m1 m4 --settings 24:2:2 32:2:2 24:2:1

A setting is ``width:cells_per_stage:node_ratio`` (residual on, dropout 0, as in
``configs/train_cifar10.yaml``); architectures are ``pretrained/archs/NAME.json``. Each figure is
the median of ``--reps`` timings of ``--steps`` SGD steps (batch 128, augmented synthetic images,
the final-training optimiser) after two warm-up steps.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import autodl_design  # noqa: F401  (before paddle: sets the environment PARL/protobuf need)

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--archs", nargs="+", default=["m1", "m4"])
    p.add_argument("--settings", nargs="+", default=["24:2:2", "32:2:2", "24:3:2", "24:2:1"])
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--reps", type=int, default=2)
    args = p.parse_args()

    import numpy as np
    import paddle
    import paddle.nn.functional as F

    from autodl_design.config import NetworkConfig
    from autodl_design.data import iterate_batches
    from autodl_design.evaluator import configure_threads
    from autodl_design.flops import count_flops, count_params
    from autodl_design.network import build_network
    from autodl_design.space import Architecture

    configure_threads(1)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (128 * args.steps, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, len(x))
    print(f"{'arch':<5} {'setting':<8} {'params':>9} {'MFLOPs':>7} {'img/s':>6}  h/epoch")
    for name in args.archs:
        text = (ROOT / "pretrained" / "archs" / f"{name}.json").read_text()
        arch = Architecture.from_dict(json.loads(text)["architecture"])
        for setting in args.settings:
            width, cells, ratio = (int(v) for v in setting.split(":"))
            cfg = NetworkConfig(
                width=width, cells_per_stage=cells, node_ratio=ratio, dropout=0.0, residual=True
            )
            paddle.seed(0)
            net = build_network(arch, cfg)
            opt = paddle.optimizer.Momentum(
                0.05, 0.9, net.parameters(), use_nesterov=True, weight_decay=5e-4
            )
            net.train()

            def step(xb, yb, net=net, opt=opt):
                loss = F.cross_entropy(
                    net(paddle.to_tensor(xb)), paddle.to_tensor(yb), label_smoothing=0.1
                )
                loss.backward()
                opt.step()
                opt.clear_grad()
                float(loss)

            batches = list(iterate_batches(x, y, 128, rng, shuffle=True, augment=True))
            for xb, yb in batches[:2]:
                step(xb, yb)
            rates = []
            for _ in range(args.reps):
                start = time.perf_counter()
                for xb, yb in batches:
                    step(xb, yb)
                rates.append(len(x) / (time.perf_counter() - start))
            rate = statistics.median(rates)
            print(
                f"{name:<5} {setting:<8} {count_params(net):>9,} {count_flops(net) / 1e6:>7.1f} "
                f"{rate:>6.1f}  {50_000 / rate / 3600:.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
