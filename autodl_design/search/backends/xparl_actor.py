"""The evaluator actor that runs in an xparl job, and how PARL ships and runs it.

:class:`EvaluatorActor` is a ``@parl.remote_class(wait=False)`` class: creating one asks the
cluster for a CPU in a background thread of PARL's ("proxy thread"), and each method call
returns a future. Two things are changed around PARL's proxy:

* the class is shipped by value (see :func:`_ship_by_value`), so a worker machine needs only
  autodl-design installed, not this source file next to an entry script;
* an exception in its proxy thread (no CPU within the wait, the job lost mid-call) is kept on
  the proxy as :func:`creation_error` text instead of being re-raised there, where Python would
  print a traceback for a failure the xparl backend already records and reports in one line.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    # parl/remote/utils.py imports pkg_resources, which setuptools >= 80 warns about.
    warnings.filterwarnings("ignore", "pkg_resources is deprecated", UserWarning)
    import parl

from autodl_design.search.backends import parl_resources

# Attributes of the proxy must start with "_xparl" to stay local (others are set remotely).
_ERROR = "_xparl_autodl_error"


def _ship_by_value(cls: type) -> type:
    """Make PARL and cloudpickle send the class itself rather than a file/module reference.

    PARL pickles a class by value when its module has no file (its notebook case), and
    cloudpickle pickles by value a class whose module is not importable; a module name that
    is not in ``sys.modules`` satisfies both.
    """
    cls.__module__ = "autodl_design_xparl_actor"
    return cls


@parl.remote_class(wait=False)
@_ship_by_value
class EvaluatorActor:
    """Runs in an xparl job: loads the data once, then trains candidates on request.

    Its methods never raise (an exception would make PARL end the job): errors come back as
    ``{"error": message}``.
    """

    def __init__(self, settings: dict):
        import os
        import socket
        import sys

        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.worker_pid = self._worker_pid(sys)
        self.error = None
        try:
            from autodl_design import _compat
            from autodl_design.nn.runtime import configure_threads
            from autodl_design.search.backends.base import EvalSettings
            from autodl_design.search.backends.worker import load_data_cached

            _compat.quiet_paddle()
            parsed = EvalSettings.from_dict(settings)
            configure_threads(parsed.evaluator.num_threads)
            load_data_cached(parsed)
        except Exception as e:
            self.error = f"{type(e).__name__}: {e}"

    @staticmethod
    def _worker_pid(sys) -> int | None:
        """Pid of the worker daemon that runs this job, from PARL's ``Job`` object up the stack.

        When that daemon dies, the job quits at PARL's next 10 s check; with its pid, a client
        on the same machine sees it at once.
        """
        for frame in sys._current_frames().values():
            while frame is not None:
                job = frame.f_locals.get("self")
                if type(job).__name__ == "Job" and isinstance(getattr(job, "worker_pid", 0), int):
                    return job.worker_pid
                frame = frame.f_back
        return None

    def identity(self) -> dict:
        """Host, pid, worker daemon pid and start-up error (None if fine) of this actor's job."""
        return {"host": self.host, "pid": self.pid, "worker_pid": self.worker_pid,
                "error": self.error}  # fmt: skip

    def evaluate(self, arch_json: str, settings: dict) -> dict:
        """``{"record": record}`` for the architecture, or ``{"error": message}``."""
        try:
            from autodl_design.search.backends.base import EvalSettings
            from autodl_design.search.backends.worker import evaluate_json

            return {"record": evaluate_json(arch_json, EvalSettings.from_dict(settings))}
        except Exception as e:
            return {"error": f"{type(e).__name__}: {e}"}


_run_in_proxy_thread = EvaluatorActor._run_object_in_backend


def _run_quietly(self, args, kwargs) -> None:
    # PARL has already handed the error to the caller (the creation flag or the call's future)
    # when it re-raises it here; keep its text for the recorded reason instead.
    with parl_resources.creating(self):
        try:
            _run_in_proxy_thread(self, args, kwargs)
        except Exception as e:
            self.__dict__[_ERROR] = f"{type(e).__name__}: {e}"


EvaluatorActor._run_object_in_backend = _run_quietly


def creation_error(actor) -> str | None:
    """Why PARL's proxy thread of ``actor`` failed, or None."""
    return actor.__dict__.get(_ERROR)


def abandon(actor) -> None:
    """Stop PARL's wait for a CPU for ``actor`` (if it still waits) and end its job."""
    parl_resources.abandon(actor)
    actor.destroy()
