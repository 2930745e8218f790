"""The house rules of the package, checked on its source: imports point down, files stay small.

The import graph is read with ``ast`` from every module, imports inside functions included
(only ``if TYPE_CHECKING:`` blocks are left out: they never run). ``from pkg import name``
depends on the submodule ``pkg.name`` when there is one, else on ``pkg`` itself (its face).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "autodl_design"
MAX_LINES = 320
MAX_ROOT_MODULES = 6


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` except those under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                stack.extend(child.orelse)
                continue
            stack.append(child)


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules that module ``name`` (at ``path``) imports."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    deps: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            deps.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target not in known:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                deps.add(sub if sub in known else target)
    deps.discard(name)
    return deps


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports_of(name, path, known) for name, path in mods.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return path[path.index(dep) :] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_cycle_finder_sees_cycles_through_function_imports(tmp_path):
    # The check must be able to fail: a cycle closed by an import inside a function.
    pkg = tmp_path / "autodl_design"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from autodl_design.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from autodl_design import a\n")
    known = {"autodl_design", "autodl_design.a", "autodl_design.sub", "autodl_design.sub.b"}
    paths = {
        "autodl_design.a": pkg / "a.py",
        "autodl_design.sub.b": pkg / "sub" / "b.py",
    }
    graph = {n: imports_of(n, p, known) for n, p in paths.items()}
    assert graph == {
        "autodl_design.a": {"autodl_design.sub.b"},
        "autodl_design.sub.b": {"autodl_design.a"},
    }
    assert find_cycle(graph) == ["autodl_design.a", "autodl_design.sub.b", "autodl_design.a"]


def test_modules_are_small():
    long = {
        name: n
        for name, path in modules().items()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}, f"modules over {MAX_LINES} lines"


def test_package_root_holds_few_modules():
    root = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(root) <= MAX_ROOT_MODULES, root


def test_package_faces_declare_all():
    faces = [p for p in PACKAGE.rglob("__init__.py") if p.parent != PACKAGE]
    missing = [str(p.relative_to(ROOT)) for p in faces if "__all__" not in p.read_text()]
    # loopback_site/ holds a sitecustomize for PARL's processes, not a package face
    assert [m for m in missing if "loopback_site" not in m] == []


def _readme_tree() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"## Project layout\n+```\n(.*?)```", text, re.S)
    if match is None:
        pytest.fail("README.md has no '## Project layout' tree")
    return match.group(1)


def test_readme_layout_names_existing_packages():
    tree = _readme_tree()
    named = re.findall(r"^\s+([a-z_]+)/", tree, re.M)
    assert named, "the layout tree names no package"
    dirs = {d.name for d in PACKAGE.rglob("*") if d.is_dir()} | {
        d.name for d in ROOT.iterdir() if d.is_dir()
    }
    assert [n for n in named if n not in dirs] == [], "the tree names folders that do not exist"
    packages = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))
    assert [p for p in packages if p not in named] == [], "packages missing from the tree"
