"""One convolution's training cost: Paddle's own conv, the project's oneDNN conv, PyTorch.

    python benchmarks/conv_speed.py [--batch 256] [--reps 5]

Each row times forward + backward (input and weight gradients) of one bias-free conv on the map
sizes of the wide frame (``configs/train_wide.yaml``: 31x31 after the stem, then 15, 7, 3) and
of ResNet-20 (32, 16, 8), one thread, median of ``--reps`` after one warm-up, and checks that the
oneDNN output and gradients equal Paddle's to float32 rounding. PyTorch (the ``benchmark``
extra) runs in a child process, so that its own thread pools and MKL do not meet Paddle's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

SHAPES = [  # c_in, c_out, size, kernel
    (24, 32, 31, 3),
    (32, 32, 15, 3),
    (32, 128, 15, 3),
    (128, 128, 7, 3),
    (128, 128, 3, 3),
    (16, 16, 32, 3),
    (32, 32, 16, 3),
    (64, 64, 8, 3),
    (64, 64, 15, 5),
]


def median_ms(fn, reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def torch_worker(batch: int, reps: int) -> None:
    import torch

    torch.set_num_threads(1)
    out = []
    for c_in, c_out, size, k in SHAPES:
        x = torch.randn(batch, c_in, size, size, requires_grad=True)
        conv = torch.nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=False)
        out.append(median_ms(lambda x=x, conv=conv: conv(x).sum().backward(), reps))
    print(json.dumps(out))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.torch_worker:
        return torch_worker(args.batch, args.reps)
    torch_ms = [None] * len(SHAPES)
    cmd = [sys.executable, __file__, "--torch-worker", "--batch", str(args.batch)]
    run = subprocess.run([*cmd, "--reps", str(args.reps)], capture_output=True, text=True)
    if run.returncode == 0:
        torch_ms = json.loads(run.stdout.strip().splitlines()[-1])
    else:
        print("PyTorch not measured (install the benchmark extra):", run.stderr.strip()[-200:])

    import paddle
    import paddle.nn.functional as F

    import autodl_design  # noqa: F401  (MKL's kernels chosen before Paddle's first op)
    from autodl_design.nn import onednn
    from autodl_design.nn.runtime import configure_threads

    configure_threads(1)
    head = f"{'c_in':>5} {'c_out':>5} {'size':>4} {'k':>2} | {'paddle':>7} {'onednn':>7} "
    print(f"batch {args.batch}, one thread, forward + backward, ms (median of {args.reps})")
    print(head + f"{'torch':>7} | onednn/paddle torch/onednn  max rel. diff")
    for (c_in, c_out, size, k), t_ms in zip(SHAPES, torch_ms, strict=True):
        x = paddle.randn((args.batch, c_in, size, size))
        w = paddle.randn((c_out, c_in, k, k)) * 0.1
        x.stop_gradient = w.stop_gradient = False
        spec = onednn.ConvSpec((1, 1), (k // 2, k // 2), (1, 1))
        ref = F.conv2d(x, w, padding=k // 2)
        g = paddle.randn(ref.shape)
        got = onednn.conv2d(x, w, spec)
        diffs = [
            float((a - b).abs().max() / b.abs().max())
            for a, b in zip(
                [got, *paddle.grad([got], [x, w], [g])],
                [ref, *paddle.grad([ref], [x, w], [g])],
                strict=True,
            )
        ]
        pd_ms = median_ms(
            lambda x=x, w=w, k=k: F.conv2d(x, w, padding=k // 2).sum().backward(), args.reps
        )
        dnn_ms = median_ms(
            lambda x=x, w=w, spec=spec: onednn.conv2d(x, w, spec).sum().backward(), args.reps
        )
        t_txt = f"{t_ms:7.1f}" if t_ms is not None else f"{'-':>7}"
        ratio = f"{t_ms / dnn_ms:13.2f}" if t_ms is not None else f"{'-':>13}"
        print(
            f"{c_in:5d} {c_out:5d} {size:4d} {k:2d} | {pd_ms:7.1f} {dnn_ms:7.1f} {t_txt} | "
            f"{pd_ms / dnn_ms:13.2f} {ratio}  {max(diffs):.1e}",
            flush=True,
        )


if __name__ == "__main__":
    main()
