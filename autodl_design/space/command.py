"""``autodl-design show ARCH.json [-o cell.png]``: a picture of an architecture's two cells."""

from __future__ import annotations

import argparse
from pathlib import Path

from autodl_design.fileio import OutputPathError, check_output_file, replace_atomic
from autodl_design.space.loading import load_architecture
from autodl_design.space.picture import draw_architecture

__all__ = ["DEFAULT_OUTPUT", "cmd_show", "register", "write_picture"]

DEFAULT_OUTPUT = "cell.png"


def write_picture(spec: str | Path, output: str | Path, title: str | None = None) -> Path:
    """Draw the architecture of ``spec`` (a file or inline JSON, as ``train --arch`` takes)
    into the PNG file ``output``, written atomically; returns its path.

    Raises :class:`~autodl_design.space.ArchitectureError` for a missing or invalid
    architecture and :class:`~autodl_design.fileio.OutputPathError` for an output that cannot
    be written; nothing is written then.
    """
    arch = load_architecture(spec)
    out = check_output_file(output)
    if out.suffix.lower() != ".png":
        raise OutputPathError(f"output {out}: a PNG file is written, so the name must end in .png")
    if title is None:
        name = Path(str(spec)).name if not str(spec).lstrip().startswith("{") else "architecture"
        title = f"{name}  (key {arch.key()})"
    fig = draw_architecture(arch, title)
    replace_atomic(out, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    return out


def cmd_show(args: argparse.Namespace) -> int:
    output = args.output
    if output is None:
        output = DEFAULT_OUTPUT
        if Path(output).exists():
            raise OutputPathError(
                f"output {output}: exists in the current directory; name the file with -o"
            )
    print(write_picture(args.arch, output))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``show`` command to the CLI's subparsers."""
    p = subparsers.add_parser(
        "show", help="draw the normal and reduction cells of an architecture as a PNG"
    )
    p.add_argument(
        "arch",
        metavar="ARCH",
        help="architecture JSON file (as train --arch takes, e.g. pretrained/archs/m1.json)",
    )
    p.add_argument(
        "-o",
        "--output",
        help=f"PNG file to write (replaced if it exists); default {DEFAULT_OUTPUT} in the "
        "current directory, which must not exist yet",
    )
    p.set_defaults(func=cmd_show)
