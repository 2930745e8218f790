"""Accuracy per core-hour (issue #62): train (network, recipe) rows on CIFAR-10, tabulate them.

    python benchmarks/accuracy_per_core_hour.py run ROW [ROW ...] [--seed S] [--val]
    python benchmarks/accuracy_per_core_hour.py table [--markdown]

``run`` trains each row with ``autodl-design train`` on the 50,000 training images, one thread,
into ``runs/accuracy/ROW-sS`` (resumable: run it again to continue), reads the 10,000 test images
once at the end, and copies the run's ``metrics.json`` (its per-epoch history included) to
``docs/accuracy/ROW-sS.json``. With ``--val`` it trains on 90% of the training images and
reports on the other 10% instead (``evaluate_on: val``, the mode for choosing settings; the
test split is not read), into ``ROW-sS-val``. ``table`` prints one line per record in
``docs/accuracy/``: test (or val) accuracy, training core-hours (the trainer's own clock of the
training steps on one thread: evaluation, checkpoints and data decoding left out), img/s,
params and forward MFLOPs. Data: ``data.source: cifar10``, found in ``$AUTODL_DESIGN_DATA``.

Rows (``ROWS``): networks x recipes. Recipes: ``today``, the first stage of the bundled models'
recipe (``configs/train_cifar10.yaml``: cosine SGD, batch 128, pad-4 crops and flips), cut to a
budget matched to the ``fast`` row of the same network; ``fast``, the recipe of
``configs/train_wide.yaml`` (airbench's list). Networks: ResNet-20 (the ``resnet`` frame with
``benchmarks/archs/resnet_block.json``), the airbench-like plain net (the ``wide`` frame with one
conv per cell, ``benchmarks/archs/plain_conv.json``, at airbench94's widths 64/256/256), and
the bundled searched architectures m1, m2, m3 (the ``cells`` frame of today for ``today``, the
``wide`` frame for ``fast``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "docs" / "accuracy"
TODAY, FAST = "configs/train_cifar10.yaml", "configs/train_wide.yaml"
RESNET20 = ["network.frame=resnet", "network.width=16", "network.stages=3"]
RESNET20 += ["network.cells_per_stage=3"]
CLI = "import sys; from autodl_design.cli import main; sys.exit(main())"

# row -> (architecture file, config, overrides). Budgets: the fast rows take ~1.6-2.1 core-h
# here; each today row gets the epochs that fill about the same time at its measured speed.
ROWS: dict[str, tuple[str, str, list[str]]] = {
    "resnet20-today": ("benchmarks/archs/resnet_block.json", TODAY, [*RESNET20, "epochs=24"]),
    "resnet20-fast": ("benchmarks/archs/resnet_block.json", FAST, [*RESNET20, "epochs=32"]),
    "airbench-fast": (
        "benchmarks/archs/plain_conv.json",
        FAST,
        ["network.widths=[64,256,256]", "epochs=10"],
    ),
    "airbench-today": (
        "benchmarks/archs/plain_conv.json",
        TODAY,
        ["network.frame=wide", "network.widths=[64,256,256]", "epochs=10"],
    ),
    **{f"{m}-fast": (f"pretrained/archs/{m}.json", FAST, []) for m in ("m1", "m2", "m3")},
    # Wider groups for fewer epochs: the same recipe's budget spent on width (train accuracy was
    # still climbing at 15 epochs of 32/128/128).
    "m1-fast48": ("pretrained/archs/m1.json", FAST, ["network.widths=[48,192,192]", "epochs=12"]),
    **{
        f"{m}-today": (f"pretrained/archs/{m}.json", TODAY, ["epochs=6"])
        for m in ("m1", "m2", "m3")
    },
}


def run(row: str, seed: int, val: bool, extra: list[str], tag: str | None) -> int:
    """Train ``row`` (plus config overrides ``extra``, named by ``tag``) and record it."""
    if extra and not tag:
        raise SystemExit("-o overrides need a --tag to name the run")
    arch, config, overrides = ROWS[row]
    overrides = [*overrides, *extra]
    name = f"{row}{'-' + tag if tag else ''}-s{seed}" + ("-val" if val else "")
    out = ROOT / "runs" / "accuracy" / name
    cmd = [sys.executable, "-c", CLI, "train", "--arch", arch, "-c", config]
    for o in [*overrides, f"seed={seed}", "visualdl=false", "data.source=cifar10"]:
        cmd += ["-o", o]
    if val:
        cmd += ["-o", "evaluate_on=val"]
    cmd += ["--output", str(out)]
    if (out / "checkpoint.pdckpt").exists():
        cmd.append("--resume")
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    print(f"{name}: autodl-design {' '.join(cmd[3:])}", flush=True)
    done = subprocess.run(cmd, cwd=ROOT, env=env)
    if done.returncode != 0:
        return done.returncode
    RECORDS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(out / "metrics.json", RECORDS / f"{name}.json")
    print(f"{name}: record in {RECORDS / f'{name}.json'}", flush=True)
    return 0


def table(markdown: bool) -> None:
    head = ["run", "network", "recipe", "acc", "on", "core-h", "img/s", "params", "MFLOPs", "ep"]
    rows = []
    for path in sorted(RECORDS.glob("*.json")):
        m = json.loads(path.read_text())
        split = m.get("evaluated_on", "test")
        net = m["config"]["network"]
        frame = net.get("frame", "cells")
        shape = net["widths"] if frame == "wide" else f"w{net['width']}x{net['cells_per_stage']}"
        recipe = m["config"].get("lr_schedule", "cosine")
        rows.append([
            path.stem, f"{frame} {shape}", f"{recipe} bs{m['config']['batch_size']}",
            f"{100 * m[f'{split}_acc']:.2f}%", split, f"{m['seconds'] / 3600:.2f}",
            f"{m['train_img_per_s']:.0f}", f"{m['params'] / 1e6:.2f}M",
            f"{2 * m['flops'] / 1e6:.0f}", str(m["epochs"]),
        ])  # fmt: skip
    if markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for r in rows:
            print("| " + " | ".join(r) + " |")
        return
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]
    for r in [head, *rows]:
        print("  ".join(x.ljust(w) for x, w in zip(r, widths, strict=True)))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="train rows (resumable) and record their metrics")
    r.add_argument("rows", nargs="+", choices=sorted(ROWS))
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--val", action="store_true", help="report on a held-out 10%% of train")
    r.add_argument(
        "-o",
        dest="extra",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a further config override (an ablation); needs --tag",
    )
    r.add_argument("--tag", help="names the run with its overrides: ROW-TAG-sSEED")
    t = sub.add_parser("table", help="print the recorded rows")
    t.add_argument("--markdown", action="store_true")
    args = p.parse_args()
    if args.command == "table":
        table(args.markdown)
        return 0
    for row in args.rows:
        rc = run(row, args.seed, args.val, args.extra, args.tag)
        if rc:
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main())
