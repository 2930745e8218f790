"""The search loop: records, reuse of duplicates, reports, resume after SIGKILL."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from autodl_design.cli import main
from autodl_design.config import SearchConfig, load_config
from autodl_design.search import History, SearchError, run_search
from autodl_design.search.backends import EvalSettings, SerialBackend
from autodl_design.search.loop import _evaluate_batch
from autodl_design.space import random_architecture

TINY = [
    "updates=3",
    "controller.n_nodes=2",
    "controller.batch_size=3",
    "controller.lr=0.05",
    "data.max_train_per_class=2",
    "data.max_val_per_class=1",
    "network.width=4",
    "network.stages=2",
    "evaluator.epochs=1",
    "evaluator.batch_size=16",
]


def _config(tmp_path: Path, *extra: str) -> SearchConfig:
    return load_config(SearchConfig, None, [*TINY, f"output_dir={tmp_path / 'run'}", *extra])


class CountingBackend(SerialBackend):
    """The real serial backend, counting what it is asked to train."""

    def __init__(self, settings):
        super().__init__(settings)
        self.trained: list[str] = []

    def run(self, tasks):
        for task, record in super().run(tasks):
            self.trained.append(task.arch_json)
            yield task, record


def _backend(config: SearchConfig) -> CountingBackend:
    return CountingBackend(EvalSettings(config.data, config.network, config.evaluator))


def _evaluation_lines(path: Path) -> list[dict]:
    # The file may be read while a search appends to it: only lines with their newline count,
    # as in History.open (a cut last line is dropped on resume).
    text = path.read_text()
    lines = [json.loads(x) for x in text[: text.rfind("\n") + 1].splitlines()]
    return [e for e in lines if e["type"] == "evaluation"]


@pytest.mark.parametrize("strategy", ["rl", "random"])
def test_search_records_everything_and_reports(tmp_path, strategy):
    config = _config(tmp_path, f"strategy={strategy}")
    history = run_search(config, _backend(config), progress=False, log=lambda _l: None)
    out = Path(config.output_dir)
    evals = _evaluation_lines(out / "history.jsonl")
    assert sorted((e["update"], e["index"]) for e in evals) == [
        (u, i) for u in (1, 2, 3) for i in range(3)
    ]
    for e in evals:
        assert e["record"]["status"] in ("ok", "nan", "diverged")
        assert e["record"]["arch"] == e["arch"]
    assert sorted(history.updates) == [1, 2, 3]
    best = json.loads((out / "best_architecture.json").read_text())
    assert best["reward"] == max(e["record"]["reward"] for e in evals)
    assert (out / "search_curve.png").stat().st_size > 1000
    assert "rank" in (out / "top_k.txt").read_text()
    checkpoint = "controller.pdparams" if strategy == "rl" else "random_state.json"
    assert (out / checkpoint).exists()
    assert any((out / "vdl").iterdir())


def test_duplicates_are_trained_once(tmp_path):
    config = _config(tmp_path)
    backend = _backend(config)
    rng = np.random.default_rng(0)
    a, b = random_architecture(rng, 2), random_architecture(rng, 2)
    history = History.open(tmp_path / "h.jsonl")

    class Bar:
        def update(self, n):
            pass

    records, counts = _evaluate_batch(1, [a, b, a], history, backend, Bar())
    assert len(backend.trained) == 2 and counts["cached"] == 1
    assert records[0] is records[2]
    records, counts = _evaluate_batch(2, [b], history, backend, Bar())
    assert len(backend.trained) == 2 and counts["cached"] == 1
    lines = _evaluation_lines(tmp_path / "h.jsonl")
    assert [e["cached"] for e in lines] == [False, True, False, True]


def test_existing_run_needs_resume_and_same_config(tmp_path):
    config = _config(tmp_path, "updates=1")
    run_search(config, _backend(config), progress=False, log=lambda _l: None)
    with pytest.raises(SearchError, match="already holds a search"):
        run_search(config, _backend(config), progress=False, log=lambda _l: None)
    other = _config(tmp_path, "updates=1", "evaluator.epochs=2")
    with pytest.raises(SearchError, match="differs from the run's in evaluator"):
        run_search(other, _backend(other), resume=True, progress=False, log=lambda _l: None)
    longer = _config(tmp_path, "updates=2")  # extending a finished run is allowed
    history = run_search(longer, _backend(longer), resume=True, progress=False, log=print)
    assert sorted(history.updates) == [1, 2]


def test_history_drops_a_cut_last_line(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_text('{"type": "update", "update": 1, "rewards": [], "stats": {}}\n{"type": "ev')
    history = History.open(path)
    assert list(history.updates) == [1]
    assert path.read_text().endswith("}\n")


def _cli(tmp_path: Path, *extra: str) -> list[str]:
    args = [sys.executable, "-m", "autodl_design.cli", "search", "--no-progress"]
    for o in [*TINY, "updates=4", "evaluator.epochs=2", f"output_dir={tmp_path / 'run'}"]:
        args += ["-o", o]
    return args + list(extra)


def test_resume_after_sigkill_records_every_evaluation_once(tmp_path):
    history_path = tmp_path / "run" / "history.jsonl"
    proc = subprocess.Popen(_cli(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if history_path.exists() and len(_evaluation_lines(history_path)) >= 5:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the search ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = len(_evaluation_lines(history_path))
    assert 5 <= killed_at < 12

    done = subprocess.run(_cli(tmp_path, "--resume"), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resumed at update" in done.stdout
    evals = _evaluation_lines(history_path)
    slots = [(e["update"], e["index"]) for e in evals]
    assert sorted(slots) == [(u, i) for u in range(1, 5) for i in range(3)]  # each exactly once

    # The resumed run reaches exactly what an uninterrupted run reaches.
    ref_dir = tmp_path / "ref"
    ref_dir.mkdir()
    ref = subprocess.run(_cli(ref_dir), capture_output=True, text=True, timeout=300)
    assert ref.returncode == 0, ref.stderr[-2000:]
    ref_evals = {
        (e["update"], e["index"]): e for e in _evaluation_lines(ref_dir / "run" / "history.jsonl")
    }
    for e in evals:
        r = ref_evals[(e["update"], e["index"])]
        assert e["key"] == r["key"]
        assert e["record"]["reward"] == pytest.approx(r["record"]["reward"], rel=1e-5)


def test_cli_search_smoke(tmp_path, capsys):
    args = ["search", "--no-progress", "--strategy", "random", "--output", str(tmp_path / "o")]
    for o in [*TINY, "updates=1"]:
        args += ["-o", o]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "update   1/1" in out and "best architecture" in out


def test_cli_search_bad_input_is_one_line(tmp_path, capsys):
    assert main(["search", "-o", "evaluator.reward=accuracy"]) == 2
    assert "evaluator.reward" in capsys.readouterr().err
    assert main(["search", "--data", str(tmp_path / "none"), "--output", str(tmp_path / "o")]) == 2
    assert "not found" in capsys.readouterr().err
