"""User-defined search spaces: the space as data, its config section and its checks, the
strategies respecting it, the default space proposing exactly what it proposed before, and a
real tiny search in a small space."""

import dataclasses

import numpy as np
import pytest
import yaml

from autodl_design.config import (
    ConfigError,
    SearchConfig,
    SpaceConfig,
    from_dict,
    load_config,
    to_yaml,
)
from autodl_design.search.preflight import SearchError, check_output
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
