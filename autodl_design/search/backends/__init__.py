"""Evaluation backends: where candidate architectures are trained."""

from autodl_design.search.backends.base import Backend, EvalSettings, EvalTask, failure_record
from autodl_design.search.backends.factory import make_backend
from autodl_design.search.backends.local import LocalBackend
from autodl_design.search.backends.serial import SerialBackend

__all__ = [
    "Backend",
    "EvalSettings",
    "EvalTask",
    "LocalBackend",
    "SerialBackend",
    "failure_record",
    "make_backend",
]
