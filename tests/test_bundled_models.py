"""The bundled pretrained models: their weights load (sha256 checked) and reproduce, on a fixed
slice of the bundled CIFAR-10 test set, the counts of correct predictions that
``autodl-design ensemble --write-manifest`` stored in ``pretrained/manifest.yaml``."""

from pathlib import Path

import pytest

from autodl_design.data import load_test_set
from autodl_design.zoo.ensemble import load_ensemble
from autodl_design.zoo.evaluation import check_slice_counts
from autodl_design.zoo.manifest import read_manifest

MANIFEST = Path(__file__).resolve().parents[1] / "pretrained" / "manifest.yaml"


@pytest.mark.skipif(not MANIFEST.exists(), reason="no pretrained/manifest.yaml yet")
def test_bundled_ensemble_matches_its_manifest_on_the_check_slice():
    manifest = read_manifest(MANIFEST)
    assert manifest["models"], "the manifest lists no models"
    check = manifest["check"]
    assert check["data"] == "bundled"
    ensemble = load_ensemble(MANIFEST)
    x, y, classes = load_test_set("bundled")
    assert classes == manifest["classes"]
    counts = check_slice_counts(ensemble, x, y)
    assert set(counts) == set(check["correct"])
    for name, expected in check["correct"].items():
        # one image of slack: float32 rounding may flip a prediction on an exact tie
        assert abs(counts[name] - expected) <= 1, (name, counts[name], expected)
    # the manifest's full-test-set accuracies agree with the slice to sampling noise
    n = check["images"]
    for entry in manifest["models"]:
        assert abs(counts[entry["name"]] / n - entry["test_accuracy"]) < 0.06
    assert abs(counts["ensemble"] / n - manifest["ensemble"]["test_accuracy"]) < 0.06


@pytest.mark.skipif(not MANIFEST.exists(), reason="no pretrained/manifest.yaml yet")
def test_bundle_meets_the_release_bars_on_the_full_test_set():
    """The bars the bundle is published against (pretrained/README.md, "Producing them"): six
    models, each at least 88% on the 10,000 test images, at least four distinct architectures,
    and the ensemble at least one point above its best member. The figures checked are the
    measured ones in the manifest, which the test above ties to the weights actually bundled."""
    manifest = read_manifest(MANIFEST)
    models = manifest["models"]
    ensemble = manifest["ensemble"]
    assert len(models) == 6
    assert ensemble["members"] == [m["name"] for m in models]
    assert ensemble["test_images"] == 10000
    for entry in models:
        assert entry["test_accuracy"] >= 0.88, (entry["name"], entry["test_accuracy"])
    assert len({m["architecture_key"] for m in models}) >= 4
    best = max(m["test_accuracy"] for m in models)
    assert ensemble["test_accuracy"] >= best + 0.01, (ensemble["test_accuracy"], best)
