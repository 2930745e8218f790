"""Pictures of cells: the layered layout, the ``show`` command's PNG, its one-line errors."""

import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from autodl_design.cli import main
from autodl_design.space import Cell, cell_layout, random_architecture
from autodl_design.space.picture import INPUT, OUTPUT

ROOT = Path(__file__).resolve().parent.parent
M1 = ROOT / "pretrained" / "archs" / "m1.json"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def random_cells(count: int):
    rng = np.random.default_rng(0)
    for _ in range(count):
        n, p = int(rng.integers(2, 11)), float(rng.uniform(0, 1))
        yield from random_architecture(rng, n, p).cells


def test_layout_puts_every_node_after_its_predecessors():
    for cell in random_cells(60):
        layout = cell_layout(cell)
        layers = layout.layers
        sources = [j for j in range(cell.n_nodes) if not cell.predecessors(j)]
        expected = {(INPUT, j) for j in sources} | {(j, OUTPUT) for j in cell.sinks()}
        assert set(layout.edges) == expected | set(cell.edges)
        assert all(layers[a] < layers[b] for a, b in layout.edges)
        assert layers[INPUT] == 0 and layers[OUTPUT] == max(layers.values())
        for j in range(cell.n_nodes):  # the longest path from the input
            assert layers[j] == 1 + max((layers[i] for i in cell.predecessors(j)), default=0)
        # In every layer, nodes and arrows passing through have slots of their own.
        taken: dict[int, list[float]] = {}
        for node, layer in layers.items():
            taken.setdefault(layer, []).append(layout.slots[node])
        for (a, b), route in layout.routes.items():
            assert len(route) == layers[b] - layers[a] - 1
            for layer, slot in zip(range(layers[a] + 1, layers[b]), route, strict=True):
                taken[layer].append(slot)
        assert all(len(set(s)) == len(s) for s in taken.values())
        assert layout.width == max(len(s) for s in taken.values())


def test_layout_of_a_chain_and_of_a_cell_without_edges():
    chain = cell_layout(Cell((0, 1, 2), ((0, 1), (1, 2))))
    assert chain.layers == {INPUT: 0, 0: 1, 1: 2, 2: 3, OUTPUT: 4}
    assert chain.routes == {e: () for e in chain.edges}
    flat = cell_layout(Cell((0, 1, 2), ()))
    assert flat.layers == {INPUT: 0, 0: 1, 1: 1, 2: 1, OUTPUT: 2}
    assert [flat.slots[j] for j in range(3)] == [-1.0, 0.0, 1.0]
    skip = cell_layout(Cell((0, 1, 2), ((0, 1), (1, 2), (0, 2))))
    assert skip.layers[0] == 1 and skip.layers[2] == 3
    assert len(skip.routes[(0, 2)]) == 1  # passes layer 2 beside node 1


def _read_png(path: Path) -> np.ndarray:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4) and min(image.shape[:2]) > 200
    return image


def test_show_writes_a_png(tmp_path, capsys):
    out = tmp_path / "m1.png"
    assert main(["show", str(M1), "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    image = _read_png(out)
    assert image.std() > 0.01  # something is drawn
    assert out.stat().st_size < 200_000
    assert main(["show", str(M1), "-o", str(out)]) == 0  # -o replaces
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m1.png"]  # no temporary left


def test_show_writes_cell_png_here_unless_it_exists(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    inline = random_architecture(np.random.default_rng(1), 4).to_json()  # as train --arch
    assert main(["show", inline]) == 0
    first = (tmp_path / "cell.png").read_bytes()
    _read_png(tmp_path / "cell.png")
    capsys.readouterr()
    assert main(["show", str(M1)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cell.png" in err and "-o" in err
    assert (tmp_path / "cell.png").read_bytes() == first


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "architecture file not found"),
        ("not-json", "not valid JSON"),
        ("bad-op", "unknown op 'conv7x7'"),
        ("no-folder", "does not exist"),
        ("folder", "is a directory"),
        ("suffix", "must end in .png"),
    ],
)
def test_show_errors_are_one_line_and_write_nothing(tmp_path, capsys, case, message):
    work = tmp_path / "work"
    work.mkdir()
    (work / "not-json.json").write_text("{nope")
    (work / "bad-op.json").write_text(M1.read_text().replace('"conv3x3"', '"conv7x7"', 1))
    before = sorted(work.iterdir())
    arch = {"missing": work / "none.json", "not-json": work / "not-json.json"}.get(case)
    arch = arch or (work / "bad-op.json" if case == "bad-op" else M1)
    out = {"no-folder": work / "none" / "c.png", "folder": work, "suffix": work / "c.svg"}
    args = ["show", str(arch), "-o", str(out.get(case, work / "c.png"))]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("autodl-design: error: ") and err.count("\n") == 1, err
    assert message in err
    assert sorted(work.iterdir()) == before


def test_show_from_the_shell_is_one_line_without_traceback(tmp_path):
    args = [sys.executable, "-m", "autodl_design.cli", "show", str(tmp_path / "none.json")]
    done = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr and list(tmp_path.iterdir()) == []
