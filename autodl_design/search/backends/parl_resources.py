"""Bound PARL 2.2.1's wait for a free CPU, and let it be abandoned.

Creating a remote actor makes PARL's proxy thread call ``RemoteWrapper.request_resource``,
which asks the master for a CPU once a second, 300 times, logging "No vacant cpu/gpu resources
at the moment, will try N times later" every 30 s, and nothing can stop it. With the cluster's
only worker gone, each new actor therefore blocked for 5 minutes, whatever
``execution.timeout_seconds`` said, and threads the backend had given up on went on asking (and
could still obtain a CPU nobody would use).

:func:`install` replaces that method: it asks silently until :func:`limit_wait`'s bound or until
the actor it works for is :func:`abandon`-ed, then returns None (PARL then fails the creation
with its ``ResourceError``, which the actor's proxy keeps as the reason).
"""

from __future__ import annotations

import contextlib
import threading
import time

_ABANDONED = "_xparl_autodl_abandoned"  # "_xparl" prefix: PARL's proxy keeps it local
_state = threading.local()
_limit_s = 300.0  # PARL's own bound


def install() -> None:
    """Patch ``RemoteWrapper.request_resource`` (idempotent)."""
    from parl.remote.remote_wrapper import RemoteWrapper

    RemoteWrapper.request_resource = _request_resource


def limit_wait(seconds: float) -> None:
    """Ask for a CPU for at most ``seconds`` per actor."""
    global _limit_s
    _limit_s = float(seconds)


@contextlib.contextmanager
def creating(proxy):
    """Within it, this thread's requests are on behalf of ``proxy`` (for :func:`abandon`)."""
    _state.proxy = proxy
    try:
        yield
    finally:
        _state.proxy = None


def abandon(proxy) -> None:
    """Make the request made for ``proxy`` give up at its next try."""
    proxy.__dict__[_ABANDONED] = True


def _request_resource(self, global_client, max_memory, n_gpu):
    proxy = getattr(_state, "proxy", None)
    deadline = time.monotonic() + _limit_s
    while time.monotonic() < deadline and global_client.connected_to_master:
        if proxy is not None and proxy.__dict__.get(_ABANDONED):
            break
        # One request; when no CPU is vacant PARL sleeps 1 s in it and returns None.
        job_info = global_client.submit_job(max_memory, n_gpu, self.job_is_alive)
        if job_info is not None:
            return job_info
    return None
