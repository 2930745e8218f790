"""Training speed of candidate network frames for searched cells, on ONE CPU thread (issue #62).

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/frame_speed.py [--nets ...]
        [--warmup 2] [--reps 3] [--steps 3] [--batch 256] [--json out.json]

What it measures, per network: training img/s of one step = forward + cross-entropy + backward
+ SGD step (momentum 0.9, Nesterov, weight decay 5e-4) + ``clear_grad``, on a fixed random
float32 batch ``(256, 3, 32, 32)`` with random labels (no data pipeline): ``--warmup`` steps,
then ``--reps`` timed runs of ``--steps`` steps; the median and the min-max of the reps are
printed. Also: trainable parameters, forward FLOPs per image (2 x the multiply-adds of
:func:`autodl_design.nn.flops.count_flops`: convs and linears) and the implied arithmetic rate
3 x forward FLOPs x img/s (forward + two backward GEMMs), to set against MKL sgemm's
~88-92 GFLOP/s on one core here. Every network runs in its own process, with
``OMP_NUM_THREADS=MKL_NUM_THREADS=1``, ``autodl_design`` imported first (its MKL AVX2 tuning)
and ``paddle.base.core.set_num_threads(1)``.

Networks (``--nets``, default all):

* ``airbench94``: the airbench94 net (arXiv 2404.00498): 2x2 patch-whitening conv stem (24
  channels, weights fixed from the eigenvectors of the input patches' covariance, bias trained),
  GELU, three groups [conv3x3 -> maxpool 2 -> BN -> GELU -> conv3x3 -> BN -> GELU] at widths
  64/256/256, max-pool, bias-free linear head x 1/9 (BN with its scale fixed, as there);
* ``resnet20``: ``benchmarks/resnet20_paddle.py``;
* ``m1-today`` / ``m2-today``: ``pretrained/archs/m1.json`` / ``m2.json`` built by
  ``autodl_design.nn.build_network`` with the model's ``network`` from
  ``pretrained/manifest.yaml`` (width 32, 3 cells per stage, node_ratio 2, residual);
* ``<arch>-wide-...``: the airbench skeleton with each group's second conv replaced by the
  architecture's *normal* cell (:class:`WideCell`): stem -> per group [conv3x3 c_in -> c ->
  maxpool 2 -> BN-act -> cell(c) -> BN-act] -> global max-pool -> linear. Name fields:
  ``w1`` nodes at the group width, ``w2`` at half of it; ``sum`` free ends summed, ``cat``
  concatenated + 1x1 conv; ``merge`` nodes that read the same tensor with the same conv op
  computed as one wider conv (and same-input same-op pools once); ``plain`` a conv3x3 + BN-act
  stem instead of the whitened one; widths ``64`` = 64/256/256, ``32`` = 32/128/128.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import autodl_design  # noqa: F401  (before paddle: its MKL AVX2 tuning and environment)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# name -> (architecture file stem, stem kind, widths, node width divisor, join, merge)
WIDE = {
    "m1-wide-w1-sum-merge-64": ("m1", "whiten", (64, 256, 256), 1, "sum", True),
    "m1-wide-w1-sum-64": ("m1", "whiten", (64, 256, 256), 1, "sum", False),
    "m1-wide-w1-cat-64": ("m1", "whiten", (64, 256, 256), 1, "cat", False),
    "m1-wide-w2-cat-64": ("m1", "whiten", (64, 256, 256), 2, "cat", False),
    "m1-wide-w1-sum-merge-32": ("m1", "whiten", (32, 128, 128), 1, "sum", True),
    "m1-wide-w2-cat-32": ("m1", "whiten", (32, 128, 128), 2, "cat", False),
    "m1-wide-w1-sum-merge-32-plain": ("m1", "plain", (32, 128, 128), 1, "sum", True),
    "m2-wide-w1-sum-64": ("m2", "whiten", (64, 256, 256), 1, "sum", False),
    "m2-wide-w1-sum-32": ("m2", "whiten", (32, 128, 128), 1, "sum", False),
    "m2-wide-w2-cat-32": ("m2", "whiten", (32, 128, 128), 2, "cat", False),
}
NETS = ("airbench94", "resnet20", "m1-today", "m2-today", *WIDE)
# conv ops that are one plain conv: (kernel, dilation); k of them on one input = one conv to k*c.
PLAIN_CONVS = {"conv1x1": (1, 1), "conv3x3": (3, 1), "conv5x5": (5, 1), "dil_conv3x3": (3, 2)}
POOLS = {"max_pool3x3", "max_pool5x5", "avg_pool3x3", "avg_pool5x5"}


def whitening_weights(x, kernel: int = 2, eps: float = 5e-4):
    """``(2 * 3 * kernel**2, 3, kernel, kernel)`` conv weights that whiten ``x``'s patches
    (eigenvectors of their covariance scaled by 1/sqrt(eigenvalue), and their negatives)."""
    import numpy as np

    n, c, h, w = x.shape
    patches = np.lib.stride_tricks.sliding_window_view(x, (kernel, kernel), axis=(2, 3))
    patches = patches.transpose(0, 2, 3, 1, 4, 5).reshape(-1, c * kernel * kernel)
    patches = patches - patches.mean(axis=0)
    cov = patches.T @ patches / len(patches)
    vals, vecs = np.linalg.eigh(cov)
    filters = (vecs / np.sqrt(vals + eps)).T.reshape(-1, c, kernel, kernel)
    return np.concatenate([filters, -filters]).astype("float32")


def build(name: str, x_sample):
    """Network ``name`` (a ``paddle.nn.Layer``), Paddle seeded with 0."""
    import paddle
    import yaml
    from paddle import nn

    from autodl_design.config import NetworkConfig
    from autodl_design.nn import ops
    from autodl_design.nn.network import build_network
    from autodl_design.space import OP_NAMES, Cell
    from autodl_design.space.loading import load_architecture

    paddle.seed(0)

    def fixed_scale_bn(c: int) -> nn.BatchNorm2D:
        return nn.BatchNorm2D(
            c, momentum=0.4, epsilon=1e-12, weight_attr=paddle.ParamAttr(trainable=False)
        )

    def whiten_stem() -> nn.Conv2D:
        conv = nn.Conv2D(3, 24, 2, padding=0)
        conv.weight.set_value(whitening_weights(x_sample))
        conv.weight.stop_gradient = True
        return conv

    class AirbenchGroup(nn.Layer):
        def __init__(self, c_in: int, c_out: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2D(c_in, c_out, 3, padding=1, bias_attr=False)
            self.pool = nn.MaxPool2D(2)
            self.bn1, self.bn2 = fixed_scale_bn(c_out), fixed_scale_bn(c_out)
            self.conv2 = nn.Conv2D(c_out, c_out, 3, padding=1, bias_attr=False)
            self.act = nn.GELU()

        def forward(self, x):
            x = self.act(self.bn1(self.pool(self.conv1(x))))
            return self.act(self.bn2(self.conv2(x)))

    class Head(nn.Layer):
        def __init__(self, c: int, scale: float) -> None:
            super().__init__()
            self.pool = nn.AdaptiveMaxPool2D(1)
            self.fc = nn.Linear(c, 10, bias_attr=False)
            self.scale = scale

        def forward(self, x):
            return self.fc(self.pool(x).flatten(1)) * self.scale

    class WideCell(nn.Layer):
        """A searched cell at ``c`` channels in, ``c`` out, on an already BN-activated input.

        ``ratio`` 1: every node has ``c`` channels and a source applies its op to the cell input
        directly (no 1x1 conv); ``ratio`` 2: nodes have ``c // 2`` channels and the sources read
        the input through one batched 1x1 conv -> BN-act, split per source (as ``CellLayer``).
        A node with inputs sums them -> BN-act -> its op (``ops.make_op``). ``join`` "sum": the
        free ends are summed (ratio 1 only); "cat": concatenated -> 1x1 conv to ``c``. The cell
        input is added to the output. ``merge``: nodes whose op is a plain conv and that read the
        same tensor with the same op become one conv ``c_in -> k * c_node`` (one BN-act of the
        shared input), split afterwards; same-input same-op pools are computed once.
        """

        def __init__(self, cell: Cell, c: int, ratio: int, join: str, merge: bool, cfg) -> None:
            super().__init__()
            assert join == "cat" or ratio == 1
            cn = c // ratio
            self.preds = [tuple(cell.predecessors(j)) for j in range(cell.n_nodes)]
            self.sinks = cell.sinks()
            self.sources = [j for j, p in enumerate(self.preds) if not p]
            self.join, self.ratio = join, ratio
            names = [OP_NAMES[o] for o in cell.ops]
            if ratio > 1:
                n = len(self.sources)
                self.source_path = nn.Sequential(ops.conv2d(c, n * cn, 1), ops.bn_relu(n * cn, cfg))
            # groups of nodes computed together: (input key, op name) -> [nodes]
            groups: dict[tuple, list[int]] = {}
            for j, (p, op) in enumerate(zip(self.preds, names, strict=True)):
                key = ("src", j) if (not p and ratio > 1) else (p if p else "in")
                mergeable = merge and (op in PLAIN_CONVS or op in POOLS)
                groups.setdefault((key, op if mergeable else ("own", j)), []).append(j)
            self.groups = list(groups.items())
            # one BN-act per node input (shared by a merged group's members)
            acts, layers, self.act_of = {}, [], []
            for (key, _), members in self.groups:
                op = names[members[0]]
                act = str(key) if merge else str(members)
                self.act_of.append(act if isinstance(key, tuple) and key[0] != "src" else None)
                if self.act_of[-1] is not None and act not in acts:
                    acts[act] = ops.bn_relu(cn, cfg)
                if len(members) > 1 and op in PLAIN_CONVS:
                    k, d = PLAIN_CONVS[op]
                    layers.append(ops.conv2d(cn, len(members) * cn, k, 1, d))
                else:
                    layers.append(ops.make_op(op, cn, 1, cfg))
            self.act_keys = list(acts)
            self.acts = nn.LayerList(list(acts.values()))
            self.layers = nn.LayerList(layers)
            if join == "cat":
                self.project = ops.conv2d(len(self.sinks) * cn, c, 1)

        def forward(self, x):
            outs: dict[int, paddle.Tensor] = {}
            if self.ratio > 1:
                n = len(self.sources)
                parts = self.source_path(x)
                parts = [parts] if n == 1 else paddle.split(parts, n, axis=1)
                src = dict(zip(self.sources, parts, strict=True))
            done_acts: dict[str, paddle.Tensor] = {}
            for g, ((key, _), members) in enumerate(self.groups):
                layer, act = self.layers[g], self.act_of[g]
                if key == "in":
                    z = x
                elif key[0] == "src":
                    z = src[key[1]]
                else:
                    if act not in done_acts:
                        s = outs[key[0]] if len(key) == 1 else paddle.add_n([outs[i] for i in key])
                        done_acts[act] = self.acts[self.act_keys.index(act)](s)
                    z = done_acts[act]
                y = layer(z)
                if len(members) == 1:
                    outs[members[0]] = y
                elif y.shape[1] == z.shape[1]:  # a merged pool: one output for all
                    outs.update({j: y for j in members})
                else:
                    outs.update(zip(members, paddle.split(y, len(members), axis=1), strict=True))
            sinks = [outs[j] for j in self.sinks]
            if self.join == "sum":
                out = sinks[0] if len(sinks) == 1 else paddle.add_n(sinks)
            else:
                out = self.project(sinks[0] if len(sinks) == 1 else paddle.concat(sinks, axis=1))
            return out + x

    class WideGroup(nn.Layer):
        def __init__(self, c_in: int, c: int, cell_layer: nn.Layer, cfg) -> None:
            super().__init__()
            self.entry = nn.Sequential(ops.conv2d(c_in, c, 3), nn.MaxPool2D(2), ops.bn_relu(c, cfg))
            self.cell = cell_layer
            self.out_act = ops.bn_relu(c, cfg)

        def forward(self, x):
            return self.out_act(self.cell(self.entry(x)))

    if name == "airbench94":
        widths = (64, 256, 256)
        return nn.Sequential(
            whiten_stem(),
            nn.GELU(),
            AirbenchGroup(24, widths[0]),
            AirbenchGroup(widths[0], widths[1]),
            AirbenchGroup(widths[1], widths[2]),
            Head(widths[2], 1 / 9),
        )
    if name == "resnet20":
        sys.path.insert(0, str(HERE))
        from resnet20 import paddle_resnet20

        return paddle_resnet20()
    manifest = yaml.safe_load((ROOT / "pretrained" / "manifest.yaml").read_text())
    network = {m["name"]: m["network"] for m in manifest["models"]}
    if name.endswith("-today"):
        stem = name.split("-")[0]
        arch = load_architecture(ROOT / "pretrained" / "archs" / f"{stem}.json")
        return build_network(arch, NetworkConfig(**network[stem]))
    stem_arch, stem_kind, widths, ratio, join, merge = WIDE[name]
    cfg = NetworkConfig(**network[stem_arch])
    cell = load_architecture(ROOT / "pretrained" / "archs" / f"{stem_arch}.json").normal
    if stem_kind == "whiten":
        layers, c_prev = [whiten_stem(), nn.GELU()], 24
    else:
        layers, c_prev = [ops.conv2d(3, 24, 3), ops.bn_relu(24, cfg)], 24
    for c in widths:
        layers.append(WideGroup(c_prev, c, WideCell(cell, c, ratio, join, merge, cfg), cfg))
        c_prev = c
    return nn.Sequential(*layers, Head(c_prev, 1.0))


def worker(args: argparse.Namespace) -> None:
    """Time ``args.worker`` in this process; print one JSON line."""
    import numpy as np
    import paddle
    import paddle.nn.functional as F

    from autodl_design.nn.flops import count_flops, count_params

    paddle.base.core.set_num_threads(1)
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((args.batch, 3, 32, 32)).astype("float32")
    net = build(args.worker, x_np[:64])
    params, macs = count_params(net), count_flops(net, (1, 3, 32, 32))
    opt = paddle.optimizer.Momentum(
        learning_rate=0.01,
        momentum=0.9,
        parameters=net.parameters(),
        use_nesterov=True,
        weight_decay=5e-4,
    )
    x = paddle.to_tensor(x_np)
    y = paddle.to_tensor(rng.integers(0, 10, args.batch))
    net.train()

    def step() -> None:
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        opt.clear_grad()
        float(loss)

    for _ in range(args.warmup):
        step()
    rates = []
    for _ in range(args.reps):
        start = time.perf_counter()
        for _ in range(args.steps):
            step()
        rates.append(args.steps * args.batch / (time.perf_counter() - start))
    print(json.dumps(dict(net=args.worker, params=params, macs=macs, rates=rates)), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nets", nargs="+", default=list(NETS), choices=NETS)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--json", type=Path, help="also write every row to this file")
    p.add_argument("--worker", choices=NETS, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    print(
        f"batch {args.batch}, 1 thread, {args.warmup} warm-up + {args.reps} x {args.steps} "
        "timed steps; MFLOPs = 2 x multiply-adds of one forward pass per image; "
        "GFLOP/s = 3 x forward FLOPs x img/s; core-h = 10 epochs of 50,000 images"
    )
    head = f"{'net':<31} {'params':>9} {'MFLOPs':>7} {'img/s':>6} {'(min-max)':>11}"
    print(f"{head} {'GFLOP/s':>7} {'core-h':>6}", flush=True)
    rows = []
    for name in args.nets:
        cmd = [sys.executable, __file__, "--worker", name, "--warmup", str(args.warmup)]
        cmd += ["--reps", str(args.reps), "--steps", str(args.steps), "--batch", str(args.batch)]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"{name:<31} FAILED: {done.stderr.strip().splitlines()[-1:]}", flush=True)
            continue
        row = json.loads([ln for ln in done.stdout.splitlines() if ln.startswith("{")][-1])
        rows.append(row)
        rate, flops = statistics.median(row["rates"]), 2 * row["macs"]
        span = f"({min(row['rates']):.0f}-{max(row['rates']):.0f})"
        print(
            f"{name:<31} {row['params']:>9,} {flops / 1e6:>7.0f} {rate:>6.1f} {span:>11} "
            f"{3 * flops * rate / 1e9:>7.1f} {500_000 / rate / 3600:>6.2f}",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
