"""The search space as pure data (no Paddle): ops, cells, architectures, their canonical form,
user-defined search spaces (:class:`SearchSpace`); pictures of cells (matplotlib, imported when
a picture is drawn) and the ``show`` command."""

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
from autodl_design.space.search_space import ADJACENCIES, CELL_TYPES, SearchSpace

__all__ = [
    "ADJACENCIES",
    "CELL_NAMES",
    "CELL_TYPES",
    "NUM_OPS",
    "OP_NAMES",
    "Architecture",
    "ArchitectureError",
    "Cell",
    "CellGraph",
    "CellLayout",
    "SearchSpace",
    "canonical_cell_form",
    "cell_layout",
    "draw_architecture",
    "load_architecture",
    "num_adjacency_bits",
    "op_id",
    "random_architecture",
]
