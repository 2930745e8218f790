"""``autodl-design zoo build``: train a plan's models stage after stage and publish those that
reach the bar (the pipeline that made the bundled models; :mod:`autodl_design.zoo.plan`).

For each model, in the order given: skip it if the manifest has it; else, stage by stage, train
(or resume a started run, or read back a finished one) into the stage's run directory, the
weights of the stage before as ``init_from``; at or above ``publish.min_test_acc`` publish it
(:mod:`autodl_design.zoo.publish`) and stop, below it go on to the next stage. A stage that
fails is reported in one line and the queue goes on with its next model; the run stays as it
is, so building again resumes or publishes it. A kill loses at most the steps since the run's
last checkpoint. Nothing here touches git: runs live in ``runs/``, the results in the manifest.
"""

from __future__ import annotations

import dataclasses
import json
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autodl_design.space import load_architecture
from autodl_design.train.config import (
    CHECKPOINT_NAME,
    OPERATIONAL_KEYS,
    TrainConfig,
    TrainingError,
)
from autodl_design.zoo.locks import model_lock
from autodl_design.zoo.plan import ModelPlan, Plan
from autodl_design.zoo.publish import publish, published_models, refresh_ensemble

__all__ = ["ModelOutcome", "build"]


@dataclass
class ModelOutcome:
    """How a model's turn in the queue ended: ``state`` is ``published``, ``already``
    (in the manifest before), ``full`` (reached the bar, bundle full), ``below`` (below the bar
    after its last stage), ``busy`` (another queue trains it) or ``failed``; ``run`` is the last
    run directory it reached (None when none was)."""

    model: str
    state: str
    run: Path | None = None


def build(
    plan: Plan, names: list[str] | None = None, log: Callable[[str], None] = print
) -> list[ModelOutcome]:
    """Train and publish the models ``names`` (all of the plan's for none), one after another;
    ``log`` receives every line, the trainer's progress included."""
    models = plan.select(names)
    cache: dict[str, Any] = {}
    outcomes = []
    for model in models:
        with model_lock(Path(plan.root), model.name) as mine:
            if not mine:
                log(f"{model.name}: another queue is training it now; skipped")
                outcomes.append(ModelOutcome(model.name, "busy"))
                continue
            outcomes.append(_build_model(plan, model, cache, log))
    summary = ", ".join(f"{o.model} {o.state}" for o in outcomes)
    log(f"zoo build done: {summary}")
    return outcomes


def _build_model(
    plan: Plan, model: ModelPlan, cache: dict[str, Any], log: Callable[[str], None]
) -> ModelOutcome:
    """One model's turn: its stages until one reaches the bar (then published) or none is left;
    any error ends the turn in one line, never the queue."""
    policy = plan.publish
    name = model.name
    try:
        if name in published_models(policy.manifest):
            log(f"{name}: in {policy.manifest} already")
            refresh_ensemble(policy, log)
            return ModelOutcome(name, "already")
        arch = load_architecture(model.arch_path)
    except Exception as e:  # an unreadable manifest or architecture: this model only
        log(f"{name}: {_one_line(e)}; going on with the next model")
        return ModelOutcome(name, "failed")
    previous: Path | None = None
    stages = plan.enabled_stages
    for i, stage in enumerate(stages):
        run = plan.run_dir(model, stage)
        init = None if previous is None else previous / "model.pdparams"
        try:
            config = plan.stage_config(model, stage, init)
            metrics = _train_stage(name, arch, config, run, cache, log)
        except Exception as e:  # a queue of many hours goes on with its next model
            if not _ours(e):
                _keep_traceback(run)
            log(f"{name}: training {run} failed: {_one_line(e)}; going on with the next model")
            return ModelOutcome(name, "failed", run)
        acc, bar = metrics["test_acc"], policy.min_test_acc
        if acc >= bar:
            log(f"{name}: {run}: test accuracy {acc:.4f} >= {bar}")
            try:
                added = publish(policy, name, run, log)
            except Exception as e:  # the run is finished: a rebuild publishes it
                log(
                    f"{name}: publishing {run} failed: {_one_line(e)}; the run stays finished, "
                    "build again to publish it"
                )
                return ModelOutcome(name, "failed", run)
            return ModelOutcome(name, "published" if added else "full", run)
        after = f"; next: stage {stages[i + 1].name}" if i + 1 < len(stages) else ""
        log(f"{name}: {run}: test accuracy {acc:.4f} < {bar}{after}")
        previous = run
    log(f"{name}: not added to {policy.manifest}: below the bar after its last stage")
    return ModelOutcome(name, "below", previous)


def _train_stage(
    name: str,
    arch: Any,
    config: TrainConfig,
    run: Path,
    cache: dict[str, Any],
    log: Callable[[str], None],
) -> dict[str, Any]:
    """The metrics of ``run``: read back when it is finished (with the plan's config), else
    trained, resumed from its checkpoint when it has one."""
    from autodl_design.checkpoint import config_changes
    from autodl_design.train.command import train

    done = run / "metrics.json"
    if done.is_file():
        metrics = json.loads(done.read_text())
        # A finished run of another recipe (the plan changed since) must not stand in for this
        # stage; training it again would overwrite it, so the user decides.
        changes = config_changes(config, metrics["config"], OPERATIONAL_KEYS)
        if changes:
            raise TrainingError(
                f"{run} finished with another config than the plan's ({', '.join(changes[:3])}); "
                "move it away to train this stage again"
            )
        log(f"{name}: {run} finished already")
        return metrics
    resume = (run / CHECKPOINT_NAME).is_file()
    log(f"{name}: training into {run}{' (resuming its checkpoint)' if resume else ''}")
    metrics = train(arch, config, run, resume=resume, data=_data(config, cache, log), log=log)
    if metrics is None:  # only a stop_after_* stops early, and build passes none
        raise TrainingError(f"{run}: training stopped before its last epoch")
    return metrics


def _data(config: TrainConfig, cache: dict[str, Any], log: Callable[[str], None]) -> Any:
    """The images of ``config``, decoded once per queue: a model's stages (and the queue's
    models) train on the same images, and decoding CIFAR-10 takes a while."""
    from autodl_design.train.data import load_train_data

    key = json.dumps(
        [dataclasses.asdict(config.data), config.train_on_val, config.max_test_per_class],
        sort_keys=True,
    )
    if key not in cache:
        cache.clear()  # one data set held at a time
        log(f"loading {config.data.source} ...")
        cache[key] = load_train_data(config)
    return cache[key]


def _ours(e: BaseException) -> bool:
    """Whether ``e`` is one of the package's one-line errors (a config, data, checkpoint or
    manifest the user can fix), whose message says it all."""
    return type(e).__module__.startswith("autodl_design.") or isinstance(e, FileNotFoundError)


def _one_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    text = lines[0] if lines else ""
    return text if _ours(e) and text else f"{type(e).__name__}: {text}".rstrip(": ")


def _keep_traceback(run: Path) -> None:
    """Append the failure's traceback to the run's log: the one-line report says what failed,
    the log keeps where (an unexpected error in a queue of many hours must be debuggable)."""
    if run.is_dir():
        with (run / "train.log").open("a") as f:
            f.write("zoo build: this stage failed:\n" + traceback.format_exc())
