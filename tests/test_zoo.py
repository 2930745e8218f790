"""Pretrained manifest, sha256-checked loading, ensemble, export and the pretrained commands."""

import argparse
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from autodl_design.config import load_config
from autodl_design.data import load_test_set, preprocess
from autodl_design.fileio import sha256_file
from autodl_design.nn.runtime import predict, softmax
from autodl_design.space import Architecture, random_architecture
from autodl_design.train.command import train
from autodl_design.train.config import TrainConfig
from autodl_design.train.data import TrainData
from autodl_design.train.distillation import array_digest
from autodl_design.zoo import commands as zoo_commands
from autodl_design.zoo.ensemble import load_ensemble
from autodl_design.zoo.evaluation import evaluate_ensemble
from autodl_design.zoo.inference import classify, export_ensemble, load_exported, load_images
from autodl_design.zoo.manifest import (
    MANIFEST_FORMAT,
    PretrainedError,
    add_to_manifest,
    read_manifest,
)
from autodl_design.zoo.prob_cache import ProbabilityCache
from autodl_design.zoo.table import stage_epochs

CLASSES = ["a", "b", "c"]
SIZE = 16


def tiny_images(n_per_class, seed):
    """Class k: brightness around 60 + 70 k, plus noise; uint8 (N, 16, 16, 3)."""
    rng = np.random.default_rng(seed)
    x = [
        np.clip(60 + 70 * k + rng.normal(0, 30, (SIZE, SIZE, 3)), 0, 255).astype(np.uint8)
        for k in range(len(CLASSES))
        for _ in range(n_per_class)
    ]
    return np.stack(x), np.repeat(np.arange(len(CLASSES)), n_per_class).astype(np.int64)


