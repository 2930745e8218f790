"""Every final training's record in ``docs/training/`` as one Markdown table.

Each finished run of ``autodl-design train`` writes ``metrics.json``; the ones worth keeping are
copied by hand to ``docs/training/<run>-metrics.json`` when a recipe's result is worth keeping
(the package writes only to its runs' folders). This script tabulates them from those files
alone, so the figures a reader sees in ``docs/training/README.md`` are the recorded ones, never
typed:

    python scripts/training_records.py                  # print the table
    python scripts/training_records.py --write          # rewrite it in docs/training/README.md

The table sits between ``<!-- training-records -->`` and ``<!-- /training-records -->``.
A second stage (trained from the weights of an earlier run: ``init_stage`` in the record)
shows its epochs as ``40+10`` and its hours as its own plus the earlier stages'.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from autodl_design.fileio import rewrite_marked_blocks
from autodl_design.zoo.table import stage_chain, stage_epochs

ROOT = Path(__file__).resolve().parents[1]
HEAD = (
    "record",
    "architecture key",
    "width / cells per stage",
    "epochs",
    "params",
    "MFLOPs",
    "hours (1 core)",
    "train accuracy",
    "test accuracy",
)


def row(name: str, record: dict) -> str:
    """One table row for the record of run ``name``; KeyError names a missing field."""
    net = record["config"]["network"]
    epochs = stage_epochs(record)
    hours = sum(stage["seconds"] for stage in stage_chain(record)) / 3600
    return (
        f"| {name} | `{record['architecture_key']}` | {net['width']} / {net['cells_per_stage']}"
        f" | {epochs} | {record['params']:,} | {record['flops'] / 1e6:.1f} | {hours:.1f}"
        f" | {100 * record['train_acc']:.2f}% | {100 * record['test_acc']:.2f}% "
        f"({record['test_images']:,} images) |"
    )


def table(folder: Path) -> str:
    """The Markdown table of every ``*-metrics.json`` in ``folder``, by file name."""
    rows = ["| " + " | ".join(HEAD) + " |", "|" + " --- |" * len(HEAD)]
    files = sorted(folder.glob("*-metrics.json"))
    if not files:
        raise SystemExit(f"error: no *-metrics.json records in {folder}")
    for path in files:
        try:
            rows.append(row(path.name.removesuffix("-metrics.json"), json.loads(path.read_text())))
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise SystemExit(f"error: {path}: not a training record ({err!r})") from None
    return "\n".join(rows) + "\n"


def write(readme: Path, text: str) -> bool:
    """Replace the marked block of ``readme`` with ``text``; True if the file changed."""
    count, changed = rewrite_marked_blocks(readme, "training-records", lambda attrs: text)
    if not count:
        raise SystemExit(f"error: {readme} has no <!-- training-records --> block")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=Path, default=ROOT / "docs" / "training")
    parser.add_argument(
        "--write",
        nargs="?",
        const=ROOT / "docs" / "training" / "README.md",
        type=Path,
        metavar="README",
        help="rewrite the table in this file (default docs/training/README.md)",
    )
    args = parser.parse_args(argv)
    text = table(args.records)
    if args.write is None:
        sys.stdout.write(text)
    else:
        changed = write(args.write, text)
        print(f"{args.write}: {'table rewritten' if changed else 'table already current'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
