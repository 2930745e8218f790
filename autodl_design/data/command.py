"""``autodl-design data info SOURCE``: what a dataset holds (a name, ``bundled`` or a path)."""

from __future__ import annotations

import argparse

from autodl_design.data.info import dataset_info, format_dataset_info

__all__ = ["register"]


def cmd_data_info(args: argparse.Namespace) -> int:
    print(format_dataset_info(dataset_info(args.path, format=args.format)))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``data info`` to the CLI's subparsers."""
    data = subparsers.add_parser("data", help="datasets")
    p = data.add_subparsers(dest="data_cmd", required=True).add_parser(
        "info", help="what a dataset holds"
    )
    p.add_argument(
        "path",
        help="'bundled', 'cifar10' (found in $AUTODL_DESIGN_DATA), cifar-10-python.tar.gz, "
        "its folder, or image folder",
    )
    p.add_argument("--format", default="auto", help="auto, bundled, cifar10-python, image-folder")
    p.set_defaults(func=cmd_data_info)
