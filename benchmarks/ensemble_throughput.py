"""Ensemble inference img/s of the bundled models, per way of running them (engine).

    python benchmarks/ensemble_throughput.py [--manifest M] [--models m1 m4] [--images 2500]
                                             [--reps 3] [--threads 1] [--batch-size 256]
                                             [--tta flip] [--engines dygraph onnx ...]

Each row times ``predict_proba`` of the ensemble (the manifest's models, or ``--models``;
averaged softmax) on the first ``--images`` of a seeded permutation of the bundled CIFAR-10 test
split, all rows on the same models and images in one run:

* ``dygraph``: :class:`~autodl_design.zoo.ensemble.Ensemble` with ``engine="dygraph"``;
* ``onednn``: the same with ``engine="onednn"`` (what ``autodl-design ensemble`` uses from
  2,500 images on); each call exports every member and builds its predictor, so the ~0.5 s
  per member of that is included, as a user of one call pays it;
* ``exported-predictor``: the exported ensemble (``autodl-design export``), one Paddle
  Inference predictor with oneDNN built once before timing; ``exported-jit`` the same file
  through ``paddle.jit.load``;
* ``onnx``: the ensemble with ``engine="onnx"`` (the onnx extra): each call exports every member
  with paddle2onnx and builds its onnxruntime session, included in the time as for ``onednn``;
* ``exported-onnx``: the ensemble exported once as one ONNX model (``autodl-design export
  --format onnx``), one onnxruntime session built before timing.

``--engines`` picks rows (default: all; the ONNX rows only when the extra is installed, else a
note on stderr says they were left out). Every engine gets ``--threads`` threads.

With ``--tta flip`` every way averages each member over the image and its mirror (the export
included): twice the work per image.

Before timing, each row's probabilities are checked against ``dygraph``'s (max abs difference
< 1e-4). Prints per row the median img/s over ``--reps`` runs (and min-max), and the ratio to
``dygraph`` measured in the same run (to the first row when ``dygraph`` is not among them;
rows come in the order listed above).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import autodl_design  # noqa: F401  (before paddle: sets the environment PARL/protobuf need)
from autodl_design.config import TTA_MODES

ENGINES = ("dygraph", "onednn", "exported-predictor", "exported-jit", "onnx", "exported-onnx")
ONNX_ROWS = ("onnx", "exported-onnx")


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
    p.add_argument("--models", nargs="+", metavar="NAME", help="these models (default: all)")
    p.add_argument("--engines", nargs="+", choices=ENGINES, help="these rows (default: all)")
    p.add_argument("--images", type=int, default=2500)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--tta", choices=TTA_MODES, default="none")
    args = p.parse_args(argv)

    from autodl_design.data import load_test_set
    from autodl_design.nn.onnx_engine import onnx_available
    from autodl_design.nn.runtime import configure_threads
    from autodl_design.zoo.ensemble import load_ensemble
    from autodl_design.zoo.evaluation import seeded_subset
    from autodl_design.zoo.manifest import resolve_manifest

    configure_threads(args.threads)  # every engine's thread count (predictors, sessions)
    ensemble = load_ensemble(resolve_manifest(args.manifest), args.models)
    ensemble.tta = args.tta
    x, _, _ = load_test_set("bundled", image_size=ensemble.image_size, channels=ensemble.channels)
    x = x[seeded_subset(len(x), args.images)]
    wanted = [e for e in ENGINES if e in (args.engines or ENGINES)]  # always in this order
    if not onnx_available() and any(e in ONNX_ROWS for e in wanted):
        left_out = [e for e in wanted if e in ONNX_ROWS]
        print(f"left out {', '.join(left_out)}: the onnx extra is not installed", file=sys.stderr)
        wanted = [e for e in wanted if e not in ONNX_ROWS]
    tmp = tempfile.TemporaryDirectory(prefix="autodl-bench-export-")
    rows = {}
    for name in wanted:  # progress on stderr: exports and checks take minutes on six models
        print(f"building {name} ...", file=sys.stderr, flush=True)
        rows[name] = _row(name, ensemble, x, args, Path(tmp.name))

    ensemble.engine = "dygraph"
    print("dygraph reference probabilities ...", file=sys.stderr, flush=True)
    reference = ensemble.predict_proba(x, args.batch_size)
    for name, fn in rows.items():
        print(f"checking {name} against dygraph ...", file=sys.stderr, flush=True)
        diff = float(np.abs(fn() - reference).max())
        if diff >= 1e-4:
            raise SystemExit(f"{name}: probabilities differ from dygraph's by {diff:.2e}")

    print(
        f"{len(ensemble.names)} models ({', '.join(ensemble.names)}), {len(x)} images, "
        f"batch {args.batch_size}, {args.threads} thread(s), tta {args.tta}, median of {args.reps}"
    )
    print(f"{'engine':<20} {'img/s':>8} {'min-max':>15} {'vs ' + wanted[0]:>10}", flush=True)
    base = None
    for name, fn in rows.items():
        speeds = [len(x) / s for s in timed(fn, args.reps)]
        med = statistics.median(speeds)
        base = base or med
        spread = f"{min(speeds):.1f}-{max(speeds):.1f}"
        print(f"{name:<20} {med:>8.1f} {spread:>15} {med / base:>9.2f}x", flush=True)
    tmp.cleanup()
    return 0


def _row(name: str, ensemble, x: np.ndarray, args, tmp: Path) -> Callable[[], np.ndarray]:
    """The function one row times; exports and sessions of the ``exported-*`` rows are built
    here, before timing."""
    if name in ("dygraph", "onednn", "onnx"):

        def run() -> np.ndarray:
            ensemble.engine = name
            return ensemble.predict_proba(x, args.batch_size)

        return run
    if name == "exported-onnx":
        from autodl_design.data import preprocess
        from autodl_design.nn.onnx_engine import OnnxPredictor, onnx_program
        from autodl_design.zoo.inference import EnsembleLayer

        layer = EnsembleLayer(list(ensemble.networks), ensemble.tta)
        layer.eval()
        c, s = ensemble.channels, ensemble.image_size
        session = OnnxPredictor(onnx_program(layer, (c, s, s), "probabilities"))
        batch = args.batch_size
        return lambda: np.concatenate(
            [session(preprocess(x[i : i + batch])) for i in range(0, len(x), batch)]
        )
    from autodl_design.zoo.inference import export_ensemble, load_exported

    exported = tmp / "paddle"
    if not exported.exists():
        export_ensemble(ensemble, exported)
    backend = name.removeprefix("exported-")
    loaded = load_exported(exported, backend=backend, num_threads=args.threads)
    return lambda: loaded.predict_proba(x, args.batch_size)


if __name__ == "__main__":
    raise SystemExit(main())
