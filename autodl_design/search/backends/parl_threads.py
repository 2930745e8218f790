"""Keep PARL 2.2.1's client threads from printing what the xparl backend handles itself.

* A future-mode call whose actor is lost: PARL's proxy thread (target
  ``_run_object_in_backend``) hands the error to the call's future, which the xparl backend turns
  into a recorded ``WorkerLost``, and then re-raises it, so Python prints a ``RemoteError``
  traceback for a failure already dealt with. :func:`install` drops exactly those.
* At interpreter exit, the client's ``_update_job_status`` thread is still blocked on its
  ``multiprocessing`` queue, whose teardown makes it fail mid-print. :func:`install` registers an
  exit hook that sends it PARL's own ``"exit"`` message and waits for it to end first.
* PARL's client logs every event of its threads to stdout ("lost connection with a remote
  instance", "connects to a finished job, will try again", ...), repeatedly and in its own
  format, while the backend already prints one line of its own per event and records the
  reason. :func:`quiet_log` takes PARL's logger off the output; with ``AUTODL_XPARL_LOG=PATH``
  in the environment its lines go to that file instead, for debugging a cluster.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading

_PROXY_THREAD = "_run_object_in_backend"
_STATUS_THREAD = "_update_job_status"
_LOG_ENV = "AUTODL_XPARL_LOG"
_installed = False


def quiet_log() -> None:
    """Take PARL's logger (``logging.getLogger("PARL")``) off stdout (idempotent)."""
    from parl.utils import logger  # noqa: F401  (sets up PARL's handlers first)

    parl_log = logging.getLogger("PARL")
    for handler in list(parl_log.handlers):
        if isinstance(handler, logging.StreamHandler) and not isinstance(
            handler, logging.FileHandler
        ):
            parl_log.removeHandler(handler)
    path = os.environ.get(_LOG_ENV)
    if path and not any(isinstance(h, logging.FileHandler) for h in parl_log.handlers):
        parl_log.addHandler(logging.FileHandler(path))
    parl_log.propagate = False  # nothing reaches the root logger's output either


def install() -> None:
    """Install the thread-exception filter and the exit hook (idempotent; before connecting)."""
    global _installed
    if _installed:
        return
    from parl.remote.exceptions import RemoteError

    previous = threading.excepthook

    def excepthook(args: threading.ExceptHookArgs) -> None:
        handled = isinstance(args.exc_value, RemoteError) and _PROXY_THREAD in (
            args.thread.name if args.thread is not None else ""
        )
        if not handled:
            previous(args)

    threading.excepthook = excepthook
    atexit.register(stop_status_thread)
    _installed = True


def stop_status_thread(timeout: float = 2.0) -> bool:
    """End the global PARL client's job-status thread; True if none is left running."""
    from parl.remote import client

    threads = [t for t in threading.enumerate() if _STATUS_THREAD in t.name and t.is_alive()]
    if threads and client.GLOBAL_CLIENT is not None:
        client.GLOBAL_CLIENT.dead_job_queue.put("exit")
        for t in threads:
            t.join(timeout)
    return not any(t.is_alive() for t in threads)
