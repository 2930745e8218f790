"""Start and stop a PARL xparl cluster (one master, one worker) on this machine.

``xparl start`` / ``xparl stop`` do the same from a shell, but ``xparl stop`` kills *every*
xparl process of the machine (it matches command lines), including other users' clusters.
:func:`start_cluster` instead launches PARL's own entry point (``parl/remote/start.py``) for
the master and the worker, each in a new session, so that stopping kills exactly those two
process groups: the worker's job processes and its log server live in the worker's group.

The processes get the environment PARL 2.2.1 needs under Paddle 3 (see
``autodl_design/_compat.py``) and ``threads`` math threads per job: a job imports Paddle before
our actor code runs, so the OpenMP thread count must already be in its environment.

By default a cluster dies with the process that started it, however that process ends (a
watchdog process kills both groups when its pipe from the starter closes), so a test run that is
killed leaves nothing behind. ``detach=True`` (the command line below) keeps it running and
records its process groups in a state file, from which ``stop`` kills them.

Usage::

    with start_cluster(cpus=2) as cluster:
        backend = XparlBackend(ExecutionConfig(backend="xparl", cluster=cluster.address), ...)

    python -m autodl_design.search.backends.cluster start --cpus 2 [--port 8010] [--threads 1]
    python -m autodl_design.search.backends.cluster stop --port 8010
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from autodl_design.search.backends import loopback
from autodl_design.search.backends.process_groups import (
    THREAD_ENV_VARS,
    disarm_watchdog,
    guard_group,
    is_running,
    kill_groups,
    start_watchdog,
)


class ClusterError(RuntimeError):
    """The cluster did not come up (the message points at its log files), cannot be reached,
    or has lost all its CPUs; the command line prints it as a one-line error."""


def free_port() -> int:
    """A TCP port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def cluster_env(
    threads: int = 1, tmp_dir: Path | None = None, base: dict[str, str] | None = None
) -> dict[str, str]:
    """Environment for xparl master/worker processes (and so for their jobs)."""
    env = dict(os.environ if base is None else base)
    if tmp_dir is not None:
        # Each job unpacks the client's files into a mkdtemp() directory that only a job that
        # ends normally removes; keep the ones of killed jobs with the cluster's logs.
        env["TMPDIR"] = str(tmp_dir)
    env["PARL_BACKEND"] = "paddle"
    env["PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"] = "python"
    # PARL's own switch (sic) to skip loading its deep-learning core, hence Paddle, on import:
    # the master, worker and log server never need it, and importing Paddle into each of them
    # tripled the start-up time. A job sets it too and clears it before loading the actor.
    env["XPARL_igonre_core"] = "true"
    for name in THREAD_ENV_VARS:
        env[name] = str(threads)
    return loopback.site_env(env)


