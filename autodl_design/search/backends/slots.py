"""Run tasks on a fixed set of worker slots with retries, for the process and xparl backends.

A *slot* is one place where a candidate can be trained (a local worker process, an xparl
actor). It starts its worker lazily, and when the worker dies, hangs past the timeout or
becomes unreachable it raises :class:`WorkerLost`, throws the worker away and starts a fresh
one for its next task. :func:`run_on_slots` drives one thread per slot over a shared queue, puts
lost tasks back in the queue until they have used up their retries, and yields every result as
soon as it arrives, so one bad candidate or machine never holds up or loses the others. A
record that needed retries says so: ``attempts`` and ``retried_after`` (the reasons the earlier
attempts were lost), and each loss is reported in one line through the backend's ``log_event``.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

from autodl_design.search.backends.base import EvalTask, failure_record


class WorkerLost(Exception):
    """The worker running a task died, timed out or became unreachable; the task may be retried.

    The message is the reason recorded for the candidate, e.g. "worker process died (exit code
    -9)" or "timed out after 30 s".
    """


class TaskFailed(Exception):
    """The evaluation raised in its worker, outside the evaluator's own error handling (e.g.
    the architecture string does not parse): a retry would fail the same way, so the task is
    recorded as failed at once with this message."""


class Slot(Protocol):
    """One worker. ``evaluate`` blocks until the record is back or raises :class:`WorkerLost`
    (after which the slot must be ready to start a fresh worker); when ``cancel`` is set it
    must give up promptly (stopping its worker if it can) and raise :class:`WorkerLost`."""

    def evaluate(self, task: EvalTask, cancel: threading.Event) -> dict[str, Any]: ...

    def close(self) -> None: ...


class SlotBackend:
    """A backend made of ``self._slots`` (set by the subclass): runs tasks on them with
    ``self.execution.retries`` retries, closes them all, and works as a context manager."""

    execution: Any
    _slots: Sequence[Slot]

    def run(self, tasks: Iterable[EvalTask]) -> Iterator[tuple[EvalTask, dict[str, Any]]]:
        """Yield ``(task, record)`` as the slots finish, in any order."""
        return run_on_slots(self._slots, tasks, self.execution.retries, self.log_event)

    def log_event(self, line: str) -> None:
        """Report a lost worker (one line, stderr)."""
        print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        """Close every slot (workers still busy are stopped)."""
        for slot in self._slots:
            slot.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_STOP = None


def run_on_slots(
    slots: Sequence[Slot],
    tasks: Iterable[EvalTask],
    retries: int,
    log: Callable[[str], None] = lambda line: None,
) -> Iterator[tuple[EvalTask, dict[str, Any]]]:
    """Yield ``(task, record)`` for every task, in completion order.

    A task whose worker is lost is queued again, up to ``retries`` times, then answered with
    :func:`failure_record` carrying the last reason and the number of attempts; each loss is
    passed to ``log`` as one line. If the caller
    stops iterating early, the running evaluations are aborted before this returns.
    """
    tasks = list(tasks)
    if not tasks:
        return
    work: queue.Queue = queue.Queue()
    results: queue.Queue = queue.Queue()
    cancel = threading.Event()
    for task in tasks:
        work.put((task, 1))
    threads = [
        threading.Thread(
            target=_drive, args=(slot, work, results, cancel), daemon=True, name=f"slot-{i}"
        )
        for i, slot in enumerate(slots)
    ]
    for thread in threads:
        thread.start()
    outstanding = len(tasks)
    lost: dict[str, list[str]] = {}  # task_id -> why its earlier attempts were lost
    try:
        while outstanding:
            task, attempt, record, lost_reason = results.get()
            if lost_reason is None:
                outstanding -= 1
                yield task, _with_retries(record, attempt, lost.get(task.task_id))
            elif attempt <= retries:
                log(f"{lost_reason}; retrying candidate {task.task_id} ({attempt}/{retries})")
                lost.setdefault(task.task_id, []).append(lost_reason)
                work.put((task, attempt + 1))
            else:
                tries = f"{attempt} attempts" if attempt > 1 else "1 attempt"
                log(f"{lost_reason}; candidate {task.task_id} failed after {tries}")
                outstanding -= 1
                record = failure_record(task.arch_json, lost_reason, attempt)
                yield task, _with_retries(record, attempt, lost.get(task.task_id))
    finally:
        if outstanding:
            cancel.set()
            _drain(work)
        for _ in threads:
            work.put(_STOP)
        for thread in threads:
            thread.join()


def _with_retries(record: dict[str, Any], attempt: int, reasons: list[str] | None) -> dict:
    if not reasons:
        return record
    return {**record, "attempts": attempt, "retried_after": reasons}


def _drain(work: queue.Queue) -> None:
    try:
        while True:
            work.get_nowait()
    except queue.Empty:
        pass


def _drive(slot: Slot, work: queue.Queue, results: queue.Queue, cancel: threading.Event) -> None:
    while True:
        item = work.get()
        if item is _STOP or cancel.is_set():
            return
        task, attempt = item
        try:
            results.put((task, attempt, slot.evaluate(task, cancel), None))
        except TaskFailed as e:
            results.put((task, attempt, failure_record(task.arch_json, str(e), attempt), None))
        except WorkerLost as e:
            results.put((task, attempt, None, str(e)))
        except Exception as e:  # a bug in a slot must not hang the search: count it as lost
            results.put((task, attempt, None, f"{type(e).__name__}: {e}"))
