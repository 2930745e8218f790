"""Compare every config in ``configs/`` as loaded now with the same file at a git revision.

Usage: ``python scripts/compare_configs.py [REV]`` (default ``main``), from the repository root.
Each ``configs/*.yaml`` present in both trees is loaded with :func:`load_config` (so
``extends:`` chains resolve inside their own tree) into its dataclass: ``count_ones.yaml`` as
:class:`CountOnesConfig`, ``train*.yaml`` as :class:`TrainConfig`, any other as
:class:`SearchConfig`. Prints one line per file, ``same`` or the dotted keys whose values
differ (old -> new); exits 1 when any differs. It checks that a rewrite of the files (for
instance into ``extends:`` chains) left what they configure unchanged.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from autodl_design.config import CountOnesConfig, SearchConfig, load_config  # noqa: E402
from autodl_design.train.config import TrainConfig  # noqa: E402


def config_class(name: str) -> type:
    """The dataclass a file of ``configs/`` configures, from its name."""
    if name == "count_ones.yaml":
        return CountOnesConfig
    return TrainConfig if name.startswith("train") else SearchConfig


def flat(data: dict, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def differences(old: Path, new: Path) -> list[str]:
    """``"key: old -> new"`` for every value that differs between the two loaded files."""
    cls = config_class(new.name)
    a = flat(dataclasses.asdict(load_config(cls, old)))
    b = flat(dataclasses.asdict(load_config(cls, new)))
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(a | b) if a.get(k) != b.get(k)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev", nargs="?", default="main", help="git revision to compare with")
    rev = parser.parse_args().rev
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "configs"], check=True, capture_output=True
    ).stdout
    changed = False
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        for old in sorted((Path(tmp) / "configs").glob("*.yaml")):
            new = REPO / "configs" / old.name
            if not new.exists():
                print(f"{old.name}: only at {rev}")
                continue
            diff = differences(old, new)
            changed |= bool(diff)
            print(f"{old.name}: " + ("same" if not diff else "; ".join(diff)))
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
