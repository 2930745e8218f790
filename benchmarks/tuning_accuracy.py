"""Accuracy with and without the CPU tuning: the same short searches' candidates, both ways.

    python benchmarks/tuning_accuracy.py [--epochs 3] [--seeds 0 1]

Trains the three 5-node architectures of ``train_throughput.py`` with :func:`evaluate` at the
quick setting (``configs/quick.yaml``: width 16, one cell per stage, batch 64) on the bundled
CIFAR-10 subset, once per seed with MKL's default code path (``AUTODL_DESIGN_MKL_AVX2=0``) and
once with the tuning, each in its own process; then checks that the oneDNN inference engine
gives the same validation accuracy as dygraph. Prints validation accuracy/loss per run and the
mean per setting.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys

import autodl_design  # noqa: F401  (before paddle)

N5 = ("conv_n5", "pool_n5", "dense_n5")


def train_one_epoch(arch, data, net_cfg, seed: int):
    """A network trained for one epoch (SGD, batch 64, lr 0.05), in training mode."""
    import numpy as np
    import paddle
    import paddle.nn.functional as F

    from autodl_design.data import iterate_batches
    from autodl_design.nn.network import build_network

    paddle.seed(seed)
    net = build_network(arch, net_cfg)
    opt = paddle.optimizer.Momentum(0.05, momentum=0.9, parameters=net.parameters())
    rng = np.random.default_rng(seed)
    for xb, yb in iterate_batches(data.train_x, data.train_y, 64, rng, True, True):
        loss = F.cross_entropy(net(paddle.to_tensor(xb)), paddle.to_tensor(yb))
        loss.backward()
        opt.step()
        opt.clear_grad()
    return net


def worker(args: argparse.Namespace) -> None:
    """Train each architecture for each seed; print one JSON line per run."""
    from train_throughput import ARCHS

    from autodl_design.config import SearchConfig, load_config
    from autodl_design.data import load_dataset
    from autodl_design.nn.runtime import evaluate_accuracy
    from autodl_design.search.evaluator import evaluate
    from autodl_design.space import Architecture

    search = load_config(SearchConfig, "configs/quick.yaml")
    data = load_dataset(search.data, with_test=False)
    for name in N5:
        arch = Architecture.from_json(ARCHS[name])
        for seed in args.seeds:
            cfg = dataclasses.replace(search.evaluator, epochs=args.epochs, seed=seed)
            record = evaluate(arch, data, search.network, cfg)
            last = {k: record["history"][k][-1] for k in ("val_acc", "val_loss", "train_loss")}
            # The same trained weights through both inference engines.
            net = train_one_epoch(arch, data, search.network, seed)
            dyg = evaluate_accuracy(net, data.val_x, data.val_y, 256)
            one = evaluate_accuracy(net, data.val_x, data.val_y, 256, engine="onednn")
            row = dict(net=name, seed=seed, seconds=record["seconds"], **last)
            row.update(engines_acc=[dyg[1], one[1]], engines_loss=[dyg[0], one[0]])
            print(json.dumps(row), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return
    summary = {}
    for label, switch in (("MKL default", "0"), ("tuned", "1")):
        env = dict(os.environ, AUTODL_DESIGN_MKL_AVX2=switch, OMP_NUM_THREADS="1")
        env.pop("MKL_DEBUG_CPU_TYPE", None)
        cmd = [sys.executable, __file__, "--worker", "--epochs", str(args.epochs), "--seeds"]
        out = subprocess.run([*cmd, *map(str, args.seeds)], env=env, capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(out.stderr[-3000:])
        rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
        for r in rows:
            print(
                f"{label:<12} {r['net']:<9} seed {r['seed']}: val acc {r['val_acc']:.3f} "
                f"loss {r['val_loss']:.4f} train loss {r['train_loss']:.4f} "
                f"({r['seconds']:.1f} s); dygraph/onednn acc {r['engines_acc'][0]:.4f}/"
                f"{r['engines_acc'][1]:.4f} loss {r['engines_loss'][0]:.5f}/"
                f"{r['engines_loss'][1]:.5f}"
            )
        summary[label] = rows
    for label, rows in summary.items():
        acc = statistics.mean(r["val_acc"] for r in rows)
        secs = statistics.mean(r["seconds"] for r in rows)
        print(f"{label:<12} mean val acc {acc:.4f} over {len(rows)} runs, {secs:.1f} s per run")


if __name__ == "__main__":
    main()
