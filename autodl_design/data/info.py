"""``dataset_info``: what a source holds, counted without decoding every image."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from autodl_design.data.bundled import BUNDLED_DIR, SEARCH_TAR, TEST_TAR, bundled_path
from autodl_design.data.errors import DataError
from autodl_design.data.image_folder import check_classes
from autodl_design.data.imaging import image_mode_shape
from autodl_design.data.sources import detect_format, read_source, source_path
from autodl_design.data.tree import FolderTree, list_tree


def dataset_info(source: str, format: str = "auto") -> dict:
    """Describe ``source`` as a JSON-friendly dict.

    Keys: ``source``, ``path``, ``format``, ``classes`` (list of names), ``splits`` (split name
    -> ``{"images": int, "per_class": {class: int}}``) and ``image_shapes`` (distinct stored
    ``[H, W, C]``; for image folders sampled from the first image of every class folder, which
    ``shapes_sampled`` says) and ``ignored`` (the files of an image folder that are not images,
    which every reader skips, relative to its root). An empty image file is an error here as in
    training; the other images are only decoded by training.
    """
    fmt = detect_format(source) if format == "auto" else format
    if fmt == "cifar10-python":
        raw = read_source(source, fmt)
        counts = {
            s: np.bincount(y, minlength=len(raw.classes)).tolist()
            for s, (_, y) in raw.splits.items()
        }
        shapes = sorted({tuple(x.shape[1:]) for x, _ in raw.splits.values()})
        classes, path, ignored = raw.classes, str(source_path(source)), []
    elif fmt in ("bundled", "image-folder"):
        paths = (
            [bundled_path(SEARCH_TAR), bundled_path(TEST_TAR)]
            if fmt == "bundled"
            else [source_path(source)]
        )
        classes, counts, shapes, ignored = _folder_info(paths)
        path = str(BUNDLED_DIR) if fmt == "bundled" else str(paths[0])
    else:
        raise DataError(f"unknown data format {fmt!r}")
    splits = {
        split: {"images": sum(n), "per_class": dict(zip(classes, n, strict=True))}
        for split, n in counts.items()
    }
    return {
        "source": source,
        "path": path,
        "format": fmt,
        "classes": classes,
        "splits": splits,
        "image_shapes": [list(s) for s in shapes],
        "shapes_sampled": fmt != "cifar10-python",
        "ignored": ignored,
    }


def _folder_info(
    paths: list[Path],
) -> tuple[list[str], dict[str, list[int]], list[tuple], list[str]]:
    classes: list[str] | None = None
    counts: dict[str, list[int]] = {}
    shapes: set[tuple[int, int, int]] = set()
    ignored: list[str] = []
    for path in paths:
        tree = _first_per_folder_tree(path)
        ignored += tree.ignored
        tree_classes = check_classes(tree)
        if classes is not None and tree_classes != classes:
            raise DataError(f"{path}: classes differ from {paths[0]}")
        classes = tree_classes
        for split, by_class in tree.files.items():
            counts[split] = [len(by_class[c]) for c in classes]
            for names in by_class.values():
                # The first member in archive order was kept, which need not sort first.
                name = next(n for n in names if tree.readable(n))
                shapes.add(image_mode_shape(tree.read(name), f"{name} in {path}"))
    return classes or [], counts, sorted(shapes), ignored


def _first_per_folder_tree(path: Path) -> FolderTree:
    seen: set[tuple[str, ...]] = set()

    def first_in_folder(parts: tuple[str, ...]) -> bool:
        if parts[:-1] in seen:
            return False
        seen.add(parts[:-1])
        return True

    return list_tree(path, first_in_folder)


def format_dataset_info(info: dict) -> str:
    """Human-readable multi-line text for ``autodl-design data info PATH``."""
    classes = info["classes"]
    splits = info["splits"]
    sampled = ", first image of each class folder" if info.get("shapes_sampled") else ""
    shapes = ", ".join("x".join(str(d) for d in s) for s in info["image_shapes"]) or "?"
    lines = [
        f"source:   {info['source']}"
        + (f" ({info['path']})" if info["path"] != info["source"] else ""),
        f"format:   {info['format']}",
        f"images:   {shapes} (H x W x C as stored{sampled})",
        f"classes:  {len(classes)}: {', '.join(classes)}",
        "splits:   " + "; ".join(f"{s} {_split_summary(v)}" for s, v in splits.items()),
    ]
    ignored = info.get("ignored", [])
    if ignored:
        files = "file that is not an image" if len(ignored) == 1 else "files that are not images"
        lines.append(f"ignored:  {len(ignored):,} {files} (e.g. {ignored[0]})")
    lines.append("")
    width = max([len("class"), *map(len, classes), len("total")])
    cols = [max(len(s), len(f"{v['images']:,}")) for s, v in splits.items()]
    header = "  ".join(
        [f"{'class':<{width}}", *(f"{s:>{c}}" for s, c in zip(splits, cols, strict=True))]
    )
    lines.append(header)
    for name in classes:
        cells = (
            f"{v['per_class'][name]:>{c},}" for v, c in zip(splits.values(), cols, strict=True)
        )
        lines.append("  ".join([f"{name:<{width}}", *cells]))
    total = (f"{v['images']:>{c},}" for v, c in zip(splits.values(), cols, strict=True))
    lines.append("  ".join([f"{'total':<{width}}", *total]))
    return "\n".join(lines)


def _split_summary(split: dict) -> str:
    per_class = set(split["per_class"].values())
    each = f" ({per_class.pop():,} per class)" if len(per_class) == 1 else ""
    return f"{split['images']:,}{each}"
