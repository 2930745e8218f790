"""Parallel and distributed evaluation: local worker processes, a real xparl cluster, failures.

Everything trains tiny networks on a few bundled images; a "slow" evaluation is the same tiny
network trained for more epochs (a few seconds), long enough to kill its worker mid-way; a
"hung" one would take minutes.
"""

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import psutil
import pytest

from autodl_design.config import (
    ConfigError,
    DataConfig,
    EvaluatorConfig,
    ExecutionConfig,
    NetworkConfig,
)
from autodl_design.search.backends import EvalSettings, EvalTask, SerialBackend, make_backend
from autodl_design.search.backends.cluster import start_cluster
from autodl_design.search.backends.local import LocalBackend
from autodl_design.search.backends.slots import WorkerLost, run_on_slots
from autodl_design.space import random_architecture

DATA = DataConfig(max_train_per_class=4, max_val_per_class=2)
NET = NetworkConfig(width=4, stages=1)
QUICK = EvalSettings(DATA, NET, EvaluatorConfig(epochs=1, batch_size=16))
SLOW = EvalSettings(DATA, NET, EvaluatorConfig(epochs=120, patience=120, batch_size=16))
HUNG = EvalSettings(DATA, NET, EvaluatorConfig(epochs=5000, patience=5000, batch_size=16))


def make_tasks(n, prefix="t"):
    archs = [random_architecture(np.random.default_rng(i), 3, edge_prob=0.5) for i in range(n)]
    return [EvalTask(f"{prefix}{i}", a.to_json()) for i, a in enumerate(archs)]


def without_timing(record):
    record = dict(record)
    record.pop("seconds")
    record["history"] = {k: v for k, v in record["history"].items() if k != "seconds"}
    return record


def collect(backend, tasks):
    results = list(backend.run(tasks))
    assert sorted(t.task_id for t, _ in results) == sorted(t.task_id for t in tasks)
    for task, record in results:
        assert record["arch"] == task.arch_json
    return {t.task_id: r for t, r in results}


def kill_when_running(running, task_id, times, pid_of=lambda job: job):
    """Start a thread that SIGKILLs the worker evaluating ``task_id``, ``times`` times."""
    killed = []

    def loop():
        deadline = time.monotonic() + 120
        while len(killed) < times and time.monotonic() < deadline:
            job = running().get(task_id)
            if job is not None and pid_of(job) not in killed:
                time.sleep(0.5)  # well into training, far from its end
                if running().get(task_id) == job:
                    os.kill(pid_of(job), signal.SIGKILL)
                    killed.append(pid_of(job))
            time.sleep(0.05)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread, killed


def gone(pid):
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


# --- the scheduler, with stand-in slots (no processes) --------------------------------------


class FakeSlot:
    def __init__(self, losses):
        self.losses = losses  # task_id -> how many times its worker is "lost"

    def evaluate(self, task, cancel):
        if self.losses.get(task.task_id, 0) > 0:
            self.losses[task.task_id] -= 1
            raise WorkerLost("worker process died (exit code -9)")
        if task.task_id == "hang":
            cancel.wait(10)
            raise WorkerLost("cancelled")
        return {"arch": task.arch_json, "status": "ok"}

    def close(self):
        pass


def test_lost_tasks_are_retried_then_recorded_as_failed():
    losses = {"a": 1, "b": 5}
    slots = [FakeSlot(losses), FakeSlot(losses)]
    tasks = [EvalTask(name, name) for name in ("a", "b", "c")]
    out = {t.task_id: r for t, r in run_on_slots(slots, tasks, retries=2)}
    assert out["a"]["status"] == "ok" and out["c"]["status"] == "ok"
    assert out["b"]["status"] == "failed" and out["b"]["attempts"] == 3
    assert out["b"]["error"] == "worker process died (exit code -9)"
    assert out["b"]["reward"] is None and out["b"]["arch"] == "b"


def test_stopping_early_cancels_running_evaluations():
    tasks = [EvalTask("ok", "x"), EvalTask("hang", "y")]
    start = time.monotonic()
    gen = run_on_slots([FakeSlot({}), FakeSlot({})], tasks, retries=0)
    assert next(gen)[0].task_id == "ok"
    gen.close()
    assert time.monotonic() - start < 5


def test_factory_picks_the_backend():
    assert isinstance(make_backend(ExecutionConfig(), QUICK), SerialBackend)
    with pytest.raises(ConfigError, match="cluster"):
        make_backend(ExecutionConfig(backend="xparl"), QUICK)
    backend = make_backend(ExecutionConfig(backend="local", workers=1), QUICK)
    try:
        assert isinstance(backend, LocalBackend)
    finally:
        backend.close()


# --- local worker processes -----------------------------------------------------------------


