"""Evaluate candidates on a PARL xparl cluster: one ``@parl.remote_class`` actor per worker.

``execution.cluster`` is the master's ``HOST:PORT``; ``execution.workers`` actors are created
(each takes one CPU of the cluster) and kept for the whole search; each trains one candidate at
a time. Only plain data crosses the network: the canonical architecture JSON and the settings
dict go out, the metrics record comes back.

What a worker machine needs (``xparl connect --address HOST:PORT --cpu_num K``):

* autodl-design installed in the Python that runs ``xparl`` (same PARL and Python versions as
  the search machine, which PARL checks). The actor class is shipped by value with cloudpickle
  and imports ``autodl_design`` only inside its methods, so the package itself is not copied:
  the installed one is used. (PARL's default, copying the class's source file next to the
  entry script, cannot work for a class inside a package.)
* In the environment of ``xparl connect``: ``PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python``
  and ``PARL_BACKEND=paddle`` (see ``autodl_design/_compat.py``; jobs import PARL, hence
  protobuf and Paddle, before any of our code runs) and ``OMP_NUM_THREADS`` etc. set to the
  threads each job may use (read once when Paddle loads). ``scripts/start_cluster.sh`` and
  :mod:`autodl_design.search.backends.cluster` set them.
* The data: ``data.source: bundled`` ships with the package, so every worker has it.
  ``cifar10`` is resolved on each worker, in the ``AUTODL_DESIGN_DATA`` of its ``xparl
  connect`` environment (default ``~/.cache/autodl-design/datasets``). Any other source is a
  path that must exist, with the same content, on every worker machine.

Failures: a call that does not return within ``timeout_seconds``, or whose job PARL reports
lost (no heartbeat for ~30 s), or whose job process is seen to be gone (checked directly when
the job runs on this machine, which is immediate), is given up; the candidate is retried
``retries`` times on another actor, and the slot creates a fresh actor. PARL cannot interrupt a
running call: a timed-out actor on this machine is killed (its CPU returns to the cluster), one
on another machine is abandoned and its job ends when the call does.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
import warnings
from typing import Any

with warnings.catch_warnings():
    # parl/remote/utils.py imports pkg_resources, which setuptools >= 80 warns about.
    warnings.filterwarnings("ignore", "pkg_resources is deprecated", UserWarning)
    import parl
    from parl.remote.exceptions import FutureFunctionError, FutureObjectEmpty

from autodl_design.config import ExecutionConfig
from autodl_design.search.backends import loopback, parl_heartbeat, parl_threads
from autodl_design.search.backends.base import EvalSettings, EvalTask
from autodl_design.search.backends.local import worker_settings
from autodl_design.search.backends.slots import SlotBackend, TaskFailed, WorkerLost

_POLL_S = 0.25
_LOST = "lost connection to the actor (its job died or the network failed)"


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

        self.host = socket.gethostname()
        self.pid = os.getpid()
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

    def identity(self) -> dict:
        """Host, pid and start-up error (None if it started fine) of this actor's job."""
        return {"host": self.host, "pid": self.pid, "error": self.error}

    def evaluate(self, arch_json: str, settings: dict) -> dict:
        """``{"record": record}`` for the architecture, or ``{"error": message}``."""
        try:
            from autodl_design.search.backends.base import EvalSettings
            from autodl_design.search.backends.worker import evaluate_json

            return {"record": evaluate_json(arch_json, EvalSettings.from_dict(settings))}
        except Exception as e:
            return {"error": f"{type(e).__name__}: {e}"}


def connect(address: str) -> None:
    """Connect this process to the xparl master at ``address`` (reusing a live connection)."""
    from parl.remote import client

    parl_heartbeat.install()
    parl_threads.install()
    if loopback.is_loopback(address.rpartition(":")[0]):
        loopback.install()
    current = client.GLOBAL_CLIENT
    if current is not None and current.process_id == os.getpid():
        if current.master_address == address and current.connected_to_master:
            return
        client.disconnect()
    try:
        parl.connect(address)
    except Exception as e:
        raise ConnectionError(f"cannot connect to the xparl master at {address}: {e}") from e


class XparlBackend(SlotBackend):
    """``execution.workers`` :class:`EvaluatorActor` actors on the cluster ``execution.cluster``.

    ``startup_timeout`` bounds the wait for an actor (a free CPU, the job's imports and data
    loading); ``watch_local_pids`` enables the immediate death check for jobs on this machine.
    """

    def __init__(
        self,
        execution: ExecutionConfig,
        settings: EvalSettings,
        startup_timeout: float = 300.0,
        watch_local_pids: bool = True,
    ):
        if not execution.cluster:
            raise ValueError("the xparl backend needs execution.cluster (HOST:PORT)")
        connect(execution.cluster)
        self.execution = execution
        self.settings = settings
        payload = worker_settings(settings, execution.threads_per_worker)
        self._slots = [
            _ActorSlot(payload, execution.timeout_seconds, startup_timeout, watch_local_pids)
            for _ in range(execution.workers)
        ]
        for slot in self._slots:
            slot.start()

    def running(self) -> dict[str, tuple[str, int]]:
        """``task_id -> (host, pid)`` of the job evaluating it, for evaluations in progress."""
        return {t: j for t, j in (slot.busy_with() for slot in self._slots) if t is not None}


