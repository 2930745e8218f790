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


def test_search_recipe_is_the_training_recipe():
    # configs/search_wide.yaml repeats train_wide.yaml's recipe for the evaluator (the two
    # schemas differ, so it cannot extend it): only the schedule's length, batch and rates may
    # differ, so the proxy keeps ranking what the final training trains.
    from dataclasses import asdict

    from autodl_design.train import TrainConfig

    search = load_config(SearchConfig, "configs/search_wide.yaml")
    train = load_config(TrainConfig, "configs/train_wide.yaml")
    own = {"epochs", "patience", "batch_size", "lr", "lr_min", "num_threads", "seed"}
    for key, value in asdict(search.evaluator).items():
        if key not in own and hasattr(train, key):
            assert value == getattr(train, key), key
    assert search.evaluator.lr_min / search.evaluator.lr == pytest.approx(train.lr_min / train.lr)
    for key in ("translate", "pad_mode", "flip", "augment"):
        assert getattr(search.data, key) == getattr(train.data, key), key
    # what the wide frame reads, its widths aside (the proxy's are narrower)
    frame = ["frame", "activation", "bn_scale", "bn_momentum", "bn_epsilon", "identity_init"]
    for key in [*frame, "logit_scale", "init", "cell_input", "num_classes"]:
        assert getattr(search.network, key) == getattr(train.network, key), key


# --- extends: -------------------------------------------------------------------------------


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_extends_deep_merges_sections_and_replaces_other_values(tmp_path):
    _write(
        tmp_path / "base" / "base.yaml",
        "updates: 30\ntop_k: 10\ncontroller:\n  n_nodes: 10\n  lr: 0.02\n"
        "execution:\n  backend: local\n  workers: 2\n",
    )
    child = _write(
        tmp_path / "child.yaml",
        "extends: base/base.yaml\nupdates: 8\ncontroller:\n  lr: 0.05\n"
        "execution:\n  backend: serial\n",
    )
    cfg = load_config(SearchConfig, child)
    assert cfg.updates == 8 and cfg.top_k == 10
    assert cfg.controller.lr == 0.05 and cfg.controller.n_nodes == 10
    assert cfg.execution.backend == "serial" and cfg.execution.workers == 2


def test_extends_chain_is_relative_to_each_including_file(tmp_path):
    _write(tmp_path / "a.yaml", "updates: 1\ntop_k: 1\nrandom_edge_prob: 0.1\n")
    _write(tmp_path / "sub" / "b.yaml", "extends: ../a.yaml\ntop_k: 2\nrandom_edge_prob: 0.2\n")
    c = _write(
        tmp_path / "sub" / "deeper" / "c.yaml", "extends: ../b.yaml\nrandom_edge_prob: 0.3\n"
    )
    cfg = load_config(SearchConfig, c)
    assert (cfg.updates, cfg.top_k, cfg.random_edge_prob) == (1, 2, 0.3)


def test_overrides_apply_after_the_whole_chain(tmp_path):
    _write(tmp_path / "base.yaml", "updates: 30\ncontroller:\n  lr: 0.02\n")
    child = _write(tmp_path / "child.yaml", "extends: base.yaml\nupdates: 8\n")
    cfg = load_config(SearchConfig, child, ["updates=3", "controller.lr=0.5"])
    assert cfg.updates == 3 and cfg.controller.lr == 0.5


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"a.yaml": "extends: a.yaml\n"}, r"a\.yaml: extends: cycle .*a\.yaml -> .*a\.yaml$"),
        (
            {"a.yaml": "extends: b.yaml\n", "b.yaml": "extends: a.yaml\nupdates: 2\n"},
            r"b\.yaml: extends: cycle .*a\.yaml -> .*b\.yaml -> .*a\.yaml$",
        ),
        ({"a.yaml": "extends: gone.yaml\n"}, r"a\.yaml: extends: file not found: .*gone\.yaml"),
        ({"a.yaml": "extends: 3\n"}, r"a\.yaml: extends: expected a file name, got 3"),
        ({"a.yaml": "extends:\nupdates: 2\n"}, r"a\.yaml: extends: expected a file name"),
        (
            {"a.yaml": "extends: b.yaml\n", "b.yaml": "controller:\n  lrr: 1\n"},
            r"b\.yaml: unknown config key 'controller\.lrr'",
        ),
        ({"a.yaml": "extends: b.yaml\n", "b.yaml": "- 1\n"}, r"b\.yaml: top level must be"),
        ({"a.yaml": "extends: b.yaml\n", "b.yaml": "updates: [1,\n"}, r"b\.yaml: not valid YAML"),
        ({"a.yaml": "data:\n  extends: b.yaml\n"}, r"unknown config key 'data\.extends'"),
    ],
)
def test_bad_extends_chains_are_one_line_errors_naming_the_file(tmp_path, files, message):
    for name, text in files.items():
        _write(tmp_path / name, text)
    with pytest.raises(ConfigError, match=message) as error:
        load_config(SearchConfig, tmp_path / "a.yaml")
    assert "\n" not in str(error.value)


def test_unknown_key_in_the_including_file_is_named_with_it(tmp_path):
    _write(tmp_path / "base.yaml", "updates: 2\n")
    child = _write(tmp_path / "child.yaml", "extends: base.yaml\nupdate: 3\n")
    with pytest.raises(ConfigError, match=r"child\.yaml: unknown config key 'update'"):
        load_config(SearchConfig, child)


def test_extends_works_for_every_config_type(tmp_path):
    from autodl_design.train.config import TrainConfig

    _write(tmp_path / "t.yaml", "epochs: 40\ndistill:\n  weight: 0.8\n")
    child = _write(
        tmp_path / "t2.yaml", "extends: t.yaml\nepochs: 10\ndistill:\n  temperature: 2\n"
    )
    cfg = load_config(TrainConfig, child)
    assert cfg.epochs == 10 and cfg.distill.weight == 0.8 and cfg.distill.temperature == 2.0
    _write(tmp_path / "c.yaml", "updates: 9\n")
    ones = _write(tmp_path / "c2.yaml", "extends: c.yaml\ncontroller:\n  seed: 4\n")
    cfg = load_config(CountOnesConfig, ones)
    assert cfg.updates == 9 and cfg.controller.seed == 4 and cfg.controller.lr == 0.06


def test_to_yaml_of_an_extended_config_round_trips_and_resumes(tmp_path):
    import dataclasses

    import yaml

    from autodl_design.config import from_dict
    from autodl_design.search.loop import prepare_output

    out = tmp_path / "run"
    _write(tmp_path / "base.yaml", f"updates: 30\noutput_dir: {out}\ncontroller:\n  lr: 0.02\n")
    child = _write(tmp_path / "child.yaml", "extends: base.yaml\nupdates: 8\n")
    cfg = load_config(SearchConfig, child)
    text = to_yaml(cfg)
    assert "extends" not in text
    again = from_dict(SearchConfig, yaml.safe_load(text))
    assert dataclasses.asdict(again) == dataclasses.asdict(cfg)
    prepare_output(cfg, resume=False)
    prepare_output(load_config(SearchConfig, child, ["updates=12"]), resume=True)
