"""Hostile inputs, made on the fly, given to the CLI: each must end in one line on stderr.

Corrupted and truncated archives (image folders and the official CIFAR-10 release), empty and
undecodable images, a decompression bomb, a directory given as an image and nonsensical
numbers. Every CLI run is a subprocess that must exit non-zero with exactly one stderr line, no
traceback, and leave the files it was given (its whole working tree) as they were.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_data import _cifar_files, _gradient, _png, _write_dir, _write_tar
from test_hostile import assert_refused

from autodl_design.data import DataError, dataset_info, format_dataset_info, read_image_folder
from autodl_design.data.archive import iter_members
from autodl_design.data.imaging import MAX_PIXELS, decode_image

REPO = Path(__file__).resolve().parents[1]
MANIFEST = REPO / "pretrained" / "manifest.yaml"
ARCH = REPO / "pretrained" / "archs" / "m1.json"


# --- hostile inputs ------------------------------------------------------------------------


def _folder_files(per_class: int = 40) -> dict[str, bytes]:
    """train/ and test/ with three classes of small noise PNGs (incompressible enough that the
    middle of the .tar.gz lies well inside the member data)."""
    names = [
        f"{split}/{c}/{i:03d}.png"
        for split, n in (("train", per_class), ("test", per_class // 4))
        for c in ("a", "b", "c")
        for i in range(n)
    ]
    return {name: _png(_gradient((8, 8), seed)) for seed, name in enumerate(names)}


def _flip_middle(path: Path) -> Path:
    """Invert 8 bytes in the middle of the file, as a bad disk or download would."""
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 8] = bytes(b ^ 0xFF for b in data[mid : mid + 8])
    path.write_bytes(bytes(data))
    return path


def _truncate(path: Path, fraction: float = 0.5) -> Path:
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * fraction)])
    return path


def _cifar_tgz(path: Path) -> Path:
    files, _ = _cifar_files(per_class=20)
    return _write_tar(path, {f"cifar-10-batches-py/{k}": v for k, v in files.items()})


def _bomb_png(side: int) -> bytes:
    """A valid, all-black ``side x side`` grayscale PNG: tiny on disk, ``side**2`` bytes
    decoded."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    packer = zlib.compressobj(9)
    row = bytes(side + 1)  # filter byte + pixels
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


# --- running the CLI -----------------------------------------------------------------------


def refuse(tmp_path: Path, *argv: str, expect: str) -> str:
    """Run ``autodl-design *argv`` in ``tmp_path``; check it refuses cleanly; its stderr line."""
    return assert_refused(tmp_path, *argv, match=expect)


@pytest.mark.parametrize("damage", [_flip_middle, _truncate])
def test_data_info_refuses_a_damaged_image_folder_archive(tmp_path, damage):
    path = damage(_write_tar(tmp_path / "folder.tar.gz", _folder_files()))
    line = refuse(tmp_path, "data", "info", str(path), expect="corrupt or truncated archive")
    assert str(path) in line


def test_data_info_names_corruption_of_a_cifar_archive_not_missing_batches(tmp_path):
    path = _flip_middle(_cifar_tgz(tmp_path / "cifar-10-python.tar.gz"))
    line = refuse(tmp_path, "data", "info", str(path), expect="corrupt or truncated archive")
    assert str(path) in line and "missing" not in line


def test_data_info_refuses_an_empty_image(tmp_path):
    folder = _write_dir(tmp_path / "folder", {**_folder_files(4), "train/b/zero.png": b""})
    refuse(tmp_path, "data", "info", str(folder), expect="empty image file train/b/zero.png")


def test_data_info_refuses_a_decompression_bomb(tmp_path):
    folder = _write_dir(
        tmp_path / "folder", {**_folder_files(4), "train/a/000.png": _bomb_png(9000)}
    )
    line = refuse(tmp_path, "data", "info", str(folder), expect="decompression bomb")
    assert "train/a/000.png" in line and "9000x9000" in line


@pytest.mark.parametrize("command", ["search", "train"])
def test_search_and_train_refuse_a_corrupt_archive(tmp_path, command):
    data = tmp_path / "data"
    data.mkdir()
    path = _flip_middle(_write_tar(data / "folder.tar.gz", _folder_files()))
    out = tmp_path / "out"
    argv = {
        "search": ["-c", str(REPO / "configs" / "quick.yaml"), "--updates", "1", "--no-progress"],
        "train": ["--arch", str(ARCH), "-o", "epochs=1"],
    }[command]
    # quick.yaml's local backend: the data is checked in the main process before any worker
    argv += ["--data", str(path), "--output", str(out)]
    refuse(data, command, *argv, expect=f"corrupt or truncated archive {path}")
    assert not out.exists(), f"{command} created its output before reading the data"


