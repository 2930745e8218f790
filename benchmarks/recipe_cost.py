"""Cost of final-training network settings: params, MFLOPs and training img/s (one thread).

For choosing how far the pretrained models' networks can be scaled on this CPU::

    python benchmarks/recipe_cost.py --archs m1 m4 --settings 24:2:2 32:2:2 24:2:1

A setting is ``width:cells_per_stage:node_ratio``, applied to the recipe ``-c`` (default
``configs/train_cifar10.yaml``); architectures are ``pretrained/archs/NAME.json``. The steps timed
are the real ones: :class:`autodl_design.train.trainer.Trainer` on augmented synthetic images, its
own clock (which leaves out logging and checkpoints). Each figure is the median of ``--reps``
timings of ``--steps`` steps after two warm-up steps.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import autodl_design  # noqa: F401  (before paddle: sets the environment PARL/protobuf need)

ROOT = Path(__file__).resolve().parents[1]
# CIFAR-10's training set, for the hours per epoch a rate means.
TRAIN_IMAGES = 50_000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-c", "--config", default=str(ROOT / "configs" / "train_cifar10.yaml"))
    p.add_argument("--archs", nargs="+", default=["m1", "m4"])
    p.add_argument("--settings", nargs="+", default=["24:2:2", "32:2:2", "24:3:2", "24:2:1"])
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--reps", type=int, default=2)
    args = p.parse_args()

    import numpy as np

    from autodl_design.config import load_config
    from autodl_design.nn.flops import count_flops, count_params
    from autodl_design.nn.runtime import configure_threads
    from autodl_design.space import Architecture
    from autodl_design.train.config import TrainConfig
    from autodl_design.train.trainer import Trainer

    configure_threads(1)
    rng = np.random.default_rng(0)
    # Enough images for every timed step to draw a full batch; the rate does not depend on more.
    batch = load_config(TrainConfig, args.config, []).batch_size
    x = rng.integers(0, 256, ((2 + args.reps * args.steps) * batch, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, len(x))
    print(f"{'arch':<5} {'setting':<8} {'params':>9} {'MFLOPs':>7} {'img/s':>6}  h/epoch")
    for name in args.archs:
        text = (ROOT / "pretrained" / "archs" / f"{name}.json").read_text()
        arch = Architecture.from_dict(json.loads(text)["architecture"])
        for setting in args.settings:
            width, cells, ratio = (int(v) for v in setting.split(":"))
            overrides = [
                f"network.width={width}",
                f"network.cells_per_stage={cells}",
                f"network.node_ratio={ratio}",
                "checkpoint_every=0",
                "log_every=0",
                "visualdl=false",
            ]
            cfg = load_config(TrainConfig, args.config, overrides)
            with tempfile.TemporaryDirectory() as tmp:
                trainer = Trainer(arch, cfg, x, y, Path(tmp) / "ckpt", log=lambda _: None)
                trainer.run(stop_after_steps=2)
                rates = []
                for _ in range(args.reps):
                    start_seconds, start_step = (
                        trainer.progress.seconds,
                        trainer.progress.global_step,
                    )
                    trainer.run(stop_after_steps=start_step + args.steps)
                    rates.append(
                        args.steps * cfg.batch_size / (trainer.progress.seconds - start_seconds)
                    )
            rate = statistics.median(rates)
            print(
                f"{name:<5} {setting:<8} {count_params(trainer.net):>9,} "
                f"{count_flops(trainer.net, trainer.input_shape) / 1e6:>7.1f} "
                f"{rate:>6.1f}  {TRAIN_IMAGES / rate / 3600:.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
