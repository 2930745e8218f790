"""Publishing a finished stage of the pipeline: the existing ``add-pretrained`` and
``ensemble --write-manifest`` steps, under one lock, with the plan's bundle-size rule.

Why under a lock: two queues may finish a model at the same time, and the manifest is read,
changed and written whole by both steps; the lock also makes the "bundle full" count and the
addition one step, so two queues can never add a seventh model between them. The ensemble is
re-measured by the ``ensemble`` command's own code (:func:`autodl_design.zoo.measure.measure`),
with the plan's probability cache so that only the new member's probabilities are computed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from autodl_design.zoo.locks import publish_lock
from autodl_design.zoo.manifest import add_to_manifest, read_manifest
from autodl_design.zoo.plan import PublishPlan

__all__ = [
    "ensemble_is_current", "measure_ensemble", "publish", "published_models", "refresh_ensemble",
]  # fmt: skip


def published_models(manifest: str | Path) -> dict[str, dict[str, Any]]:
    """The manifest's entries by model name (none when there is no manifest yet)."""
    path = Path(manifest)
    if not path.exists():
        return {}
    return {m["name"]: m for m in read_manifest(path)["models"]}


def ensemble_is_current(manifest: str | Path) -> bool:
    """Whether the manifest's ensemble figures were measured on exactly its models (false
    after an addition whose re-measurement did not happen, e.g. a killed queue)."""
    path = Path(manifest)
    if not path.exists():
        return True
    data = read_manifest(path)
    names = [m["name"] for m in data["models"]]
    measured = (data.get("ensemble") or {}).get("members")
    return not names or measured == names


def publish(
    policy: PublishPlan, name: str, run_dir: Path, log: Callable[[str], None] = print
) -> bool:
    """Add finished run ``run_dir`` as model ``name`` and re-measure the ensemble, unless the
    manifest holds ``policy.max_models`` already (then say so). True when ``name`` is in the
    manifest afterwards. Errors (:class:`PretrainedError` and the ensemble's) propagate."""
    with publish_lock():
        models = published_models(policy.manifest)
        if name in models:  # another queue published it meanwhile
            log(f"{name}: in {policy.manifest} already")
        elif len(models) >= policy.max_models:
            log(
                f"{name}: {run_dir} reached the bar, but {policy.manifest} holds "
                f"{len(models)} models already (max_models {policy.max_models}); not added"
            )
            return False
        else:
            entry = add_to_manifest(policy.manifest, run_dir, name)
            log(
                f"{name}: added {run_dir} to {policy.manifest} (test accuracy "
                f"{entry['test_accuracy']:.4f}, {entry['weights']})"
            )
        if not ensemble_is_current(policy.manifest):
            measure_ensemble(policy, log)
        return True


def refresh_ensemble(policy: PublishPlan, log: Callable[[str], None] = print) -> None:
    """Re-measure the ensemble if an earlier publication was cut off before doing so."""
    if ensemble_is_current(policy.manifest):
        return
    with publish_lock():
        if not ensemble_is_current(policy.manifest):
            log(f"{policy.manifest}: the ensemble was not measured on its models; measuring it")
            measure_ensemble(policy, log)


def measure_ensemble(policy: PublishPlan, log: Callable[[str], None] = print) -> None:
    """``autodl-design ensemble --write-manifest`` on the plan's manifest, data and cache."""
    from autodl_design.zoo.measure import measure

    log(f"measuring the ensemble of {policy.manifest} on {policy.ensemble_data}")
    measure(
        Path(policy.manifest),
        policy.ensemble_data,
        write=True,
        cache_dir=str(policy.cache),
        log=log,
    )
