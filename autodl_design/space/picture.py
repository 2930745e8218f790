"""Pictures of cells: a layered layout of a cell's graph, and both cells of an architecture
drawn side by side with matplotlib (Agg; no pyplot, no Paddle).

A cell is drawn as the network computes it: an ``input`` node feeds every node without
predecessors (it reads the cell input), every node without successors feeds an ``output`` node
(the free ends are concatenated into the cell output), and each edge ``(i, j)`` is an arrow.
Node ``j`` sits on layer ``1 + max(layer of its predecessors)`` (the input is layer 0), so its
layer is the length of the longest path from the input and every arrow points down.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from autodl_design.space.architecture import CELL_NAMES, OP_NAMES, Architecture, Cell

__all__ = ["INPUT", "OUTPUT", "CellLayout", "cell_layout", "draw_architecture"]

INPUT, OUTPUT = "input", "output"

SWEEPS = 4  # alternate passes of the barycentre ordering
# Sizes in inches: the axes are set up so that one data unit is one inch.
SLOT_W, BOX_W, BOX_H, LAYER_H, MARGIN, TITLE_H = 1.45, 1.25, 0.36, 0.8, 0.25, 0.45
COLOURS = {"conv": "#cfe2f3", "max_pool": "#fce5cd", "avg_pool": "#d9ead3", "io": "#e6e6e6"}


@dataclass(frozen=True)
class CellLayout:
    """Where each node of a cell goes: ``layers[node]`` (0 = input, top) and ``slots[node]``
    (its place in its layer, the layer centred on 0). Nodes are ``INPUT``, ``0..n-1`` and
    ``OUTPUT``; ``edges`` are the arrows, input and output ones included. An arrow that skips
    layers passes each layer in between at its own slot, ``routes[edge]``, which no node and no
    other arrow uses, so no arrow runs through a node."""

    layers: dict[Hashable, int]
    slots: dict[Hashable, float]
    edges: tuple[tuple[Hashable, Hashable], ...]
    routes: dict[tuple[Hashable, Hashable], tuple[float, ...]]

    @property
    def depth(self) -> int:
        """Number of layers."""
        return self.layers[OUTPUT] + 1

    @property
    def width(self) -> int:
        """Slots of the widest layer: nodes and arrows passing through."""
        counts = [0] * self.depth
        for layer in self.layers.values():
            counts[layer] += 1
        for a, b in self.routes:
            for layer in range(self.layers[a] + 1, self.layers[b]):
                counts[layer] += 1
        return max(counts)


def cell_layout(cell: Cell) -> CellLayout:
    """Layers by longest path from the input. In a layer, nodes and passing arrows are ordered
    by the mean slot of what feeds them, then of what they feed, in alternating sweeps (the
    barycentre heuristic against crossings); ties keep the order they had (at first, by
    number)."""
    n = cell.n_nodes
    preds: dict[Hashable, list] = {j: cell.predecessors(j) or [INPUT] for j in range(n)}
    preds[OUTPUT] = cell.sinks()
    layers: dict[Hashable, int] = {INPUT: 0}
    for j in range(n):  # edges run i -> j with i < j: the numbering is topological
        layers[j] = 1 + max(layers[i] for i in preds[j])
    layers[OUTPUT] = 1 + max(layers[j] for j in preds[OUTPUT])
    edges = tuple((p, v) for v in [*range(n), OUTPUT] for p in preds[v])
    # An arrow over k layers becomes a chain through k - 1 waypoints, one per layer passed.
    feeds: dict[Hashable, list] = {v: [] for v in [*range(n), OUTPUT]}
    rows: dict[int, list] = {k: [v for v in feeds if layers[v] == k] for k in layers.values()}
    for a, b in edges:
        prev = a
        for k in range(layers[a] + 1, layers[b]):
            feeds[(a, b, k)] = [prev]
            rows[k].append((a, b, k))
            prev = (a, b, k)
        feeds[b].append(prev)
    leads: dict[Hashable, list] = {v: [] for v in [INPUT, *feeds]}
    for v, sources in feeds.items():
        for u in sources:
            leads[u].append(v)
    slots: dict[Hashable, float] = {INPUT: 0.0}
    last = layers[OUTPUT]
    for sweep in range(SWEEPS):  # down (by what feeds a slot), up (by what it feeds), ...
        down = sweep % 2 == 0
        for k in range(1, last + 1) if down else range(last - 1, 0, -1):
            nbrs = feeds if down else leads
            rows[k].sort(key=lambda v: sum(slots[u] for u in nbrs[v]) / len(nbrs[v]))
            slots.update({v: i - (len(rows[k]) - 1) / 2 for i, v in enumerate(rows[k])})
    routes = {
        (a, b): tuple(slots[(a, b, k)] for k in range(layers[a] + 1, layers[b])) for a, b in edges
    }
    return CellLayout(layers, {v: slots[v] for v in layers}, edges, routes)


def _colour(label: str) -> str:
    for family in ("max_pool", "avg_pool"):
        if label.startswith(family):
            return COLOURS[family]
    return COLOURS["conv"] if "conv" in label else COLOURS["io"]


def _panel_size(layout: CellLayout) -> tuple[float, float]:
    width = max(3.0, layout.width * SLOT_W + 2 * MARGIN)
    return width, (layout.depth - 1) * LAYER_H + BOX_H + 2 * MARGIN + TITLE_H


def draw_architecture(arch: Architecture, title: str | None = None):
    """A matplotlib :class:`~matplotlib.figure.Figure` (Agg canvas) of both cells of ``arch``,
    normal on the left, reduction on the right; ``title`` goes on top."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    layouts = [cell_layout(c) for c in arch.cells]
    sizes = [_panel_size(layout) for layout in layouts]
    top = TITLE_H if title else 0.0
    fig_w, fig_h = sum(w for w, _ in sizes), max(h for _, h in sizes) + top
    fig = Figure(figsize=(fig_w, fig_h), dpi=100)
    FigureCanvasAgg(fig)
    if title:
        fig.text(0.5, 1 - 0.5 * top / fig_h, title, ha="center", va="center", fontsize=11)
    left = 0.0
    for name, cell, layout, (w, h) in zip(CELL_NAMES, arch.cells, layouts, sizes, strict=True):
        # Axes of the panel's size in inches, hanging from the top: one data unit is an inch.
        ax = fig.add_axes((left / fig_w, (fig_h - top - h) / fig_h, w / fig_w, h / fig_h))
        ax.set_xlim(0, w)
        ax.set_ylim(0, h)
        ax.set_axis_off()
        _draw_cell(ax, cell, layout, f"{name} cell", w, h)
        left += w
    return fig


