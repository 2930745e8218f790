"""Named data sources: ``cifar10`` is the full CIFAR-10, found in a data folder on this machine.

A config says ``data.source: cifar10`` instead of a path, so no file of the repository names a
place outside it; the name is resolved each time the source is read (on every worker), and
records (``metrics.json``, the manifest, a search's ``config.yaml``) keep the name.

The data folder is ``$AUTODL_DESIGN_DATA``, else ``~/.cache/autodl-design/datasets``. The
first of these that exists is used, in the folder itself, then in its ``cifar10/`` subfolder:

1. ``cifar10-jpeg.tar.gz``: the JPEG image-folder archive (``cifar10-jpeg/train/<class>/``,
   ``cifar10-jpeg/test/<class>/``) the bundled models were trained and measured on; first, so
   that when both copies are present the name keeps meaning the data of the recorded figures
   (its JPEG pixels differ slightly from the official release's);
2. ``cifar-10-python.tar.gz``: the official release;
3. ``cifar-10-batches-py/``: the official release, unpacked.

A name wins over a file of the same name in the working directory (write ``./cifar10`` for
that). Any other source string is a path, as before.
"""

from __future__ import annotations

import os
from pathlib import Path

from autodl_design.data.errors import DataError

DATA_ENV = "AUTODL_DESIGN_DATA"
DEFAULT_DATA_DIR = "~/.cache/autodl-design/datasets"
# name -> the files or folders that hold it, in the order they are looked for
NAMED_SOURCES: dict[str, tuple[str, ...]] = {
    "cifar10": ("cifar10-jpeg.tar.gz", "cifar-10-python.tar.gz", "cifar-10-batches-py/"),
}


def is_named(source: str) -> bool:
    """True when ``source`` is a dataset name (``cifar10``), not a path."""
    return source in NAMED_SOURCES


def data_dir() -> Path:
    """The folder named sources are looked for in: ``$AUTODL_DESIGN_DATA`` or the default."""
    return Path(os.environ.get(DATA_ENV) or DEFAULT_DATA_DIR).expanduser()


def candidates(name: str, root: Path | None = None) -> list[Path]:
    """Where ``name`` is looked for under ``root`` (default :func:`data_dir`), in order."""
    root = data_dir() if root is None else root
    return [folder / form for folder in (root, root / name) for form in NAMED_SOURCES[name]]


def resolve_named(name: str) -> Path:
    """The path of named source ``name``; a one-line :class:`DataError` when none is there."""
    root = data_dir()
    for path in candidates(name, root):
        if path.exists():
            return path
    where = (
        f"{DATA_ENV}={os.environ[DATA_ENV]}"
        if os.environ.get(DATA_ENV)
        else f"{DATA_ENV} unset, default {DEFAULT_DATA_DIR}"
    )
    raise DataError(
        f"data source {name!r} not found: looked for {', '.join(NAMED_SOURCES[name])} in "
        f"{root} and {root / name} ({where}); set {DATA_ENV} to the folder that holds one, "
        "or pass --data PATH"
    )
