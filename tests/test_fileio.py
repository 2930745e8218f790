from pathlib import Path

import pytest

from autodl_design.fileio import (
    copy_atomic,
    replace_atomic,
    rewrite_marked_blocks,
    write_text_atomic,
)


def test_write_text_creates_parents_and_replaces(tmp_path):
    target = tmp_path / "a" / "b" / "x.txt"
    write_text_atomic(target, "first")
    write_text_atomic(target, "second ü")
    assert target.read_text(encoding="utf-8") == "second ü"
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.txt"]


def test_failed_write_leaves_old_file(tmp_path):
    target = tmp_path / "x.txt"
    target.write_text("old")

    def half_write(tmp: Path) -> None:
        tmp.write_text("partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        replace_atomic(target, half_write)
    assert target.read_text() == "old"


def test_copy_atomic(tmp_path):
    src = tmp_path / "w.bin"
    src.write_bytes(bytes(range(256)) * 10)
    dst = tmp_path / "out" / "w.bin"
    copy_atomic(src, dst)
    assert dst.read_bytes() == src.read_bytes()


def test_rewrite_marked_blocks_keeps_the_prose_and_passes_the_attributes(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(
        "intro\n<!-- table lang=en -->\nold\nrows\n<!-- /table -->\nmiddle\n"
        "<!-- table lang=cn -->\n<!-- /table -->\n"
        "<!-- table-other -->\nkept\n<!-- /table-other -->\nend\n",
        encoding="utf-8",
    )

    def render(attrs):
        return f"rows in {attrs['lang']}\n"

    assert rewrite_marked_blocks(readme, "table", render) == (2, True)
    assert readme.read_text(encoding="utf-8") == (
        "intro\n<!-- table lang=en -->\nrows in en\n<!-- /table -->\nmiddle\n"
        "<!-- table lang=cn -->\nrows in cn\n<!-- /table -->\n"
        "<!-- table-other -->\nkept\n<!-- /table-other -->\nend\n"
    )
    assert rewrite_marked_blocks(readme, "table", render) == (2, False)
    assert rewrite_marked_blocks(readme, "absent", render) == (0, False)
