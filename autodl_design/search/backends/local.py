"""Evaluate candidates in ``workers`` separate processes on this machine.

Each worker is a fresh Python process (not a fork: Paddle and its thread pools must start
clean) whose environment limits OpenMP/MKL/OpenBLAS to ``threads_per_worker`` threads before it
imports Paddle, so K workers share the cores without oversubscription. ``threads_per_worker``
also replaces ``evaluator.num_threads`` in the settings the workers get. A worker imports Paddle
and loads the data once, then trains one candidate per request. Requests and replies are JSON
over a socket pair: the canonical architecture string, the settings as a dict, the record back.

A worker that dies (its exit code is reported), or is still busy after ``timeout_seconds``
(it is killed), loses its candidate, which is retried ``retries`` times on whichever worker is
free next; the slot then starts a fresh process for its next candidate.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from autodl_design.config import ExecutionConfig
from autodl_design.search.backends.base import EvalSettings, EvalTask
from autodl_design.search.backends.process_groups import THREAD_ENV_VARS
from autodl_design.search.backends.slots import SlotBackend, TaskFailed, WorkerLost

_POLL_S = 0.1


def worker_settings(settings: EvalSettings, threads: int) -> dict[str, Any]:
    """The settings dict a worker gets: ``evaluator.num_threads`` set to its thread budget."""
    d = settings.to_dict()
    d["evaluator"]["num_threads"] = threads
    return d


class LocalBackend(SlotBackend):
    """``execution.workers`` worker processes with ``threads_per_worker`` math threads each.

    Worker processes start at construction (they import Paddle and load the data while the
    caller prepares its first batch) and live until :meth:`close`.
    """

    def __init__(
        self, execution: ExecutionConfig, settings: EvalSettings, startup_timeout: float = 300.0
    ):
        self.execution = execution
        self.settings = settings
        payload = worker_settings(settings, execution.threads_per_worker)
        self._slots = [
            _ProcessSlot(
                payload, execution.threads_per_worker, execution.timeout_seconds, startup_timeout
            )
            for _ in range(execution.workers)
        ]
        for slot in self._slots:
            slot.start()

    def wait_ready(self) -> None:
        """Block until every worker has imported Paddle and loaded the data (for benchmarks).

        Raises :class:`~autodl_design.search.backends.slots.WorkerLost` if one cannot start.
        """
        never = threading.Event()
        for slot in self._slots:
            slot.ensure_ready(never)

    def worker_pids(self) -> list[int]:
        """Pids of the worker processes currently running (for monitoring and tests)."""
        return [pid for pid in (slot.pid for slot in self._slots) if pid is not None]

    def running(self) -> dict[str, int]:
        """``task_id -> pid`` of the evaluations in progress."""
        busy = (slot.busy_with() for slot in self._slots)
        return {t: p for t, p in busy if t is not None and p is not None}


class _ProcessSlot:
    """One worker process and the connection to it; replaced after any failure."""

    def __init__(self, settings: dict, threads: int, timeout: float, startup_timeout: float):
        self.settings = settings
        self.threads = threads
        self.timeout = timeout
        self.startup_timeout = startup_timeout
        self._proc: subprocess.Popen | None = None
        self._conn: Connection | None = None
        self._ready = False
        self._lock = threading.Lock()
        self._task_id: str | None = None

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def busy_with(self) -> tuple[str | None, int | None]:
        with self._lock:
            return self._task_id, self.pid

    def start(self) -> None:
        """Launch the process and send it the settings; ``ensure_ready`` awaits its reply."""
        parent, child = socket.socketpair()
        env = dict(os.environ)
        for name in THREAD_ENV_VARS:
            env[name] = str(self.threads)
        code = "from autodl_design.search.backends.local import worker_main; worker_main()"
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", code, str(child.fileno())],
                env=env,
                pass_fds=(child.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=2,  # the protocol has its own channel; worker prints go to stderr
            )
        finally:
            child.close()
        self._conn = Connection(parent.detach())
        self._conn.send_bytes(json.dumps({"settings": self.settings}).encode())
        self._ready = False

    def ensure_ready(self, cancel: threading.Event) -> None:
        """Start a process if there is none, and wait for its handshake."""
        if self._proc is None or self._proc.poll() is not None:
            self._discard()
            self.start()
        if not self._ready:
            reply = self._receive(self.startup_timeout, cancel, "worker did not start")
            if "error" in reply:
                self._discard()
                raise WorkerLost(f"worker could not start: {reply['error']}")
            self._ready = True

    def evaluate(self, task: EvalTask, cancel: threading.Event) -> dict[str, Any]:
        self.ensure_ready(cancel)
        with self._lock:
            self._task_id = task.task_id
        try:
            self._send({"task_id": task.task_id, "arch_json": task.arch_json})
            reply = self._receive(self.timeout, cancel, "timed out")
        finally:
            with self._lock:
                self._task_id = None
        if "error" in reply:  # raised outside the evaluator's own error handling
            raise TaskFailed(f"worker error: {reply['error']}")
        return reply["record"]

    def _send(self, message: dict) -> None:
        try:
            self._conn.send_bytes(json.dumps(message).encode())
        except OSError:
            raise WorkerLost(self._death_reason()) from None

    def _receive(self, timeout: float, cancel: threading.Event, late: str) -> dict:
        """The next message; raises :class:`WorkerLost` ("``late`` after N s" on timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self._conn.poll(_POLL_S):
                    return json.loads(self._conn.recv_bytes())
            except (EOFError, OSError):
                raise WorkerLost(self._death_reason()) from None
            if self._proc.poll() is not None:
                raise WorkerLost(self._death_reason())
            if cancel.is_set():
                self._discard()
                raise WorkerLost("cancelled")
            if time.monotonic() > deadline:
                self._discard()
                raise WorkerLost(f"{late} after {timeout:g} s")

    def _death_reason(self) -> str:
        try:
            code = self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        self._discard()
        return f"worker process died (exit code {code})"

    def _discard(self) -> None:
        """Kill the process if it still runs and forget it; the next task starts a new one."""
        proc, conn = self._proc, self._conn
        self._proc, self._conn, self._ready = None, None, False
        if conn is not None:
            conn.close()
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            proc.wait()

    def close(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None and self._conn is not None:
            self._conn.close()  # EOF tells an idle worker to exit
            self._conn = None
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=2)
        self._discard()


def worker_main() -> None:
    """Entry point of a worker process: ``argv[1]`` is the fd of its socket to the parent."""
    conn = Connection(int(sys.argv[1]))
    # A parent killed with SIGINT must not leave workers printing KeyboardInterrupt traces.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        hello = json.loads(conn.recv_bytes())
    except EOFError:
        return
    try:
        from autodl_design import _compat
        from autodl_design.nn.runtime import configure_threads
        from autodl_design.search.backends.worker import evaluate_json, load_data_cached

        _compat.quiet_paddle()
        settings = EvalSettings.from_dict(hello["settings"])
        configure_threads(settings.evaluator.num_threads)
        load_data_cached(settings)
    except Exception as e:
        _reply(conn, {"error": f"{type(e).__name__}: {e}"})
        return
    if not _reply(conn, {"ready": os.getpid()}):
        return
    while True:
        try:
            request = json.loads(conn.recv_bytes())
        except (EOFError, OSError):
            return
        try:
            reply = {"record": evaluate_json(request["arch_json"], settings)}
        except Exception as e:
            reply = {"error": f"{type(e).__name__}: {e}"}
        reply["task_id"] = request["task_id"]
        if not _reply(conn, reply):
            return


def _reply(conn: Connection, message: dict) -> bool:
    """Send ``message``; False when the parent has closed the connection (it stopped the
    search or no longer needs this worker), which ends the worker quietly: a traceback there
    would bury the parent's own one-line message."""
    try:
        conn.send_bytes(json.dumps(message).encode())
    except OSError:  # BrokenPipeError, ConnectionResetError
        return False
    return True
