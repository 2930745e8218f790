"""The search loop: records, reuse of duplicates, reports, resume after SIGKILL and SIGTERM,
batches without a measurement."""

import dataclasses
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
from autodl_design.search.report import ranked, write_report
from autodl_design.space import Architecture, random_architecture

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


def _start_and_wait(args: list[str], history_path: Path, evaluations: int) -> subprocess.Popen:
    """Start a search and return once its history holds ``evaluations`` evaluations."""
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if history_path.exists() and len(_evaluation_lines(history_path)) >= evaluations:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the search ended before it could be stopped"
    return proc


def test_resume_after_sigkill_records_every_evaluation_once(tmp_path):
    history_path = tmp_path / "run" / "history.jsonl"
    proc = _start_and_wait(_cli(tmp_path), history_path, 5)
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


def test_cli_search_in_the_wide_frame_with_the_recipe(tmp_path, capsys):
    # configs/search_wide.yaml (what `make search` runs), shrunk: one-cell space, wide frame,
    # the fast recipe in the evaluator, real bundled images, reward = validation accuracy.
    args = ["search", "--no-progress", "-c", "configs/search_wide.yaml"]
    args += ["--output", str(tmp_path / "w")]
    shrink = ["updates=1", "controller.batch_size=2", "data.max_train_per_class=6"]
    shrink += ["data.max_val_per_class=3", "network.widths=[8,16,16]", "evaluator.epochs=2"]
    shrink += ["execution.backend=serial"]
    for o in shrink:
        args += ["-o", o]
    assert main(args) == 0
    assert "best architecture" in capsys.readouterr().out
    lines = _evaluation_lines(tmp_path / "w" / "history.jsonl")
    assert len(lines) == 2
    for entry in lines:
        record = entry["record"]
        assert record["status"] == "ok" and 0 <= record["reward"] <= 1
        assert record["reward"] == record["val_acc"]
        arch = Architecture.from_json(record["arch"])
        assert arch.normal == arch.reduction  # space.cells: one


def test_cli_search_bad_input_is_one_line(tmp_path, capsys):
    assert main(["search", "-o", "evaluator.reward=accuracy"]) == 2
    assert "evaluator.reward" in capsys.readouterr().err
    assert main(["search", "--data", str(tmp_path / "none"), "--output", str(tmp_path / "o")]) == 2
    assert "not found" in capsys.readouterr().err


def test_a_batch_without_a_measurement_stops_before_learning_and_resumes(tmp_path):
    config = _config(tmp_path)
    # The real evaluator on 10-class data with a 5-class network: every candidate errors
    # (the preflight of `autodl-design search` refuses this; here the loop gets it directly).
    broken = EvalSettings(
        config.data, dataclasses.replace(config.network, num_classes=5), config.evaluator
    )
    with pytest.raises(SearchError, match="update 1: all 3 candidates failed .*not updated"):
        run_search(config, CountingBackend(broken), progress=False, log=lambda _l: None)
    out = Path(config.output_dir)
    assert {e["record"]["status"] for e in _evaluation_lines(out / "history.jsonl")} == {"error"}
    assert not (out / "controller.pdparams").exists()  # the controller did not learn
    assert not (out / "best_architecture.json").exists() and not (out / "top_k.txt").exists()
    assert History.open(out / "history.jsonl").updates == {}

    backend = _backend(config)
    history = run_search(config, backend, resume=True, progress=False, log=lambda _l: None)
    first = [e["key"] for e in _evaluation_lines(out / "history.jsonl")[:3]]
    assert [Architecture.from_json(a).key() for a in backend.trained[:3]] == first  # retrained
    assert all(history.evaluations[(1, i)]["record"]["status"] == "ok" for i in range(3))
    assert sorted(history.updates) == [1, 2, 3]


def _record(status: str, reward: float | None) -> dict:
    return {"status": status, "reward": reward, "val_acc": 0.1, "val_loss": 2.0, "error": None}


def test_failed_and_errored_candidates_never_rank(tmp_path):
    rng = np.random.default_rng(0)
    archs = [random_architecture(rng, 2) for _ in range(3)]
    history = History.open(tmp_path / "h.jsonl")
    # The errored record's chance-level reward (-ln 5) is above the measured one's.
    for i, (status, reward) in enumerate([("failed", None), ("error", -1.609), ("ok", -2.3)]):
        a = archs[i]
        history.add_evaluation(1, i, a.key(), a.to_json(), _record(status, reward), cached=False)
    assert [e["key"] for e in ranked(history)] == [archs[2].key()]
    assert write_report(history, tmp_path, 5, lambda _l: None)
    best = json.loads((tmp_path / "best_architecture.json").read_text())
    assert best["key"] == archs[2].key() and best["reward"] == -2.3
    assert len((tmp_path / "top_k.txt").read_text().splitlines()) == 2  # header + 1 row

    only_failures = History.open(tmp_path / "f.jsonl")
    for i, status in enumerate(["failed", "error"]):
        a = archs[i]
        only_failures.add_evaluation(1, i, a.key(), a.to_json(), _record(status, -1.6), False)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not write_report(only_failures, empty, 5, lambda _l: None)
    assert list(empty.iterdir()) == []


def test_sigterm_ends_a_search_in_one_line_and_keeps_the_history(tmp_path):
    history_path = tmp_path / "run" / "history.jsonl"
    # Candidates of 20 epochs so the signal lands inside training, where the serial backend
    # runs it in this process, and far more updates than can finish before the signal (with
    # the oneDNN ops a candidate takes a fraction of a second). No --no-progress: stderr is a
    # pipe.
    slow = ["-o", "updates=1000", "-o", "evaluator.epochs=20", "-o", "evaluator.patience=20"]
    args = [a for a in _cli(tmp_path, *slow) if a != "--no-progress"]
    proc = _start_and_wait(args, history_path, 2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    # One line: no Paddle C++ dump ("Aborted"), no traceback, and no progress bar in a pipe.
    assert err.splitlines() == [
        "autodl-design: error: stopped by SIGTERM; the history is kept: continue with --resume"
    ], err[-3000:]
    kept = _evaluation_lines(history_path)
    assert len(kept) >= 2 and all(e["record"]["status"] == "ok" for e in kept)
    updates = max(e["update"] for e in kept)
    resume = _cli(tmp_path, "--resume", *slow, "-o", f"updates={updates}")
    done = subprocess.run(resume, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    slots = [(e["update"], e["index"]) for e in _evaluation_lines(history_path)]
    assert sorted(slots) == [(u, i) for u in range(1, updates + 1) for i in range(3)]
