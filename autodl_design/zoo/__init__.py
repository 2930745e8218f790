"""The pretrained models: manifest, ensemble, inference and export, teacher targets, and the
pipeline that trains and publishes them (plan, build, publish, status).

Names are imported on first use (PEP 562), so registering the CLI's commands does not load
Paddle.
"""

import importlib

_FROM = {
    "DEFAULT_MANIFEST": "manifest",
    "PretrainedError": "manifest",
    "add_to_manifest": "manifest",
    "read_manifest": "manifest",
    "resolve_manifest": "manifest",
    "write_manifest": "manifest",
    "Ensemble": "ensemble",
    "load_ensemble": "ensemble",
    "evaluate_ensemble": "evaluation",
    "classify": "inference",
    "export_ensemble": "inference",
    "load_exported": "inference",
    "compute_targets": "teacher_targets",
    "ModelPlan": "plan",
    "Plan": "plan",
    "PublishPlan": "plan",
    "StagePlan": "plan",
    "load_plan": "plan",
    "ModelOutcome": "build",
    "build": "build",
    "publish": "publish",
    "status_lines": "status",
}
__all__ = sorted(_FROM)


def __getattr__(name: str):
    if name not in _FROM:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_FROM[name]}"), name)
