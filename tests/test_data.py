"""Tests of autodl_design.data: readers, splits, batching, augmentation, info, errors."""

from __future__ import annotations

import io
import pickle
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from autodl_design.config import DataConfig
from autodl_design.data import (
    BUNDLED_DIR,
    SEARCH_TAR,
    DataError,
    cutout,
    dataset_info,
    detect_format,
    format_dataset_info,
    iterate_batches,
    load_dataset,
    load_test_set,
    num_batches,
    pad_crop_flip,
    preprocess,
    random_crop_flip,
    random_cutout,
    read_cifar_python,
    read_image_folder,
    standardize,
    to_float_nchw,
)
from autodl_design.data.tree import list_tree

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer"]
CIFAR_CLASSES += ["dog", "frog", "horse", "ship", "truck"]


# --- official CIFAR-10 python release, built in the official layout -------------------------


def _cifar_images(n: int, offset: int) -> np.ndarray:
    """Distinct, known (n, 32, 32, 3) uint8 images: every pixel depends on image, row, col, ch."""
    i, h, w, c = np.ogrid[:n, :32, :32, :3]
    return ((i + offset) * 7 + h * 3 + w * 5 + c * 101).astype(np.uint8)


def _official_rows(images: np.ndarray) -> np.ndarray:
    """Rows as the release stores them: the red 32x32 plane, then green, then blue."""
    planes = [images[..., c].reshape(len(images), 1024) for c in range(3)]
    return np.concatenate(planes, axis=1)


def _batch(images: np.ndarray, labels: list[int], name: bytes) -> bytes:
    batch = {
        b"batch_label": name,
        b"labels": labels,
        b"data": _official_rows(images),
        b"filenames": [b"img_%d.png" % i for i in range(len(labels))],
    }
    return pickle.dumps(batch, protocol=2)


def _cifar_files(per_class: int = 2, bad_label: bool = False) -> tuple[dict[str, bytes], dict]:
    """Batch files of a tiny release; also the expected arrays per split."""
    files, expected = {}, {"train": ([], []), "test": ([], [])}
    n = 10 * per_class
    for k, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        images = _cifar_images(n, offset=k * n)
        labels = [i % 10 for i in range(n)]
        if bad_label and name == "test_batch":
            labels[3] = 10
        files[name] = _batch(images, labels, name.encode())
        split = "test" if name == "test_batch" else "train"
        expected[split][0].append(images)
        expected[split][1].append(np.array(labels))
    meta = {b"label_names": [c.encode() for c in CIFAR_CLASSES], b"num_vis": 3072}
    files["batches.meta"] = pickle.dumps(meta, protocol=2)
    return files, {s: (np.concatenate(x), np.concatenate(y)) for s, (x, y) in expected.items()}


def _write_tar(path: Path, files: dict[str, bytes], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _cifar_tar(tmp_path: Path, **kwargs) -> tuple[Path, dict]:
    files, expected = _cifar_files(**kwargs)
    named = {f"cifar-10-batches-py/{k}": v for k, v in files.items()}
    return _write_tar(tmp_path / "cifar-10-python.tar.gz", named), expected


def test_cifar_python_tar_gives_exact_pixels(tmp_path):
    path, expected = _cifar_tar(tmp_path)
    raw = read_cifar_python(path)
    assert raw.classes == CIFAR_CLASSES
    for split in ("train", "test"):
        x, y = raw.splits[split]
        assert x.dtype == np.uint8 and y.dtype == np.int64
        np.testing.assert_array_equal(x, expected[split][0])
        np.testing.assert_array_equal(y, expected[split][1])
    # Channel planes: pixel (row 0, col 1) of image 0 is red value 5, green 106, blue 207.
    assert list(raw.splits["train"][0][0, 0, 1]) == [5, 106, 207]
    assert detect_format(str(path)) == "cifar10-python"


@pytest.mark.parametrize("inner", [True, False])
def test_cifar_python_unpacked_folder(tmp_path, inner):
    files, expected = _cifar_files()
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    source = folder if inner else tmp_path
    assert detect_format(str(source)) == "cifar10-python"
    ds = load_dataset(DataConfig(source=str(source), val_fraction=0.2))
    assert ds.format == "cifar10-python" and ds.classes == CIFAR_CLASSES
    np.testing.assert_array_equal(ds.test_x, expected["test"][0])
    assert len(ds.train_y) == 80 and len(ds.val_y) == 20
    assert np.bincount(ds.val_y).tolist() == [2] * 10


def test_cifar_python_converted_to_gray_and_resized(tmp_path):
    path, expected = _cifar_tar(tmp_path)
    ds = load_dataset(DataConfig(source=str(path), image_size=16, channels=1))
    assert ds.train_x.shape[1:] == (16, 16, 1) and ds.test_x.shape == (20, 16, 16, 1)
    raw = read_cifar_python(path, ("test",), image_size=32, channels=1)
    first = Image.fromarray(expected["test"][0][0]).convert("L")
    np.testing.assert_array_equal(raw.splits["test"][0][0, ..., 0], np.asarray(first))


def test_cifar_python_errors(tmp_path):
    path, _ = _cifar_tar(tmp_path)
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    with pytest.raises(DataError, match="corrupt or truncated archive"):
        load_dataset(DataConfig(source=str(truncated)))

    files, _ = _cifar_files()
    del files["data_batch_3"]
    missing = _write_tar(tmp_path / "missing.tar.gz", files)
    with pytest.raises(DataError, match="missing data_batch_3"):
        load_dataset(DataConfig(source=str(missing)))

    (tmp_path / "bad").mkdir()
    bad_label, _ = _cifar_tar(tmp_path / "bad", bad_label=True)
    with pytest.raises(DataError, match="label 10 out of range for 10 classes"):
        load_test_set(str(bad_label))

    files, _ = _cifar_files()
    files["data_batch_2"] = pickle.dumps(
        {b"data": np.zeros((4, 3000), np.uint8), b"labels": [0] * 4}
    )
    with pytest.raises(DataError, match="data_batch_2.*3000 values, expected 3072"):
        read_cifar_python(_write_tar(tmp_path / "shape.tar", files, "w"))

    files["data_batch_2"] = pickle.dumps(shutil.rmtree)
    with pytest.raises(DataError, match="refusing to load shutil.rmtree"):
        read_cifar_python(_write_tar(tmp_path / "hostile.tar", files, "w"))


# --- image folders --------------------------------------------------------------------------


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _gradient(size: tuple[int, int], seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def _palette_image() -> Image.Image:
    img = Image.new("P", (32, 32), 1)
    img.putpalette([0, 0, 0, 1, 2, 3])
    return img


def _mixed_folder_files() -> dict[str, bytes]:
    """train/{a,b,c} and test/{a,b,c} with assorted sizes and modes, as PNG bytes."""
    return {
        "train/a/1.png": _png(Image.new("RGB", (40, 20), (200, 100, 50))),
        "train/a/2.png": _png(_gradient((32, 32), 0)),
        "train/b/1.png": _png(Image.new("L", (32, 32), 77)),
        "train/b/2.png": _png(Image.new("RGBA", (16, 16), (10, 20, 30, 128))),
        "train/c/1.png": _png(_gradient((48, 64), 1)),
        "train/c/2.png": _png(_palette_image()),
        "test/a/1.png": _png(Image.new("RGB", (32, 32), (5, 6, 7))),
        "test/b/1.png": _png(Image.new("L", (8, 8), 9)),
        "test/c/1.png": _png(_gradient((32, 32), 2)),
    }


def _write_dir(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def test_image_folder_resizes_and_converts(tmp_path):
    files = _mixed_folder_files()
    raw = read_image_folder(_write_dir(tmp_path / "folder", files))
    assert raw.classes == ["a", "b", "c"] and raw.format == "image-folder"
    x, y = raw.splits["train"]
    assert x.shape == (6, 32, 32, 3) and x.dtype == np.uint8
    assert y.tolist() == [0, 0, 1, 1, 2, 2] and y.dtype == np.int64
    assert (x[0] == [200, 100, 50]).all()
    np.testing.assert_array_equal(x[1], np.asarray(_gradient((32, 32), 0)))
    assert (x[2] == 77).all()
    assert (x[3] == [10, 20, 30]).all()
    expected = _gradient((48, 64), 1).resize((32, 32), Image.Resampling.BILINEAR)
    np.testing.assert_array_equal(x[4], np.asarray(expected))
    assert (x[5] == [1, 2, 3]).all()
    assert raw.splits["test"][0].shape == (3, 32, 32, 3)


def test_image_folder_gray_output(tmp_path):
    raw = read_image_folder(_write_dir(tmp_path, _mixed_folder_files()), channels=1, image_size=8)
    x = raw.splits["train"][0]
    assert x.shape == (6, 8, 8, 1)
    gray = np.asarray(Image.new("RGB", (1, 1), (200, 100, 50)).convert("L"))[0, 0]
    assert (x[0] == gray).all() and (x[2] == 77).all()


def test_image_folder_tar_with_wrapper_dir(tmp_path):
    files = _mixed_folder_files()
    from_dir = read_image_folder(_write_dir(tmp_path / "folder", files))
    wrapped = {f"my-data/{name}": data for name, data in files.items()}
    path = _write_tar(tmp_path / "folder.tar.gz", wrapped)
    assert detect_format(str(path)) == "image-folder"
    from_tar = read_image_folder(path)
    assert from_tar.classes == from_dir.classes
    for split in ("train", "test"):
        np.testing.assert_array_equal(from_tar.splits[split][0], from_dir.splits[split][0])
        np.testing.assert_array_equal(from_tar.splits[split][1], from_dir.splits[split][1])
    x, y, classes = load_test_set(str(path))
    assert x.shape == (3, 32, 32, 3) and y.tolist() == [0, 1, 2] and classes == ["a", "b", "c"]
    # Members in reverse order: info must sample whichever image of a class comes first.
    backwards = _write_tar(tmp_path / "backwards.tar", dict(reversed(wrapped.items())), "w")
    info = dataset_info(str(backwards))
    assert info["format"] == "image-folder" and info["classes"] == ["a", "b", "c"]
    assert info["splits"]["train"]["per_class"] == {"a": 2, "b": 2, "c": 2}
    assert [16, 16, 4] in info["image_shapes"]  # train/b/2.png, first in this archive
    assert "train 6 (2 per class)" in format_dataset_info(info)


def _uniform_folder(root: Path, per_class: int, splits=("train",)) -> Path:
    for split in splits:
        for c in range(3):
            for i in range(per_class):
                img = Image.new("L", (32, 32), c * 50 + i)
                (root / split / f"k{c}").mkdir(parents=True, exist_ok=True)
                img.save(root / split / f"k{c}" / f"{i:03d}.png")
    return root


def test_val_carve_out_is_stratified_seeded_and_disjoint(tmp_path):
    source = str(_uniform_folder(tmp_path, 10))
    ds = load_dataset(DataConfig(source=source, val_fraction=0.2, seed=3))
    assert ds.test_x is None and ds.test_y is None
    assert (
        np.bincount(ds.train_y).tolist() == [8, 8, 8] and np.bincount(ds.val_y).tolist() == [2] * 3
    )
    train = {int(v) for v in ds.train_x[:, 0, 0, 0]}
    val = {int(v) for v in ds.val_x[:, 0, 0, 0]}
    assert not train & val and len(train | val) == 30
    again = load_dataset(DataConfig(source=source, val_fraction=0.2, seed=3))
    np.testing.assert_array_equal(again.val_x, ds.val_x)
    capped = load_dataset(
        DataConfig(source=source, val_fraction=0.2, seed=3, max_train_per_class=5)
    )
    np.testing.assert_array_equal(capped.val_x, ds.val_x)
    assert np.bincount(capped.train_y).tolist() == [5, 5, 5]
    assert {int(v) for v in capped.train_x[:, 0, 0, 0]} <= train


def test_own_val_split_is_used_and_capped(tmp_path):
    source = str(_uniform_folder(tmp_path, 4, splits=("train", "val", "test")))
    ds = load_dataset(DataConfig(source=source, max_val_per_class=3))
    assert len(ds.train_y) == 12 and np.bincount(ds.val_y).tolist() == [3, 3, 3]
    assert len(ds.test_y) == 12


def test_image_folder_errors(tmp_path):
    files = _mixed_folder_files()
    with pytest.raises(DataError, match="data source not found"):
        load_dataset(DataConfig(source=str(tmp_path / "nope")))

    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="unrecognised data format"):
        load_dataset(DataConfig(source=str(tmp_path / "notes.txt")))
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(DataError, match="unrecognised data format"):
        load_dataset(DataConfig(source=str(tmp_path / "empty_dir")))
    (tmp_path / "junk.tar.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(DataError, match="corrupt or truncated archive"):
        load_dataset(DataConfig(source=str(tmp_path / "junk.tar.gz")))

    bad = dict(files, **{"train/b/broken.png": b"not an image"})
    with pytest.raises(DataError, match="cannot decode image train/b/broken.png"):
        read_image_folder(_write_dir(tmp_path / "bad", bad))

    empty = _write_dir(tmp_path / "empty", files)
    (empty / "train" / "d").mkdir()
    with pytest.raises(DataError, match="empty class folder train/d"):
        read_image_folder(empty)

    nine = {k: v for k, v in files.items() if not k.startswith("test/c/")}
    with pytest.raises(DataError, match="class count mismatch: train has 3 classes, test has 2"):
        load_dataset(DataConfig(source=str(_write_dir(tmp_path / "nine", nine))))

    no_test = {k: v for k, v in files.items() if k.startswith("train/")}
    with pytest.raises(DataError, match="has no test split"):
        load_test_set(str(_write_dir(tmp_path / "no_test", no_test)))


# --- named source: cifar10 found in $AUTODL_DESIGN_DATA ------------------------------------


def _jpeg_archive(folder: Path) -> Path:
    """A small ``cifar10-jpeg.tar.gz`` in the layout of the shared JPEG copy."""
    folder.mkdir(parents=True, exist_ok=True)
    wrapped = {f"cifar10-jpeg/{name}": data for name, data in _mixed_folder_files().items()}
    return _write_tar(folder / "cifar10-jpeg.tar.gz", wrapped)


def test_named_source_reads_the_jpeg_archive_and_keeps_the_name(tmp_path, monkeypatch):
    from autodl_design.train.config import TrainConfig
    from autodl_design.train.data import load_train_data

    archive = _jpeg_archive(tmp_path / "data")
    monkeypatch.setenv("AUTODL_DESIGN_DATA", str(tmp_path / "data"))
    assert detect_format("cifar10") == "image-folder"
    ds = load_dataset(DataConfig(source="cifar10", val_fraction=0.5))
    explicit = load_dataset(DataConfig(source=str(archive), val_fraction=0.5))
    assert ds.source == "cifar10" and explicit.source == str(archive)
    np.testing.assert_array_equal(ds.train_x, explicit.train_x)
    np.testing.assert_array_equal(ds.test_x, explicit.test_x)
    assert "cifar10: train 3" in ds.summary()
    train = load_train_data(TrainConfig(data=DataConfig(source="cifar10")))
    assert train.source == "cifar10" and len(train.train_y) == 6
    x, _, classes = load_test_set("cifar10")
    assert x.shape == (3, 32, 32, 3) and classes == ["a", "b", "c"]
    info = dataset_info("cifar10")
    assert info["source"] == "cifar10" and info["path"] == str(archive)
    assert format_dataset_info(info).startswith(f"source:   cifar10 ({archive})")


@pytest.mark.parametrize("unpacked", [False, True])
def test_named_source_finds_the_official_release_in_a_cifar10_subfolder(
    tmp_path, monkeypatch, unpacked
):
    folder = tmp_path / "cifar10"
    folder.mkdir()
    files, expected = _cifar_files()
    if unpacked:
        _write_dir(folder / "cifar-10-batches-py", files)
    else:
        _cifar_tar(folder)
    monkeypatch.setenv("AUTODL_DESIGN_DATA", str(tmp_path))
    assert detect_format("cifar10") == "cifar10-python"
    x, y, classes = load_test_set("cifar10")
    np.testing.assert_array_equal(x, expected["test"][0])
    assert classes == CIFAR_CLASSES


def test_named_source_search_order(tmp_path, monkeypatch):
    from autodl_design.data.named import candidates, resolve_named

    monkeypatch.setenv("AUTODL_DESIGN_DATA", str(tmp_path))
    assert [str(p.relative_to(tmp_path)) for p in candidates("cifar10")] == [
        "cifar10-jpeg.tar.gz",
        "cifar-10-python.tar.gz",
        "cifar-10-batches-py",
        "cifar10/cifar10-jpeg.tar.gz",
        "cifar10/cifar-10-python.tar.gz",
        "cifar10/cifar-10-batches-py",
    ]
    (tmp_path / "cifar10").mkdir()
    _cifar_tar(tmp_path / "cifar10")
    assert resolve_named("cifar10") == tmp_path / "cifar10" / "cifar-10-python.tar.gz"
    _cifar_tar(tmp_path)  # the folder itself before its cifar10/
    assert resolve_named("cifar10") == tmp_path / "cifar-10-python.tar.gz"
    _jpeg_archive(tmp_path)  # the JPEG copy the recorded figures were measured on, first
    assert resolve_named("cifar10") == tmp_path / "cifar10-jpeg.tar.gz"


def test_named_source_not_found_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTODL_DESIGN_DATA", str(tmp_path / "empty"))
    with pytest.raises(DataError) as error:
        load_dataset(DataConfig(source="cifar10"))
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("data source 'cifar10' not found: looked for cifar10-jpeg.tar.gz")
    assert f"in {tmp_path / 'empty'} and {tmp_path / 'empty' / 'cifar10'}" in message
    assert "set AUTODL_DESIGN_DATA to the folder that holds one, or pass --data PATH" in message
    # unset: the default folder under the home directory
    monkeypatch.delenv("AUTODL_DESIGN_DATA")
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(DataError, match="AUTODL_DESIGN_DATA unset, default ~/.cache"):
        dataset_info("cifar10")
    default = tmp_path / ".cache" / "autodl-design" / "datasets" / "cifar10"
    default.mkdir(parents=True)
    _cifar_tar(default)
    assert dataset_info("cifar10")["format"] == "cifar10-python"


def test_explicit_paths_are_unchanged_by_named_sources(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTODL_DESIGN_DATA", str(tmp_path / "empty"))
    archive = _jpeg_archive(tmp_path / "elsewhere")
    ds = load_dataset(DataConfig(source=str(archive), val_fraction=0.5))
    assert ds.source == str(archive) and ds.format == "image-folder"
    # a folder that happens to be called cifar10 is a path when written as one
    _write_dir(tmp_path / "cifar10", _mixed_folder_files())
    monkeypatch.chdir(tmp_path)
    assert load_dataset(DataConfig(source="./cifar10", val_fraction=0.5)).source == "./cifar10"
    with pytest.raises(DataError, match="data source 'cifar10' not found"):
        load_dataset(DataConfig(source="cifar10"))


# --- bundled data ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled():
    return load_dataset(DataConfig(source="bundled"))


def test_bundled_dataset(bundled):
    assert bundled.format == "bundled" and bundled.classes == CIFAR_CLASSES
    assert bundled.train_x.shape == (1000, 32, 32, 3) and bundled.train_x.dtype == np.uint8
    assert np.bincount(bundled.train_y).tolist() == [100] * 10
    assert np.bincount(bundled.val_y).tolist() == [100] * 10
    assert bundled.test_x.shape == (10000, 32, 32, 3)
    assert np.bincount(bundled.test_y).tolist() == [1000] * 10
    tree = list_tree(BUNDLED_DIR / SEARCH_TAR)
    for c in CIFAR_CLASSES:
        train = {n.rsplit("/", 1)[1] for n in tree.files["train"][c]}
        val = {n.rsplit("/", 1)[1] for n in tree.files["val"][c]}
        assert len(train) == len(val) == 100 and not train & val


def test_bundled_test_set():
    x, y, classes = load_test_set()
    assert x.shape == (10000, 32, 32, 3) and y.shape == (10000,) and classes == CIFAR_CLASSES


def test_dataset_info_bundled():
    info = dataset_info("bundled")
    assert info["format"] == "bundled" and info["classes"] == CIFAR_CLASSES
    assert info["image_shapes"] == [[32, 32, 3]]
    assert {s: v["images"] for s, v in info["splits"].items()} == {
        "train": 1000,
        "val": 1000,
        "test": 10000,
    }
    assert set(info["splits"]["test"]["per_class"].values()) == {1000}
    text = format_dataset_info(info)
    assert "test 10,000 (1,000 per class)" in text and "truck" in text


def test_dataset_info_cifar_python(tmp_path):
    path, _ = _cifar_tar(tmp_path)
    info = dataset_info(str(path))
    assert info["format"] == "cifar10-python" and info["splits"]["train"]["images"] == 100
    assert info["splits"]["test"]["per_class"]["cat"] == 2
    assert "cifar10-python" in format_dataset_info(info)


# --- batching, augmentation, normalisation --------------------------------------------------


def test_pad_crop_flip_hand_made_example():
    image = np.array([[1, 2], [3, 4]], dtype=np.uint8)
    x = np.stack([image] * 4)[..., None] * np.array([1, 10], dtype=np.uint8)  # (4, 2, 2, 2)
    out = pad_crop_flip(
        x,
        top=np.array([0, 2, 1, 1]),
        left=np.array([0, 1, 2, 1]),
        flip=np.array([False, False, True, True]),
        pad=1,
    )
    assert out.shape == x.shape and out.dtype == np.uint8
    expected = [[[0, 0], [0, 1]], [[3, 4], [0, 0]], [[0, 2], [0, 4]], [[2, 1], [4, 3]]]
    np.testing.assert_array_equal(out[..., 0], expected)
    np.testing.assert_array_equal(out[..., 1], np.array(expected) * 10)


def test_random_crop_flip_without_padding_only_flips():
    x = np.random.default_rng(0).integers(0, 256, (64, 8, 8, 3), dtype=np.uint8)
    out = random_crop_flip(x, np.random.default_rng(1), pad=0)
    same = (out == x).all(axis=(1, 2, 3))
    flipped = (out == x[:, :, ::-1]).all(axis=(1, 2, 3))
    assert (same | flipped).all() and same.any() and flipped.any()


def test_cutout_zeroes_the_square_clipped_to_the_image():
    x = np.ones((3, 2, 6, 6), dtype=np.float32)
    out = cutout(x, top=np.array([1, -2, 4]), left=np.array([2, -1, 5]), size=3)
    assert out is x
    expected = np.ones((3, 6, 6), dtype=np.float32)
    expected[0, 1:4, 2:5] = 0  # inside
    expected[1, 0:1, 0:2] = 0  # clipped at the top-left corner
    expected[2, 4:6, 5:6] = 0  # clipped at the bottom-right corner
    for channel in range(2):
        np.testing.assert_array_equal(out[:, channel], expected)


def test_random_cutout_square_sizes_and_placement():
    x = np.ones((2000, 1, 8, 8), dtype=np.float32)
    out = random_cutout(x, np.random.default_rng(0), size=4)
    zeroed = (out == 0).sum(axis=(1, 2, 3))
    assert zeroed.max() == 16 and zeroed.min() == 4  # whole square, or a quarter at a corner
    rows, cols = (out[:, 0] == 0).any(axis=2), (out[:, 0] == 0).any(axis=1)
    assert rows.any(axis=0).all() and cols.any(axis=0).all()  # every row and column is hit


def test_iterate_batches_cutout_only_when_augmenting():
    x = np.random.default_rng(0).integers(1, 256, (8, 16, 16, 3), dtype=np.uint8)
    y = np.arange(8)
    plain = next(iterate_batches(x, y, 8, np.random.default_rng(1), False, False, cutout=6))
    np.testing.assert_allclose(plain[0], preprocess(x))
    augmented = next(iterate_batches(x, y, 8, np.random.default_rng(1), False, True, cutout=6))
    without = next(iterate_batches(x, y, 8, np.random.default_rng(1), False, True))
    zeroed = (augmented[0] == 0).all(axis=1).sum(axis=(1, 2))  # pixels zero in every channel
    assert (zeroed >= 9).all() and (zeroed <= 36).all()
    keep = augmented[0] != 0
    np.testing.assert_allclose(augmented[0][keep], without[0][keep])  # same crops and flips
    with pytest.raises(ValueError, match="cutout must be >= 0"):
        next(iterate_batches(x, y, 8, np.random.default_rng(1), False, True, cutout=-1))


def test_iterate_batches_shapes_and_order():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)
    y = np.arange(10)
    plain = list(iterate_batches(x, y, 4, rng, shuffle=False, augment=False))
    assert [len(b[1]) for b in plain] == [4, 4, 2] and num_batches(10, 4) == 3
    assert np.concatenate([b[1] for b in plain]).tolist() == list(range(10))
    np.testing.assert_allclose(plain[0][0], preprocess(x[:4]))
    batches = list(iterate_batches(x, y, 4, rng, shuffle=True, augment=True, drop_last=True))
    assert len(batches) == num_batches(10, 4, drop_last=True) == 2
    for images, labels in batches:
        assert images.shape == (4, 3, 32, 32) and images.dtype == np.float32
        assert images.flags.c_contiguous and labels.dtype == np.int64
    seen = np.concatenate([b[1] for b in batches])
    assert len(set(seen.tolist())) == 8


def test_to_float_nchw_and_standardize():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (5, 6, 7, 3), dtype=np.uint8)
    f = to_float_nchw(x)
    assert f.shape == (5, 3, 6, 7) and f.dtype == np.float32
    np.testing.assert_allclose(f[2, 1, 3, 4] * 255, x[2, 3, 4, 1], rtol=1e-6)
    s = standardize(f)
    np.testing.assert_allclose(s.mean(axis=(1, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(s.std(axis=(1, 2, 3)), 1, atol=1e-4)
    assert not np.shares_memory(s, f)
    flat = standardize(np.full((2, 3, 4, 4), 0.5, dtype=np.float32))
    assert np.isfinite(flat).all() and (flat == 0).all()
    with pytest.raises(ValueError, match="C-contiguous"):
        standardize(f.transpose(0, 2, 3, 1), inplace=True)
