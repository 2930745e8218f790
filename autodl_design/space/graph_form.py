"""Canonical form of a cell's labelled graph, up to node renumbering (pure Python).

The function a cell computes depends only on its labelled DAG up to isomorphism (concat order
is absorbed by the 1x1 projection). The form below is exact: colour refinement, then twin
merging (same op, same inputs, same outputs: swapping them is an automorphism), then per
connected component a search over the remaining ties. :meth:`Architecture.key` hashes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol


class CellGraph(Protocol):
    """What the canonical form reads of a cell (:class:`autodl_design.space.Cell` has it)."""

    ops: Sequence[int]
    edges: Sequence[tuple[int, int]]

    @property
    def n_nodes(self) -> int: ...

    def predecessors(self, j: int) -> list[int]: ...


def _relabel(keys: Sequence) -> list[int]:
    order = {k: r for r, k in enumerate(sorted(set(keys)))}
    return [order[k] for k in keys]


def _refine(colours: list[int], preds: list[list[int]], succs: list[list[int]]) -> list[int]:
    while True:
        sig = [
            (
                colours[v],
                tuple(sorted(colours[u] for u in preds[v])),
                tuple(sorted(colours[u] for u in succs[v])),
            )
            for v in range(len(colours))
        ]
        new = _relabel(sig)
        if len(set(new)) == len(set(colours)):
            return new
        colours = new


def _component_form(labels: list, preds: list[list[int]], succs: list[list[int]]) -> tuple:
    """Lexicographically least (labels, edges) over orderings allowed by the refined colours."""
    best: list = []

    def search(colours: list[int]) -> None:
        colours = _refine(colours, preds, succs)
        classes: dict[int, list[int]] = {}
        for v, c in enumerate(colours):
            classes.setdefault(c, []).append(v)
        tied = [vs for _, vs in sorted(classes.items()) if len(vs) > 1]
        if not tied:
            pos = {v: colours[v] for v in range(len(colours))}
            order = sorted(range(len(colours)), key=pos.__getitem__)
            form = (
                tuple(labels[v] for v in order),
                tuple(sorted((pos[u], pos[v]) for v in order for u in preds[v])),
            )
            if not best or form < best[0]:
                best[:] = [form]
            return
        for v in tied[0]:
            search(_relabel([(c, 0 if u == v else 1) for u, c in enumerate(colours)]))

    search(_relabel(labels))
    return best[0]


def canonical_cell_form(cell: CellGraph) -> list:
    """Isomorphism-invariant, JSON-serialisable description of a cell's labelled graph."""
    n = cell.n_nodes
    preds = [cell.predecessors(j) for j in range(n)]
    succs = [[j for i, j in cell.edges if i == v] for v in range(n)]
    twin_of: dict[tuple, list[int]] = {}
    for v in range(n):
        twin_of.setdefault((cell.ops[v], tuple(preds[v]), tuple(succs[v])), []).append(v)
    groups = list(twin_of.values())
    rep = {v: g for g, members in enumerate(groups) for v in members}
    q_preds = [sorted({rep[u] for u in preds[g[0]]}) for g in groups]
    q_succs = [sorted({rep[u] for u in succs[g[0]]}) for g in groups]
    # Depth first in the label keeps the canonical order topological.
    depth = [0] * len(groups)
    for g in sorted(range(len(groups)), key=lambda g: groups[g][0]):
        depth[g] = max((depth[p] + 1 for p in q_preds[g]), default=0)
    labels = [(depth[g], cell.ops[groups[g][0]], len(groups[g])) for g in range(len(groups))]

    forms = []
    for comp in _components(len(groups), q_preds, q_succs):
        index = {g: k for k, g in enumerate(comp)}
        forms.append(
            _component_form(
                [labels[g] for g in comp],
                [[index[p] for p in q_preds[g]] for g in comp],
                [[index[s] for s in q_succs[g]] for g in comp],
            )
        )
    return [[list(map(list, f[0])), list(map(list, f[1]))] for f in sorted(forms)]


def _components(n: int, preds: list[list[int]], succs: list[list[int]]) -> Iterable[list[int]]:
    seen: set[int] = set()
    for start in range(n):
        if start in seen:
            continue
        stack, comp = [start], []
        seen.add(start)
        while stack:
            v = stack.pop()
            comp.append(v)
            for u in preds[v] + succs[v]:
                if u not in seen:
                    seen.add(u)
                    stack.append(u)
        yield sorted(comp)
