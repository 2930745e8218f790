"""``autodl-design zoo status``: where each model of a plan stands, one line per model and stage.

A published model is one line (its manifest entry); for any other, each stage says whether its
run is finished (test accuracy against the bar), started (the epoch and step its checkpoint
holds, where a resume continues; and whether a queue trains it now) or not started. A stage that
is off in the plan is listed only when it has a run. Reads files only: no training, no git.
"""

from __future__ import annotations

import json
from pathlib import Path

from autodl_design.train.config import CHECKPOINT_NAME
from autodl_design.zoo.locks import holding
from autodl_design.zoo.plan import Plan
from autodl_design.zoo.publish import published_models

__all__ = ["run_state", "status_lines"]


def status_lines(plan: Plan, names: list[str] | None = None) -> list[str]:
    """The status of the models ``names`` (all of the plan's for none)."""
    policy = plan.publish
    published = published_models(policy.manifest)
    lines = []
    for model in plan.select(names):
        entry = published.get(model.name)
        if entry is not None:
            acc = entry["test_accuracy"]
            state = f"published (test accuracy {acc:.4f})"
            lines.append(_row(model.name, "-", policy.manifest, state))
            continue
        busy = holding(Path(plan.root), model.name)
        for stage in plan.stages:
            run = plan.run_dir(model, stage)
            if not stage.enabled and not run.exists():
                continue
            state = run_state(run, policy.min_test_acc)
            if not stage.enabled:
                state += " (stage off in the plan)"
            if busy and state.startswith("started"):
                state += ", training now"
            lines.append(_row(model.name, stage.name, run, state))
    full = " (full: no model is added)" if len(published) >= policy.max_models else ""
    lines.append(f"{policy.manifest}: {len(published)} of {policy.max_models} models{full}")
    return lines


def run_state(run: Path, bar: float) -> str:
    """``finished: test accuracy A (>= or < bar)``, ``started: ...`` or ``not started``."""
    metrics = run / "metrics.json"
    if metrics.is_file():
        acc = json.loads(metrics.read_text())["test_acc"]
        return f"finished: test accuracy {acc:.4f} ({'>=' if acc >= bar else '<'} {bar})"
    checkpoint = run / CHECKPOINT_NAME
    if checkpoint.is_file():
        return "started: " + _checkpoint_position(checkpoint)
    if (run / "train.log").is_file():
        return "started: no checkpoint yet"
    return "not started"


def _checkpoint_position(path: Path) -> str:
    """Where the checkpoint stands (the checkpoint, not the log: steps logged after the last
    checkpoint are trained again on resuming)."""
    from autodl_design.checkpoint import load_state  # Paddle reads the file

    try:
        state = load_state(path)
        p, epochs = state["progress"], state["config"]["epochs"]
    except (ValueError, KeyError, TypeError) as e:
        return f"checkpoint unreadable ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
    if p["step_in_epoch"]:
        return f"epoch {p['epoch'] + 1}/{epochs} step {p['step_in_epoch']} (checkpoint)"
    return f"epoch {p['epoch']}/{epochs} done (checkpoint)"


def _row(model: str, stage: str, where: str | Path, state: str) -> str:
    return f"{model:<6} {stage:<9} {str(where):<36} {state}"
