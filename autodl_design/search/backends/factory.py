"""Build the evaluation backend an :class:`~autodl_design.config.ExecutionConfig` asks for."""

from __future__ import annotations

from autodl_design.config import ExecutionConfig
from autodl_design.search.backends.base import Backend, EvalSettings


def make_backend(execution: ExecutionConfig, settings: EvalSettings) -> Backend:
    """``serial``, ``local`` (worker processes) or ``xparl`` (actors on a PARL cluster).

    The xparl backend is imported only when asked for, so PARL is not loaded otherwise; it
    connects to ``execution.cluster`` at once and raises if the master does not answer.
    """
    execution.validate()
    if execution.backend == "serial":
        from autodl_design.search.backends.serial import SerialBackend

        return SerialBackend(settings)
    if execution.backend == "local":
        from autodl_design.search.backends.local import LocalBackend

        return LocalBackend(execution, settings)
    if execution.backend == "xparl":
        from autodl_design.search.backends.xparl_backend import XparlBackend

        return XparlBackend(execution, settings)
    raise ValueError(f"unknown execution backend {execution.backend!r}")
