"""Whether an xparl cluster has any CPU left, as its master reports it.

The xparl backend asks this while it waits (for an actor, for a reply): when no CPU is left at
all, no wait can end well, and the search ends (see :mod:`.xparl_backend` for why).
"""

from __future__ import annotations

import threading
import time

from autodl_design.search.backends.cluster import query_status

_STATUS_EVERY_S = 1.0
_MASTER_SILENT_S = 15.0  # PARL's own client gives up on its master after 10-20 s


class ClusterCapacity:
    """Whether the cluster has any CPU at all, asked of its master at most once a second.

    ``gone`` is None while it has, else the reason it has not (and stays so: see the module's
    docstring for why the search then ends).
    """

    def __init__(self, address: str):
        self.address = address
        self.gone: str | None = None
        self._lock = threading.Lock()
        self._asked = 0.0
        self._answered = time.monotonic()

    def check(self) -> str | None:
        with self._lock:
            now = time.monotonic()
            if self.gone or now - self._asked < _STATUS_EVERY_S:
                return self.gone
            self._asked = now
            status = query_status(self.address, timeout=0.5)
            if status is not None:
                self._answered = now
            if status is not None and sum(status) == 0:
                self.gone = (
                    f"the xparl cluster at {self.address} has no CPU left (no worker is "
                    "connected); finished candidates are saved: resume with --resume once "
                    "workers are back"
                )
            elif now - self._answered > _MASTER_SILENT_S:
                self.gone = (
                    f"the xparl master at {self.address} stopped answering; finished "
                    "candidates are saved: resume with --resume once it is back"
                )
            return self.gone
