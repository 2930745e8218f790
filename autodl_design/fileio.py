"""File helpers: atomic writes, content hashes, output-directory checks (no Paddle import).

Atomic writes fill a sibling ``<name>.tmp``, then ``os.replace`` it over the target: a process
killed mid-write (the long trainings and searches are stopped this way) leaves either the old
file or the new one, never half of one.

``search``, ``train`` and ``export`` each write into one directory given on the command line;
:func:`check_output_dir` runs first, so a path that cannot work (an existing file, a path under
a file, a directory nobody may write) ends the command with one line, before data is loaded,
workers start or a file is written.
``show`` writes one file; :func:`check_output_file` is its check.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def replace_atomic(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` to fill a temporary sibling of ``path``, then move it over ``path``.

    Parent directories are created. If ``write`` raises, ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    replace_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def rewrite_marked_blocks(
    path: str | Path, tag: str, render: Callable[[dict[str, str]], str]
) -> tuple[int, bool]:
    """Rewrite the body of every ``<!-- TAG k=v ... -->`` ... ``<!-- /TAG -->`` block of ``path``.

    The READMEs carry tables generated from records between such markers, so a rewrite keeps the
    prose around them. ``render`` gets the opening marker's attributes (``{"lang": "en"}``) and
    returns the new body, ending in a newline. The file is rewritten atomically, and only if it
    changes. Returns the number of blocks found and whether the file changed.
    """
    path = Path(path)
    name = re.escape(tag)
    block = re.compile(
        rf"(?P<open><!-- {name}(?P<attrs>(?: [\w-]+=[\w-]+)*) -->\n)"
        rf"(?s:.*?)(?P<close><!-- /{name} -->)"
    )

    def rewrite(match: re.Match[str]) -> str:
        attrs = dict(item.split("=", 1) for item in match["attrs"].split())
        return match["open"] + render(attrs) + match["close"]

    old = path.read_text(encoding="utf-8")
    new, count = block.subn(rewrite, old)
    if new != old:
        write_text_atomic(path, new)
    return count, new != old


def copy_atomic(src: str | Path, dst: str | Path) -> None:
    """Copy the file ``src`` to ``dst`` atomically (contents only, like ``shutil.copyfile``)."""
    replace_atomic(dst, lambda tmp: shutil.copyfile(src, tmp))


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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
    _check_can_create(out, ancestor)
    return out


def check_output_file(path: str | Path) -> Path:
    """``path`` as a :class:`~pathlib.Path`, once it is known that a file can be written there.

    It must not be a directory, and its folder must exist (it is not created) and let this
    process create an entry in it, tested as in :func:`check_output_dir`. An existing file
    passes: whether to replace it is the caller's decision.
    """
    out = Path(path).expanduser()
    if out.is_dir():
        raise OutputPathError(f"output {out}: is a directory")
    folder = out.parent
    if not folder.is_dir():
        what = "is not a directory" if os.path.lexists(folder) else "does not exist"
        raise OutputPathError(f"output {out}: folder {folder} {what}")
    _check_can_create(out, folder)
    return out


def _check_can_create(out: Path, folder: Path) -> None:
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".autodl-write-check-", dir=folder))
    except OSError as e:
        raise OutputPathError(
            f"output {out}: cannot create anything in {folder} ({e.strerror or e})"
        ) from None
