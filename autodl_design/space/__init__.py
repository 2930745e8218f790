"""The search space as pure data (no Paddle): ops, cells, architectures, their canonical form;
pictures of cells (matplotlib, imported when a picture is drawn) and the ``show`` command."""

from autodl_design.space.architecture import (
    CELL_NAMES,
    NUM_OPS,
    OP_NAMES,
    Architecture,
    ArchitectureError,
    Cell,
    num_adjacency_bits,
    op_id,
    random_architecture,
)
from autodl_design.space.graph_form import CellGraph, canonical_cell_form
from autodl_design.space.loading import load_architecture
from autodl_design.space.picture import CellLayout, cell_layout, draw_architecture

__all__ = [
    "CELL_NAMES",
    "NUM_OPS",
    "OP_NAMES",
    "Architecture",
    "ArchitectureError",
    "Cell",
    "CellGraph",
    "CellLayout",
    "canonical_cell_form",
    "cell_layout",
    "draw_architecture",
    "load_architecture",
    "num_adjacency_bits",
    "op_id",
    "random_architecture",
]
