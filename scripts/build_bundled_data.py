"""Rebuild the CIFAR-10 data bundled in ``autodl_design/data/bundled/``.

    python scripts/build_bundled_data.py [SOURCE] [--out DIR] [--seed 0] [--per-class 100]

SOURCE is the JPEG image-folder archive ``cifar10-jpeg.tar.gz`` (default: the named source
``cifar10``, found through ``AUTODL_DESIGN_DATA`` as everywhere else; its JPEG bytes are copied
unchanged) or the official ``cifar-10-python.tar.gz`` /
``cifar-10-batches-py/`` (its pixels are then encoded with Pillow: JPEG at quality 75 by
default, the quantisation the shared JPEG copy uses; or lossless PNG with
``--image-format png``, about 2x larger).

Writes ``cifar10_search.tar.gz`` (``train/<class>/`` and ``val/<class>/``, ``--per-class``
images each, disjoint, drawn from the training split with ``--seed``) and
``cifar10_test.tar.gz`` (the whole test split as ``test/<class>/``). Output is byte-for-byte
reproducible: sorted members, fixed mtime/uid/gid/mode, gzip header without name or time.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import sys
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from autodl_design.data.archive import looks_like_tar  # noqa: E402
from autodl_design.data.bundled import BUNDLED_DIR, SEARCH_TAR, TEST_TAR  # noqa: E402
from autodl_design.data.cifar_python import (  # noqa: E402
    batches_dir,
    is_cifar_tar,
    read_cifar_python,
)
from autodl_design.data.errors import DataError  # noqa: E402
from autodl_design.data.image_folder import check_classes  # noqa: E402
from autodl_design.data.named import resolve_named  # noqa: E402
from autodl_design.data.tree import list_tree  # noqa: E402

# 2019-03-31, the date of the JPEG copy; any constant keeps rebuilds identical.
FIXED_MTIME = 1_553_990_400

# split -> class -> sorted [(file name, encoded bytes)]
Files = dict[str, dict[str, list[tuple[str, bytes]]]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", nargs="?", help="default: the named source cifar10")
    parser.add_argument("--out", type=Path, default=BUNDLED_DIR)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--image-format", choices=("jpeg", "png"), default="jpeg")
    parser.add_argument("--quality", type=int, default=75, help="JPEG quality (official source)")
    args = parser.parse_args(argv)
    try:
        args.source = resolve_named("cifar10") if args.source is None else Path(args.source)
    except DataError as e:
        parser.error(str(e))
    if not args.source.exists():
        parser.error(f"source not found: {args.source}")
    if _is_official(args.source):
        print(f"reading official release {args.source}; encoding {args.image_format.upper()}")
        files = _encode_official(args.source, args.image_format, args.quality)
    else:
        print(f"reading image folder {args.source}; copying image bytes unchanged")
        files = _read_folder(args.source)

    args.out.mkdir(parents=True, exist_ok=True)
    search = _search_subset(files["train"], args.per_class, args.seed)
    for name, split_files in ((SEARCH_TAR, search), (TEST_TAR, {"test": files["test"]})):
        path = args.out / name
        _write_tar(path, split_files)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        counts = ", ".join(f"{s} {sum(map(len, c.values()))}" for s, c in split_files.items())
        print(f"wrote {path} ({path.stat().st_size:,} bytes, {counts}, sha256 {digest}...)")
    return 0


def _is_official(source: Path) -> bool:
    if source.is_dir():
        return batches_dir(source) is not None
    return looks_like_tar(source) and is_cifar_tar(source)


def _read_folder(source: Path) -> Files:
    tree = list_tree(source, lambda parts: True)
    classes = check_classes(tree)
    files: Files = {}
    for split in ("train", "test"):
        if split not in tree.files:
            raise SystemExit(f"{source} has no {split}/ split")
        files[split] = {
            c: [(n.rsplit("/", 1)[-1], tree.read(n)) for n in tree.files[split][c]] for c in classes
        }
    return files


def _encode_official(source: Path, image_format: str, quality: int) -> Files:
    raw = read_cifar_python(source)
    suffix = "jpg" if image_format == "jpeg" else "png"
    files: Files = {}
    for split, (x, y) in raw.splits.items():
        files[split] = {}
        for label, name in enumerate(raw.classes):
            images = x[y == label]
            files[split][name] = [
                (f"{i:04d}.{suffix}", _encode(img, image_format, quality))
                for i, img in enumerate(images)
            ]
    return files


def _encode(image: np.ndarray, image_format: str, quality: int) -> bytes:
    buf = io.BytesIO()
    if image_format == "jpeg":
        Image.fromarray(image).save(buf, "JPEG", quality=quality)
    else:
        Image.fromarray(image).save(buf, "PNG", optimize=True)
    return buf.getvalue()


def _search_subset(train: dict[str, list[tuple[str, bytes]]], per_class: int, seed: int) -> Files:
    out: Files = {"train": {}, "val": {}}
    for index, (name, items) in enumerate(sorted(train.items())):
        if len(items) < 2 * per_class:
            raise SystemExit(f"class {name} has {len(items)} images, need {2 * per_class}")
        # One stream per class, so the choice for a class does not depend on the others.
        rng = np.random.default_rng([seed, index])
        chosen = rng.choice(len(items), size=2 * per_class, replace=False)
        out["train"][name] = sorted(items[i] for i in chosen[:per_class])
        out["val"][name] = sorted(items[i] for i in chosen[per_class:])
    return out


def _write_tar(path: Path, files: Files) -> None:
    members: dict[str, bytes | None] = {}
    for split, classes in files.items():
        members[split] = None
        for name, items in classes.items():
            members[f"{split}/{name}"] = None
            members.update((f"{split}/{name}/{fname}", data) for fname, data in items)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in sorted(members):
            data = members[name]
            info = tarfile.TarInfo(name)
            info.mtime = FIXED_MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    with open(path, "wb") as f, gzip.GzipFile("", "wb", 9, f, mtime=0) as gz:
        gz.write(buf.getvalue())


if __name__ == "__main__":
    sys.exit(main())
