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

Failures. Every wait is bounded by ``timeout_seconds``: getting an actor (a free CPU, the job's
imports and data loading), and a call in flight. A call is also given up as soon as its job is
known to be lost: PARL reports it (no heartbeat for ~30 s), or, for a job on this machine, its
process or its worker daemon is seen gone (checked directly, at once). The candidate is then
retried ``retries`` times on a fresh actor, with one line on stderr per event, and the retry is
recorded (``attempts``, ``retried_after``); after the last retry it is recorded as failed with
the reason. PARL cannot interrupt a running call: a given-up actor on this machine is killed
(its CPU returns to the cluster), one on another machine is abandoned and its job ends when the
call does.

If the cluster has no CPU left at all (the master reports none, i.e. no worker is connected,
or the master stops answering), the search ends with a one-line :class:`ClusterError` instead.
Why not go on: every further candidate would wait ``timeout_seconds`` and be recorded as
failed, and the strategy would learn from those invented worst rewards. Ending leaves a
resumable run: the candidates lost with the cluster are not recorded, so ``--resume`` (with
workers back) trains them, and everything finished is kept.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
from typing import Any

from autodl_design.config import ExecutionConfig
from autodl_design.search.backends import loopback, parl_heartbeat, parl_resources, parl_threads
from autodl_design.search.backends.base import EvalSettings, EvalTask
from autodl_design.search.backends.capacity import ClusterCapacity
from autodl_design.search.backends.cluster import ClusterError
from autodl_design.search.backends.local import worker_settings
from autodl_design.search.backends.slots import SlotBackend, TaskFailed, WorkerLost
from autodl_design.search.backends.xparl_actor import (
    EvaluatorActor,
    abandon,
    creation_error,
    parl,
)

__all__ = ["ClusterError", "EvaluatorActor", "XparlBackend", "connect"]

_POLL_S = 0.25
_LOST = "lost connection to the actor (its job died or the network failed)"


def connect(address: str) -> None:
    """Connect this process to the xparl master at ``address`` (reusing a live connection)."""
    from parl.remote import client

    parl_heartbeat.install()
    parl_threads.install()
    parl_threads.quiet_log()
    parl_resources.install()
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
        raise ClusterError(f"cannot connect to the xparl master at {address}: {e}") from e


class XparlBackend(SlotBackend):
    """``execution.workers`` :class:`EvaluatorActor` actors on the cluster ``execution.cluster``.

    ``watch_local_pids`` enables the immediate death checks for jobs on this machine.
    """

    def __init__(
        self, execution: ExecutionConfig, settings: EvalSettings, watch_local_pids: bool = True
    ):
        if not execution.cluster:
            raise ValueError("the xparl backend needs execution.cluster (HOST:PORT)")
        connect(execution.cluster)
        # A little longer than the slots wait, so that their own, clearer reason comes first.
        parl_resources.limit_wait(execution.timeout_seconds + 5)
        self.execution = execution
        self.settings = settings
        self.capacity = ClusterCapacity(execution.cluster)
        payload = worker_settings(settings, execution.threads_per_worker)
        self._slots = [
            _ActorSlot(payload, execution.timeout_seconds, self.capacity, watch_local_pids)
            for _ in range(execution.workers)
        ]
        for slot in self._slots:
            slot.start()

    def run(self, tasks):
        """As :meth:`SlotBackend.run`; raises :class:`ClusterError` if the cluster is gone."""
        for task, record in super().run(tasks):
            if record.get("status") == "failed" and self.capacity.gone:
                raise ClusterError(self.capacity.gone)  # not recorded: resumable (see above)
            yield task, record

    def log_event(self, line: str) -> None:
        if not self.capacity.gone:  # once it is gone, the ClusterError says it all
            print(f"xparl: {line}", file=sys.stderr, flush=True)

    def running(self) -> dict[str, tuple[str, int]]:
        """``task_id -> (host, pid)`` of the job evaluating it, for evaluations in progress."""
        return {t: j for t, j in (s.busy_with() for s in self._slots) if t and j}


