"""The plan of the pretrained-model pipeline (``pretrained/plan.yaml``): what to train, how, and
when a model is published.

A plan names one base training config (a YAML file as ``autodl-design train -c`` takes), the
stages every model trains in turn, each a few overrides of that base (dotted keys, as ``-o``
takes them; each stage after the first starts from the weights of the stage before it, which
the pipeline sets as ``init_from``), the models (an architecture file and optional overrides of
their first stage), the publishing policy and the run root. Why one base and overrides: the
stages' recipes differ in a handful of keys, and six near-copies of a 30-key config hid which.

The plan validates as every config does (:mod:`autodl_design.config.io`): an unknown key, a
wrong type, a stage override naming no training-config key, a missing base or architecture file
each end in a one-line :class:`ConfigError` naming the dotted key. Paths are relative to the
working directory (the repository root), as in the training configs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from autodl_design.config import ConfigError, apply_override, check, from_dict, load_config
from autodl_design.train.config import TrainConfig

__all__ = ["ModelPlan", "Plan", "PublishPlan", "StagePlan", "load_plan"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.]*")  # no '-': it joins a model and its stage


@dataclass
class StagePlan:
    """One stage: its ``name`` (the run of a model's first stage is ``<model>``, of a later
    stage ``<model>-<name>``), its ``overrides`` of the base config, and whether it is trained
    (``enabled: false`` keeps a stage's recipe in the plan, on record, without training it)."""

    name: str = ""
    overrides: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True

    def validate(self) -> None:
        check(bool(_NAME.fullmatch(self.name)), "name", "letters, digits, '_' and '.' only")
        check(isinstance(self.overrides, dict), "overrides", "expected a mapping")


@dataclass
class ModelPlan:
    """One model: its ``name`` in the manifest, its architecture file (``arch``; default
    ``pretrained/archs/NAME.json``) and ``overrides`` of its first stage only (e.g. ``seed: 1``
    for a second training of an architecture; its later stages keep their own seeds)."""

    name: str = ""
    arch: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def arch_path(self) -> Path:
        return Path(self.arch or f"pretrained/archs/{self.name}.json")

    def validate(self) -> None:
        check(bool(_NAME.fullmatch(self.name)), "name", "letters, digits, '_' and '.' only")
        check(isinstance(self.overrides, dict), "overrides", "expected a mapping")
        check(self.arch_path.is_file(), "arch", f"architecture file not found: {self.arch_path}")


@dataclass
class PublishPlan:
    """When and where a finished stage is published: a model whose test accuracy is at least
    ``min_test_acc`` goes into ``manifest`` unless it holds ``max_models`` already; the ensemble
    is then re-measured on ``ensemble_data`` (as ``autodl-design ensemble --data``), each
    member's probabilities kept in ``cache`` so only the new model's are computed."""

    manifest: str = "pretrained/manifest.yaml"
    min_test_acc: float = 0.88
    max_models: int = 6
    ensemble_data: str = "bundled"
    cache: str = "runs/ensemble-cache"

    def validate(self) -> None:
        check(0 <= self.min_test_acc <= 1, "min_test_acc", "must be in [0, 1]")
        check(self.max_models >= 1, "max_models", "must be >= 1")


@dataclass
class Plan:
    """The whole plan; see the module docstring and ``pretrained/plan.yaml``."""

    base: str = "configs/train_cifar10.yaml"
    root: str = "runs/pretrained"
    stages: list[StagePlan] = field(default_factory=list)
    models: list[ModelPlan] = field(default_factory=list)
    publish: PublishPlan = field(default_factory=PublishPlan)

    def validate(self) -> None:
        parts = PurePosixPath(self.root).parts
        ok = len(parts) >= 2 and parts[0] == "runs" and ".." not in parts
        check(ok, "root", "must be a folder under runs/ (e.g. runs/pretrained-w32c3)")
        check(Path(self.base).is_file(), "base", f"config file not found: {self.base}")
        check(bool(self.stages), "stages", "must list at least one stage")
        check(self.stages[0].enabled, "stages[0].enabled", "the first stage cannot be off")
        check(bool(self.models), "models", "must list at least one model")
        for what, names in (("stages", [s.name for s in self.stages]),
                            ("models", [m.name for m in self.models])):  # fmt: skip
            repeated = sorted({n for n in names if names.count(n) > 1})
            check(not repeated, what, f"name {repeated[:1]} is repeated")

    @property
    def enabled_stages(self) -> list[StagePlan]:
        return [s for s in self.stages if s.enabled]

    def select(self, names: list[str] | None) -> list[ModelPlan]:
        """The models named, in the order given (all of the plan's, in its order, for none)."""
        if not names:
            return list(self.models)
        known = {m.name: m for m in self.models}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ConfigError(f"{unknown[0]}: not a model of the plan ({', '.join(known)})")
        return [known[n] for n in names]

    def run_dir(self, model: ModelPlan, stage: StagePlan) -> Path:
        """``<root>/<model>`` for the first stage, ``<root>/<model>-<stage>`` for a later one
        (the run names the old shell pipeline used, so its runs resume)."""
        first = stage.name == self.stages[0].name
        return Path(self.root) / (model.name if first else f"{model.name}-{stage.name}")

    def stage_config(
        self, model: ModelPlan, stage: StagePlan, init_from: Path | None = None
    ) -> TrainConfig:
        """The training config of ``model``'s ``stage``: the base, the stage's overrides, the
        model's own for its first stage, and ``init_from`` (the previous stage's weights)."""
        first = stage.name == self.stages[0].name
        groups = [(f"stages.{stage.name}.overrides", stage.overrides)]
        if first:
            groups.append((f"models.{model.name}.overrides", model.overrides))
        if init_from is not None:
            groups.append((f"stages.{stage.name}", {"init_from": str(init_from)}))
        return _config(Path(self.base), groups)


def load_plan(path: str | Path) -> Plan:
    """Read and check a plan: its keys and types, its files, and every stage's training config
    (for every model's first stage, with the model's overrides)."""
    try:
        plan = load_config(Plan, path)
        _config(Path(plan.base), [])  # the base alone, so its own errors name it
        for i, stage in enumerate(plan.stages):
            if i and "init_from" in _flatten(stage.overrides):
                # The pipeline chains the stages; a fixed start would break the chain silently.
                raise ConfigError(
                    f"stages.{stage.name}.overrides.init_from: set by the pipeline "
                    "(the previous stage's weights); only the first stage may name one"
                )
            plan.stage_config(plan.models[0], stage, None if i == 0 else Path("init.pdparams"))
        for model in plan.models:
            plan.stage_config(model, plan.stages[0])
    except ConfigError as e:
        raise ConfigError(f"plan {path}: {e}") from None
    return plan


def _config(base: Path, groups: list[tuple[str, dict[str, Any]]]) -> TrainConfig:
    """``base`` with each group of overrides applied in turn; an error names the group (and
    key) that caused it, as the config is checked after the base and after each group."""
    try:
        data = yaml.safe_load(base.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"base: cannot read {base}: {str(e).splitlines()[0]}") from None
    check(isinstance(data, dict), "base", f"{base}: top level must be a mapping")
    config = _checked(data, f"base ({base})")
    for where, overrides in groups:
        for key, value in _flatten(overrides).items():
            # A YAML dump of the value, so apply_override reads back exactly what the plan held
            # (a bare 1e-05 would come back as a string).
            text = yaml.safe_dump(value, default_flow_style=True, width=1_000_000)
            try:
                apply_override(data, f"{key}={text}")
            except ConfigError as e:
                raise ConfigError(f"{where}.{key}: {e}") from None
        config = _checked(data, where)
    return config


def _checked(data: dict[str, Any], where: str) -> TrainConfig:
    try:
        return from_dict(TrainConfig, data)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


def _flatten(overrides: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"data": {"cutout": 16}}`` -> ``{"data.cutout": 16}``: a nested mapping overrides the
    keys it names, never a whole section (which would drop the base's other keys of it)."""
    flat: dict[str, Any] = {}
    for key, value in overrides.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat
