"""scripts/train_pretrained.sh: which runs it trains, resumes, publishes or gives a second stage.

The commands it calls are tested on their own (tests/test_final_training.py,
tests/test_pretrained.py); here a recording stand-in for the CLI (``AUTODL_DESIGN_CLI``) writes
each run's test accuracy, so that the script's decisions can be checked in seconds.
"""

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

STAND_IN = """#!/usr/bin/env bash
echo "$*" >> calls.log
case "$1" in
train)
    out=""; while [ $# -gt 0 ]; do [ "$1" = --output ] && out=$2; shift; done
    mkdir -p "$out"
    acc=$(grep "^$(basename "$out") " accs | cut -d' ' -f2)
    echo "{\\"test_acc\\": $acc}" > "$out/metrics.json";;
add-pretrained)
    mkdir -p pretrained; echo "- name: ${@: -1}" >> pretrained/manifest.yaml;;
esac
"""


def run_script(tree, *names):
    proc = subprocess.run(
        ["bash", "scripts/train_pretrained.sh", *names],
        cwd=tree,
        env={"PATH": "/usr/bin:/bin", "AUTODL_DESIGN_CLI": str(tree / "cli")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_models_below_the_bar_get_one_second_stage(tmp_path):
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "train_pretrained.sh", tmp_path / "scripts")
    (tmp_path / "cli").write_text(STAND_IN)
    (tmp_path / "cli").chmod(0o755)
    (tmp_path / "accs").write_text("m1 0.89\nm2 0.87\nm2-stage2 0.885\nm3 0.86\nm3-stage2 0.87\n")
    # m3's first stage had been started: it is resumed, not restarted.
    m3_run = tmp_path / "runs" / "pretrained-w32c3" / "m3"
    m3_run.mkdir(parents=True)
    (m3_run / "checkpoint.pdckpt").write_text("")

    out = run_script(tmp_path, "m1", "m2", "m3")
    calls = (tmp_path / "calls.log").read_text().splitlines()
    first, stage2 = (
        "-c configs/train_cifar10_w32c3.yaml",
        "-c configs/train_cifar10_w32c3_stage2.yaml",
    )
    assert calls == [
        f"train --arch pretrained/archs/m1.json {first} --output runs/pretrained-w32c3/m1",
        "add-pretrained runs/pretrained-w32c3/m1 --name m1",
        "ensemble --write-manifest",
        f"train --arch pretrained/archs/m2.json {first} --output runs/pretrained-w32c3/m2",
        f"train --arch pretrained/archs/m2.json {stage2} --output runs/pretrained-w32c3/m2-stage2"
        " -o init_from=runs/pretrained-w32c3/m2/model.pdparams",
        "add-pretrained runs/pretrained-w32c3/m2-stage2 --name m2",
        "ensemble --write-manifest",
        f"train --arch pretrained/archs/m3.json {first} --output runs/pretrained-w32c3/m3 --resume",
        f"train --arch pretrained/archs/m3.json {stage2} --output runs/pretrained-w32c3/m3-stage2"
        " -o init_from=runs/pretrained-w32c3/m3/model.pdparams",
    ]
    assert "m3: not added to pretrained/ after the second stage" in out

    (tmp_path / "calls.log").unlink()
    again = run_script(tmp_path, "m1", "m2", "m3")
    assert not (tmp_path / "calls.log").exists()  # nothing trained or published twice
    assert "m1: in pretrained/ already" in again and "m2: in pretrained/ already" in again
