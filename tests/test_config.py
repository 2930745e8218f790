"""Typed configuration: YAML + overrides, unknown keys and bad values rejected."""

import pytest

from autodl_design.config import (
    ConfigError,
    CountOnesConfig,
    EvaluatorConfig,
    SearchConfig,
    load_config,
    to_yaml,
)


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("updates: 7\ncontroller:\n  lr: 0.5\n")
    cfg = load_config(CountOnesConfig, path, ["controller.seed=3", "controller.lr=0.25"])
    assert cfg.updates == 7 and cfg.controller.seed == 3 and cfg.controller.lr == 0.25
    assert isinstance(cfg.controller.lr, float)
    again = load_config(CountOnesConfig, None, [f"updates={cfg.updates}"])
    assert "updates: 7" in to_yaml(again)


def test_shipped_config_files_load():
    cfg = load_config(CountOnesConfig, "configs/count_ones.yaml")
    assert cfg.controller.n_nodes == 10 and cfg.controller.batch_size == 10


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["controller.lrr=1"], "unknown config key 'controller.lrr'"),
        (["controller.lr=-1"], "controller.lr: must be > 0"),
        (["controller.n_nodes=2.5"], "controller.n_nodes: expected an integer"),
        (["controller.cube_advantage=maybe"], "expected true or false"),
        (["updates"], "must look like key.path=value"),
        (["controller=3"], "controller: expected a mapping"),
    ],
)
def test_bad_values_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(CountOnesConfig, None, overrides)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.cutout=-2"], "data.cutout: must be >= 0"),
        (["data.augment=false", "data.cutout=16"], "data.cutout: needs augment: true"),
    ],
)
def test_bad_cutout_is_named(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(SearchConfig, None, overrides)
    assert load_config(SearchConfig, None, ["data.cutout=16"]).data.cutout == 16


def test_literal_choices_and_files(tmp_path):
    with pytest.raises(ConfigError, match="'acc' is not one of"):
        load_config(EvaluatorConfig, None, ["reward=acc"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(EvaluatorConfig, tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(EvaluatorConfig, bad)


def test_partial_section_keeps_the_parents_defaults():
    cfg = load_config(CountOnesConfig, None, ["controller.seed=5"])
    assert cfg.controller.seed == 5
    assert cfg.controller.lr == CountOnesConfig().controller.lr == 0.06


def test_shipped_search_configs_load():
    from pathlib import Path

    from autodl_design.config import SearchConfig

    names = sorted(p.name for p in Path("configs").glob("*.yaml") if p.name != "count_ones.yaml")
    assert {"quick.yaml", "cpu.yaml", "original_gpu.yaml"} <= set(names)
    for name in names:
        if name.startswith("train"):
            continue  # final-training configs have their own schema
        load_config(SearchConfig, Path("configs") / name)
