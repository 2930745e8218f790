"""Shared test set-up.

``autodl_design`` must be imported before paddle/protobuf/parl (see ``autodl_design/_compat``);
test modules import paddle at the top, so the package is imported here, first.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import autodl_design  # noqa: F401

# Runs a saved program in a fresh process (a crash in Paddle Inference must not take pytest
# down): argv = program file, params file, input .npy, output .npy, "default" | "no-onednn".
RUN_PREDICTOR = """
import sys
import numpy as np
import autodl_design
import paddle.inference as pi
from autodl_design.nn.predictor import Predictor
model, params, x_path, out_path, how = sys.argv[1:]
config = pi.Config(model, params)  # Paddle's defaults: oneDNN on CPU, every pass
if how == "no-onednn":
    config.disable_onednn()
np.save(out_path, Predictor(config)(np.load(x_path)))
"""


@pytest.fixture
def run_program(tmp_path):
    """``run(model, x, how)``: outputs of the saved program ``model`` (its ``.pdiparams`` next
    to it) on float32 ``x`` under Paddle Inference's default config (``how="default"``) or
    with oneDNN disabled (``"no-onednn"``), computed in a subprocess."""

    def run(model, x, how):
        x_path, out_path = tmp_path / f"x_{how}.npy", tmp_path / f"out_{how}.npy"
        np.save(x_path, x)
        params = Path(str(model).rsplit(".", 1)[0] + ".pdiparams")
        args = [model, params, x_path, out_path, how]
        proc = subprocess.run(
            [sys.executable, "-c", RUN_PREDICTOR, *map(str, args)], capture_output=True, timeout=300
        )
        assert proc.returncode == 0, (
            f"{how}: exit {proc.returncode}\n{proc.stderr.decode()[-1500:]}"
        )
        return np.load(out_path)

    return run
