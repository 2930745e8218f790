"""The proxy study of docs/search_report.md (issue #63): the reference and the proxies it ranks.

    python benchmarks/proxy_study.py [--reference-only] [--archs 20]

Runs :mod:`proxy_correlation` (``benchmarks/proxy_correlation.py``) with the settings below,
records in ``runs/proxy_study.jsonl`` (a rerun skips what is done), the table in
``docs/search/proxy_correlation.json``. Reference: the fast recipe (configs/train_wide.yaml,
batch 256 at its batch-scaled rate 0.375) in the final frame's widths 32/128/128, 4 epochs on
2,000 training images per class, scored on 500 validation images per class (80,000 image passes:
about a ninth of ``m1-fast``'s 750,000).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = [
    "data.max_train_per_class=2000", "data.max_val_per_class=500",
    "network.widths=[32,128,128]", "evaluator.batch_size=256", "evaluator.lr=0.375",
    "evaluator.lr_min=0.02625", "evaluator.epochs=4", "evaluator.patience=4",
]  # fmt: skip
PROXIES = {
    # configs/proxy.yaml as it is: 3 epochs of 5,000 images, 16/64/64
    "sub5k-e3": [],
    # what `make search` runs: the bundled 1,000 images, 10 epochs (configs/search_wide.yaml)
    "bundled": [
        "data.source=bundled", "data.max_train_per_class=null", "data.max_val_per_class=null",
        "evaluator.epochs=10", "evaluator.patience=10",
    ],
    # half of it: what a 5-seed x 3-strategy x 150-candidate comparison could afford
    "bundled-e5": [
        "data.source=bundled", "data.max_train_per_class=null", "data.max_val_per_class=null",
        "evaluator.epochs=5", "evaluator.patience=5",
    ],
}  # fmt: skip


def main() -> int:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "proxy_correlation.py")]
    cmd += ["-c", "configs/proxy.yaml", "--out", "runs/proxy_study.jsonl"]
    # The study's architectures were drawn with two cell types; the wide frame uses the normal
    # cell only, which is drawn alike (uniform ops, one fair bit per edge) with one or two.
    cmd += ["-o", "space.cells=two"]
    cmd += ["--summary", "docs/search/proxy_correlation.json"]
    for o in REFERENCE:
        cmd += ["--reference-override", o]
    for name, overrides in PROXIES.items():
        cmd += ["--proxy", f"{name}:{';'.join(overrides)}"]
    return subprocess.run([*cmd, *sys.argv[1:]], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