@dataclass
class LocalCluster:
    """A running master + worker; ``address`` is what ``--cluster`` / ``parl.connect`` take."""

    port: int
    cpus: int
    log_dir: Path
    processes: list[subprocess.Popen] = field(default_factory=list)
    watchdog: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"localhost:{self.port}"

    def pids(self) -> set[int]:
        """Pids of the master, the worker and everything they started that is still running."""
        import psutil

        pids: set[int] = set()
        for proc in self.processes:
            try:
                root = psutil.Process(proc.pid)
                tree = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            pids.update(p.pid for p in tree if is_running(p))
        return pids

    def cpu_status(self, timeout: float = 2.0) -> tuple[int, int] | None:
        """``(used, vacant)`` CPUs as the master reports them, None if it does not answer."""
        return query_status(self.address, timeout)

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM both process groups, SIGKILL what is left after ``grace`` seconds, reap."""
        kill_groups([p.pid for p in self.processes], grace)  # each leads its own session
        for proc in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=grace)
        self.processes.clear()
        if self.watchdog is not None:
            disarm_watchdog(self.watchdog)
            self.watchdog = None

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_cluster(
    cpus: int,
    port: int | None = None,
    threads: int = 1,
    log_dir: str | Path | None = None,
    ready_timeout: float = 60.0,
    detach: bool = False,
) -> LocalCluster:
    """Start an xparl master on ``port`` (a free one if None) and a worker with ``cpus`` CPUs.

    Returns once the master reports all ``cpus`` CPUs; the master's and worker's output goes to
    ``log_dir`` (default: a new temporary directory). Raises :class:`ClusterError` (after
    stopping whatever started) if that does not happen within ``ready_timeout`` seconds. Unless
    ``detach``, the cluster is killed when the calling process exits, even by a signal.
    """
    import tempfile

    if cpus < 1:
        raise ValueError("cpus must be >= 1")
    port = port or free_port()
    log_path = Path(log_dir or tempfile.mkdtemp(prefix="xparl-cluster-"))
    log_path.mkdir(parents=True, exist_ok=True)
    start_py = _parl_start_script()
    (log_path / "tmp").mkdir(exist_ok=True)
    env = cluster_env(threads, log_path / "tmp")
    cluster = LocalCluster(port=port, cpus=cpus, log_dir=log_path)
    if not detach:
        cluster.watchdog = start_watchdog()
    master = [sys.executable, start_py, "--name", "master", "--port", str(port)]
    master += ["--monitor_port", str(free_port())]
    worker = [sys.executable, start_py, "--name", "worker", "--address", cluster.address]
    worker += ["--cpu_num", str(cpus), "--log_server_port", str(free_port())]
    try:
        _launch(cluster, master, env, "master")
        _wait(lambda: query_status(cluster.address, 0.5) is not None, ready_timeout, cluster)
        _launch(cluster, worker, env, "worker")
        _wait(
            lambda: sum(query_status(cluster.address, 0.5) or (0, 0)) >= cpus,
            ready_timeout,
            cluster,
        )
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _parl_start_script() -> str:
    import importlib.util

    spec = importlib.util.find_spec("parl")
    if spec is None or not spec.submodule_search_locations:
        raise ClusterError("parl is not installed (pip install --no-deps parl==2.2.1)")
    return str(Path(next(iter(spec.submodule_search_locations))) / "remote" / "start.py")


def _launch(cluster: LocalCluster, cmd: list[str], env: dict[str, str], name: str) -> None:
    with open(cluster.log_dir / f"{name}.log", "ab") as out:
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    cluster.processes.append(proc)
    if cluster.watchdog is not None:
        guard_group(cluster.watchdog, proc.pid)


def _wait(ready, timeout: float, cluster: LocalCluster) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in cluster.processes:
            if proc.poll() is not None:
                raise ClusterError(
                    f"xparl process {proc.args[2:5]} exited with code {proc.returncode}; "
                    f"see {cluster.log_dir}"
                )
        if ready():
            return
        time.sleep(0.2)
    raise ClusterError(f"xparl cluster not ready after {timeout:.0f} s; see {cluster.log_dir}")


def query_status(address: str, timeout: float) -> tuple[int, int] | None:
    """Ask the master (as ``xparl status`` does) for its used and vacant CPUs."""
    import zmq

    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.REQ)
    sock.linger = 0
    sock.setsockopt(zmq.RCVTIMEO, int(timeout * 1000))
    try:
        sock.connect(f"tcp://{address}")
        sock.send_multipart([b"[STATUS]"])  # parl.remote.remote_constants.STATUS_TAG
        reply = sock.recv_multipart()
    except zmq.error.ZMQError:
        return None
    finally:
        sock.close(0)
    match = re.search(rb"has (\d+) used cpus, (\d+) vacant cpus", reply[-1])
    return (int(match.group(1)), int(match.group(2))) if match else None


def _state_file(port: int) -> Path:
    import tempfile

    return Path(tempfile.gettempdir()) / f"autodl-xparl-{port}.json"


def main(argv: list[str] | None = None) -> int:
    """``start`` a detached cluster (prints its address) or ``stop`` the one on ``--port``."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m autodl_design.search.backends.cluster")
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start a master and a worker; print the address")
    start.add_argument("--cpus", type=int, default=os.cpu_count() or 1)
    start.add_argument("--port", type=int, default=None)
    start.add_argument("--threads", type=int, default=1, help="math threads per job")
    start.add_argument("--log-dir", default=None)
    stop = sub.add_parser("stop", help="stop the cluster started on --port")
    stop.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)

    if args.command == "start":
        cluster = start_cluster(args.cpus, args.port, args.threads, args.log_dir, detach=True)
        state = {"port": cluster.port, "pgids": [p.pid for p in cluster.processes]}
        _state_file(cluster.port).write_text(json.dumps(state))
        print(cluster.address)
        print(f"xparl cluster with {cluster.cpus} CPUs; logs in {cluster.log_dir}", file=sys.stderr)
        return 0
    path = _state_file(args.port)
    if not path.is_file():
        print(f"no cluster started on port {args.port} (no {path})", file=sys.stderr)
        return 1
    kill_groups(json.loads(path.read_text())["pgids"])
    path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
