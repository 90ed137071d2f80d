"""atomic_write: the file appears whole or not at all."""
from __future__ import annotations

import pytest

from kronos_quant.io_utils import atomic_write


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "file.txt"
    atomic_write(target, lambda path: open(path, "w").write("first"))
    atomic_write(target, lambda path: open(path, "w").write("second"))
    assert target.read_text() == "second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.txt"]


def test_a_failing_writer_keeps_the_old_file(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("old")

    def broken(path):
        open(path, "w").write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, broken)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]
