"""Reading an architecture from a file or inline JSON (pure data, no Paddle)."""

from __future__ import annotations

import json
from pathlib import Path

from autodl_design.space.architecture import Architecture, ArchitectureError

__all__ = ["load_architecture"]


def load_architecture(spec: str | Path) -> Architecture:
    """Architecture from a JSON file path or inline JSON text.

    Accepts a bare canonical architecture (``{"normal": ..., "reduction": ...}``) or a search
    result such as ``best_architecture.json`` (``{"architecture": {...}, "key": ..., ...}``,
    where ``architecture`` may also be the canonical JSON string). Raises
    :class:`ArchitectureError` naming the file.
    """
    text = str(spec)
    where = "inline architecture"
    if not text.lstrip().startswith("{"):
        path = Path(text)
        if not path.is_file():
            raise ArchitectureError(f"architecture file not found: {path}")
        where, text = str(path), path.read_text()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ArchitectureError(f"{where}: not valid JSON: {e}") from None
    if isinstance(data, dict) and "architecture" in data:
        data = data["architecture"]
    try:
        return (
            Architecture.from_json(data) if isinstance(data, str) else Architecture.from_dict(data)
        )
    except ArchitectureError as e:
        raise ArchitectureError(f"{where}: {e}") from None