def test_local_workers_match_serial_results():
    tasks = make_tasks(3)
    serial = {t.task_id: r for t, r in SerialBackend(QUICK).run(tasks)}
    backend = LocalBackend(ExecutionConfig(backend="local", workers=2), QUICK)
    try:
        pids = backend.worker_pids()
        assert len(set(pids)) == 2 and os.getpid() not in pids
        out = collect(backend, tasks)
    finally:
        backend.close()
    assert all(gone(pid) for pid in pids)
    for task_id, record in out.items():
        assert record["status"] == "ok"
        assert without_timing(record) == without_timing(serial[task_id])


def test_local_worker_killed_twice_fails_its_task_others_complete():
    tasks = make_tasks(3)
    execution = ExecutionConfig(backend="local", workers=2, retries=1)
    with LocalBackend(execution, SLOW) as backend:
        thread, killed = kill_when_running(backend.running, "t0", times=2)
        out = collect(backend, tasks)
        thread.join()
        assert len(killed) == 2  # the retry ran on a fresh process, killed in turn
        assert all(gone(pid) for pid in killed)
        assert out["t0"]["status"] == "failed" and out["t0"]["attempts"] == 2
        assert out["t0"]["error"] == "worker process died (exit code -9)"
        assert out["t1"]["status"] == "ok" and out["t2"]["status"] == "ok"
        # the dead workers were replaced: a later batch still runs on both slots
        again = collect(backend, make_tasks(2, prefix="u"))
        assert all(r["status"] == "ok" for r in again.values())


def test_local_worker_killed_once_is_retried_successfully():
    execution = ExecutionConfig(backend="local", workers=1, retries=1)
    with LocalBackend(execution, SLOW) as backend:
        thread, killed = kill_when_running(backend.running, "t0", times=1)
        out = collect(backend, make_tasks(1))
        thread.join()
    assert len(killed) == 1
    assert out["t0"]["status"] == "ok" and out["t0"]["epochs_run"] == 120


def test_local_timeout_is_recorded_and_the_hung_worker_killed():
    execution = ExecutionConfig(backend="local", workers=1, timeout_seconds=1.5, retries=1)
    with LocalBackend(execution, HUNG) as backend:
        seen = set()
        done = threading.Event()

        def watch():
            while not done.is_set():
                seen.update(backend.running().values())
                time.sleep(0.05)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        out = collect(backend, make_tasks(1))
        done.set()
        watcher.join()
    assert out["t0"]["status"] == "failed" and out["t0"]["attempts"] == 2
    assert out["t0"]["error"] == "timed out after 1.5 s"
    assert len(seen) == 2 and all(gone(pid) for pid in seen)  # each attempt's worker killed


def test_local_worker_that_cannot_load_the_data_fails_with_the_reason(tmp_path):
    missing = str(tmp_path / "no-such-data")
    settings = EvalSettings(dataclasses.replace(DATA, source=missing), NET, QUICK.evaluator)
    with LocalBackend(ExecutionConfig(backend="local", workers=1, retries=0), settings) as b:
        out = collect(b, make_tasks(1))
    assert out["t0"]["status"] == "failed" and out["t0"]["attempts"] == 1
    assert out["t0"]["error"].startswith("worker could not start:")
    assert "no-such-data" in out["t0"]["error"]


def test_local_bad_architecture_fails_at_once_and_the_worker_goes_on():
    tasks = [EvalTask("bad", "not an architecture"), *make_tasks(1)]
    with LocalBackend(ExecutionConfig(backend="local", workers=1, retries=2), QUICK) as b:
        pid = b.worker_pids()
        out = collect(b, tasks)
        assert b.worker_pids() == pid
    assert out["bad"]["status"] == "failed" and out["bad"]["attempts"] == 1
    assert out["bad"]["error"].startswith("worker error:")
    assert out["t0"]["status"] == "ok"


# --- a real xparl cluster on this machine ---------------------------------------------------


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = start_cluster(cpus=2, log_dir=tmp_path_factory.mktemp("xparl"))
    yield cluster
    cluster.stop()


def test_xparl_actors_evaluate_a_batch(cluster):
    from autodl_design.search.backends.xparl_backend import XparlBackend

    tasks = make_tasks(3)
    serial = {t.task_id: r for t, r in SerialBackend(QUICK).run(tasks)}
    execution = ExecutionConfig(backend="xparl", workers=2, cluster=cluster.address)
    with XparlBackend(execution, QUICK) as backend:
        out = collect(backend, tasks)
    for task_id, record in out.items():
        assert record["status"] == "ok"
        assert without_timing(record) == without_timing(serial[task_id])


