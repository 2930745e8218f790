"""``autodl-design search``: run or resume an architecture search."""

from __future__ import annotations

import argparse

from autodl_design import cpu_tuning
from autodl_design.config import STRATEGIES, SearchConfig, load_config
from autodl_design.config.arguments import add_config_args, positive_int

__all__ = ["cmd_search", "register", "search_overrides"]


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
        if args.workers is not None:
            extra.append(f"execution.workers={args.workers}")
    elif args.workers is not None:
        extra += ["execution.backend=local", f"execution.workers={args.workers}"]
    return extra


def cmd_search(args: argparse.Namespace) -> int:
    # The backends and the loop load Paddle and PARL: imported here, not when the CLI starts.
    from autodl_design.search.backends.base import EvalSettings
    from autodl_design.search.backends.factory import make_backend
    from autodl_design.search.loop import run_search
    from autodl_design.search.preflight import SearchError, check_data, check_output

    config = load_config(SearchConfig, args.config, search_overrides(args))
    # Every refusal comes here, before a worker starts or a file is written.
    check_output(config, args.resume)
    check_data(config)
    cpu_tuning.configure(config.evaluator.mkl_avx2)  # before the controller's first Paddle op
    settings = EvalSettings(config.data, config.network, config.evaluator)
    try:
        with _sigterm_stops_search():
            backend = make_backend(config.execution, settings)
            try:
                run_search(config, backend, resume=args.resume, progress=not args.no_progress)
            finally:
                backend.close()
    except _Terminated:
        msg = "stopped by SIGTERM; the history is kept: continue with --resume"
        raise SearchError(msg) from None
    return 0


class _Terminated(BaseException):
    """SIGTERM arrived. A BaseException, like KeyboardInterrupt, so that no ``except
    Exception`` on the way (the evaluator turns any Exception into an "error" record and goes
    on) swallows it."""


def _sigterm_stops_search():
    """While the search runs, SIGTERM raises :class:`_Terminated` in the main thread: the
    exception unwinds the loop, so the backend stops its workers and the history keeps every
    finished evaluation (an append cut by the signal is dropped on resume), and ``--resume``
    continues the run."""
    from autodl_design import _compat

    def stop() -> None:
        raise _Terminated

    return _compat.on_sigterm(stop)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``search`` command to the CLI's subparsers."""
    p = subparsers.add_parser("search", help="run or resume an architecture search")
    add_config_args(p)
    p.add_argument("--strategy", choices=STRATEGIES, help="proposal strategy")
    p.add_argument("--updates", type=int, help="number of updates (batches) to run")
    p.add_argument("--output", help="output directory (history, checkpoints, report)")
    p.add_argument(
        "--data",
        help="data source: 'bundled', 'cifar10' (found in $AUTODL_DESIGN_DATA), "
        "a CIFAR-10 release or image folder",
    )
    p.add_argument("--resume", action="store_true", help="continue the run in the output dir")
    p.add_argument(
        "--workers", type=positive_int, help="train K candidates at once in local processes"
    )
    p.add_argument("--cluster", metavar="HOST:PORT", help="train candidates on an xparl cluster")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_search)
