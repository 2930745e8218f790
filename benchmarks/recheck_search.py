"""Re-score a search's best candidates with the study's proxy and reference trainings.

    python benchmarks/recheck_search.py RUN_DIR [--top 2] [--out docs/search/NAME.json]

Takes the ``--top`` candidates of ``RUN_DIR/history.jsonl`` by reward and trains each with
``configs/proxy.yaml`` (the ``sub5k-e3`` proxy) and with the reference of
``benchmarks/proxy_study.py``, the settings of the correlation study, so a search's finds can
be placed among the study's 20 random architectures (validation accuracy on images held out of
the training split; the test split is not read). Prints one JSON line per (setting, candidate).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import autodl_design  # noqa: F401  (before paddle)
from autodl_design.config import SearchConfig, load_config
from autodl_design.data import load_dataset
from autodl_design.search import History
from autodl_design.search.evaluator import evaluate
from autodl_design.search.report import ranked
from autodl_design.space import Architecture

sys.path.insert(0, str(Path(__file__).resolve().parent))
from proxy_study import REFERENCE  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir")
    p.add_argument("--top", type=int, default=2)
    p.add_argument("--out", help="write the rows as JSON")
    args = p.parse_args()
    picks = ranked(History.open(Path(args.run_dir) / "history.jsonl"))[: args.top]
    rows = []
    for name, overrides in [("sub5k-e3", []), ("reference", REFERENCE)]:
        cfg = load_config(SearchConfig, "configs/proxy.yaml", ["space.cells=two", *overrides])
        data = load_dataset(cfg.data, with_test=False)
        for e in picks:
            arch = Architecture.from_json(e["record"]["arch"])
            r = evaluate(arch, data, cfg.network, cfg.evaluator, data_cfg=cfg.data)
            row = {
                "setting": name, "search_reward": e["record"]["reward"], "params": r["params"],
                "val_acc": r["val_acc"], "seconds": r["seconds"], "arch": arch.to_json(),
            }  # fmt: skip
            print(json.dumps(row), flush=True)
            rows.append(row)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
