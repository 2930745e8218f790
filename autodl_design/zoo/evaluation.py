"""Measuring the ensemble: per-model and averaged accuracy and speed, and the check slice."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from autodl_design.nn.runtime import predict, softmax
from autodl_design.train.distillation import array_digest
from autodl_design.zoo.ensemble import Ensemble, tta_views

if TYPE_CHECKING:
    from autodl_design.zoo.prob_cache import ProbabilityCache

__all__ = ["CHECK_IMAGES", "check_slice_counts", "evaluate_ensemble", "seeded_subset"]


def evaluate_ensemble(
    ensemble: Ensemble,
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int = 256,
    flip: bool = False,
    cache: ProbabilityCache | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Accuracy and speed of each member and of the ensemble on uint8 ``x`` ``(N, H, W, C)``.

    Returns ``{"images": N, "models": [{"name", "accuracy", "seconds", "img_per_s"}, ...],
    "ensemble": {"accuracy", "seconds", "img_per_s"}}``: plain predictions (the ensemble's
    ``tta`` is not applied); the ensemble's time is the sum of its members' (they run one after
    another). With ``flip`` every entry also has ``accuracy_flip``, measured with flip
    test-time augmentation (softmax averaged over the image and its mirror; not timed).
    With ``cache`` (it needs ``ensemble.weights_sha256``) a member's stored probabilities are
    read back instead of computed; such a member was not timed, so its ``seconds`` and
    ``img_per_s`` are None, and so are the ensemble's.
    """

    y = np.asarray(y)
    views = tta_views(x, "flip" if flip else "none")
    if cache is not None and len(ensemble.weights_sha256) != len(ensemble.names):
        raise ValueError("a probability cache needs the ensemble's weights_sha256")
    digests = [array_digest(v) for v in views] if cache is not None else []
    models, probs, probs_flip = [], [], []
    for i, (name, net) in enumerate(zip(ensemble.names, ensemble.networks, strict=True)):
        per_view, seconds = [], None
        for j, view in enumerate(views):
            key = (ensemble.weights_sha256[i], digests[j], ensemble.engine) if digests else None
            p = None if key is None else cache.get(*key, (len(view), len(ensemble.classes)))
            if p is None:
                start = time.perf_counter()
                p = softmax(predict(net, view, batch_size, engine=ensemble.engine))
                if j == 0:
                    seconds = time.perf_counter() - start
                if key is not None:
                    cache.put(*key, p)
            per_view.append(p)
        probs.append(per_view[0])
        row = {"name": name, "accuracy": _accuracy(per_view[0], y)}
        if flip:
            probs_flip.append((per_view[0] + per_view[1]) / 2)
            row["accuracy_flip"] = _accuracy(probs_flip[-1], y)
        speed = None if seconds is None else len(y) / seconds
        models.append({**row, "seconds": seconds, "img_per_s": speed})
        if log is not None:  # a member takes about a minute per 10,000 images: say each one
            how = "cached" if seconds is None else f"{seconds:.0f} s"
            log(f"ensemble: {name} measured ({i + 1}/{len(ensemble.names)}, {how})")
    timed = [m["seconds"] for m in models]
    total = None if None in timed else sum(timed)
    ens = {"accuracy": _accuracy(np.mean(probs, axis=0), y)}
    if flip:
        ens["accuracy_flip"] = _accuracy(np.mean(probs_flip, axis=0), y)
    return {
        "images": len(y),
        "models": models,
        "ensemble": {
            **ens,
            "seconds": total,
            "img_per_s": None if total is None else len(y) / total,
        },
    }


def _accuracy(probs: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(probs.argmax(axis=1) == y))


CHECK_IMAGES = 500


def seeded_subset(n: int, limit: int | None) -> np.ndarray:
    """Sorted indices of ``limit`` of ``n`` test images, drawn by a seeded permutation (all
    when ``limit`` is None or >= ``n``)."""
    # The test split is ordered by class, so a prefix would hold one class only.
    if limit is None or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).permutation(n)[:limit])


def check_slice_counts(ensemble: Ensemble, x: np.ndarray, y: np.ndarray) -> dict[str, int]:
    """Correct predictions per model and of the ensemble on the fixed check slice of ``x``.

    The slice is :data:`CHECK_IMAGES` images drawn by a seeded permutation of the whole test
    split ``x`` (uint8 ``(N, H, W, C)``), ``y`` its labels; ``ensemble --write-manifest`` stores
    the counts and the test suite recomputes them from the bundled weights.
    """
    keep = seeded_subset(len(y), CHECK_IMAGES)
    probs = ensemble.member_probabilities(x[keep])
    y = np.asarray(y)[keep]
    counts = {
        n: int((p.argmax(axis=1) == y).sum()) for n, p in zip(ensemble.names, probs, strict=True)
    }
    counts["ensemble"] = int((probs.mean(axis=0).argmax(axis=1) == y).sum())
    return counts
