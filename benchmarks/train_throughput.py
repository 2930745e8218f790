"""Training and inference img/s: the project's Paddle path against the same networks in PyTorch.

    python benchmarks/train_throughput.py [--threads 1 2] [--reps 5] [--steps 20] [--nets ...]

Networks: a ResNet-20 (``benchmarks/resnet20.py``), m1 and m2 in the wide frame of
``configs/train_wide.yaml`` (``m1-wide``, ``m2-wide``), and three fixed searched architectures
(conv-heavy, pool-heavy, dense-edge) at the quick setting (width 16, 5 nodes, 1 cell per stage)
and the CPU setting (10 nodes). The PyTorch twins (``benchmarks/torch_net.py``) have the same
layers; a check builds both, copies the Paddle weights over and compares logits and parameter
counts before anything is timed.

Each measurement runs in its own process (MKL and OpenMP read their settings once per process):

* ``paddle-default``: Paddle as it runs without this project's CPU tuning (MKL's generic path);
* ``paddle``: the project's path as shipped (``autodl_design.cpu_tuning`` applied); training
  mirrors ``evaluator._train``'s step (``to_tensor``, forward, cross-entropy, ``float(loss)``,
  backward, Nesterov momentum step, ``clear_grad``, cosine schedule step, accuracy), inference is
  ``nn.runtime.predict`` (dygraph) and ``nn.predictor`` (Paddle Inference + oneDNN);
* ``torch``: the same step in PyTorch (SGD Nesterov, same hyper-parameters).

Batches come from ``iterate_batches`` (augmentation on for training) in every case. Figures are
medians over ``--reps`` timed runs of ``--steps`` batches after ``--warmup`` batches. Threads:
``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` in the environment, ``configure_threads`` for Paddle,
``torch.set_num_threads`` for PyTorch, all equal to the count being measured.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import autodl_design  # noqa: F401  (before paddle: sets the environment PARL/protobuf need)

HERE = Path(__file__).resolve().parent
ARCHS = {
    "conv_n5": '{"normal":{"edges":[[0,2],[1,3],[2,4],[3,4]],"ops":["conv3x3","conv5x5","conv1x3_3x1","dil_conv3x3","conv3x3"]},"reduction":{"edges":[[0,1],[1,3],[2,3],[3,4]],"ops":["conv3x3","conv1x5_5x1","conv5x5","conv3x3","conv1x1"]}}',  # noqa: E501
    "pool_n5": '{"normal":{"edges":[[0,2],[1,2],[2,4],[3,4]],"ops":["max_pool3x3","avg_pool3x3","max_pool5x5","conv1x1","avg_pool5x5"]},"reduction":{"edges":[[0,2],[1,3],[2,4]],"ops":["max_pool3x3","avg_pool5x5","avg_pool3x3","max_pool5x5","conv3x3"]}}',  # noqa: E501
    "dense_n5": '{"normal":{"edges":[[0,1],[0,2],[0,3],[0,4],[1,2],[1,3],[1,4],[2,3],[2,4],[3,4]],"ops":["conv3x3","max_pool3x3","conv1x1","avg_pool3x3","conv5x5"]},"reduction":{"edges":[[0,1],[0,2],[0,3],[0,4],[1,2],[1,3],[1,4],[2,3],[2,4],[3,4]],"ops":["conv1x3_3x1","conv3x3","max_pool5x5","dil_conv3x3","avg_pool3x3"]}}',  # noqa: E501
    "conv_n10": '{"normal":{"edges":[[0,2],[0,4],[0,6],[0,8],[1,4],[1,6],[2,8],[3,6],[4,6],[4,8],[5,7],[5,9],[6,7],[6,8],[7,8]],"ops":["conv1x1","conv1x3_3x1","conv1x5_5x1","conv1x1","conv1x3_3x1","conv1x5_5x1","conv1x1","conv5x5","conv3x3","conv5x5"]},"reduction":{"edges":[[0,1],[0,5],[0,8],[2,4],[2,5],[3,7],[4,5],[4,6],[4,7],[5,9],[6,8],[7,8],[7,9],[8,9]],"ops":["conv1x5_5x1","dil_conv3x3","conv1x3_3x1","conv1x3_3x1","conv3x3","conv3x3","conv1x3_3x1","dil_conv3x3","conv1x3_3x1","conv5x5"]}}',  # noqa: E501
    "pool_n10": '{"normal":{"edges":[[0,6],[0,7],[0,8],[1,4],[2,5],[2,7],[3,4],[5,6],[5,9]],"ops":["max_pool5x5","conv1x1","max_pool5x5","max_pool3x3","max_pool5x5","max_pool5x5","max_pool5x5","avg_pool3x3","max_pool5x5","avg_pool5x5"]},"reduction":{"edges":[[0,3],[1,3],[1,9],[2,3],[2,4],[2,8],[3,6],[3,7],[3,8],[3,9],[4,6],[4,8],[5,8],[5,9],[6,8],[7,8]],"ops":["max_pool5x5","avg_pool5x5","avg_pool3x3","avg_pool3x3","max_pool3x3","max_pool3x3","max_pool3x3","max_pool5x5","max_pool5x5","max_pool3x3"]}}',  # noqa: E501
    "dense_n10": '{"normal":{"edges":[[0,1],[0,2],[0,3],[0,4],[0,5],[0,6],[0,7],[0,8],[0,9],[1,3],[1,4],[1,5],[1,6],[1,7],[1,8],[1,9],[2,3],[2,4],[2,5],[2,6],[2,7],[2,8],[2,9],[3,4],[3,5],[3,6],[3,7],[3,8],[3,9],[4,5],[4,6],[4,7],[4,8],[4,9],[5,6],[5,7],[5,8],[5,9],[6,7],[6,9],[7,8],[7,9],[8,9]],"ops":["max_pool3x3","avg_pool3x3","conv1x3_3x1","max_pool3x3","conv5x5","max_pool3x3","conv5x5","conv3x3","max_pool5x5","conv1x5_5x1"]},"reduction":{"edges":[[0,1],[0,2],[0,3],[0,4],[0,5],[0,6],[0,7],[0,8],[0,9],[1,2],[1,3],[1,4],[1,6],[1,7],[1,8],[1,9],[2,3],[2,4],[2,5],[2,6],[2,7],[2,8],[2,9],[3,4],[3,5],[3,6],[3,7],[3,8],[3,9],[4,5],[4,6],[4,7],[4,8],[5,6],[5,7],[5,8],[6,7],[6,8],[6,9],[7,8],[7,9],[8,9]],"ops":["dil_conv3x3","dil_conv3x3","max_pool3x3","conv1x5_5x1","conv5x5","conv5x5","max_pool5x5","conv5x5","conv5x5","dil_conv3x3"]}}',  # noqa: E501
}
# Searched cells in the wide frame of configs/train_wide.yaml (issue #62's recipe).
WIDE = {"m1-wide": "pretrained/archs/m1.json", "m2-wide": "pretrained/archs/m2.json"}
NETS = ("resnet20", *ARCHS, *WIDE)
WORKERS = ("paddle-default", "paddle", "torch")


def build(framework: str, name: str):
    """Network ``name`` in ``framework`` ("paddle" or "torch"), Paddle's seeded with 0."""
    sys.path.insert(0, str(HERE))
    from autodl_design.config import NetworkConfig
    from autodl_design.space import Architecture

    if framework == "paddle":
        import paddle
        from resnet20 import paddle_resnet20

        from autodl_design.nn.network import build_network

        paddle.seed(0)
        make, resnet = build_network, paddle_resnet20
    else:
        from resnet20 import torch_resnet20
        from torch_net import build_network

        make, resnet = build_network, torch_resnet20
    if name == "resnet20":
        return resnet()
    if name in WIDE:
        from autodl_design.config import load_config
        from autodl_design.space import load_architecture
        from autodl_design.train.config import TrainConfig

        cfg = load_config(TrainConfig, str(HERE.parent / "configs" / "train_wide.yaml")).network
        net = make(load_architecture(HERE.parent / WIDE[name]), cfg)
        if framework == "paddle":
            from autodl_design.nn.network import fit_to_data

            fit_to_data(net, synthetic(500)[0])
        return net
    return make(Architecture.from_json(ARCHS[name]), NetworkConfig(width=16, cells_per_stage=1))


