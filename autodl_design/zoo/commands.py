"""Commands for pretrained models: ``ensemble``, ``predict``, ``export``, ``add-pretrained``.

``export`` writes the ensemble, one of its models or a training run as a Paddle Inference
directory or one ONNX file (:mod:`autodl_design.zoo.export`).

``autodl-design ensemble`` measures every model and their averaged-softmax ensemble on a test
split (the bundled 10,000-image CIFAR-10 test set by default); with ``--write-manifest`` those
measurements become the manifest's accuracy figures, and the table in the manifest folder's
``README.md`` / ``README_cn.md`` is rewritten from them; nothing outside that folder is written.
Paddle is imported inside the commands, so registering them keeps ``autodl-design --help`` fast.
"""

from __future__ import annotations

import argparse

from autodl_design.config import EXPORT_FORMATS, INFERENCE_ENGINES, TTA_MODES
from autodl_design.config.arguments import positive_int


def cmd_ensemble(args: argparse.Namespace) -> int:
    """``autodl-design ensemble``: per-model and ensemble accuracy and speed on a test split."""
    import sys

    from autodl_design.zoo.manifest import resolve_manifest
    from autodl_design.zoo.measure import measure

    _cpu(args)
    done = measure(
        resolve_manifest(args.manifest),
        args.data,
        engine=args.engine,
        batch_size=args.batch_size,
        limit=args.limit,
        flip=args.tta == "flip",
        write=args.write_manifest,
        cache_dir=args.cache,
        # a line per member on stderr as it is done, so the table on stdout stays clean
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    result, flip = done.result, done.flip
    print(f"{result['images']} images: {done.test_set}")
    label = f"ensemble ({len(result['models'])})"
    rows = [*result["models"], {"name": label, **result["ensemble"]}]
    flip_head = f" {'flip TTA':>9}" if flip else ""
    print(f"{'model':<20} {'accuracy':>9}{flip_head} {'img/s':>8}")
    for m in rows:
        flip_col = f" {m['accuracy_flip']:>9.4f}" if flip else ""
        speed = "cached" if m["img_per_s"] is None else f"{m['img_per_s']:.1f}"
        print(f"{m['name']:<20} {m['accuracy']:>9.4f}{flip_col} {speed:>8}")
    if done.cache is not None:
        c = done.cache
        print(f"probability cache {c.folder}: {c.hits} read back, {c.misses} computed")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """``autodl-design predict IMG...``: class and probability of each image."""
    from autodl_design.zoo.ensemble import load_ensemble
    from autodl_design.zoo.inference import classify, load_exported
    from autodl_design.zoo.manifest import PretrainedError, resolve_manifest

    _cpu(args)
    if args.exported:
        model = load_exported(args.exported, backend=args.backend, num_threads=args.threads)
        if args.tta is not None and args.tta != model.tta:
            raise PretrainedError(
                f"{args.exported} was exported with tta {model.tta!r}, not {args.tta!r}: "
                f"export again with --tta {args.tta} or leave --tta out"
            )
    else:
        model = load_ensemble(resolve_manifest(args.manifest))
        model.engine = args.engine
        model.tta = args.tta or "none"
    width = max(len(str(p)) for p in args.images)
    for row in classify(model, args.images, args.batch_size):
        print(f"{row['path']:<{width}}  {row['class']:<12} {row['probability']:.3f}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """``autodl-design export [MODEL_OR_WEIGHTS] --format paddle|onnx -o PATH``: the ensemble,
    one bundled model or a training run, checked against the models before it is reported."""
    from autodl_design.zoo.export import export

    _cpu(args)
    print(export(args.model, args.output, args.format, args.manifest, args.tta))
    return 0


def cmd_add_pretrained(args: argparse.Namespace) -> int:
    """``autodl-design add-pretrained RUN_DIR --name NAME``: copy a finished run in."""
    from autodl_design.zoo.manifest import add_to_manifest, resolve_manifest

    path = resolve_manifest(args.manifest)
    entry = add_to_manifest(path, args.run_dir, args.name, replace=args.replace)
    print(f"added {entry['name']} ({entry['weights']}, sha256 {entry['sha256'][:12]}...) to {path}")
    return 0


def _cpu(args: argparse.Namespace) -> None:
    """The CPU switches, before the command's first Paddle op."""
    from autodl_design import cpu_tuning
    from autodl_design.nn.runtime import configure_threads

    cpu_tuning.configure(args.mkl_avx2)
    configure_threads(args.threads)


def _common(p: argparse.ArgumentParser, manifest: bool = True) -> None:
    if manifest:
        p.add_argument("--manifest", help="manifest (default: pretrained/manifest.yaml)")
    p.add_argument("--threads", type=positive_int, default=1, help="CPU math threads (default 1)")
    p.add_argument("--batch-size", type=positive_int, default=256, help="images per forward pass")
    p.add_argument(
        "--engine",
        choices=INFERENCE_ENGINES,
        default="auto",
        help="auto (default): oneDNN predictor from 2,500 images on; dygraph; onednn; onnx "
        "(onnxruntime, needs the onnx extra)",
    )
    p.add_argument(
        "--no-mkl-avx2",
        dest="mkl_avx2",
        action="store_false",
        help="leave MKL on its default code path (no AVX2 kernels on AMD CPUs)",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``ensemble``, ``predict``, ``export`` and ``add-pretrained`` to the CLI."""
    p = subparsers.add_parser("ensemble", help="accuracy of the pretrained models and ensemble")
    _common(p)
    p.add_argument("--data", default="bundled", help="'bundled' (default), CIFAR-10 or folder")
    p.add_argument("--limit", type=positive_int, help="evaluate a seeded random subset of N images")
    p.add_argument(
        "--tta",
        choices=TTA_MODES,
        default="none",
        help="flip: also measure flip test-time augmentation (--write-manifest: always)",
    )
    p.add_argument(
        "--write-manifest",
        action="store_true",
        help="store the measured accuracies in the manifest (and its folder's README tables)",
    )
    p.add_argument(
        "--cache",
        metavar="DIR",
        help="keep each model's probabilities in DIR and reuse them while its weights, the "
        "images and the engine are unchanged (cached models are not timed)",
    )
    p.set_defaults(func=cmd_ensemble)

    p = subparsers.add_parser("predict", help="classify image files with the ensemble")
    _common(p)
    p.add_argument("images", nargs="+", help="image files (any size or mode)")
    p.add_argument("--exported", metavar="DIR", help="use an exported ensemble instead")
    p.add_argument(
        "--backend", choices=["jit", "predictor"], default="jit", help="how to run --exported"
    )
    p.add_argument(
        "--tta",
        choices=TTA_MODES,
        help="flip: average over each image and its mirror (default none; --exported: as exported)",
    )
    p.set_defaults(func=cmd_predict)

    p = subparsers.add_parser(
        "export", help="save the ensemble, a model or a run for Paddle Inference or as ONNX"
    )
    p.add_argument(
        "model",
        nargs="?",
        metavar="MODEL_OR_WEIGHTS",
        help="a model name of the manifest, or a training run's directory or model.pdparams "
        "(default: the manifest's ensemble)",
    )
    p.add_argument("--manifest", help="manifest (default: pretrained/manifest.yaml)")
    p.add_argument(
        "--format",
        choices=EXPORT_FORMATS,
        default="paddle",
        help="paddle (default): a directory for Paddle Inference; onnx: one .onnx file "
        "(needs the onnx extra)",
    )
    p.add_argument(
        "-o", "--output", required=True, help="directory (paddle) or file (onnx) to write"
    )
    p.add_argument(
        "--tta", choices=TTA_MODES, default="none", help="flip: bake flip TTA into the program"
    )
    p.add_argument("--threads", type=positive_int, default=1, help="CPU math threads (default 1)")
    p.add_argument(
        "--no-mkl-avx2",
        dest="mkl_avx2",
        action="store_false",
        help="leave MKL on its default code path (no AVX2 kernels on AMD CPUs)",
    )
    p.set_defaults(func=cmd_export)

    p = subparsers.add_parser("add-pretrained", help="add a finished training run to a manifest")
    p.add_argument("run_dir", help="output directory of `autodl-design train`")
    p.add_argument("--name", required=True, help="model name in the manifest")
    p.add_argument("--manifest", help="manifest (default: pretrained/manifest.yaml)")
    p.add_argument("--replace", action="store_true", help="replace a model of the same name")
    p.set_defaults(func=cmd_add_pretrained)