@pytest.fixture(scope="module")
def bad_images(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("images")
    (root / "bomb.png").write_bytes(_bomb_png(14000))
    (root / "junk.png").write_bytes(b"not a png at all")
    (root / "folder").mkdir()
    return root


@pytest.mark.parametrize(
    "name, expect",
    [
        ("bomb.png", "decompression bomb"),
        ("folder", "is a directory"),
        ("junk.png", "not an image in a format Pillow reads"),
    ],
)
def test_predict_refuses_bad_images(bad_images, name, expect):
    line = refuse(bad_images, "predict", "--manifest", str(MANIFEST), name, expect=expect)
    assert name in line and "BytesIO" not in line


@pytest.mark.parametrize(
    "argv",
    [
        ["predict", "--batch-size", "0", "x.png"],
        ["predict", "--threads", "0", "x.png"],
        ["ensemble", "--limit", "0"],
        ["ensemble", "--batch-size", "-2"],
    ],
)
def test_nonpositive_counts_are_refused_when_parsing(tmp_path, argv):
    refuse(tmp_path, *argv, expect="must be at least 1")


# --- the same checks, in process -----------------------------------------------------------


def test_a_plain_tar_ending_between_members_is_truncated(tmp_path):
    path = _write_tar(tmp_path / "folder.tar", _folder_files(4), "w")
    data = path.read_bytes().rstrip(b"\0")
    path.write_bytes(data + bytes(-len(data) % 512))  # the last member, padded; no end marker
    with pytest.raises(DataError, match="without an end-of-archive marker"):
        read_image_folder(path)


def test_an_appended_archive_is_not_silently_skipped(tmp_path):
    first = _write_tar(tmp_path / "a.tar", _folder_files(4), "w").read_bytes()
    second = _write_tar(tmp_path / "b.tar", {"train/d/0.png": _png(_gradient((8, 8), 9))}, "w")
    path = tmp_path / "both.tar"
    path.write_bytes(first + second.read_bytes())
    with pytest.raises(DataError, match="data after the end-of-archive marker"):
        dataset_info(str(path))


@pytest.mark.parametrize("suffix, mode", [(".tar.bz2", "w:bz2"), (".tar.xz", "w:xz")])
@pytest.mark.parametrize("damage", [_flip_middle, _truncate])
def test_damaged_bz2_and_xz_archives_are_refused_with_the_reason(tmp_path, suffix, mode, damage):
    path = damage(_write_tar(tmp_path / f"folder{suffix}", _folder_files(), mode))
    with pytest.raises(DataError, match=f"corrupt or truncated archive {path}: ") as caught:
        dataset_info(str(path))
    assert "could not be opened" not in str(caught.value)  # tarfile's reason-less summary


def test_a_truncated_cifar_archive_is_named_truncated(tmp_path):
    path = _truncate(_cifar_tgz(tmp_path / "cifar.tar.gz"), 0.8)
    with pytest.raises(DataError, match=f"corrupt or truncated archive {path}"):
        dataset_info(str(path))


def test_an_intact_archive_reads_to_its_end_once(tmp_path):
    files = _folder_files(4)
    path = _write_tar(tmp_path / "folder.tar.gz", files)
    read = [m.name for m, data in iter_members(path, lambda name: True) if data is not None]
    assert read == list(files)


def test_an_empty_image_in_an_archive_is_refused_by_training_too(tmp_path):
    path = _write_tar(tmp_path / "f.tar.gz", {**_folder_files(4), "train/c/empty.png": b""})
    with pytest.raises(DataError, match="empty image file train/c/empty.png"):
        read_image_folder(path)


def test_decode_errors_name_the_image_and_bombs_are_refused_from_the_header():
    with pytest.raises(DataError, match="cannot decode image x.png: empty file"):
        decode_image(b"", "x.png", 32, 3)
    with pytest.raises(DataError, match="cannot decode image y.png: not an image"):
        decode_image(b"GIF89a?", "y.png", 32, 3)
    side = int(MAX_PIXELS**0.5)
    assert decode_image(_bomb_png(64), "ok.png", 8, 1).shape == (8, 8, 1)
    with pytest.raises(DataError, match=f"{side + 1}x{side + 1} is more than"):
        decode_image(_bomb_png(side + 1), "big.png", 32, 3)


def test_data_info_says_how_many_files_it_ignored(tmp_path):
    files = {**_folder_files(4), "README.txt": b"hi", "train/a/notes.txt": b"", "test/x.csv": b""}
    info = dataset_info(str(_write_dir(tmp_path, files)))
    assert info["ignored"] == ["README.txt", "test/x.csv", "train/a/notes.txt"]
    assert info["splits"]["train"]["images"] == 12
    assert "ignored:  3 files that are not images (e.g. README.txt)" in format_dataset_info(info)


def test_the_bomb_helper_writes_a_real_png():
    """Guard for the helper above: its bytes decode as the black image they claim to be."""
    with Image.open(io.BytesIO(_bomb_png(16))) as img:
        assert img.size == (16, 16) and img.mode == "L" and np.asarray(img).max() == 0
