"""The repository holds source and published results, never run state.

Run state (training checkpoints, VisualDL records, partial runs) lives in ``runs/`` and is
ignored by ``.gitignore``; a tracked file that ``.gitignore`` would ignore, or a checkpoint
anywhere, fails the suite, so a commit of run state cannot land.
"""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUN_STATE = ["runs/", "*.pdckpt", "vdlrecords.*", "in-progress/"]


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


needs_git = pytest.mark.skipif(
    shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout"
)


def ignored_but_tracked(cwd: Path) -> list[str]:
    """Tracked files that ``.gitignore`` would ignore, plus any tracked checkpoint."""
    ignored = git("ls-files", "--cached", "--ignored", "--exclude-standard", cwd=cwd).split()
    checkpoints = [f for f in git("ls-files", cwd=cwd).split() if f.endswith(".pdckpt")]
    return sorted(set(ignored) | set(checkpoints))


def test_gitignore_covers_run_state():
    lines = {line.strip() for line in (ROOT / ".gitignore").read_text().splitlines()}
    assert [p for p in RUN_STATE if p not in lines] == []


@needs_git
def test_no_run_state_is_tracked():
    assert ignored_but_tracked(ROOT) == []


@needs_git
def test_a_tracked_checkpoint_is_caught(tmp_path):
    # The check must be able to fail: a repository with a force-added checkpoint.
    shutil.copy(ROOT / ".gitignore", tmp_path / ".gitignore")
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "state.json").write_text("{}")
    (tmp_path / "model.pdckpt").write_bytes(b"\0")
    git("init", "-q", cwd=tmp_path)
    git("add", ".gitignore", cwd=tmp_path)
    git("add", "-f", "model.pdckpt", "runs/state.json", cwd=tmp_path)
    assert ignored_but_tracked(tmp_path) == ["model.pdckpt", "runs/state.json"]
