"""Classify a few bundled CIFAR-10 test images with the pretrained ensemble (the Python API).

    python demos/ensemble_predict.py [--manifest pretrained/manifest.yaml] [--count 8] [--tta flip]

Prints, per image, the true class, each model's guess and the ensemble's guess with its
probability (the mean of the models' softmax outputs; with ``--tta flip`` each model's is the
mean over the image and its mirror).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

import autodl_design  # noqa: F401  (first: sets up the environment paddle and parl need)
from autodl_design.config import TTA_MODES
from autodl_design.data import load_test_set
from autodl_design.zoo.ensemble import load_ensemble
from autodl_design.zoo.manifest import PretrainedError, resolve_manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", help="manifest (default: pretrained/manifest.yaml)")
    parser.add_argument("--count", type=int, default=8, help="how many test images")
    parser.add_argument("--seed", type=int, default=0, help="which images (seeded choice)")
    parser.add_argument("--tta", choices=TTA_MODES, default="none", help="test-time aug.")
    args = parser.parse_args(argv)

    path = resolve_manifest(args.manifest)
    try:
        ensemble = load_ensemble(path)
    except PretrainedError as e:
        print(f"{e}\nSee pretrained/README.md for how the models are trained.", file=sys.stderr)
        return 1
    ensemble.tta = args.tta
    size, channels = ensemble.image_size, ensemble.channels
    x, y, classes = load_test_set("bundled", image_size=size, channels=channels)
    if classes != ensemble.classes:
        print(f"{path}: its classes are not CIFAR-10's", file=sys.stderr)
        return 1
    pick = np.random.default_rng(args.seed).choice(len(y), size=args.count, replace=False)
    members = ensemble.member_probabilities(x[pick])  # (models, images, classes)
    mean = members.mean(axis=0)

    names = ensemble.names
    print(f"{'truth':<11} " + " ".join(f"{n[:10]:<10}" for n in names) + "  ensemble")
    for i, label in enumerate(y[pick]):
        guesses = " ".join(f"{classes[int(p.argmax())][:10]:<10}" for p in members[:, i])
        best = int(mean[i].argmax())
        mark = "ok" if best == label else "WRONG"
        print(f"{classes[label]:<11} {guesses}  {classes[best]} ({mean[i, best]:.2f}) {mark}")
    correct = mean.argmax(axis=1) == y[pick]
    print(f"ensemble: {int(correct.sum())}/{len(pick)} correct")
    return 0


if __name__ == "__main__":
    sys.exit(main())
