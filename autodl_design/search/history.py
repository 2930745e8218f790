"""Append-only experiment history: one JSON object per line, readable without this code.

Two kinds of line:

* ``{"type": "evaluation", "update": u, "index": i, "key": ..., "arch": <canonical JSON>,
  "cached": bool, "record": {...}, "time": ...}`` -- written the moment a candidate finishes;
* ``{"type": "update", "update": u, "rewards": [...], "stats": {...}, "time": ...}`` -- written
  after the strategy has learnt from batch ``u`` and its checkpoint is on disk.

A run killed mid-write leaves at most one partial last line; :meth:`History.open` drops it, so
the file stays valid JSON lines and nothing finished is lost or counted twice. A slot whose
evaluation produced no measurement (see :func:`measured`) is trained again when its batch is
resumed; the slot then has two lines and the later one counts.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Statuses of records that measured nothing: "failed" (the backend lost the candidate: worker
# died, timed out, could not start) and "error" (an exception while building or training it).
# "nan" and "diverged" are measurements of the architecture (it trains badly), so they count.
UNMEASURED = ("failed", "error")


def measured(record: dict[str, Any]) -> bool:
    """Whether ``record`` measured its architecture: it may rank, be reused and be cached."""
    return record.get("status") not in UNMEASURED


class HistoryError(RuntimeError):
    """The history file cannot be read (not JSON lines, or inconsistent)."""


@dataclass
class History:
    path: Path
    evaluations: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    updates: dict[int, dict[str, Any]] = field(default_factory=dict)
    by_key: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def open(cls, path: str | Path) -> History:
        """Read an existing history (or start an empty one) and prepare it for appending."""
        history = cls(Path(path))
        if not history.path.exists():
            return history
        raw = history.path.read_bytes()
        lines = raw.split(b"\n")
        complete, tail = lines[:-1], lines[-1]
        if tail.strip():
            # A line without its newline was cut by a kill: drop it, it was never acknowledged.
            with history.path.open("r+b") as f:
                f.truncate(len(raw) - len(tail))
        for number, line in enumerate(complete, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as e:
                raise HistoryError(f"{history.path}:{number}: not JSON ({e})") from None
            history._index(entry)
        return history

    def _index(self, entry: dict[str, Any]) -> None:
        if entry.get("type") == "evaluation":
            slot = (int(entry["update"]), int(entry["index"]))
            self.evaluations[slot] = entry
            # Only measurements are reused for a duplicate: retrying an unmeasured one is the
            # only way to get its result, and its cause (memory, a lost worker) may be gone.
            if not entry.get("cached") and measured(entry["record"]):
                self.by_key.setdefault(entry["key"], entry["record"])
        elif entry.get("type") == "update":
            self.updates[int(entry["update"])] = entry

    def _append(self, entry: dict[str, Any]) -> None:
        entry = {**entry, "time": time.time()}
        line = json.dumps(entry, separators=(",", ":"), allow_nan=False) + "\n"
        with self.path.open("a") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        self._index(entry)

    def add_evaluation(
        self, update: int, index: int, key: str, arch_json: str, record: dict, cached: bool
    ) -> None:
        self._append(
            {
                "type": "evaluation",
                "update": update,
                "index": index,
                "key": key,
                "arch": arch_json,
                "cached": cached,
                "record": record,
            }
        )

    def add_update(self, update: int, rewards: list[float], stats: dict[str, Any]) -> None:
        self._append({"type": "update", "update": update, "rewards": rewards, "stats": stats})

    def unique_evaluations(self) -> list[dict[str, Any]]:
        """Evaluated (not cached) entries, in the order of (update, index)."""
        return [e for _, e in sorted(self.evaluations.items()) if not e.get("cached")]