def test_xparl_killed_actor_is_recorded_others_complete(cluster):
    from autodl_design.search.backends.xparl_backend import XparlBackend

    execution = ExecutionConfig(backend="xparl", workers=2, cluster=cluster.address, retries=0)
    with XparlBackend(execution, SLOW) as backend:
        thread, killed = kill_when_running(backend.running, "t0", 1, pid_of=lambda job: job[1])
        out = collect(backend, make_tasks(3))
        thread.join()
    assert len(killed) == 1
    assert out["t0"]["status"] == "failed" and out["t0"]["attempts"] == 1
    assert out["t0"]["error"].startswith("worker process died")
    assert out["t1"]["status"] == "ok" and out["t2"]["status"] == "ok"


def test_xparl_client_exits_without_thread_tracebacks(cluster):
    """A process that evaluated on the cluster can end PARL's job-status thread (as it does at
    exit, where that thread used to die mid-traceback when the interpreter tore its queue down)."""
    import subprocess
    import sys

    from autodl_design.search.backends.cluster import cluster_env

    code = f"""
import autodl_design
from autodl_design.search.backends import EvalSettings, EvalTask
from autodl_design.search.backends.xparl_backend import XparlBackend
from autodl_design.config import DataConfig, EvaluatorConfig, ExecutionConfig, NetworkConfig
from autodl_design.space import Architecture

settings = EvalSettings(DataConfig(max_train_per_class=4, max_val_per_class=2),
                        NetworkConfig(width=4, stages=1), EvaluatorConfig(epochs=1, batch_size=16))
arch = Architecture.from_json({random_architecture(np.random.default_rng(0), 3).to_json()!r})
execution = ExecutionConfig(backend="xparl", workers=1, cluster={cluster.address!r})
with XparlBackend(execution, settings) as backend:
    [(_, record)] = backend.run([EvalTask("t0", arch.to_json())])
print("status", record["status"])
from autodl_design.search.backends import parl_threads
print("status thread stopped", parl_threads.stop_status_thread())
"""
    out = subprocess.run(
        [sys.executable, "-c", code], env=cluster_env(), capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-2:] == ["status ok", "status thread stopped True"]
    assert "Traceback" not in out.stderr, out.stderr[-2000:]


def test_parl_proxy_thread_errors_are_dropped_others_kept(monkeypatch):
    from autodl_design.search.backends import parl_threads, xparl_backend

    RemoteError = xparl_backend.parl.remote.exceptions.RemoteError

    seen = []
    monkeypatch.setattr(threading, "excepthook", lambda args: seen.append(args.exc_type))
    monkeypatch.setattr(parl_threads, "_installed", False)
    parl_threads.install()

    def boom(exc):
        raise exc

    cases = [
        ("_run_object_in_backend", RemoteError("evaluate", "disconnected")),
        ("_run_object_in_backend", ValueError("a real bug")),
        ("other_target", RemoteError("evaluate", "disconnected")),
    ]
    for target, exc in cases:
        t = threading.Thread(target=boom, args=(exc,), name=f"Thread-99 ({target})")
        t.start()
        t.join()
    assert seen == [ValueError, RemoteError]


def test_xparl_cluster_stops_without_leftovers(cluster):
    pids = cluster.pids()
    names = {" ".join(psutil.Process(p).cmdline()) for p in pids}
    assert any("--name master" in n for n in names) and any("job.py" in n for n in names)
    cluster.stop()
    assert cluster.pids() == set()
    assert all(gone(pid) for pid in pids)


def test_loopback_pin_reaches_parl_in_a_fresh_process():
    """Cluster processes get the sitecustomize that pins PARL's address to 127.0.0.1."""
    import subprocess
    import sys

    from autodl_design.search.backends.cluster import cluster_env

    code = "import parl.utils; print(parl.utils.get_ip_address())"
    out = subprocess.run(
        [sys.executable, "-c", code], env=cluster_env(), capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-1500:]
    assert out.stdout.strip().splitlines()[-1] == "127.0.0.1"


QUIET_CLOSE = """
import sys
from autodl_design.config import DataConfig, EvaluatorConfig, NetworkConfig
from autodl_design.search.backends import EvalSettings
from autodl_design.search.backends.local import _ProcessSlot, worker_settings

settings = EvalSettings(DataConfig(max_train_per_class=2), NetworkConfig(), EvaluatorConfig())
slot = _ProcessSlot(worker_settings(settings, 1), 1, 60.0, 60.0)
slot.start()
slot._conn.close()  # the parent gives up while the worker still imports Paddle
sys.exit(slot._proc.wait(timeout=120))
"""


def test_a_worker_whose_parent_is_gone_exits_quietly(tmp_path):
    # The worker reads its settings, loads Paddle and the data, then finds nobody to tell it is
    # ready: it must end without a BrokenPipeError traceback (they buried the parent's message).
    proc = subprocess.run(
        [sys.executable, "-c", QUIET_CLOSE],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,  # `python -c` imports from its cwd first: not the checkout by accident
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr == ""
