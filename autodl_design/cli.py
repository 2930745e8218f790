"""Command-line interface: ``autodl-design <command> ...``.

Every command that takes a configuration accepts ``-c CONFIG.yaml`` and any number of
``-o key.path=value`` overrides; both are merged in :func:`autodl_design.config.load_config`.
Errors the user can fix (bad config, missing data, malformed architecture) end with a one-line
message and exit status 2.
"""

from __future__ import annotations

import argparse
import sys

from autodl_design import __version__, cpu_tuning
from autodl_design.config import ConfigError, CountOnesConfig, SearchConfig, load_config, to_yaml
from autodl_design.space import ArchitectureError


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions whose message is enough for the user: printed as one line, no traceback."""
    from autodl_design.controller import CheckpointError
    from autodl_design.data import DataError
    from autodl_design.distillation import TargetsError
    from autodl_design.final_training import TrainingError
    from autodl_design.pretrained import PretrainedError
    from autodl_design.search import HistoryError, SearchError

    return (
        ConfigError,
        ArchitectureError,
        FileNotFoundError,
        DataError,
        SearchError,
        HistoryError,
        CheckpointError,
        TrainingError,
        PretrainedError,
        TargetsError,
    )


def _add_config_args(p: argparse.ArgumentParser, default: str | None = None) -> None:
    p.add_argument("-c", "--config", default=default, help="YAML configuration file")
    p.add_argument(
        "-o",
        "--override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config value, e.g. -o controller.lr=0.01 (repeatable)",
    )


def cmd_demo_count_ones(args: argparse.Namespace) -> int:
    from autodl_design.count_ones import run_count_ones

    config = load_config(CountOnesConfig, args.config, args.override)
    print("config:\n" + to_yaml(config).rstrip())
    run_count_ones(config)
    return 0


def search_overrides(args: argparse.Namespace) -> list[str]:
    """Turn the search command's convenience flags into config overrides (after ``-o``)."""
    extra = list(args.override)
    if args.strategy:
        extra.append(f"strategy={args.strategy}")
    if args.updates is not None:
        extra.append(f"updates={args.updates}")
    if args.output:
        extra.append(f"output_dir={args.output}")
    if args.data:
        extra.append(f"data.source={args.data}")
    if args.cluster:
        extra += ["execution.backend=xparl", f"execution.cluster={args.cluster}"]
        if args.workers:
            extra.append(f"execution.workers={args.workers}")
    elif args.workers:
        extra += ["execution.backend=local", f"execution.workers={args.workers}"]
    return extra


def cmd_search(args: argparse.Namespace) -> int:
    from autodl_design.backends import EvalSettings
    from autodl_design.backends.factory import make_backend
    from autodl_design.search import run_search

    config = load_config(SearchConfig, args.config, search_overrides(args))
    cpu_tuning.configure(config.evaluator.mkl_avx2)  # before the controller's first Paddle op
    settings = EvalSettings(config.data, config.network, config.evaluator)
    backend = make_backend(config.execution, settings)
    try:
        run_search(config, backend, resume=args.resume, progress=not args.no_progress)
    finally:
        backend.close()
    return 0


def cmd_data_info(args: argparse.Namespace) -> int:
    from autodl_design.data import dataset_info, format_dataset_info

    print(format_dataset_info(dataset_info(args.path, format=args.format)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autodl-design",
        description="AutoDL Design neural architecture search on PaddlePaddle 3 and PARL.",
    )
    parser.add_argument("--version", action="version", version=f"autodl-design {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="demonstrations").add_subparsers(dest="demo", required=True)
    p = demo.add_parser("count-ones", help='the "count the 1s" controller demo')
    _add_config_args(p)
    p.set_defaults(func=cmd_demo_count_ones)

    p = sub.add_parser("search", help="run or resume an architecture search")
    _add_config_args(p, default=None)
    p.add_argument("--strategy", choices=["rl", "random"], help="proposal strategy")
    p.add_argument("--updates", type=int, help="number of updates (batches) to run")
    p.add_argument("--output", help="output directory (history, checkpoints, report)")
    p.add_argument("--data", help="data source: 'bundled', a CIFAR-10 release or image folder")
    p.add_argument("--resume", action="store_true", help="continue the run in the output dir")
    p.add_argument("--workers", type=int, help="train K candidates at once in local processes")
    p.add_argument("--cluster", metavar="HOST:PORT", help="train candidates on an xparl cluster")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_search)

    data = sub.add_parser("data", help="datasets").add_subparsers(dest="data_cmd", required=True)
    p = data.add_parser("info", help="what a dataset holds")
    p.add_argument("path", help="'bundled', cifar-10-python.tar.gz, its folder, or image folder")
    p.add_argument("--format", default="auto", help="auto, bundled, cifar10-python, image-folder")
    p.set_defaults(func=cmd_data_info)

    from autodl_design import distillation, final_training, pretrained_cli

    final_training.register(sub, _add_config_args)  # train
    distillation.register(sub, _add_config_args)  # teacher-targets
    pretrained_cli.register(sub, _add_config_args)  # ensemble, predict, export, add-pretrained
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except _user_errors() as e:
        print(f"autodl-design: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("autodl-design: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