def tiny_run(out, seed):
    config = load_config(
        TrainConfig,
        None,
        [
            "network.width=8",
            "network.stages=2",
            f"network.num_classes={len(CLASSES)}",
            "data.image_size=16",
            "epochs=1",
            "batch_size=16",
            "visualdl=false",
            f"seed={seed}",
        ],
    )
    data = TrainData(*tiny_images(16, 0), *tiny_images(4, 1), CLASSES, "tiny")
    arch = random_architecture(np.random.default_rng(seed), 4, edge_prob=0.5)
    return train(arch, config, out, data=data, log=lambda line: None)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A manifest with two tiny trained models, and an image folder with a test split."""
    root = tmp_path_factory.mktemp("pretrained")
    manifest = root / "pretrained" / "manifest.yaml"
    for i, name in enumerate(("alpha", "beta")):
        tiny_run(root / f"run_{name}", seed=i + 1)
        add_to_manifest(manifest, root / f"run_{name}", name)
    x, y = tiny_images(5, 2)
    for i, (img, label) in enumerate(zip(x, y, strict=True)):
        folder = root / "folder" / "test" / CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / f"{i}.png")
    return root, manifest


@pytest.fixture
def manifest(built, tmp_path):
    """A private copy of the manifest directory, free to alter."""
    shutil.copytree(built[1].parent, tmp_path / "pretrained")
    return tmp_path / "pretrained" / "manifest.yaml"


def test_manifest_lists_models_with_checked_hashes(built):
    root, path = built
    m = read_manifest(path)
    assert m["format"] == MANIFEST_FORMAT and m["classes"] == CLASSES
    assert [e["name"] for e in m["models"]] == ["alpha", "beta"]
    for entry in m["models"]:
        assert entry["sha256"] == sha256_file(path.parent / entry["weights"])
        assert Architecture.from_json(entry["architecture"]).to_json() == entry["architecture"]
        assert entry["network"]["width"] == 8 and entry["recipe"]["epochs"] == 1
        assert entry["params"] > 0 and entry["flops"] > 0 and 0 <= entry["test_accuracy"] <= 1
    ensemble = load_ensemble(path)
    assert ensemble.names == ["alpha", "beta"] and ensemble.image_size == SIZE


def test_altered_weights_file_is_refused_by_name(manifest):
    target = manifest.parent / "beta.pdparams"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    with pytest.raises(PretrainedError, match=r"altered or corrupt: .*beta\.pdparams") as info:
        load_ensemble(manifest)
    assert "\n" not in str(info.value)


def test_missing_weights_file_is_refused_by_name(manifest):
    (manifest.parent / "alpha.pdparams").unlink()
    with pytest.raises(PretrainedError, match=r"missing: .*alpha\.pdparams"):
        load_ensemble(manifest)
    with pytest.raises(PretrainedError, match="manifest not found"):
        load_ensemble(manifest.parent / "nope.yaml")


def test_ensemble_averages_member_softmax(built):
    ensemble = load_ensemble(built[1])
    x, _ = tiny_images(3, 7)
    members = ensemble.member_probabilities(x)
    assert members.shape == (2, len(x), len(CLASSES))
    for net, probs in zip(ensemble.networks, members, strict=True):
        np.testing.assert_allclose(probs, softmax(predict(net, x, 64)), atol=1e-6)
    proba = ensemble.predict_proba(x)
    np.testing.assert_allclose(proba, members.mean(axis=0), atol=1e-7)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert np.array_equal(ensemble.predict(x), proba.argmax(axis=1))


def test_flip_tta_averages_each_member_over_the_image_and_its_mirror(built):
    ensemble = load_ensemble(built[1])
    ensemble.tta = "flip"
    x, _ = tiny_images(3, 7)
    mirror = x[:, :, ::-1]
    members = ensemble.member_probabilities(x)
    for net, probs in zip(ensemble.networks, members, strict=True):
        views = softmax(predict(net, x, 64)) + softmax(predict(net, mirror.copy(), 64))
        np.testing.assert_allclose(probs, views / 2, atol=1e-6)
    # averaging over both views makes the prediction blind to a mirrored input
    np.testing.assert_allclose(ensemble.predict_proba(mirror.copy()), members.mean(0), atol=1e-6)
    ensemble.tta = "rotate"
    with pytest.raises(ValueError, match="tta must be one of none, flip"):
        ensemble.predict_proba(x)


def test_an_export_with_flip_tta_reloads_with_it(built, tmp_path):
    ensemble = load_ensemble(built[1])
    ensemble.tta = "flip"
    out = export_ensemble(ensemble, tmp_path / "exported")
    x, _ = tiny_images(4, 9)
    expected = ensemble.predict_proba(x)
    for backend in ("jit", "predictor"):
        reloaded = load_exported(out, backend=backend)
        assert reloaded.tta == "flip"
        assert np.abs(reloaded.predict_proba(x, batch_size=5) - expected).max() < 1e-4
    ensemble.tta = "none"
    assert np.abs(ensemble.predict_proba(x) - expected).max() > 1e-4


def test_export_and_reload_give_the_same_predictions(built, tmp_path):
    ensemble = load_ensemble(built[1])
    out = export_ensemble(ensemble, tmp_path / "exported")
    assert not any(net.training for net in ensemble.networks)
    x, _ = tiny_images(4, 9)
    expected = ensemble.predict_proba(x)
    for backend, onednn in (("jit", False), ("predictor", False), ("predictor", True)):
        reloaded = load_exported(out, backend=backend, onednn=onednn)
        assert reloaded.classes == CLASSES and reloaded.names == ["alpha", "beta"]
        assert np.abs(reloaded.predict_proba(x, batch_size=5) - expected).max() < 1e-4


def test_exported_ensemble_runs_under_any_paddle_inference_config(built, tmp_path, run_program):
    out = export_ensemble(load_ensemble(built[1]), tmp_path / "exported")
    x, _ = tiny_images(3, 8)
    expected = load_exported(out).predict_proba(x)
    for how in ("default", "no-onednn"):
        got = run_program(out / "ensemble.json", preprocess(x), how)
        assert np.abs(got - expected).max() < 1e-4, how


def test_an_export_of_another_format_is_refused(built, tmp_path):
    out = export_ensemble(load_ensemble(built[1]), tmp_path / "exported")
    meta = json.loads((out / "ensemble_meta.json").read_text())
    meta["format"] = "autodl-design/exported-ensemble/v1"
    (out / "ensemble_meta.json").write_text(json.dumps(meta))
    with pytest.raises(PretrainedError, match="export it again"):
        load_exported(out)


def test_images_of_any_mode_and_size_are_classified(built, tmp_path):
    rng = np.random.default_rng(0)
    paths = [tmp_path / "rgba.png", tmp_path / "gray.jpg"]
    Image.fromarray(rng.integers(0, 255, (40, 25, 4), dtype=np.uint8), "RGBA").save(paths[0])
    Image.fromarray(rng.integers(0, 255, (9, 9), dtype=np.uint8), "L").save(paths[1])
    assert load_images(paths, SIZE, 3).shape == (2, SIZE, SIZE, 3)
    rows = classify(load_ensemble(built[1]), paths)
    assert [r["class"] in CLASSES for r in rows] == [True, True]
    assert all(0 < r["probability"] <= 1 for r in rows)


def run_cli(*argv):
    parser = argparse.ArgumentParser()
    zoo_commands.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([str(a) for a in argv])
    return args.func(args)


def tree_snapshot(root):
    """Every file under ``root`` with its bytes and mtime, to show what a command wrote."""
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def test_ensemble_command_measures_and_writes_manifest(built, manifest, capsys):
    folder = built[0] / "folder"
    home = Path(manifest).parent
    readme, readme_cn = home / "README.md", home / "README_cn.md"
    block = "<!-- pretrained-table lang={} -->\nSTALE-TABLE\n<!-- /pretrained-table -->\n"
    readme.write_text("# Models\n\n" + block.format("en") + "\ntext\n")
    readme_cn.write_text("# 模型\n\n" + block.format("cn"))
    # Pages outside the manifest's folder, even ones with a table block, are never written.
    for name in ("README.md", "README_cn.md", "notes.md"):
        (home.parent / name).write_text("# Project\n\n" + block.format("en"))
    (home / "other.md").write_text(block.format("en"))

    def outside():
        return {p: v for p, v in tree_snapshot(home.parent).items() if home not in p.parents}

    before, inside_before = outside(), set(home.rglob("*"))
    assert run_cli("ensemble", "--manifest", manifest, "--data", folder, "--write-manifest") == 0
    out = capsys.readouterr().out
    assert outside() == before
    assert set(home.rglob("*")) == inside_before  # no new file next to the manifest either
    assert "STALE-TABLE" in (home / "other.md").read_text()  # only README.md / README_cn.md
    assert "alpha" in out and "beta" in out and "ensemble (2)" in out and "img/s" in out
    m = read_manifest(manifest)
    x, y = tiny_images(5, 2)
    ensemble = load_ensemble(manifest)
    expected = float(np.mean(ensemble.predict(x) == y))
    assert m["ensemble"]["test_accuracy"] == pytest.approx(expected)
    ensemble.tta = "flip"
    flipped = ensemble.member_probabilities(x)
    assert m["ensemble"]["test_accuracy_flip_tta"] == pytest.approx(
        float(np.mean(flipped.mean(0).argmax(1) == y))
    )
    for e, probs in zip(m["models"], flipped, strict=True):
        assert e["test_accuracy_flip_tta"] == pytest.approx(float(np.mean(probs.argmax(1) == y)))
    ensemble.tta = "none"
    assert m["ensemble"]["test_images"] == 15
    assert all(e["test_images"] == 15 for e in m["models"])
    # the fixed check slice (all 15 images here) the bundled-model test recomputes
    correct = m["check"]["correct"]
    assert m["check"]["images"] == 15 and set(correct) == {"alpha", "beta", "ensemble"}
    assert correct["ensemble"] == int((ensemble.predict(x) == y).sum())
    # the folder's tables are rewritten from the measured manifest, the rest left alone
    text, text_cn = readme.read_text(), readme_cn.read_text()
    assert "STALE-TABLE" not in text + text_cn
    assert text.startswith("# Models\n") and text.endswith("\ntext\n")
    assert f"**{100 * expected:.2f}%**" in text and "ensemble of 2" in text
    assert text_cn.startswith("# 模型\n") and "2 个模型" in text_cn
    for e in m["models"]:
        assert f"| {e['name']} | `{e['architecture_key']}` |" in text
        assert f"{100 * e['test_accuracy']:.2f}%" in text
    assert f"updated the table in {readme.resolve()}" in out
    assert f"updated the table in {readme_cn.resolve()}" in out


def test_ensemble_command_reuses_the_cached_probabilities_of_unchanged_models(
    built, manifest, tmp_path, capsys
):
    folder, cache = built[0] / "folder", tmp_path / "cache"
    args = ("ensemble", "--manifest", manifest, "--data", folder, "--write-manifest")
    assert run_cli(*args, "--cache", cache) == 0
    assert "0 read back, 4 computed" in capsys.readouterr().out  # 2 models x (image, mirror)
    measured = read_manifest(manifest)
    assert len(list(cache.glob("*.npy"))) == 4
    assert run_cli(*args, "--cache", cache) == 0
    out = capsys.readouterr().out
    assert "4 read back, 0 computed" in out and out.count("cached") == 3  # 2 models, ensemble
    assert read_manifest(manifest) == measured
    # An unreadable file is recomputed.
    sorted(cache.glob("*.npy"))[0].write_bytes(b"not an array")
    assert run_cli(*args, "--cache", cache) == 0
    assert "3 read back, 1 computed" in capsys.readouterr().out
    assert read_manifest(manifest) == measured
    # What is read back is what the accuracies come from.
    x, y = tiny_images(5, 2)
    ensemble = load_ensemble(manifest)
    wrong = np.zeros((len(y), len(CLASSES)), np.float32)
    wrong[np.arange(len(y)), (y + 1) % len(CLASSES)] = 1  # every image in the wrong class
    key = (ensemble.weights_sha256[0], array_digest(x), "auto")
    ProbabilityCache(cache).put(*key, wrong)
    got = evaluate_ensemble(ensemble, x, y, flip=True, cache=ProbabilityCache(cache))
    assert got["models"][0]["accuracy"] == 0.0 and got["models"][0]["img_per_s"] is None
    # other weights (a replaced model), other images or another engine: computed afresh
    ensemble.weights_sha256[1] = "0" * 64
    ensemble.engine = "dygraph"
    fresh = ProbabilityCache(cache)
    got = evaluate_ensemble(ensemble, x[:9], y[:9], flip=True, cache=fresh)
    assert (fresh.hits, fresh.misses) == (0, 4) and got["ensemble"]["img_per_s"] > 0
    with pytest.raises(ValueError, match="needs the ensemble's weights_sha256"):
        ensemble.weights_sha256 = []
        evaluate_ensemble(ensemble, x, y, cache=fresh)


def test_predict_export_and_add_commands(built, manifest, tmp_path, capsys):
    image = tmp_path / "img.png"
    Image.fromarray(tiny_images(1, 3)[0][2]).save(image)
    assert run_cli("predict", "--manifest", manifest, image) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(str(image)) and line.split()[1] in CLASSES
    assert run_cli("export", "--manifest", manifest, "--output", tmp_path / "exp") == 0
    assert "max |diff|" in capsys.readouterr().out
    assert run_cli("predict", "--exported", tmp_path / "exp", image) == 0
    assert capsys.readouterr().out.strip() == line
    with pytest.raises(PretrainedError, match="exported with tta 'none', not 'flip'"):
        run_cli("predict", "--exported", tmp_path / "exp", image, "--tta", "flip")
    flip_dir = tmp_path / "ef"
    assert run_cli("export", "--manifest", manifest, "--output", flip_dir, "--tta", "flip") == 0
    assert "with flip TTA" in capsys.readouterr().out
    assert run_cli("predict", "--manifest", manifest, image, "--tta", "flip") == 0
    flip_line = capsys.readouterr().out.strip()
    assert run_cli("predict", "--exported", flip_dir, image) == 0
    assert capsys.readouterr().out.strip() == flip_line
    run_dir = built[0] / "run_alpha"
    with pytest.raises(PretrainedError, match="already has a model named 'alpha'"):
        run_cli("add-pretrained", run_dir, "--name", "alpha", "--manifest", manifest)
    assert run_cli("add-pretrained", run_dir, "--name", "gamma", "--manifest", manifest) == 0
    m = read_manifest(manifest)
    assert [e["name"] for e in m["models"]] == ["alpha", "beta", "gamma"]
    assert m["ensemble"] is None  # membership changed: figures must be measured again


def test_ensemble_throughput_benchmark_runs_every_way(built, capsys):
    spec = importlib.util.spec_from_file_location(
        "ensemble_throughput", Path(__file__).parents[1] / "benchmarks" / "ensemble_throughput.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    from autodl_design.nn.onnx_engine import onnx_available

    assert bench.main(["--manifest", str(built[1]), "--images", "24", "--reps", "1"]) == 0
    rows = capsys.readouterr().out.splitlines()[2:]
    expected = ["dygraph", "onednn", "exported-predictor", "exported-jit"]
    expected += ["onnx", "exported-onnx"] if onnx_available() else []
    assert [r.split()[0] for r in rows] == expected
    assert rows[0].endswith("1.00x")
    # chosen engines on chosen models, always in the benchmark's order
    argv = ["--manifest", str(built[1]), "--models", "beta", "--images", "8", "--reps", "1"]
    assert bench.main([*argv, "--engines", "exported-jit", "dygraph"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("1 models (beta)")
    assert [r.split()[0] for r in lines[2:]] == ["dygraph", "exported-jit"]
    # with flip TTA every way (the export included) agrees with dygraph's, or main() exits
    assert (
        bench.main(["--manifest", str(built[1]), "--images", "8", "--reps", "1", "--tta", "flip"])
        == 0
    )
    assert "tta flip" in capsys.readouterr().out


def test_table_counts_the_epochs_of_every_stage():
    assert stage_epochs({"epochs": 40}) == "40"
    two_stages = {"epochs": 10, "init_stage": {"epochs": 40, "init_stage": None}}
    assert stage_epochs(two_stages) == "40+10"
    assert stage_epochs({"lr": 0.1}) == "?"


def test_demo_classifies_bundled_test_images(tmp_path, capsys):
    """demos/ensemble_predict.py end to end, on a tiny CIFAR-10-shaped model of its own."""
    x, y, classes = load_test_set("bundled")
    pick = np.random.default_rng(0).choice(len(y), 40, replace=False)
    config = load_config(
        TrainConfig,
        None,
        ["network.width=4", "network.stages=2", "epochs=1", "batch_size=20", "visualdl=false"],
    )
    data = TrainData(x[pick], y[pick], x[pick[:10]], y[pick[:10]], classes, "bundled")
    arch = random_architecture(np.random.default_rng(3), 4, edge_prob=0.5)
    train(arch, config, tmp_path / "run", data=data, log=lambda line: None)
    manifest = tmp_path / "m" / "manifest.yaml"
    add_to_manifest(manifest, tmp_path / "run", "tiny")
    spec = importlib.util.spec_from_file_location(
        "ensemble_predict", Path(__file__).parents[1] / "demos" / "ensemble_predict.py"
    )
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    for tta in ("none", "flip"):
        assert demo.main(["--manifest", str(manifest), "--count", "5", "--tta", tta]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].split() == ["truth", "tiny", "ensemble"] and len(lines) == 7
        assert all(line.split()[0] in classes for line in lines[1:6])
        assert lines[-1].startswith("ensemble: ") and lines[-1].endswith("/5 correct")
    assert demo.main(["--manifest", str(tmp_path / "none.yaml")]) == 1
    assert "manifest not found" in capsys.readouterr().err


def test_default_manifest_is_the_checkouts_from_any_directory(tmp_path, monkeypatch):
    # `autodl-design predict img.png` run outside the checkout uses the bundled models.
    from autodl_design.zoo.manifest import resolve_manifest

    monkeypatch.chdir(tmp_path)
    found = resolve_manifest()
    assert found == Path(__file__).resolve().parents[1] / "pretrained" / "manifest.yaml"
    assert found.is_file()
    (tmp_path / "pretrained").mkdir()
    (tmp_path / "pretrained" / "manifest.yaml").write_text("")
    assert resolve_manifest() == Path("pretrained/manifest.yaml")  # the working directory's first
