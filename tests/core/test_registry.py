"""The registry contract: names, misses that list what is valid, entries loaded from one module."""

from __future__ import annotations

import sys

import pytest

from core.filelock import file_lock
from core.registry import Registry


def test_registry_miss_lists_names() -> None:
    reg: Registry[int] = Registry("thing")
    reg.add("a", 1)
    with pytest.raises(KeyError, match="unknown thing 'b'; valid names: a"):
        reg.get("b")
    with pytest.raises(ValueError, match="registered twice"):
        reg.add("a", 2)
    reg.unregister("a")
    assert "a" not in reg and len(reg) == 0
    with pytest.raises(KeyError, match="unknown thing 'a'"):
        reg.unregister("a")


def test_entries_are_imported_from_their_module_on_first_lookup(tmp_path, monkeypatch) -> None:
    reg: Registry[int] = Registry("widget", entries="widget_entries_for_test")
    (tmp_path / "widget_entries_for_test.py").write_text(
        "import test_registry_target as t\nt.REG.add('w1', 1)\nt.REG.add('w2', 2)\n"
    )
    target = type(sys)("test_registry_target")
    target.REG = reg
    monkeypatch.setitem(sys.modules, "test_registry_target", target)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "widget_entries_for_test" not in sys.modules  # nothing loaded at construction
    assert reg.names() == ["w1", "w2"] and reg.get("w2") == 2
    assert reg.names() == ["w1", "w2"]  # imported once: no "registered twice"
    monkeypatch.delitem(sys.modules, "widget_entries_for_test")


def test_the_file_lock_is_exclusive_across_processes(tmp_path) -> None:
    import subprocess

    lock = tmp_path / ".lock"
    probe = (
        "import fcntl, sys; f = open(sys.argv[1], 'a+');"
        "fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)"
    )
    with file_lock(lock):
        held = subprocess.run([sys.executable, "-c", probe, str(lock)], capture_output=True)
    free = subprocess.run([sys.executable, "-c", probe, str(lock)], capture_output=True)
    assert held.returncode != 0 and free.returncode == 0
