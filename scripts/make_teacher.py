"""Assemble a teacher for distillation: a manifest of trained models, weights beside it.

Each source is a finished training run directory (``model.pdparams`` + ``metrics.json``, added
as ``autodl-design add-pretrained`` does) or ``MANIFEST:NAME``, a model of another manifest
(its entry and sha256-checked weights copied as they are):

    python scripts/make_teacher.py pretrained/teachers/t6/manifest.yaml \\
        pretrained/manifest.yaml:m1 pretrained/manifest.yaml:m4 \\
        m2=runs/pretrained-w32c3/m2-stage2 ...

A run directory is named by its model, ``NAME=DIR`` (default: the directory's name). The
manifest's ensemble figures stay null: a teacher is judged by its targets' accuracy on the
training images (``autodl-design teacher-targets``), not on the test set.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import autodl_design  # noqa: F401  (prepares the environment for paddle and parl)
from autodl_design.fileio import copy_atomic
from autodl_design.zoo.manifest import (
    PretrainedError,
    add_to_manifest,
    read_manifest,
    verify,
    weights_path,
    write_manifest,
)


def add_from_manifest(target: Path, source: Path, name: str) -> None:
    """Copy model ``name`` of manifest ``source`` (entry and checked weights) into ``target``."""
    origin = read_manifest(source)
    entries = {e["name"]: e for e in origin["models"]}
    if name not in entries:
        raise PretrainedError(f"{source}: no model named {name!r}")
    entry = entries[name]
    verify(source, entry)
    if target.exists():
        manifest = read_manifest(target)
        shape = ("classes", "image_size", "channels")
        if any(manifest[k] != origin[k] for k in shape):
            raise PretrainedError(f"{source}: classes or input shape differ from {target}")
    else:  # the source's classes, input shape and preprocessing, no models yet
        manifest = {**origin, "ensemble": None, "models": []}
    if any(m["name"] == name for m in manifest["models"]):
        raise PretrainedError(f"{target}: already has a model named {name!r}")
    copy_atomic(weights_path(source, entry), target.parent / entry["weights"])
    manifest["models"].append(dict(entry))
    write_manifest(target, manifest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest", type=Path, help="teacher manifest to create")
    parser.add_argument("sources", nargs="+", help="[NAME=]RUN_DIR or MANIFEST:NAME")
    args = parser.parse_args(argv)
    if args.manifest.exists():
        print(f"error: {args.manifest} exists already", file=sys.stderr)
        return 2
    args.manifest.parent.mkdir(parents=True, exist_ok=True)
    try:
        for source in args.sources:
            if ":" in source:
                manifest, _, name = source.rpartition(":")
                add_from_manifest(args.manifest, Path(manifest), name)
            else:
                name, _, run = source.rpartition("=")
                add_to_manifest(args.manifest, run, name or Path(run).name)
    except PretrainedError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    names = [m["name"] for m in read_manifest(args.manifest)["models"]]
    print(f"wrote {args.manifest}: {', '.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