class _ActorSlot:
    """One actor; discarded (and lazily replaced) whenever it fails."""

    def __init__(self, settings: dict, timeout: float, capacity: ClusterCapacity, watch: bool):
        self.settings = settings
        self.timeout = timeout
        self.capacity = capacity
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
        if self.capacity.gone:  # fail fast: the backend ends the search on the first failure
            self._discard()
            raise WorkerLost(self.capacity.gone)
        if self._actor is None:
            self.start()
        with self._lock:
            self._task_id = task.task_id
        try:
            if self._ident is None:
                self._await_start(cancel)
            future = self._call("evaluate", task.arch_json, self.settings)
            reply = self._await(future, self.timeout, cancel, "timed out")
        finally:
            with self._lock:
                self._task_id = None
        if "error" in reply:  # raised outside the evaluator's own error handling
            raise TaskFailed(f"worker error: {reply['error']}")
        return reply["record"]

    def _await_start(self, cancel: threading.Event) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            self._ident = self._await_created(cancel, deadline)
            orphan = self._local_job_gone()
            if orphan is None:
                return self._ident
            # A job whose worker daemon has just died, which the master hands out until it drops
            # that worker (~10 s): not an attempt of the candidate, so ask again.
            self._discard()
            self.start()

    def _await_created(self, cancel: threading.Event, deadline: float) -> dict:
        created = self._actor._xparl_calling_finished_event  # set once PARL's init call returns
        while not created.wait(_POLL_S):
            self._check_interrupted(cancel)
            if time.monotonic() > deadline:
                self._discard()
                raise WorkerLost(
                    f"no actor started within {self.timeout:g} s (no free CPU on the cluster?)"
                )
        if self._actor._xparl_remote_object_exception is not None:
            reason = creation_error(self._actor) or "PARL gave no reason"
            self._discard()
            raise WorkerLost(f"could not create an actor on the cluster: {reason}")
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
        except parl.remote.exceptions.FutureFunctionError:  # an earlier call found the job gone
            self._discard(kill=False)
            raise WorkerLost(_LOST) from None

    def _await(self, future, timeout: float, cancel: threading.Event, late: str) -> dict:
        """The reply of ``future``; raises :class:`WorkerLost` ("``late`` after N s" on
        timeout) if the actor is lost, cancelled or late, or the cluster is gone."""
        from parl.remote.exceptions import FutureFunctionError, FutureObjectEmpty

        deadline = time.monotonic() + timeout
        while True:
            try:
                return future.get(timeout=_POLL_S)
            except FutureObjectEmpty:
                pass
            except FutureFunctionError:
                self._discard(kill=False)
                raise WorkerLost(_LOST) from None
            gone = self._local_job_gone()
            if gone:
                self._discard()
                raise WorkerLost(gone)
            self._check_interrupted(cancel)
            if time.monotonic() > deadline:
                self._discard()
                raise WorkerLost(f"{late} after {timeout:g} s")

    def _check_interrupted(self, cancel: threading.Event) -> None:
        """Give up (raising :class:`WorkerLost`) if cancelled or the cluster has no CPU left."""
        reason = "cancelled" if cancel.is_set() else self.capacity.check()
        if reason:
            self._discard()
            raise WorkerLost(reason)

    def _is_local(self) -> bool:
        return self._ident is not None and self._ident["host"] == socket.gethostname()

    def _local_job_gone(self) -> str | None:
        """Why this actor's job on this machine is gone (None if alive or not checked)."""
        if not (self.watch and self._is_local()):
            return None
        pid, worker_pid = self._ident["pid"], self._ident.get("worker_pid")
        if not _alive(pid):
            return f"worker process died (xparl job pid {pid})"
        if worker_pid is not None and not _alive(worker_pid):
            return f"worker daemon died (xparl worker pid {worker_pid})"
        return None

    def _discard(self, kill: bool = True) -> None:
        """Forget the actor. PARL ends an idle actor's job; a busy one cannot be interrupted, so
        with ``kill`` a job on this machine is killed at once (freeing its CPU for the
        replacement) and one elsewhere ends when its current call returns."""
        actor, ident = self._actor, self._ident
        kill = kill and self._is_local()
        self._actor, self._ident = None, None
        if actor is None:
            return
        abandon(actor)  # also stops PARL's wait for a CPU if the actor was still being created
        if kill:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(ident["pid"], signal.SIGKILL)

    def close(self) -> None:
        with self._lock:
            busy = self._task_id is not None
        self._discard(kill=busy)


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
