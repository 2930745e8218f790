"""Faults of a real xparl cluster on loopback: a retried actor, the worker daemon killed mid-search.

Each wait here has its own hard limit, so code that stalls fails the test instead of hanging it.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from test_backends import SLOW, FakeSlot, kill_when_running, make_tasks

from autodl_design.config import ExecutionConfig
from autodl_design.search.backends import EvalTask
from autodl_design.search.backends.cluster import start_cluster
from autodl_design.search.backends.slots import run_on_slots

TIMEOUT_S = 30  # execution.timeout_seconds: above an actor's start-up on a busy 2-core machine
SEARCH = [
    "updates=4",
    "controller.n_nodes=2",
    "controller.batch_size=3",
    "data.max_train_per_class=4",
    "data.max_val_per_class=1",
    "network.width=4",
    "network.stages=1",
    "evaluator.epochs=150",  # a few seconds a candidate: the kill lands mid-training
    "evaluator.patience=150",
    "evaluator.batch_size=16",
    "execution.retries=1",
    f"execution.timeout_seconds={TIMEOUT_S}",
]
PARL_CHATTER = ("Traceback", "will try", "[Client]", " WRN ", " ERR ", "RemoteError")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = start_cluster(cpus=2, log_dir=tmp_path_factory.mktemp("xparl"))
    yield cluster
    cluster.stop()


def test_retries_are_recorded_with_their_reasons():
    logged = []
    tasks = [EvalTask(name, name) for name in ("a", "b")]
    slots = [FakeSlot({"a": 1, "b": 5})]
    out = {t.task_id: r for t, r in run_on_slots(slots, tasks, retries=1, log=logged.append)}
    died = "worker process died (exit code -9)"
    assert out["a"] == {"arch": "a", "status": "ok", "attempts": 2, "retried_after": [died]}
    assert out["b"]["status"] == "failed" and out["b"]["attempts"] == 2
    assert out["b"]["error"] == died and out["b"]["retried_after"] == [died]
    assert sorted(logged) == sorted(
        [
            f"{died}; retrying candidate a (1/1)",
            f"{died}; retrying candidate b (1/1)",
            f"{died}; candidate b failed after 2 attempts",
        ]
    )


def test_xparl_actor_retry_is_recorded_and_reported_in_one_line(cluster, capfd):
    from autodl_design.search.backends.xparl_backend import XparlBackend

    execution = ExecutionConfig(
        backend="xparl", workers=2, cluster=cluster.address, retries=1, timeout_seconds=TIMEOUT_S
    )
    with XparlBackend(execution, SLOW) as backend:
        thread, killed = kill_when_running(backend.running, "t0", 1, pid_of=lambda job: job[1])
        out = {t.task_id: r for t, r in backend.run(make_tasks(2))}
        thread.join()
    assert len(killed) == 1
    reason = f"worker process died (xparl job pid {killed[0]})"
    assert out["t0"]["status"] == "ok" and out["t0"]["epochs_run"] == 120
    assert out["t0"]["attempts"] == 2 and out["t0"]["retried_after"] == [reason]
    assert out["t1"]["status"] == "ok" and "attempts" not in out["t1"]
    err = capfd.readouterr().err
    assert f"xparl: {reason}; retrying candidate t0 (1/1)" in err.splitlines()
    assert not [c for c in PARL_CHATTER if c in err], err[-2000:]


def _evaluations(path):
    if not path.exists():
        return []
    text = path.read_text()
    lines = [json.loads(x) for x in text[: text.rfind("\n") + 1].splitlines()]
    return [e for e in lines if e["type"] == "evaluation"]


def test_search_ends_in_one_line_when_the_worker_daemon_dies(cluster, tmp_path):
    """kill -9 of the cluster's only worker daemon mid-search: the search ends within the bound
    (3 x timeout_seconds), with one error line, the finished candidates kept, the lost ones either
    not recorded or recorded failed (--resume trains both again), and no traceback or PARL
    chatter."""
    out_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "autodl_design.cli", "search", "--no-progress"]
    cmd += ["--cluster", cluster.address, "--workers", "2", "--output", str(out_dir)]
    for o in SEARCH:
        cmd += ["-o", o]
    worker = next(p for p in cluster.processes if "worker" in p.args)
    with open(tmp_path / "out", "w") as out, open(tmp_path / "err", "w") as err:
        search = subprocess.Popen(cmd, stdout=out, stderr=err)
    try:
        deadline = time.monotonic() + 240
        while len(_evaluations(out_dir / "history.jsonl")) < 3:  # the first batch is done
            assert search.poll() is None and time.monotonic() < deadline, "no first batch"
            time.sleep(0.1)
        time.sleep(2.0)  # the second batch is training
        assert search.poll() is None, "the search ended before the kill"
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()  # reaped, as init would do on a real machine
        killed_at = time.monotonic()
        rc = search.wait(timeout=3 * TIMEOUT_S + 30)  # today's code: 300 s per candidate
        took = time.monotonic() - killed_at
    finally:
        if search.poll() is None:
            search.kill()
            search.wait()
    stdout, stderr = (tmp_path / "out").read_text(), (tmp_path / "err").read_text()
    print(f"search ended {took:.1f} s after the kill; its stderr:\n{stderr}")
    assert took < 3 * TIMEOUT_S, f"took {took:.0f} s after the kill"
    assert rc == 2, stderr[-2000:]
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("autodl-design: error: the xparl cluster at") and "no CPU" in last
    assert not [c for c in PARL_CHATTER if c in stdout + stderr], (stdout + stderr)[-3000:]
    ours = [line for line in stderr.splitlines() if line.startswith("xparl: ")]
    # A retry can itself land on a job of the dead daemon before the master drops it (a race of
    # a few seconds): that candidate is then recorded failed, which --resume trains again.
    assert ours and all("retrying candidate u" in line or "failed after" in line for line in ours)
    evals = _evaluations(out_dir / "history.jsonl")
    assert len(evals) >= 3 and all(e["record"]["status"] in ("ok", "failed") for e in evals)
    assert [e for e in evals if e["record"]["status"] == "ok"], "the first batch is kept"
