"""Process groups: kill them as a whole, and a watchdog that kills them when we exit.

Used for the xparl cluster's master and worker (each leads its own session, so its jobs and
log server die with it). ``THREAD_ENV_VARS`` are the math-library thread variables a child
process needs in its environment before it imports Paddle.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def kill_groups(pgids: list[int], grace: float = 5.0) -> None:
    """SIGTERM the process groups, then SIGKILL those with live members after ``grace`` s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pgid in pgids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_group_alive(g) for g in pgids):
            time.sleep(0.1)


_WATCHDOG = """
import os, signal, sys
groups = []
for line in sys.stdin:
    if line.strip() == "disarm":
        sys.exit(0)
    groups.append(int(line))
for pgid in groups:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
"""


def start_watchdog() -> subprocess.Popen:
    """A process that SIGKILLs the process groups it is told about once its stdin closes, which
    happens when we exit by any means; ``disarm_watchdog`` ends it without killing."""
    return subprocess.Popen(
        [sys.executable, "-c", _WATCHDOG],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C to our group must not reach it first
        text=True,
    )


def guard_group(watchdog: subprocess.Popen, pgid: int) -> None:
    """Have ``watchdog`` kill process group ``pgid`` when we exit."""
    watchdog.stdin.write(f"{pgid}\n")
    watchdog.stdin.flush()


def disarm_watchdog(watchdog: subprocess.Popen) -> None:
    """End ``watchdog`` without it killing anything."""
    try:
        watchdog.stdin.write("disarm\n")
        watchdog.stdin.close()
    except OSError:
        pass
    try:
        watchdog.wait(timeout=5)
    except subprocess.TimeoutExpired:
        watchdog.kill()
        watchdog.wait()


def is_running(proc) -> bool:
    """Whether a ``psutil.Process`` exists and is not a zombie."""
    import psutil

    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # Zombies still count as group members until reaped; only live ones matter here.
    import psutil

    return any(is_running(p) for p in psutil.process_iter() if _safe_pgid(p.pid) == pgid)


def _safe_pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        return None