def synthetic(n: int, seed: int = 0):
    """Uint8 images ``(n, 32, 32, 3)`` and int64 labels, fixed by ``seed``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n)


def timed(run_batch, batches, warmup: int, reps: int, steps: int, batch: int) -> float:
    """Median img/s of ``reps`` runs of ``steps`` calls of ``run_batch`` after ``warmup`` calls."""
    for _ in range(warmup):
        run_batch(*next(batches))
    rates = []
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(steps):
            run_batch(*next(batches))
        rates.append(steps * batch / (time.perf_counter() - start))
    return statistics.median(rates)


def endless(x, y, batch: int, augment: bool):
    """``iterate_batches`` epochs one after another (shuffled when training)."""
    import numpy as np

    from autodl_design.data import iterate_batches

    rng = np.random.default_rng(0)
    while True:
        yield from iterate_batches(x, y, batch, rng, shuffle=augment, augment=augment)


def uint8_batches(x, batch: int):
    """Endless ``(uint8 images, None)`` batches of ``x`` in order."""
    while True:
        for i in range(0, len(x), batch):
            yield x[i : i + batch], None


def paddle_worker(args: argparse.Namespace) -> None:
    """Time every net in Paddle; one JSON line per net on stdout."""
    from autodl_design import cpu_tuning

    if args.worker == "paddle":
        cpu_tuning.apply()  # importing the package does this too; explicit for the record
    import paddle
    import paddle.nn.functional as F

    from autodl_design.nn.flops import count_params
    from autodl_design.nn.predictor import layer_predictor
    from autodl_design.nn.runtime import configure_threads, cosine_lr, predict

    configure_threads(args.threads)
    b, n_steps = args.batch, args.warmup + args.reps * args.steps
    x, y = synthetic(b * args.steps)
    for name in args.nets:
        net = build("paddle", name)
        # The optimiser and step of evaluator._train, line for line.
        lr_at = cosine_lr(0.1, 1e-4, n_steps)
        schedule = paddle.optimizer.lr.LambdaDecay(1.0, lambda t, f=lr_at: f(t))
        opt = paddle.optimizer.Momentum(
            learning_rate=schedule,
            momentum=0.9,
            parameters=net.parameters(),
            use_nesterov=True,
            weight_decay=1e-4,
        )

        def train_batch(xb, yb, net=net, opt=opt, schedule=schedule):
            xt, yt = paddle.to_tensor(xb), paddle.to_tensor(yb)
            logits = net(xt)
            loss = F.cross_entropy(logits, yt)
            float(loss)
            loss.backward()
            opt.step()
            opt.clear_grad()
            schedule.step()
            int((logits.argmax(axis=1) == yt).sum())

        net.train()
        train = timed(train_batch, endless(x, y, b, True), args.warmup, args.reps, args.steps, b)
        raw = uint8_batches(x, b)  # evaluator.predict preprocesses them itself

        def infer_batch(xb, _, n=net):
            return predict(n, xb, b, engine="dygraph")

        dygraph = timed(infer_batch, raw, *_counts(args), b)
        start = time.perf_counter()
        predictor = layer_predictor(net, (3, 32, 32), args.threads)
        build_s = time.perf_counter() - start
        onednn = timed(lambda xb, _, f=predictor: f(xb), endless(x, y, b, False), *_counts(args), b)
        row = dict(net=name, params=count_params(net), train=train, infer=dygraph)
        print(json.dumps(dict(row, infer_onednn=onednn, onednn_build_s=build_s)), flush=True)


def torch_worker(args: argparse.Namespace) -> None:
    """Time every net's PyTorch twin; one JSON line per net on stdout."""
    import torch
    import torch.nn.functional as F

    from autodl_design.nn.runtime import cosine_lr

    torch.set_num_threads(args.threads)
    b, n_steps = args.batch, args.warmup + args.reps * args.steps
    x, y = synthetic(b * args.steps)
    for name in args.nets:
        net = build("torch", name)
        lr_at = cosine_lr(0.1, 1e-4, n_steps)
        opt = torch.optim.SGD(
            net.parameters(), lr=lr_at(0), momentum=0.9, nesterov=True, weight_decay=1e-4
        )
        step = [0]

        def train_batch(xb, yb, net=net, opt=opt, step=step, lr_at=lr_at):
            xt, yt = torch.from_numpy(xb), torch.from_numpy(yb)
            logits = net(xt)
            loss = F.cross_entropy(logits, yt)
            float(loss.detach())
            loss.backward()
            opt.step()
            opt.zero_grad()
            step[0] += 1
            opt.param_groups[0]["lr"] = lr_at(step[0])
            int((logits.argmax(dim=1) == yt).sum())

        def infer_batch(xb, _, net=net):
            with torch.no_grad():
                net(torch.from_numpy(xb)).numpy()

        net.train()
        train = timed(train_batch, endless(x, y, b, True), args.warmup, args.reps, args.steps, b)
        net.eval()
        infer = timed(infer_batch, endless(x, y, b, False), *_counts(args), b)
        params = sum(p.numel() for p in net.parameters() if p.requires_grad)
        print(json.dumps(dict(net=name, params=params, train=train, infer=infer)), flush=True)


