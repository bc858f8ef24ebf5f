"""gd_compare.learner._where: a learner's error is located where the learner can look — a
notebook cell by its execution count ("cell 7, line 3"), a file by its name."""

from __future__ import annotations

import sys
import types

import pytest
from _notebooks import ROOT

from gd_compare.learner._where import cell_number, describe


def _shell(filename_map: dict) -> types.ModuleType:
    """A stand-in for the IPython module of a running kernel."""
    compiler = types.SimpleNamespace(_filename_map=filename_map)
    module = types.ModuleType("IPython")
    module.get_ipython = lambda: types.SimpleNamespace(compile=compiler)
    return module


def test_a_file_is_named_by_its_base_name(monkeypatch):
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    assert cell_number("/home/me/epoch.py") is None
    assert describe("/home/me/epoch.py", 12, "my_epoch") == "line 12 of epoch.py, in my_epoch"


def test_a_kernel_cell_is_named_by_its_execution_count(monkeypatch):
    cell_file = "/tmp/ipykernel_4242/3387957586.py"
    monkeypatch.setitem(sys.modules, "IPython", _shell({cell_file: 7}))
    assert cell_number(cell_file) == 7
    assert describe(cell_file, 3, "my_epoch") == "cell 7, line 3, in my_epoch"
    # a file the shell did not compile keeps its name
    assert describe("/home/me/epoch.py", 3, "f") == "line 3 of epoch.py, in f"


def test_a_cell_compiled_by_the_notebook_runner_is_named_by_its_number(monkeypatch):
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    assert cell_number("<cell 12>") == 12
    assert describe("<cell 12>", 4, "train_epoch") == "cell 12, line 4, in train_epoch"
    assert cell_number("<cell x>") is None and cell_number("my <cell 3>.py") is None


def test_no_running_shell_means_a_file(monkeypatch):
    module = types.ModuleType("IPython")
    module.get_ipython = lambda: None
    monkeypatch.setitem(sys.modules, "IPython", module)
    assert describe("/tmp/ipykernel_1/1.py", 2, "f") == "line 2 of 1.py, in f"


@pytest.mark.torch
@pytest.mark.slow
def test_check_in_a_notebook_names_the_cell_and_its_line(execute_notebook):
    """Run in a real kernel (the test process's warm one, tests/conftest.py: its execution
    count goes on from the notebooks it ran before): the learner's function is defined in the
    cell executed as number ``n`` and raises on its third line — "cell n, line 3"."""
    import nbformat

    learner = ("def sigmoid_exercise(x, y, weights, learnrate):\n"
               "    output = x @ weights\n"
               "    return output / 0 + undefined_name\n")
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("from gd_compare.learner.check import check"),
        nbformat.v4.new_code_cell(learner),
        # the learner's cell's number in the kernel's history: In[n] (nbclient renumbers the
        # cells of its copy from 1)
        nbformat.v4.new_code_cell("print(max(n for n, s in enumerate(In) "
                                  "if s.startswith('def sigmoid_exercise(')))\n"
                                  'print(check(sigmoid_exercise, "sigmoid_exercise").message)'),
    ])
    execute_notebook(nb, ROOT / "notebooks", timeout=300)
    number, out = "".join(o.get("text", "") for o in nb.cells[2].outputs).split("\n", 1)
    n = int(number)
    assert "NameError" in out and f"(cell {n}, line 3, in sigmoid_exercise)" in out, out
    assert "ipykernel" not in out and ".py" not in out
