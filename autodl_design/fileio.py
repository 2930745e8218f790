"""File helpers: atomic writes and content hashes (no Paddle import).

Atomic writes fill a sibling ``<name>.tmp``, then ``os.replace`` it over the target: a process
killed mid-write (the long trainings and searches are stopped this way) leaves either the old
file or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
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
