"""Command-line interface: ``autodl-design <command> ...``.

Every command that takes a configuration accepts ``-c CONFIG.yaml`` and any number of
``-o key.path=value`` overrides; both are merged in :func:`autodl_design.config.load_config`.
Errors the user can fix (bad config, missing data, malformed architecture) end with a one-line
message and exit status 2.
"""

from __future__ import annotations

import argparse
import sys

from autodl_design import __version__
from autodl_design.config import ConfigError, CountOnesConfig, load_config, to_yaml
from autodl_design.space import ArchitectureError

# Exceptions whose message is enough for the user: printed as one line, no traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (ConfigError, ArchitectureError, FileNotFoundError)


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
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as e:
        print(f"autodl-design: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("autodl-design: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
