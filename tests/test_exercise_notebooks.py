"""notebooks/exercises/: the lesson's exercises with their TODO cells blank and a check(...) cell
after each. Executed once with the reference solution filled in (it passes) and once with every
catalogue mistake of the concept filled in (each diagnosed as itself); and "Spot the bug"."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import pytest
from _notebooks import EXERCISES, read_source

from gd_compare.learner import solutions
from gd_compare.learner.mistakes import for_concept

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "notebooks" / "exercises"
SOLUTION = {"sigmoid_exercise": solutions.sigmoid_step, "mse_training": solutions.mse_training,
            "backprop": solutions.backprop, "backprop_exercise": solutions.backprop_exercise}
EXERCISE_NOTEBOOKS = ["01_sigmoid_exercise.ipynb", "02_mse_training.ipynb", "03_backprop.ipynb",
                      "04_backprop_exercise.ipynb"]


def _committed(name: str) -> dict:
    return json.loads((FOLDER / name).read_text(encoding="utf-8"))


def _filled(impl, function: str) -> str:
    """The learner's TODO cell with ``impl``'s code in it, under the notebook's name."""
    src = inspect.getsource(impl)
    if inspect.isclass(impl):
        return f"{src}\n\n{function} = {impl.__name__}()\n"
    return re.sub(rf"^def {impl.__name__}\(", f"def {function}(", src, count=1)


def test_every_exercise_is_committed_executed_with_the_standard_kernel():
    assert sorted(p.name for p in EXERCISES) == sorted([*EXERCISE_NOTEBOOKS, "spot_the_bug.ipynb"])
    for name in (p.name for p in EXERCISES):
        nb = _committed(name)
        assert (FOLDER / name).stat().st_size < 1_000_000
        assert nb["metadata"]["kernelspec"]["name"] == "python3"
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert all(c["execution_count"] is not None for c in code), "tests/_notebooks.py"
        assert not [o for c in code for o in c["outputs"] if o["output_type"] == "error"]


@pytest.mark.parametrize("name", EXERCISE_NOTEBOOKS)
def test_todo_cells_are_blank_and_followed_by_a_check(name):
    cells = _committed(name)["cells"]
    todos = [i for i, c in enumerate(cells) if "todo" in c["metadata"].get("tags", [])]
    assert len(todos) == 1
    todo = cells[todos[0]]
    source = "".join(todo["source"])
    assert source.count("# TODO") >= 3 and "= None" in source
    # no solution in the notebook: no error term, no sigmoid' formula written out
    assert "(1 - output)" not in source and "learnrate *" not in source
    assert "x[:, None]" not in source
    after = cells[todos[0] + 1]
    assert "check" in after["metadata"]["tags"] and "check(" in "".join(after["source"])
    ex = todo["metadata"]["exercise"]
    assert f'check({ex["function"]}, "{ex["concept"]}")' in "".join(after["source"])
    # executed blank, the check says what is missing, in one line, never a traceback
    text = "".join("".join(o.get("text", "")) for o in after["outputs"])
    assert text.count("\n") == 1 and "step 1" in text and "Traceback" not in text
    # an error in the learner's cell is located in the cell, not in the kernel's temporary file
    assert not re.search(r"of \d+\.py", text)
    if " raised " in text:
        assert re.search(r"\(cell \d+, line \d+, in ", text), text


@pytest.mark.torch
@pytest.mark.slow
@pytest.mark.parametrize("name", EXERCISE_NOTEBOOKS)
def test_exercise_with_the_solution_passes_and_each_mistake_is_named(name, execute_notebook):
    """One test per exercise (they spread over the test processes): the notebook's own cells up
    to its TODO, then the reference solution and every catalogue mistake of its concept, each
    followed by the notebook's check cell."""
    import nbformat

    nb = read_source(FOLDER / name)
    k = next(i for i, c in enumerate(nb.cells) if "todo" in c.metadata.get("tags", []))
    ex = nb.cells[k].metadata["exercise"]
    check_source = nb.cells[k + 1].source
    cells = [c for c in nb.cells[:k] if c.cell_type == "code"]
    variants = [(SOLUTION[ex["concept"]], None)]
    variants += [(m.implementation, m) for m in for_concept(ex["concept"])]
    expected = []
    for impl, mistake in variants:
        cells.append(nbformat.v4.new_code_cell(_filled(impl, ex["function"])))
        cells.append(nbformat.v4.new_code_cell(check_source))
        expected.append((len(cells) - 1, mistake))
    run = nbformat.v4.new_notebook(cells=cells)
    run.metadata["kernelspec"] = dict(nb.metadata["kernelspec"])
    execute_notebook(run, FOLDER, timeout=300)
    assert len(expected) > 1
    for index, mistake in expected:
        out = "".join(o.get("text", "") for o in run.cells[index].outputs)
        if mistake is None:
            assert " agrees with PyTorch autograd at all " in out, out
        else:
            assert f"step {mistake.caught_at}" in out and "diagnosis: " in out, out
            assert mistake.title in out.split("diagnosis: ")[1], out


@pytest.mark.torch
@pytest.mark.slow
def test_spot_the_bug_runs(execute_notebook):
    import nbformat

    spot = read_source(FOLDER / "spot_the_bug.ipynb")
    nb = nbformat.v4.new_notebook(cells=[c for c in spot.cells if c.cell_type == "code"])
    nb.metadata["kernelspec"] = dict(spot.metadata["kernelspec"])
    execute_notebook(nb, FOLDER, timeout=300)
    spot_outputs = [o for c in nb.cells for o in c.outputs]
    assert any("image/png" in o.get("data", {}) for o in spot_outputs)
    table = "".join(o["data"].get("text/markdown", "") for o in spot_outputs if "data" in o)
    assert "| `mse_training` | del_w not reset each epoch | step 2 (epoch 1) |" in table
