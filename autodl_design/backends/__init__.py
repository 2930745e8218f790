"""Evaluation backends: where candidate architectures are trained."""

from autodl_design.backends.base import Backend, EvalSettings, EvalTask, failure_record
from autodl_design.backends.serial import SerialBackend

__all__ = ["Backend", "EvalSettings", "EvalTask", "SerialBackend", "failure_record"]
