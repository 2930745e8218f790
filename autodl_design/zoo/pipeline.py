"""The ``zoo`` command: ``autodl-design zoo build PLAN [MODEL ...]`` trains and publishes the
models of a plan (:mod:`autodl_design.zoo.build`), ``autodl-design zoo status PLAN [MODEL ...]``
tells where each stands (:mod:`autodl_design.zoo.status`).

Two queues at once are two processes, each given its models (e.g. one core each)::

    autodl-design zoo build pretrained/plan.yaml m1 m2 >> runs/queue-a.log 2>&1 &
    autodl-design zoo build pretrained/plan.yaml m3 m4 >> runs/queue-b.log 2>&1 &

They take turns publishing; a model named in both is trained by whichever reaches it first.
Paddle loads inside the commands, so registering them keeps the CLI quick to start.
"""

from __future__ import annotations

import argparse

__all__ = ["cmd_build", "cmd_status", "register"]

_QUEUES = """two queues at once are two processes, each given its models:
  autodl-design zoo build pretrained/plan.yaml m1 m2 >> runs/queue-a.log 2>&1 &
  autodl-design zoo build pretrained/plan.yaml m3 m4 >> runs/queue-b.log 2>&1 &"""


def cmd_build(args: argparse.Namespace) -> int:
    """``zoo build``: exit status 1 when a model's training or publication failed."""
    from autodl_design.zoo.build import build
    from autodl_design.zoo.plan import load_plan

    outcomes = build(load_plan(args.plan), args.models, log=lambda line: print(line, flush=True))
    return 1 if any(o.state == "failed" for o in outcomes) else 0


def cmd_status(args: argparse.Namespace) -> int:
    """``zoo status``: one line per model and stage."""
    from autodl_design.zoo.plan import load_plan
    from autodl_design.zoo.status import status_lines

    for line in status_lines(load_plan(args.plan), args.models):
        print(line)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``zoo build`` and ``zoo status`` to the CLI."""
    zoo = subparsers.add_parser(
        "zoo", help="train and publish the pretrained models of a plan (pretrained/plan.yaml)"
    )
    sub = zoo.add_subparsers(dest="zoo_command", required=True)
    p = sub.add_parser(
        "build",
        help="train each model's stages in order (resuming started runs) and publish those "
        "that reach the plan's bar",
        epilog=_QUEUES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("plan", help="plan file, e.g. pretrained/plan.yaml")
    p.add_argument("models", nargs="*", help="models of the plan, in this order (default: all)")
    p.set_defaults(func=cmd_build)
    p = sub.add_parser("status", help="where each model and stage of a plan stands")
    p.add_argument("plan", help="plan file, e.g. pretrained/plan.yaml")
    p.add_argument("models", nargs="*", help="models of the plan (default: all)")
    p.set_defaults(func=cmd_status)
