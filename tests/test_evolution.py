"""Regularized evolution: one mutation per child, tournament selection, aging, seeds, exact
resume (of the strategy and of a search interrupted mid-batch), and a real tiny search."""

import json
from pathlib import Path

import numpy as np
import pytest

from autodl_design.cli import main
from autodl_design.config import ConfigError, EvolutionConfig, SearchConfig, load_config
from autodl_design.search import History, run_search
from autodl_design.search.backends import failure_record
from autodl_design.search.evolution import EvolutionStrategy, Member, mutate, tournament
from autodl_design.space import Architecture, random_architecture


def changes(parent: Architecture, child: Architecture) -> list[tuple[str, str, object]]:
    """The differences between two architectures: (cell, "op" | "edge", node or edge)."""
    found = []
    for name, a, b in zip(("normal", "reduction"), parent.cells, child.cells, strict=True):
        found += [
            (name, "op", j) for j, (x, y) in enumerate(zip(a.ops, b.ops, strict=True)) if x != y
        ]
        found += [(name, "edge", e) for e in sorted(set(a.edges) ^ set(b.edges))]
    return found


def count_ones(arch: Architecture) -> float:
    """The count-ones demo's reward: op tokens equal to op id 1."""
    tokens, _ = arch.to_actions()
    return float(sum(t == 1 for t in tokens))


def strategy(population=4, sample=2, seed=0, n_nodes=3) -> EvolutionStrategy:
    return EvolutionStrategy(n_nodes, 0.5, EvolutionConfig(population, sample, seed))


def step(s: EvolutionStrategy, batch: int) -> list[Architecture]:
    """One update with count-ones rewards; returns the proposals."""
    archs = s.propose(batch)
    s.learn(s.fill_failed([count_ones(a) for a in archs]))
    return archs


def test_mutation_changes_exactly_one_op_or_one_edge():
    rng = np.random.default_rng(0)
    kinds = set()
    for _ in range(300):
        parent = random_architecture(rng, 4)
        child = mutate(parent, rng)
        (change,) = changes(parent, child)
        kinds.add(change[:2])
        assert Architecture.from_json(child.to_json()) == child  # valid, round-trips
        assert child.key() != parent.key()  # never the same graph renumbered
    assert kinds == {(c, k) for c in ("normal", "reduction") for k in ("op", "edge")}


def test_tournament_picks_the_best_of_its_sample():
    rng = np.random.default_rng(0)
    arch = random_architecture(rng, 2)
    members = [Member(arch, float(r), born) for born, r in enumerate([3, 9, 1, 7, 5, 2])]
    for seed in range(50):
        picks = np.random.default_rng(seed).integers(len(members), size=3)
        best = tournament(members, np.random.default_rng(seed), 3)
        assert best == max((members[i] for i in picks), key=lambda m: m.reward)
        assert best.reward >= max(members[i].reward for i in picks)
    # A sample as large as the population, drawn with replacement, usually holds the best.
    wins = [tournament(members, rng, 6).reward for _ in range(200)]
    assert wins.count(9.0) > 100 and min(wins) >= 3.0


def test_the_first_proposals_are_random_then_children_of_the_population():
    s = strategy(population=4, sample=2)
    first = step(s, 3) + step(s, 3)  # 4 random, then 2 children of the first 3
    assert [m.born for m in s.population] == [2, 3, 4, 5]
    reference = np.random.default_rng(0)
    assert first[:4] == [random_architecture(reference, 3, 0.5) for _ in range(4)]
    for child in first[4:]:
        assert any(len(changes(p, child)) == 1 for p in first[:3])


def test_the_oldest_member_leaves_however_good():
    s = strategy(population=3, sample=3)
    s.propose(3)
    s.learn(np.array([10.0, 1.0, 2.0]))  # the oldest is the best
    assert [m.born for m in s.population] == [0, 1, 2]
    s.propose(1)
    s.learn(np.array([0.0]))  # a worse child still takes the oldest's place
    assert [m.born for m in s.population] == [1, 2, 3]
    assert [m.reward for m in s.population] == [1.0, 2.0, 0.0]
    s.propose(2)
    s.learn(np.array([4.0, 3.0]))
    assert [(m.born, m.reward) for m in s.population] == [(3, 0.0), (4, 4.0), (5, 3.0)]


def test_failed_candidates_do_not_join_and_nobody_leaves_for_them():
    s = strategy(population=3, sample=2)
    s.propose(3)
    s.learn(s.fill_failed([1.0, None, 2.0]))
    assert [m.born for m in s.population] == [0, 2]
    s.propose(2)
    stats = s.learn(s.fill_failed([None, 5.0]))
    assert [m.born for m in s.population] == [0, 2, 4]
    assert stats == {"population": 3, "population_best": 5.0, "population_mean": 8 / 3}


def test_deterministic_given_the_seed():
    runs = [[a.key() for _ in range(6) for a in step(s, 4)] for s in (strategy(), strategy())]
    assert runs[0] == runs[1]
    other = [a.key() for _ in range(6) for a in step(strategy(seed=1), 4)]
    assert other != runs[0]


