"""Ensemble inference img/s of the bundled models, per way of running them.

    python benchmarks/ensemble_throughput.py [--manifest M] [--images 2500] [--reps 3]
                                             [--threads 1] [--batch-size 256] [--tta flip]

Each row times ``predict_proba`` of the whole ensemble (all members, averaged softmax) on the
first ``--images`` of a seeded permutation of the bundled CIFAR-10 test split:

* ``dygraph``: :class:`~autodl_design.zoo.ensemble.Ensemble` with ``engine="dygraph"``;
* ``onednn``: the same with ``engine="onednn"`` (what ``autodl-design ensemble`` uses from
  2,500 images on); each call exports every member and builds its predictor, so the ~0.5 s
  per member of that is included, as a user of one call pays it;
* ``exported-predictor``: the exported ensemble (``autodl-design export``), one Paddle
  Inference predictor with oneDNN built once before timing; ``exported-jit`` the same file
  through ``paddle.jit.load``.

With ``--tta flip`` every way averages each member over the image and its mirror (the export
included): twice the work per image.

Before timing, each row's probabilities are checked against ``dygraph``'s (max abs difference
< 1e-4). Prints per row the median img/s over ``--reps`` runs (and min-max), and the ratio to
``dygraph`` measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable

import numpy as np

import autodl_design  # noqa: F401  (before paddle: sets the environment PARL/protobuf need)
from autodl_design.config import TTA_MODES


def timed(fn: Callable[[], object], reps: int) -> list[float]:
    """Seconds of ``reps`` calls of ``fn``."""
    out = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--manifest", help="manifest (default: pretrained/manifest.yaml)")
    p.add_argument("--images", type=int, default=2500)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--tta", choices=TTA_MODES, default="none")
    args = p.parse_args(argv)

    from autodl_design.data import load_test_set
    from autodl_design.nn.runtime import configure_threads
    from autodl_design.zoo.ensemble import load_ensemble
    from autodl_design.zoo.evaluation import seeded_subset
    from autodl_design.zoo.inference import export_ensemble, load_exported
    from autodl_design.zoo.manifest import resolve_manifest

    configure_threads(args.threads)
    ensemble = load_ensemble(resolve_manifest(args.manifest))
    ensemble.tta = args.tta
    x, _, _ = load_test_set("bundled", image_size=ensemble.image_size, channels=ensemble.channels)
    x = x[seeded_subset(len(x), args.images)]
    tmp = tempfile.TemporaryDirectory(prefix="autodl-bench-export-")
    exported = export_ensemble(ensemble, tmp.name)

    def engine(name: str) -> Callable[[], np.ndarray]:
        def run() -> np.ndarray:
            ensemble.engine = name
            return ensemble.predict_proba(x, args.batch_size)

        return run

    rows: dict[str, Callable[[], np.ndarray]] = {
        "dygraph": engine("dygraph"),
        "onednn": engine("onednn"),
    }
    for backend in ("predictor", "jit"):
        loaded = load_exported(exported, backend=backend, num_threads=args.threads)
        rows[f"exported-{backend}"] = lambda m=loaded: m.predict_proba(x, args.batch_size)

    reference = rows["dygraph"]()
    for name, fn in rows.items():
        diff = float(np.abs(fn() - reference).max())
        if diff >= 1e-4:
            raise SystemExit(f"{name}: probabilities differ from dygraph's by {diff:.2e}")

    print(
        f"{len(ensemble.names)} models ({', '.join(ensemble.names)}), {len(x)} images, "
        f"batch {args.batch_size}, {args.threads} thread(s), tta {args.tta}, median of {args.reps}"
    )
    print(f"{'way':<20} {'img/s':>8} {'min-max':>15} {'vs dygraph':>10}")
    base = None
    for name, fn in rows.items():
        speeds = [len(x) / s for s in timed(fn, args.reps)]
        med = statistics.median(speeds)
        base = base or med
        spread = f"{min(speeds):.1f}-{max(speeds):.1f}"
        print(f"{name:<20} {med:>8.1f} {spread:>15} {med / base:>9.2f}x")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
