"""gd_compare.learner.notebook: a learner's notebook run the way its course does (a separate
process, the course's data files, plots off, a time limit), a raising cell named with its fix,
the course functions defined before it still checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gd_compare import check_submission
from gd_compare.learner import notebook

FIXTURES = Path(__file__).parent / "fixtures" / "learners"


def _notebook(path: Path, cells: list[str]) -> Path:
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# title"]}]
          + [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
              "source": c} for c in cells],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


def test_code_cells_are_numbered_as_jupyter_lists_them_and_magics_skipped(tmp_path):
    path = _notebook(tmp_path / "a.ipynb", ["%matplotlib inline\nx = 1", "!pip list\ny = 2"])
    cells = notebook.read_cells(path)
    assert [k for k, _ in cells] == [1, 2]
    assert cells[0][1] == "pass  # matplotlib inline\nx = 1"
    assert cells[1][1].splitlines()[0] == "pass  # pip list"


def test_a_percent_py_file_is_split_into_its_code_cells(tmp_path):
    path = tmp_path / "a.py"
    path.write_text("# %% [markdown]\n# text\n# %%\nx = 1\n# %%\ny = 2\n", encoding="utf-8")
    assert notebook.read_cells(path) == [(1, "x = 1\n"), (2, "y = 2\n")]
    plain = tmp_path / "b.py"
    plain.write_text("x = 1\n", encoding="utf-8")
    assert notebook.read_cells(plain) == [(1, "x = 1\n")]


@pytest.mark.parametrize("text", ['{"cells": [{"cell_type": "code", "source": 5}]}',
                                  '{"cells": [{"cell_type": "code", "source": [1, 2]}]}',
                                  '{"cells": 5}', "[1, 2]"])
def test_malformed_notebook_json_is_not_a_notebook(tmp_path, text):
    bad = tmp_path / "w.ipynb"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match="not a notebook"):
        notebook.read_cells(bad)


def test_not_a_notebook_is_a_value_error_and_a_fail_row(tmp_path):
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="not a notebook"):
        notebook.read_cells(bad)
    (row,) = check_submission(bad)
    assert row.verdict == "FAIL" and row.message.startswith("bad.ipynb cannot be read: not a")


@pytest.mark.parametrize(("error", "fix"), [
    (TypeError("Cannot cast ufunc 'add' output from dtype('O') to dtype('float64')"),
     "pass dtype=int to pd.get_dummies"),
    (FileNotFoundError("data.csv"), "put it next to the notebook"),
    (NameError("name 'x' is not defined"), "run the cells in order"),
    (ZeroDivisionError("division by zero"), ""),
])
def test_known_cell_errors_get_their_fix(error, fix):
    assert fix in notebook.cell_fix(error) if fix else notebook.cell_fix(error) == ""


@pytest.mark.slow
@pytest.mark.torch
def test_the_student_admissions_notebook_as_the_course_wrote_it(tmp_path):
    rows = check_submission(FIXTURES / "StudentAdmissions_mine.ipynb", epochs=5)
    assert [(r.function, r.verdict) for r in rows] == [
        ("", "FAIL"), ("train_nn", "PASS"), ("error_term_formula", "PASS"), ("sigmoid", "PASS"),
        ("sigmoid_prime", "PASS"), ("error_formula", "PASS")]
    assert "(older loop) — PASS: its update descends ½·MSE" in rows[2].message
    cell = rows[0]
    assert cell.cell == 8 and cell.message.startswith("cell 8 raised UFuncTypeError")
    assert "fix: pd.get_dummies gives bool columns on pandas ≥ 2" in cell.message
    assert rows[1].concept == "mse_training" and "pandas DataFrame/Series" in rows[1].message


@pytest.mark.slow
@pytest.mark.torch
def test_the_gradient_descent_notebook_reads_the_data_next_to_it():
    rows = check_submission(FIXTURES / "GradientDescent_mine.ipynb")
    got = {r.function: r for r in rows}
    assert [(r.function, r.verdict) for r in rows] == [
        ("update_weights", "PASS"), ("sigmoid", "PASS"), ("output_formula", "PASS"),
        ("error_formula", "FAIL")]
    assert got["update_weights"].concept == "update_weights"
    assert got["error_formula"].message.startswith("error_formula(0, 0.05) = 2.99573 where")


def test_the_time_limit_stops_the_cells_and_later_functions_are_missing(tmp_path):
    path = _notebook(tmp_path / "slow.ipynb", [
        "def sigmoid(x):\n    return 1 / (1 + 2.718281828459045 ** -x)",
        "while True:\n    pass",
        "def sigmoid_prime(x):\n    return sigmoid(x) * (1 - sigmoid(x))"])
    rows = check_submission(path, time_limit=1.5)
    assert [(r.function, r.verdict) for r in rows] == [
        ("", "FAIL"), ("sigmoid", "PASS"), ("sigmoid_prime", "MISSING")]
    assert rows[0].message == "cell 2 did not finish within 1.5 s (the time limit): stopped"
    assert rows[2].message == ("sigmoid_prime is defined in cell 3, after the cell that raised "
                               "(cell 2): not run, not checked")
