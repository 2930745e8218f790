"""The command-line face of configuration: ``-c CONFIG.yaml`` and repeatable ``-o key=value``.

Every command that loads a config adds these two arguments, and passes ``args.config`` and
``args.override`` to :func:`autodl_design.config.load_config`, the one place where files and
overrides meet.
"""

from __future__ import annotations

import argparse

__all__ = ["add_config_args", "positive_int"]


def add_config_args(parser: argparse.ArgumentParser) -> None:
    """Add ``-c/--config`` and ``-o/--override`` to ``parser``."""
    parser.add_argument("-c", "--config", help="YAML configuration file")
    parser.add_argument(
        "-o",
        "--override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config value, e.g. -o controller.lr=0.01 (repeatable)",
    )


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1 (0 threads, images per batch or images make no sense)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
