"""User-defined search spaces: the space as data, its config section and its checks, the
strategies respecting it, the default space proposing exactly what it proposed before, and a
real tiny search in a small space."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from autodl_design.checkpoint import load_state, save_atomic
from autodl_design.config import (
    ConfigError,
    ControllerConfig,
    EvolutionConfig,
    SearchConfig,
    SpaceConfig,
    from_dict,
    load_config,
    to_yaml,
)
from autodl_design.controller import CheckpointError, ControllerAgent
from autodl_design.search import run_search
from autodl_design.search.backends import EvalSettings, SerialBackend
from autodl_design.search.evolution import EvolutionStrategy, mutate
from autodl_design.search.preflight import SearchError, check_output
from autodl_design.search.strategy import RandomStrategy, make_strategy
from autodl_design.space import (
    ADJACENCIES,
    CELL_TYPES,
    OP_NAMES,
    Architecture,
    ArchitectureError,
    Cell,
    SearchSpace,
    random_architecture,
)

SMALL = SearchSpace.from_names(
    6, ["conv3x3", "max_pool3x3", "conv1x1", "avg_pool3x3"], "chain", "one"
)


def test_default_space_actions_are_the_architectures_actions():
    rng = np.random.default_rng(0)
    for n in (2, 3, 5, 10):
        space = SearchSpace(n)
        assert space.is_default and space.num_tokens == 2 * n and space.num_bits == n * (n - 1)
        for _ in range(20):
            tokens = rng.integers(0, 10, size=2 * n)
            bits = rng.integers(0, 2, size=n * (n - 1))
            arch = space.from_actions(tokens, bits)
            assert arch == Architecture.from_actions(tokens, bits)
            assert space.to_actions(arch) == arch.to_actions()


def test_default_space_random_draws_are_random_architecture_draws():
    a, b = np.random.default_rng(7), np.random.default_rng(7)
    for _ in range(30):
        assert SearchSpace(5).random(a, 0.3) == random_architecture(b, 5, 0.3)
    assert a.random() == b.random()  # the generators went the same way


def test_a_chain_one_cell_space():
    ops = [OP_NAMES.index(name) for name in ("conv3x3", "max_pool3x3", "conv1x1", "avg_pool3x3")]
    assert SMALL.ops == tuple(ops) and SMALL.num_ops == 4
    assert SMALL.num_tokens == 6 and SMALL.num_bits == 0
    chain = ((0, 1), (1, 2), (2, 3), (3, 4), (4, 5))
    arch = SMALL.from_actions([0, 1, 2, 3, 3, 0], [])
    assert (
        arch.normal
        == arch.reduction
        == Cell((ops[0], ops[1], ops[2], ops[3], ops[3], ops[0]), chain)
    )
    assert SMALL.to_actions(arch) == ([0, 1, 2, 3, 3, 0], [])
    assert Architecture.from_json(arch.to_json()) == arch  # the JSON is an ordinary one
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(200):
        arch = SMALL.random(rng)
        assert SMALL.problem(arch) is None
        seen.update(arch.normal.ops)
    assert seen == set(ops)


def test_no_edges_and_searched_one_cell_spaces():
    none = SearchSpace.from_names(3, ["conv1x1", "conv3x3"], "none", "two")
    arch = none.from_actions([0, 1, 1, 1, 0, 0], [])
    assert arch.normal.edges == arch.reduction.edges == ()
    assert arch.normal.ops == (0, 1, 1) and arch.reduction.ops == (1, 0, 0)
    one = SearchSpace(4, cells="one")
    assert one.num_tokens == 4 and one.num_bits == 6
    arch = one.from_actions([1, 2, 3, 4], [1, 0, 1, 0, 0, 1])
    assert arch.normal == arch.reduction and arch.normal.edges == ((0, 1), (1, 2), (2, 3))


def test_architectures_outside_a_space_are_named():
    arch = random_architecture(np.random.default_rng(1), 6)
    assert "differs from its normal cell" in SMALL.problem(arch)
    same = Architecture(arch.normal, arch.normal)
    assert "not one of the space's ops" in SMALL.problem(same)
    inside = SMALL.random(np.random.default_rng(0))
    assert "6 nodes per cell, the space 5" in SearchSpace(5).problem(inside)
    loose = Architecture(Cell(inside.normal.ops, ((0, 2),)), Cell(inside.normal.ops, ((0, 2),)))
    assert "fixed (chain)" in SMALL.problem(loose)
    with pytest.raises(ArchitectureError, match="not in the search space"):
        SMALL.to_actions(arch)
    with pytest.raises(ArchitectureError, match="this space takes 6 and 0"):
        SMALL.from_actions([0] * 12, [])
    with pytest.raises(ArchitectureError, match="token 4 is not one of 0..3"):
        SMALL.from_actions([4] * 6, [])


def test_malformed_spaces_are_refused():
    with pytest.raises(ArchitectureError, match="name an op twice"):
        SearchSpace(3, (1, 2, 1))
    with pytest.raises(ArchitectureError, match="at least 1 op"):
        SearchSpace(3, ())
    with pytest.raises(ArchitectureError, match="unknown op 'conv7x7'"):
        SearchSpace.from_names(3, ["conv7x7"])
    with pytest.raises(ArchitectureError, match="adjacency 'ring'"):
        SearchSpace(3, adjacency="ring")


# configs/space_chain.yaml's space
SMALL_CHAIN = SearchSpace.from_names(
    6, ["conv3x3", "dil_conv3x3", "max_pool3x3", "avg_pool3x3"], "chain", "one"
)


# --- the config section ----------------------------------------------------------------------


def test_the_default_section_is_the_original_space():
    config = load_config(SearchConfig)
    assert config.space.ops == list(OP_NAMES) and config.space.nodes == 10
    assert config.search_space() == SearchSpace(10) and config.search_space().is_default
    fields = {f.name: f.type for f in dataclasses.fields(SpaceConfig)}
    assert all(a in fields["adjacency"] for a in ADJACENCIES)  # the config offers every kind
    assert all(c in fields["cells"] for c in CELL_TYPES)


def test_old_configs_keep_their_node_count():
    for path, n in (("configs/quick.yaml", 5), ("configs/cpu.yaml", 10)):
        config = load_config(SearchConfig, path)
        assert config.space.nodes == config.controller.n_nodes == n
        assert config.search_space() == SearchSpace(n)
    config = load_config(SearchConfig, "configs/quick.yaml", ["controller.n_nodes=2"])
    assert config.space.nodes == 2 and config.search_space() == SearchSpace(2)


def _write(path, text):
    path.write_text(text)
    return path


def test_space_nodes_and_controller_n_nodes_are_one_setting_the_later_wins(tmp_path):
    base = _write(tmp_path / "base.yaml", "controller:\n  n_nodes: 5\n  lr: 0.5\n")
    child = _write(tmp_path / "child.yaml", "extends: base.yaml\nspace:\n  nodes: 6\n")
    config = load_config(SearchConfig, child)
    assert config.space.nodes == config.controller.n_nodes == 6
    assert config.controller.lr == 0.5
    config = load_config(SearchConfig, child, ["controller.n_nodes=7"])
    assert config.space.nodes == config.controller.n_nodes == 7
    config = load_config(SearchConfig, base, ["space.nodes=3", "space.adjacency=chain"])
    assert config.search_space() == SearchSpace(3, adjacency="chain")
    both = _write(tmp_path / "both.yaml", "space:\n  nodes: 6\ncontroller:\n  n_nodes: 5\n")
    message = (
        rf"^{both}: space.nodes: 6 and controller.n_nodes: 5 name one setting; give one of them$"
    )
    with pytest.raises(ConfigError, match=message):
        load_config(SearchConfig, both)
    with pytest.raises(ConfigError, match="^space.nodes: 6 and controller.n_nodes: 5 name one"):
        from_dict(SearchConfig, {"space": {"nodes": 6}, "controller": {"n_nodes": 5}})
    built = SearchConfig(space=SpaceConfig(nodes=6))  # in code: nothing links them
    with pytest.raises(ConfigError, match="^space.nodes: 6, but controller.n_nodes is 10$"):
        built.search_space()


ALL = ", ".join(OP_NAMES)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["space.ops=[conv3x3, max_pool3x3, conv7x7]"],
            f"space.ops[2]: unknown op 'conv7x7'; registered ops: {ALL}",
        ),
        (["space.ops=[conv3x3, conv1x1, conv3x3]"], "space.ops[2]: 'conv3x3' is already ops[0]"),
        (["space.ops=[]"], "space.ops: needs at least 1 op"),
        (["space.ops=conv3x3"], "space.ops: expected a list, got 'conv3x3'"),
        (["space.ops=[3]"], "space.ops[0]: expected a string, got 3"),
        (
            ["space.ops=[conv3x3]", "space.adjacency=chain"],
            "space.ops: one op and adjacency: chain leave nothing to search",
        ),
        (
            ["space.adjacency=ring"],
            "space.adjacency: 'ring' is not one of 'searched', 'chain', 'none'",
        ),
        (["space.cells=three"], "space.cells: 'three' is not one of 'two', 'one'"),
        (
            ["space.nodes=1"],
            "space.nodes: must be >= 2 (controller.n_nodes is the same setting)",
        ),
        (["space.nodes=x"], "space.nodes: expected an integer, got 'x'"),
        (["controller.n_nodes=2.5"], "controller.n_nodes: expected an integer, got 2.5"),
        (["space.opps=[conv3x3]"], "unknown config key 'space.opps'"),
    ],
)
def test_bad_spaces_are_one_line_errors_naming_the_key(overrides, message):
    with pytest.raises(ConfigError) as e:
        load_config(SearchConfig, None, overrides)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_a_bad_space_in_a_file_is_refused_on_loading(tmp_path):
    path = _write(tmp_path / "s.yaml", "space:\n  ops: [conv3x3, conv9x9]\n")
    with pytest.raises(ConfigError, match=r"^space.ops\[1\]: unknown op 'conv9x9'; registered"):
        load_config(SearchConfig, path)
    typo = _write(tmp_path / "t.yaml", "space:\n  adjacancy: chain\n")
    with pytest.raises(ConfigError, match=f"^{typo}: unknown config key 'space.adjacancy'"):
        load_config(SearchConfig, typo)


def test_a_run_written_before_spaces_resumes_and_a_changed_space_does_not(tmp_path):
    config = load_config(SearchConfig, "configs/quick.yaml", [f"output_dir={tmp_path}"])
    old = yaml.safe_load(to_yaml(config))
    del old["space"]  # config.yaml as runs wrote it before the space section
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(old, sort_keys=False))
    assert check_output(config, resume=True) == tmp_path
    changed = load_config(
        SearchConfig, "configs/quick.yaml", [f"output_dir={tmp_path}", "space.cells=one"]
    )
    with pytest.raises(SearchError, match="config differs from the run's in space"):
        check_output(changed, resume=True)


# --- the strategies in a space ----------------------------------------------------------------

FIXTURE = Path(__file__).parent / "fixtures" / "default_space_proposals.json"


def _proposals(strategy: str, overrides: list[str]) -> list[list[str]]:
    """Three updates of ``strategy`` in the default space with count-ones rewards: the JSON of
    every proposal. tests/fixtures/default_space_proposals.json holds what this returned at
    commit 6987741, before search spaces existed (same function, same overrides)."""
    config = load_config(SearchConfig, None, [f"strategy={strategy}", *overrides])
    s = make_strategy(config)
    out = []
    for _ in range(3):
        archs = s.propose(config.controller.batch_size)
        out.append([a.to_json() for a in archs])
        tokens = [a.to_actions()[0] for a in archs]
        s.learn(s.fill_failed([float(sum(t == 1 for t in tk)) for tk in tokens]))
    return out


@pytest.mark.parametrize("strategy", ["rl", "random", "evolution"])
def test_the_default_space_proposes_exactly_what_it_proposed_before(strategy):
    recorded = json.loads(FIXTURE.read_text())[strategy]
    assert _proposals(strategy, recorded["overrides"]) == recorded["proposals"]


def test_the_controller_is_sized_from_the_space(tmp_path):
    agent = ControllerAgent.from_config(ControllerConfig(n_nodes=6, lr=0.05), SMALL)
    model = agent.alg.model
    assert model.token_head.weight.shape == [64, 4] and not hasattr(model, "adj_head")
    assert (model.num_tokens, model.num_bits) == (6, 0)
    tokens, bits, logp = agent.sample(5)
    assert tokens.shape == (5, 6) and bits.shape == (5, 0) and logp.shape == (5,)
    assert tokens.min() >= 0 and tokens.max() <= 3
    np.testing.assert_allclose(agent.log_prob(tokens, bits), logp, rtol=1e-5, atol=1e-5)
    stats = agent.learn(tokens, bits, np.arange(5, dtype=np.float32))
    assert np.isfinite(stats["loss"]) and np.isfinite(stats["entropy"])
    for arch in agent.sample_architectures(20):
        assert SMALL.problem(arch) is None
    agent.save(str(tmp_path / "c.pdparams"))
    again = ControllerAgent.from_config(ControllerConfig(n_nodes=6, lr=0.05), SMALL)
    again.restore(str(tmp_path / "c.pdparams"))
    assert (again.sample(3)[0] == agent.sample(3)[0]).all()
    other = SearchSpace(6, SMALL.ops, "chain", "two")
    elsewhere = ControllerAgent.from_config(ControllerConfig(n_nodes=6, lr=0.05), other)
    with pytest.raises(CheckpointError, match="another search space .cells: one -> two."):
        elsewhere.restore(str(tmp_path / "c.pdparams"))
    searched = SearchSpace.from_names(4, ["conv1x1", "avg_pool5x5", "conv3x3"], cells="one")
    agent = ControllerAgent.from_config(ControllerConfig(n_nodes=4), searched)
    tokens, bits, _ = agent.sample(4)
    assert tokens.shape == (4, 4) and bits.shape == (4, 6)
    assert all(searched.problem(a) is None for a in agent.sample_architectures(20))


def test_a_controller_checkpoint_from_before_spaces_restores_in_the_default_space(tmp_path):
    path = str(tmp_path / "c.pdparams")
    agent = ControllerAgent.from_config(ControllerConfig(n_nodes=3))
    agent.learn(*agent.sample(4)[:2], np.arange(4, dtype=np.float32))
    agent.save(path)
    state = load_state(path)
    del state["space"]  # as checkpoints were written before search spaces
    save_atomic(state, path)
    again = ControllerAgent.from_config(ControllerConfig(n_nodes=3))
    again.restore(path)
    assert again.updates == 1 and (again.sample(3)[0] == agent.sample(3)[0]).all()
    chain = ControllerAgent.from_config(ControllerConfig(n_nodes=3), SearchSpace(3, cells="one"))
    with pytest.raises(CheckpointError, match="another search space .cells: two -> one.$"):
        chain.restore(path)


def test_random_draws_only_the_spaces_ops_and_edges():
    s = RandomStrategy(SMALL, 0.5, seed=0)
    archs = s.propose(100)
    assert all(SMALL.problem(a) is None for a in archs)
    assert {o for a in archs for o in a.normal.ops} == set(SMALL.ops)
    three = SearchSpace.from_names(4, ["conv1x1", "avg_pool5x5", "conv3x3"])
    archs = RandomStrategy(three, 0.5, seed=0).propose(100)
    assert all(three.problem(a) is None for a in archs)
    assert len({a.normal.edges for a in archs}) > 10  # the edges are still searched


def _one_change(parent: Architecture, child: Architecture) -> tuple[str, str]:
    diffs = []
    for name, a, b in zip(("normal", "reduction"), parent.cells, child.cells, strict=True):
        diffs += [(name, "op") for x, y in zip(a.ops, b.ops, strict=True) if x != y]
        diffs += [(name, "edge")] * len(set(a.edges) ^ set(b.edges))
    if parent.normal is parent.reduction or parent.normal == parent.reduction:
        diffs = [d for d in diffs if d[0] == "normal"]  # one cell type: the same change twice
    (diff,) = diffs
    return diff


@pytest.mark.parametrize(
    ("space", "kinds"),
    [
        (SMALL, {("normal", "op")}),  # fixed chain: ops only
        (SearchSpace(4, (2,), cells="one"), {("normal", "edge")}),  # one op: edges only
        (
            SearchSpace.from_names(4, ["conv1x1", "avg_pool5x5", "conv3x3"]),
            {(c, k) for c in ("normal", "reduction") for k in ("op", "edge")},
        ),
    ],
)
def test_evolution_mutates_within_the_space(space, kinds):
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(300):
        parent = space.random(rng)
        child = mutate(parent, rng, space)
        assert space.problem(child) is None
        assert child.key() != parent.key()
        seen.add(_one_change(parent, child))
    assert seen == kinds
    s = EvolutionStrategy(space, 0.5, EvolutionConfig(population=4, sample=2, seed=0))
    for _ in range(4):
        archs = s.propose(3)
        assert all(space.problem(a) is None for a in archs)
        s.learn(s.fill_failed([float(a.normal.ops[0]) for a in archs]))
    with pytest.raises(ArchitectureError, match="nothing to mutate"):
        mutate(parent, rng, SearchSpace(4, (2,), "chain"))


TINY = [
    "updates=2",
    "controller.batch_size=3",
    "controller.lr=0.05",
    "data.max_train_per_class=2",
    "data.max_val_per_class=1",
    "network.width=4",
    "network.stages=2",
    "evaluator.epochs=1",
    "evaluator.batch_size=16",
]


@pytest.mark.parametrize("strategy", ["rl", "evolution"])
def test_a_search_in_a_small_space_records_only_its_architectures(tmp_path, strategy):
    overrides = [*TINY, f"strategy={strategy}", f"output_dir={tmp_path / 'run'}"]
    overrides += ["evolution.population=3", "evolution.sample=2"]
    config = load_config(SearchConfig, "configs/space_chain.yaml", overrides)
    assert config.search_space() == SMALL_CHAIN
    backend = SerialBackend(EvalSettings(config.data, config.network, config.evaluator))
    history = run_search(config, backend, progress=False, log=lambda _l: None)
    out = tmp_path / "run"
    records = [e for e in history.evaluations.values() if not e.get("cached")]
    assert len(history.evaluations) == 6 and records
    chain = tuple((i, i + 1) for i in range(5))
    allowed = {"conv3x3", "dil_conv3x3", "max_pool3x3", "avg_pool3x3"}
    for e in history.evaluations.values():
        arch = Architecture.from_json(e["arch"])
        assert arch.normal == arch.reduction and arch.normal.edges == chain
        assert {OP_NAMES[o] for o in arch.normal.ops} <= allowed and arch.n_nodes == 6
    assert all(e["record"]["status"] in ("ok", "nan", "diverged") for e in records)
    best = json.loads((out / "best_architecture.json").read_text())
    assert SMALL_CHAIN.problem(Architecture.from_dict(best["architecture"])) is None
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["space"]["ops"] == list(SMALL_CHAIN.op_names) and saved["space"]["nodes"] == 6
