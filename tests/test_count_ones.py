"""The count-ones demo learns, and its CLI entry point runs."""

import numpy as np

from autodl_design.cli import main
from autodl_design.config import CountOnesConfig, load_config
from autodl_design.controller.count_ones import count_ones_reward, reward_ceiling, run_count_ones


def test_reward_counts_target_tokens():
    tokens = np.array([[1, 1, 0, 3], [2, 2, 2, 2]])
    np.testing.assert_array_equal(count_ones_reward(tokens), [2, 0])
    np.testing.assert_array_equal(count_ones_reward(tokens, target_op=2), [0, 4])
    assert abs(reward_ceiling(20) - 18.86) < 0.01


def test_short_run_improves():
    cfg = load_config(CountOnesConfig, None, ["updates=25", "controller.seed=5"])
    result = run_count_ones(cfg, log=lambda _line: None)
    first = np.mean(result.mean_rewards[:3])
    assert first < 5  # near the uniform policy's 2 of 20
    assert result.smoothed() > first + 8, result.mean_rewards


def test_cli_demo_smoke(capsys):
    assert main(["demo", "count-ones", "-o", "updates=3", "-o", "log_every=1"]) == 0
    out = capsys.readouterr().out
    assert "update    3" in out and out.strip().splitlines()[-1].startswith("summary:")


def test_cli_reports_bad_config_in_one_line(capsys):
    assert main(["demo", "count-ones", "-o", "controller.nope=1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("autodl-design: error: unknown config key") and "\n" not in err
