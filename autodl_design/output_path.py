"""Check, before a command writes anything, that its output directory can be created.

``search``, ``train`` and ``export`` each write into one directory given on the command line.
:func:`check_output_dir` runs first, so a path that cannot work (an existing file, a path under
a file, a directory nobody may write) ends the command with one line, before data is loaded,
workers start or a file is written.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["OutputPathError", "check_output_dir"]


class OutputPathError(OSError):
    """The output directory cannot be created or written; the message says which path and why."""


def check_output_dir(path: str | Path) -> Path:
    """``path`` as a :class:`~pathlib.Path`, once it is known that it can be written into.

    It must be a directory or not exist yet; its nearest existing ancestor (itself, when it
    exists) must be a directory in which this process can create an entry. Write permission is
    tested by creating and removing an empty temporary directory there, not with ``os.access``:
    root passes ``os.access`` everywhere, yet cannot create entries in ``/proc`` or on a
    read-only file system. Nothing is left behind (only the ancestor's mtime changes).
    """
    out = Path(path).expanduser()
    if os.path.lexists(out) and not out.is_dir():
        raise OutputPathError(f"output {out}: exists and is not a directory")
    ancestor = out
    # os.path.exists is False for a path under a file (ENOTDIR) and for unreadable parents.
    while not os.path.exists(ancestor) and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputPathError(f"output {out}: {ancestor} is not a directory")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".autodl-write-check-", dir=ancestor))
    except OSError as e:
        raise OutputPathError(
            f"output {out}: cannot create anything in {ancestor} ({e.strerror or e})"
        ) from None
    return out