class _ActorSlot:
    """One actor; discarded (and lazily replaced) whenever it fails."""

    def __init__(self, settings: dict, timeout: float, startup_timeout: float, watch: bool):
        self.settings = settings
        self.timeout = timeout
        self.startup_timeout = startup_timeout
        self.watch = watch
        self._actor = None
        self._ident: dict | None = None
        self._lock = threading.Lock()
        self._task_id: str | None = None

    def busy_with(self) -> tuple[str | None, tuple[str, int] | None]:
        with self._lock:
            ident = self._ident
            return self._task_id, (ident["host"], ident["pid"]) if ident else None

    def start(self) -> None:
        """Ask the cluster for an actor; PARL creates it in a background thread."""
        self._actor = EvaluatorActor(self.settings)
        self._ident = None

    def evaluate(self, task: EvalTask, cancel: threading.Event) -> dict[str, Any]:
        if self._actor is None:
            self.start()
        if self._ident is None:
            self._ident = self._await_start(cancel)
        with self._lock:
            self._task_id = task.task_id
        try:
            future = self._call("evaluate", task.arch_json, self.settings)
            reply = self._await(future, self.timeout, cancel, "timed out")
        finally:
            with self._lock:
                self._task_id = None
        if "error" in reply:  # raised outside the evaluator's own error handling
            raise TaskFailed(f"worker error: {reply['error']}")
        return reply["record"]

    def _await_start(self, cancel: threading.Event) -> dict:
        deadline = time.monotonic() + self.startup_timeout
        created = self._actor._xparl_calling_finished_event  # set once PARL's init call returns
        while not created.wait(_POLL_S):
            if cancel.is_set():
                self._discard()
                raise WorkerLost("cancelled")
            if time.monotonic() > deadline:
                self._discard()
                raise WorkerLost(
                    f"no actor started within {self.startup_timeout:g} s "
                    "(no free CPU on the cluster?)"
                )
        if self._actor._xparl_remote_object_exception is not None:
            self._discard()
            raise WorkerLost("could not create an actor on the cluster (PARL logged why)")
        remaining = max(_POLL_S, deadline - time.monotonic())
        ident = self._await(self._call("identity"), remaining, cancel, "actor did not start")
        if ident.get("error"):
            self._discard()
            raise WorkerLost(f"actor could not start: {ident['error']}")
        return ident

    def _call(self, method: str, *args):
        """Start a remote call; a future for its reply."""
        try:
            return getattr(self._actor, method)(*args)
        except FutureFunctionError:  # an earlier call already found the job gone
            self._discard(kill=False)
            raise WorkerLost(_LOST) from None

    def _await(self, future, timeout: float, cancel: threading.Event, late: str) -> dict:
        """The reply of ``future``; raises :class:`WorkerLost` ("``late`` after N s" on
        timeout) if the actor is lost, cancelled or late."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return future.get(timeout=_POLL_S)
            except FutureObjectEmpty:
                pass
            except FutureFunctionError:
                self._discard(kill=False)
                raise WorkerLost(_LOST) from None
            if self._local_job_gone():
                pid = self._ident["pid"]
                self._discard()
                raise WorkerLost(f"worker process died (xparl job pid {pid})")
            if cancel.is_set():
                self._discard()
                raise WorkerLost("cancelled")
            if time.monotonic() > deadline:
                self._discard()
                raise WorkerLost(f"{late} after {timeout:g} s")

    def _is_local(self) -> bool:
        return self._ident is not None and self._ident["host"] == socket.gethostname()

    def _local_job_gone(self) -> bool:
        if not (self.watch and self._is_local()):
            return False
        import psutil

        try:
            return psutil.Process(self._ident["pid"]).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    def _discard(self, kill: bool = True) -> None:
        """Forget the actor. PARL ends an idle actor's job; a busy one cannot be interrupted, so
        with ``kill`` a job on this machine is killed at once (freeing its CPU for the
        replacement) and one elsewhere ends when its current call returns."""
        actor, ident = self._actor, self._ident
        kill = kill and self._is_local()
        self._actor, self._ident = None, None
        if actor is None:
            return
        actor.destroy()
        if kill:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(ident["pid"], signal.SIGKILL)

    def close(self) -> None:
        with self._lock:
            busy = self._task_id is not None
        self._discard(kill=busy)
