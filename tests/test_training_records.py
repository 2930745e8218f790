"""scripts/training_records.py: the records table is written from the records, and is current."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "training_records.py"


def run(*args):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=60
    )


def record(epochs, seconds, test_acc, init_stage=None):
    return {
        "architecture_key": "d12d7c1578411d2f",
        "config": {"network": {"width": 32, "cells_per_stage": 3}},
        "epochs": epochs,
        "params": 804874,
        "flops": 129074432,
        "seconds": seconds,
        "train_acc": 0.9448,
        "test_acc": test_acc,
        "test_images": 10000,
        "init_stage": init_stage,
    }


def test_table_rows_come_from_the_records_and_a_second_stage_adds_up(tmp_path):
    first = record(40, 36000.0, 0.8763)
    (tmp_path / "m1-w32c3-e40-metrics.json").write_text(json.dumps(first))
    (tmp_path / "m1-w32c3-stage2-metrics.json").write_text(
        json.dumps(record(10, 9000.0, 0.8791, init_stage=first))
    )
    (tmp_path / "m1-w32c3-e40-train.log").write_text("not a record")
    out = run("--records", tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 4
    assert lines[2] == (
        "| m1-w32c3-e40 | `d12d7c1578411d2f` | 32 / 3 | 40 | 804,874 | 129.1 | 10.0 | 94.48% "
        "| 87.63% (10,000 images) |"
    )
    assert "| 40+10 | 804,874 | 129.1 | 12.5 | 94.48% | 87.91% (10,000 images) |" in lines[3]

    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- training-records -->\nold\n<!-- /training-records -->\nend\n")
    assert "table rewritten" in run("--records", tmp_path, "--write", readme).stdout
    assert readme.read_text() == (
        "intro\n<!-- training-records -->\n" + out.stdout + "<!-- /training-records -->\nend\n"
    )
    assert "already current" in run("--records", tmp_path, "--write", readme).stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "not a training record"), ('{"epochs": 40}', "not a training record")],
)
def test_a_broken_record_is_a_one_line_error(tmp_path, content, message):
    (tmp_path / "m9-metrics.json").write_text(content)
    out = run("--records", tmp_path)
    assert out.returncode != 0
    assert out.stderr.startswith("error: ") and message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_missing_records_or_block_are_errors(tmp_path):
    assert "no *-metrics.json records" in run("--records", tmp_path).stderr
    (tmp_path / "m1-metrics.json").write_text(json.dumps(record(40, 3600.0, 0.87)))
    (tmp_path / "README.md").write_text("no markers\n")
    out = run("--records", tmp_path, "--write", tmp_path / "README.md")
    assert out.returncode != 0 and "has no <!-- training-records --> block" in out.stderr


def test_committed_table_is_the_one_the_records_give():
    readme = ROOT / "docs" / "training" / "README.md"
    text = readme.read_text()
    out = run()
    assert out.returncode == 0, out.stderr
    assert f"<!-- training-records -->\n{out.stdout}<!-- /training-records -->" in text
