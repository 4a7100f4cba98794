"""The layout holds: no module imports another in a loop, modules stay small, every package says what lives in it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
import import_cycles  # noqa: E402

MAX_LINES = 400  # "one job and a few hundred lines"


def test_no_module_imports_another_in_a_loop():
    out = subprocess.run([sys.executable, str(REPO / "scripts/import_cycles.py")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip().endswith(", 0 cycles"), out.stdout


def test_the_cycle_finder_sees_imports_inside_functions_and_skips_type_checking(tmp_path, monkeypatch):
    pkg = tmp_path / "vitzoo"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from vitzoo.a import f\n__version__ = '0'\n")
    (pkg / "a.py").write_text("def f():\n    from vitzoo.sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from vitzoo import a\n")
    monkeypatch.setattr(import_cycles, "FOLDERS", {"vitzoo": pkg})
    graph = import_cycles.import_graph()
    assert graph["vitzoo.a"] == {"vitzoo.sub.b"}  # the import inside f() counts
    assert graph["vitzoo.sub.b"] == set()  # the TYPE_CHECKING one does not
    assert import_cycles.cycles(graph) == []
    # `from vitzoo import __version__` depends on the package's __init__, which imports a: a loop
    (pkg / "sub" / "b.py").write_text("def g():\n    from vitzoo import __version__\n")
    assert import_cycles.cycles(import_cycles.import_graph()) == [["vitzoo", "vitzoo.a", "vitzoo.sub.b"]]


@pytest.mark.parametrize("path", sorted(p.relative_to(REPO).as_posix() for p in import_cycles.module_files().values()))
def test_module_is_small_and_packages_say_what_they_hold(path):
    text = (REPO / path).read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_LINES, f"{path} has {len(text.splitlines())} lines; split it by job"
    if path.endswith("__init__.py"):
        assert ast.get_docstring(ast.parse(text)), f"{path} needs a docstring saying what lives in the package"


def test_import_vitzoo_imports_no_framework():
    code = "import sys, vitzoo, vitzoo.weights; assert not {'mindspore', 'torch'} & set(sys.modules), sorted(sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
