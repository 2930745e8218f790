"""Environment that PARL 2.2.1 needs to import under Paddle 3.

PARL probes for ``paddle.fluid`` (removed in Paddle 3) to pick its backend, and its generated
``heartbeat_pb2`` module refuses the C++ protobuf runtime of protobuf >= 4. Both are chosen
from environment variables read at first import, so this module must run before paddle,
protobuf or parl are imported anywhere in the process. ``autodl_design/__init__.py`` imports
it first; nothing else should set these variables.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator

_REQUIRED_ENV = {
    "PARL_BACKEND": "paddle",
    "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION": "python",
}


def apply() -> None:
    """Set the variables (keeping values the user chose) and warn if it is already too late."""
    # Paddle alone is harmless, but it loads protobuf, whose runtime is then fixed. It is only
    # too late if the variables were not already set (xparl workers set them in advance).
    preset = all(os.environ.get(k) == v for k, v in _REQUIRED_ENV.items())
    late = [name for name in ("parl", "google.protobuf") if name in sys.modules]
    for key, value in _REQUIRED_ENV.items():
        os.environ.setdefault(key, value)
    if late and not preset:
        print(
            f"autodl_design: {', '.join(late)} imported before autodl_design; "
            "import autodl_design first so PARL finds its paddle backend",
            file=sys.stderr,
        )


def quiet_import_noise() -> None:
    """Drop PARL's INFO lines ("Argv: ...", backend choice) and third-party warnings.

    PARL's logger writes INFO to stdout from import time on, which would mix into our output;
    its warnings and errors still get through. A filter survives PARL re-configuring the logger.
    """
    logging.getLogger("PARL").addFilter(lambda record: record.levelno >= logging.WARNING)
    warnings.filterwarnings("ignore", message="No ccache found")
    # Paddle 3 BatchNorm says this on every training call; it is informational.
    warnings.filterwarnings("ignore", message="When training, we now always track global mean")
    # PARL imports pkg_resources (hence the setuptools<81 pin); the deprecation is not ours.
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")


def quiet_paddle() -> None:
    """Stop Paddle's signal handler from printing a FatalError banner when a worker is killed."""
    import paddle

    paddle.disable_signal_handler()


@contextlib.contextmanager
def on_sigterm(action: Callable[[], None]) -> Iterator[None]:
    """While the block runs, SIGTERM calls ``action`` (in the main thread) instead of Paddle's
    handler, which would print a C++ stack dump and abort. ``action`` may raise (the search
    unwinds its loop) or set a flag (the trainer stops at the next step, with a checkpoint).
    Outside the main thread, where signals cannot be caught, the block runs unchanged."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    quiet_paddle()
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: action())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


apply()
quiet_import_noise()
