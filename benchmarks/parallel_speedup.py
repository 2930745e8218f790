"""Parallel speed-up: one batch of random candidates on 1 and on 2 local worker processes.

Samples ``--candidates`` random architectures (fixed ``--seed``) at the quick setting
(``configs/quick.yaml``) or at the ``--width/--nodes/--epochs/--train-per-class`` given, and
trains the batch with the local backend, first with 1 worker then with 2 (each worker
``--threads`` math threads). Worker start-up (importing Paddle, loading the data) is timed
separately: a search pays it once, not per batch. Prints both batch times and the speed-up,
and checks that both runs gave the same rewards. The CPU used by the workers and by the whole
machine during each batch shows whether other processes competed for the cores (then the
workers get less than one core each and the speed-up is not the backend's).

    python benchmarks/parallel_speedup.py [-c configs/quick.yaml] [--train-per-class 20]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path

import numpy as np
import psutil

from autodl_design.config import ExecutionConfig, SearchConfig, load_config
from autodl_design.search.backends import EvalSettings, EvalTask, LocalBackend
from autodl_design.space import random_architecture

DEFAULT_CONFIG = "configs/quick.yaml"
# The quick setting's values, used when there is no config file.
FALLBACK = {"width": 16, "nodes": 5, "epochs": 2, "train_per_class": 100}


def settings_from_args(args: argparse.Namespace) -> tuple[EvalSettings, int, float]:
    """Evaluation settings, number of nodes and edge probability for the benchmark."""
    if args.config:
        config = load_config(SearchConfig, args.config)
    else:
        config = SearchConfig()
        for key, value in FALLBACK.items():
            if getattr(args, key) is None:
                setattr(args, key, value)
    data, network, evaluator = config.data, config.network, config.evaluator
    if args.train_per_class is not None:
        data = dataclasses.replace(data, max_train_per_class=args.train_per_class)
    if args.val_per_class is not None:
        data = dataclasses.replace(data, max_val_per_class=args.val_per_class)
    if args.width is not None:
        network = dataclasses.replace(network, width=args.width)
    if args.epochs is not None:
        evaluator = dataclasses.replace(evaluator, epochs=args.epochs)
    nodes = args.nodes if args.nodes is not None else config.controller.n_nodes
    return EvalSettings(data, network, evaluator), nodes, config.random_edge_prob


def machine_cpu_seconds() -> float:
    """CPU seconds used so far by the whole machine (all processes, not only ours)."""
    times = psutil.cpu_times()
    return times.user + times.nice + times.system


def workers_cpu_seconds(pids: list[int]) -> float:
    """CPU seconds used so far by the worker processes ``pids``."""
    return sum(sum(psutil.Process(pid).cpu_times()[:2]) for pid in pids)


@dataclasses.dataclass
class BatchTiming:
    startup: float  # seconds until every worker had imported Paddle and loaded the data
    seconds: float  # wall time of the batch
    worker_cores: float  # CPU used by our workers during the batch, in cores
    machine_cores: float  # CPU used by the whole machine during the batch, in cores
    rewards: dict[str, float | None]


def time_batch(workers: int, threads: int, settings: EvalSettings, tasks: list[EvalTask]):
    """Train ``tasks`` on ``workers`` fresh worker processes; a :class:`BatchTiming`."""
    execution = ExecutionConfig(
        backend="local", workers=workers, threads_per_worker=threads, timeout_seconds=3600
    )
    start = time.perf_counter()
    with LocalBackend(execution, settings) as backend:
        backend.wait_ready()
        pids = backend.worker_pids()
        ready, machine, ours = time.perf_counter(), machine_cpu_seconds(), workers_cpu_seconds(pids)
        rewards = {task.task_id: record["reward"] for task, record in backend.run(tasks)}
        seconds = time.perf_counter() - ready
        ours = workers_cpu_seconds(pids) - ours
        machine = machine_cpu_seconds() - machine
    return BatchTiming(ready - start, seconds, ours / seconds, machine / seconds, rewards)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = DEFAULT_CONFIG if Path(DEFAULT_CONFIG).is_file() else None
    p.add_argument("-c", "--config", default=default, help=f"default: {default}")
    p.add_argument("--candidates", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="math threads per worker")
    p.add_argument("--width", type=int)
    p.add_argument("--nodes", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--train-per-class", type=int)
    p.add_argument("--val-per-class", type=int)
    args = p.parse_args()

    settings, nodes, edge_prob = settings_from_args(args)
    rng = np.random.default_rng(args.seed)
    tasks = [
        EvalTask(f"c{i}", random_architecture(rng, nodes, edge_prob).to_json())
        for i in range(args.candidates)
    ]
    print(
        f"{args.candidates} candidates, seed {args.seed}: width {settings.network.width}, "
        f"{nodes} nodes, {settings.evaluator.epochs} epochs, "
        f"train/class {settings.data.max_train_per_class or 'all'}; "
        f"{os.cpu_count()} CPUs, {args.threads} thread(s) per worker"
    )
    results = {}
    for workers in (1, 2):
        timing = time_batch(workers, args.threads, settings, tasks)
        results[workers] = timing
        print(
            f"{workers} worker(s): batch {timing.seconds:.1f} s; workers used "
            f"{timing.worker_cores:.2f} cores, the machine {timing.machine_cores:.2f} "
            f"(start-up {timing.startup:.1f} s, not counted)"
        )
    t1, t2 = results[1].seconds, results[2].seconds
    r1, r2 = results[1].rewards, results[2].rewards
    same = all(
        r1[k] == r2[k] or None not in (r1[k], r2[k]) and abs(r1[k] - r2[k]) < 1e-9 for k in r1
    )
    print(f"speed-up 2 vs 1 worker: {t1 / t2:.2f}x; same rewards: {same}")


if __name__ == "__main__":
    main()