def check_worker(args: argparse.Namespace) -> None:
    """Copy each Paddle net's weights into its twin; print parameter counts and logit error."""
    import numpy as np
    import paddle

    from autodl_design.nn.flops import count_params

    x = synthetic(16, seed=1)[0].transpose(0, 3, 1, 2).astype(np.float32) / 64.0 - 2.0
    for name in args.nets:
        net = build("paddle", name)
        net.train()
        net(paddle.to_tensor(x))  # moves BN running statistics away from their initial values
        net.eval()
        with paddle.no_grad():
            ref = net(paddle.to_tensor(x)).numpy()
        state = {k: v.numpy() for k, v in net.state_dict().items()}
        import torch
        from torch_net import copy_paddle_weights

        twin = build("torch", name)
        copy_paddle_weights(twin, state)
        twin.eval()
        with torch.no_grad():
            out = twin(torch.from_numpy(x)).numpy()
        params = sum(p.numel() for p in twin.parameters() if p.requires_grad)
        rel = float(np.abs(out - ref).max() / max(np.abs(ref).max(), 1e-12))
        row = dict(net=name, paddle_params=count_params(net), torch_params=params, rel_diff=rel)
        print(json.dumps(row), flush=True)


def _counts(args: argparse.Namespace) -> tuple[int, int, int]:
    return args.warmup, args.reps, args.steps


