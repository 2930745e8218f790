"""Hostile inputs to ``search``, ``train`` and ``export``, run as the user runs them (issue 65).

Each case runs ``python -m autodl_design.cli ...`` in a subprocess and asserts what a refusal
must look like: a non-zero exit status, exactly one line on stderr (``autodl-design: error:
...``, naming the problem), no traceback, and the temporary tree exactly as before (no file or
directory created, no file changed). Every case is refused before training starts, so each
costs one Python start with Paddle (2-3 s).

Unwritable output paths: this suite runs as root in CI, and root writes into a read-only
(mode 0o555) directory, so the read-only case uses such a directory only when not root; the
``/proc`` case (no one, root included, can create a directory there) runs always.
Data corruption and ``predict`` are covered elsewhere.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
QUICK = str(ROOT / "configs" / "quick.yaml")  # local backend, 2 workers: the default path
ARCH = str(ROOT / "pretrained" / "archs" / "m1.json")
TINY = [
    "updates=1",
    "controller.batch_size=2",
    "data.max_train_per_class=2",
    "data.max_val_per_class=1",
]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run the CLI of this checkout (not whichever copy is installed) with ``cwd`` as its
    working directory, so relative output paths land in the test's tree."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "autodl_design.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under ``root``: directories by name, files by size, mtime and content hash.

    Directory mtimes are left out: the output-path check creates and removes a probe
    directory, which changes its parent's mtime and nothing else.
    """
    state = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_dir():
            state[rel] = ("dir",)
        else:
            st = path.stat()
            state[rel] = (st.st_size, st.st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
    return state


def assert_refused(tmp: Path, *args: str, match: str) -> str:
    """Run the command in ``tmp`` and check it is refused cleanly; returns its error line."""
    before = snapshot(tmp)
    proc = cli(*args, cwd=tmp)
    lines = proc.stderr.splitlines()
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert len(lines) == 1, proc.stderr[-3000:]
    # "autodl-design: error: ..." or, for a usage error, "autodl-design predict: error: ..."
    assert re.match(r"autodl-design( [\w-]+)*: error: ", lines[0]), lines[0]
    assert match in lines[0], lines[0]
    assert snapshot(tmp) == before, "the refused command changed the tree"
    return lines[0]


def search(*extra: str) -> list[str]:
    args = ["search", "-c", QUICK, "--no-progress"]
    for o in TINY:
        args += ["-o", o]
    return [*args, *extra]


def train(*extra: str) -> list[str]:
    return ["train", "--arch", ARCH, "-o", "epochs=1", "-o", "network.width=8", *extra]


def export(*extra: str) -> list[str]:
    return ["export", *extra]


COMMANDS = {"search": search, "train": train, "export": export}


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    (tmp_path / "a-file").write_text("not a directory\n")
    return tmp_path


@pytest.mark.parametrize("command", COMMANDS)
def test_output_that_is_a_file(tmp, command):
    line = assert_refused(tmp, *COMMANDS[command]("--output", "a-file"), match="a-file")
    assert "not a directory" in line


@pytest.mark.parametrize("command", COMMANDS)
def test_output_under_a_file(tmp, command):
    line = assert_refused(tmp, *COMMANDS[command]("--output", "a-file/run"), match="a-file/run")
    assert "not a directory" in line


@pytest.mark.parametrize("command", COMMANDS)
def test_output_where_nobody_may_write(tmp, command):
    # /proc refuses new entries even to root; the checked path does not exist there.
    target = "/proc/autodl-design-hostile/run"
    assert not os.path.exists("/proc/autodl-design-hostile")
    assert_refused(tmp, *COMMANDS[command]("--output", target), match="cannot create")


@pytest.mark.parametrize("command", COMMANDS)
def test_output_in_a_read_only_directory(tmp, command):
    if os.geteuid() == 0:
        pytest.skip("root writes into a 0o555 directory; test_output_where_nobody_may_write runs")
    locked = tmp / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        assert_refused(tmp, *COMMANDS[command]("--output", "locked/run"), match="cannot create")
    finally:
        locked.chmod(0o755)


@pytest.mark.parametrize("backend", ["local", "serial"])
def test_search_on_missing_data(tmp, backend):
    args = search("--data", str(tmp / "no-such-data"), "--output", "run")
    assert_refused(tmp, *args, "-o", f"execution.backend={backend}", match="no-such-data")


def write_folder(root: Path, classes: int, per_class: int) -> Path:
    rng = np.random.default_rng(0)
    for split, n in (("train", per_class), ("test", 1)):
        for c in range(classes):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True)
            for i in range(n):
                image = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
                Image.fromarray(image).save(folder / f"{i}.png")
    return root


def test_class_count_mismatch_is_refused_before_anything_runs(tmp):
    folder = str(write_folder(tmp / "folder", classes=10, per_class=2))
    wrong = ["-o", "network.num_classes=5", "-o", "data.val_fraction=0.5"]
    line = assert_refused(tmp, *search("--data", folder, "--output", "run", *wrong), match="5")
    assert "10 classes" in line
    line = assert_refused(tmp, *train("--data", folder, "--output", "run", *wrong), match="5")
    assert "10 classes" in line


@pytest.mark.parametrize("workers", ["0", "-1"])
def test_bad_worker_count(tmp, workers):
    assert_refused(tmp, *search("--workers", workers, "--output", "run"), match="--workers")


@pytest.mark.parametrize("epochs", ["0", "-2"])
def test_bad_stop_after_epochs(tmp, epochs):
    args = train("--stop-after-epochs", epochs, "--output", "run")
    assert_refused(tmp, *args, match="--stop-after-epochs")


@pytest.fixture
def existing_run(tmp) -> Path:
    """A run directory as a search leaves it after its first evaluations: the refusals read
    only its config.yaml and the presence of history.jsonl, so no search is run for it."""
    from autodl_design.config import SearchConfig, load_config, to_yaml

    run = tmp / "run"
    run.mkdir()
    overrides = [*TINY, f"output_dir={run}"]
    config = load_config(SearchConfig, QUICK, overrides)
    (run / "config.yaml").write_text(to_yaml(config))
    (run / "history.jsonl").write_text('{"type": "update", "update": 1, "rewards": []}\n')
    return run


def test_existing_run_without_resume(tmp, existing_run):
    assert_refused(tmp, *search("--output", str(existing_run)), match="already holds a search")


def test_resume_with_another_config(tmp, existing_run):
    args = search("--output", str(existing_run), "--resume", "-o", "evaluator.epochs=3")
    assert_refused(tmp, *args, match="differs from the run's in evaluator")


def test_resume_into_an_empty_path(tmp):
    assert_refused(tmp, *search("--output", "nothing-here", "--resume"), match="holds no search")


def test_resume_from_a_broken_config(tmp, existing_run):
    (existing_run / "config.yaml").write_text(yaml.safe_dump({"controller": {"n_nodes": "x"}}))
    args = search("--output", str(existing_run), "--resume")
    assert_refused(tmp, *args, match="cannot resume")