def test_evolution_climbs_count_ones():
    s = strategy(population=10, sample=3, n_nodes=5)
    first = [count_ones(a) for a in step(s, 5) + step(s, 5)]
    for _ in range(40):
        step(s, 5)
    assert np.mean([m.reward for m in s.population]) >= np.mean(first) + 4


def test_restore_continues_exactly(tmp_path):
    whole = strategy(population=5, sample=2)
    proposals = [[a.to_json() for a in step(whole, 3)] for _ in range(8)]
    first = strategy(population=5, sample=2)
    for _ in range(3):
        step(first, 3)
    first.save(tmp_path)
    state = json.loads((tmp_path / "evolution_state.json").read_text())  # JSON, not pickle
    assert state["format"] == "autodl-design/evolution/v1" and state["born"] == 9
    assert [m["born"] for m in state["population"]] == [4, 5, 6, 7, 8]
    resumed = strategy(population=5, sample=2, seed=123)  # the seed comes from the state
    resumed.restore(tmp_path)
    assert resumed.population == first.population and resumed.updates == 3
    assert [[a.to_json() for a in step(resumed, 3)] for _ in range(5)] == proposals[3:]
    assert resumed.state() == whole.state()


class CountOnesBackend:
    """No training: the count-ones reward; a candidate whose first normal op is conv1x1 is
    "lost" (failed, reward None). Raises KeyboardInterrupt after ``stop_after`` candidates."""

    def __init__(self, stop_after: int | None = None):
        self.trained: list[str] = []
        self.stop_after = stop_after

    def run(self, tasks):
        for task in tasks:
            if self.stop_after is not None and len(self.trained) == self.stop_after:
                raise KeyboardInterrupt
            self.trained.append(task.arch_json)
            arch = Architecture.from_json(task.arch_json)
            if arch.normal.ops[0] == 0:
                yield task, failure_record(task.arch_json, "worker lost", 1)
                continue
            yield task, {"arch": task.arch_json, "status": "ok", "reward": count_ones(arch)}

    def close(self):
        pass


def _count_ones_config(out: Path) -> SearchConfig:
    overrides = ["strategy=evolution", "updates=8", "controller.n_nodes=3"]
    overrides += ["controller.batch_size=4", "evolution.population=6", "evolution.sample=3"]
    return load_config(SearchConfig, None, [*overrides, f"output_dir={out}"])


def _slots(out: Path) -> dict[tuple[int, int], str]:
    history = History.open(out / "history.jsonl")
    return {slot: e["key"] for slot, e in history.evaluations.items()}


def test_a_search_interrupted_mid_batch_resumes_exactly(tmp_path):
    quiet = {"progress": False, "log": lambda _l: None}
    reference = _count_ones_config(tmp_path / "ref")
    run_search(reference, CountOnesBackend(), **quiet)
    config = _count_ones_config(tmp_path / "run")
    with pytest.raises(KeyboardInterrupt):
        run_search(config, CountOnesBackend(stop_after=18), **quiet)  # inside update 5
    assert max(u for u, _ in _slots(tmp_path / "run")) == 5
    backend = CountOnesBackend()
    run_search(config, backend, resume=True, **quiet)
    assert _slots(tmp_path / "run") == _slots(tmp_path / "ref")
    state = (tmp_path / "run" / "evolution_state.json").read_text()
    assert state == (tmp_path / "ref" / "evolution_state.json").read_text()
    history = History.open(tmp_path / "run" / "history.jsonl")
    assert any(e["record"]["status"] == "failed" for e in history.evaluations.values())


def test_config_checks_are_one_line():
    with pytest.raises(ConfigError, match=r"^evolution.sample: must be <= population$"):
        load_config(SearchConfig, None, ["evolution.population=4", "evolution.sample=5"])
    with pytest.raises(ConfigError, match=r"^evolution.population: must be >= 2$"):
        load_config(SearchConfig, None, ["evolution.population=1", "evolution.sample=1"])
    with pytest.raises(ConfigError, match="unknown config key 'evolution.size'"):
        load_config(SearchConfig, None, ["evolution.size=4"])


def test_cli_search_with_evolution(tmp_path, capsys):
    out = tmp_path / "o"
    args = ["search", "--no-progress", "--strategy", "evolution", "--output", str(out)]
    tiny = ["updates=2", "controller.n_nodes=2", "controller.batch_size=3"]
    tiny += ["data.max_train_per_class=2", "data.max_val_per_class=1", "network.width=4"]
    tiny += ["network.stages=2", "evaluator.epochs=1", "evaluator.batch_size=16"]
    for o in [*tiny, "evolution.population=3", "evolution.sample=2"]:
        args += ["-o", o]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "update   2/2" in printed and "population 3" in printed
    history = History.open(out / "history.jsonl")
    parents = [Architecture.from_json(history.evaluations[(1, i)]["arch"]) for i in range(3)]
    for i in range(3):
        child = Architecture.from_json(history.evaluations[(2, i)]["arch"])
        assert any(len(changes(p, child)) == 1 for p in parents)
    state = json.loads((out / "evolution_state.json").read_text())
    assert state["updates"] == 2 and len(state["population"]) == 3
    assert (out / "best_architecture.json").exists()