def run_worker(kind: str, threads: int, args: argparse.Namespace) -> tuple[list[dict], str]:
    """Rows printed by a ``--worker kind`` process, and the load averages around it."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    env.pop("MKL_DEBUG_CPU_TYPE", None)
    env.pop("AUTODL_DESIGN_MKL_AVX2", None)
    if kind == "paddle-default":
        env["AUTODL_DESIGN_MKL_AVX2"] = "0"
    cmd = [sys.executable, __file__, "--worker", kind, "--threads", str(threads)]
    cmd += ["--reps", str(args.reps), "--steps", str(args.steps), "--warmup", str(args.warmup)]
    cmd += ["--batch", str(args.batch), "--nets", *args.nets]
    busy0, mine0, wall0 = _busy_seconds(), _children_seconds(), time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{kind} worker failed:\n{done.stderr[-3000:]}")
    others = (_busy_seconds() - busy0) - (_children_seconds() - mine0)
    share = max(0.0, others) / (time.perf_counter() - wall0)
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return rows, f"other processes used {share:.0%} of a core"


def _busy_seconds() -> float:
    """Non-idle CPU seconds of the whole machine since boot (Linux ``/proc/stat``)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def _children_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def print_table(threads: int, results: dict[str, dict[str, dict]], loads: dict[str, str]) -> None:
    """One line per net: training then inference img/s, and Paddle/PyTorch ratios."""
    print(
        f"\n== {threads} thread(s), batch img/s (median); "
        + "; ".join(f"{k}: {v}" for k, v in loads.items())
    )
    head = "net        params | train: pd-default  paddle   torch  ratio"
    print(head + " | infer: pd-default  paddle  onednn   torch  ratio  ratio-onednn")
    for name, torch_row in results["torch"].items():
        base, ours = results["paddle-default"][name], results["paddle"][name]
        print(
            f"{name:<10} {ours['params']:>6} | {base['train']:>17.0f} {ours['train']:>7.0f} "
            f"{torch_row['train']:>7.0f} {ours['train'] / torch_row['train']:>6.2f} | "
            f"{base['infer']:>17.0f} {ours['infer']:>7.0f} {ours['infer_onednn']:>7.0f} "
            f"{torch_row['infer']:>7.0f} {ours['infer'] / torch_row['infer']:>6.2f} "
            f"{ours['infer_onednn'] / torch_row['infer']:>13.2f}"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--nets", nargs="+", default=list(NETS), choices=NETS)
    p.add_argument("--json", type=Path, help="also write every figure to this file")
    p.add_argument("--worker", choices=(*WORKERS, "check"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        args.threads = args.threads[0]
        {"torch": torch_worker, "check": check_worker}.get(args.worker, paddle_worker)(args)
        return

    check, _ = run_worker("check", 1, args)
    for row in check:
        same = row["paddle_params"] == row["torch_params"] and row["rel_diff"] < 1e-4
        print(
            f"twin check {row['net']:<10} params {row['paddle_params']} / "
            f"{row['torch_params']}, logits rel. diff {row['rel_diff']:.1e}"
            + ("" if same else "  MISMATCH")
        )
        if not same:
            raise SystemExit("the PyTorch twins do not match the Paddle networks")
    everything = {"check": check, "runs": {}}
    for threads in args.threads:
        results, loads = {}, {}
        for kind in WORKERS:
            rows, loads[kind] = run_worker(kind, threads, args)
            results[kind] = {r["net"]: r for r in rows}
        print_table(threads, results, loads)
        everything["runs"][threads] = {"results": results, "loads": loads}
    if args.json:
        args.json.write_text(json.dumps(everything, indent=2) + "\n")


if __name__ == "__main__":
    main()