def _draw_cell(ax, cell: Cell, layout: CellLayout, title: str, w: float, h: float) -> None:
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    ax.text(w / 2, h - MARGIN - TITLE_H / 3, title, ha="center", va="center", fontsize=10)
    y_top = h - MARGIN - TITLE_H - BOX_H / 2

    def point(layer: int, slot: float) -> tuple[float, float]:
        return w / 2 + slot * SLOT_W, y_top - layer * LAYER_H

    for node, layer in layout.layers.items():
        x, y = point(layer, layout.slots[node])
        label = node if isinstance(node, str) else OP_NAMES[cell.ops[node]]
        box = FancyBboxPatch(
            (x - BOX_W / 2, y - BOX_H / 2),
            BOX_W,
            BOX_H,
            boxstyle="round,pad=0,rounding_size=0.08",
            facecolor=_colour(label),
            edgecolor="#555555",
            linewidth=0.8,
        )
        ax.add_patch(box)
        ax.text(x, y, label, ha="center", va="center", fontsize=8.5)
        if not isinstance(node, str):  # the node's number, as in the architecture's JSON
            corner = (x - BOX_W / 2 + 0.05, y + BOX_H / 2 - 0.04)
            ax.text(*corner, str(node), ha="left", va="top", fontsize=6, color="#777777")
    for vertices in _arrow_lines(layout, point):
        arrow = FancyArrowPatch(
            path=_smooth(vertices),
            arrowstyle="-|>",
            mutation_scale=9,
            linewidth=0.9,
            color="#333333",
        )
        ax.add_patch(arrow)


def _arrow_lines(layout: CellLayout, point) -> list[list[tuple[float, float]]]:
    """Per arrow, the points it passes: its waypoints, between its ends on the bottom of its
    source's box and the top of its target's, spread along a box in the order of where the
    arrows go."""
    lines = {}
    for a, b in layout.edges:
        k0, k1 = layout.layers[a], layout.layers[b]
        via = [point(k, s) for k, s in zip(range(k0 + 1, k1), layout.routes[(a, b)], strict=True)]
        lines[(a, b)] = [point(k0, layout.slots[a]), *via, point(k1, layout.slots[b])]
    for end, side in ((0, -1), (-1, 1)):  # sources' bottoms, then targets' tops
        by_node: dict = {}
        for edge, line in lines.items():
            by_node.setdefault(edge[0 if end == 0 else 1], []).append(line)
        for group in by_node.values():
            group.sort(key=lambda line: line[1 if end == 0 else -2][0])
            gap = min(0.14, 0.8 * BOX_W / max(len(group) - 1, 1))
            for i, line in enumerate(group):
                x, y = line[end]
                line[end] = (x + (i - (len(group) - 1) / 2) * gap, y + side * BOX_H / 2)
    return list(lines.values())


def _smooth(vertices: list[tuple[float, float]]):
    """A path through ``vertices`` of cubic curves, vertical where it passes each one."""
    from matplotlib.path import Path

    points, codes = [vertices[0]], [Path.MOVETO]
    for (x0, y0), (x1, y1) in zip(vertices, vertices[1:], strict=False):
        dy = (y1 - y0) / 2
        points += [(x0, y0 + dy), (x1, y1 - dy), (x1, y1)]
        codes += [Path.CURVE4] * 3
    return Path(points, codes)
