"""gd_compare.learner.submission: learners' code as they wrote it (tests/fixtures/learners, in the
styles of public learner code) — every course function found by name, each verdict asserted.

Most fixtures run through the child's code in this process (:func:`notebook.main` on the spec
:func:`notebook.prepare` writes), so that torch is imported once; a few go through
:func:`check_submission`'s separate process end to end."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from gd_compare import check_submission
from gd_compare.learner import notebook
from gd_compare.learner.submission import FunctionReport, course_names

pytestmark = pytest.mark.torch

FIXTURES = Path(__file__).parent / "fixtures" / "learners"
EPOCHS = 12

#: fixture → {function: (verdict, step, diagnosis, words in the message)}
EXPECTED: dict[str, dict[str, tuple]] = {
    "admissions_correct.py": {
        "train_nn": ("PASS", None, None, "also right at learnrate 0.15"),
        "error_term_formula": ("PASS", None, None, "(older loop) — PASS: its update descends "
                               "½·MSE"),
        "sigmoid": ("PASS", None, None, "on 10 inputs"),
        "sigmoid_prime": ("PASS", None, None, ""),
        "error_formula": ("PASS", None, None, ""),
    },
    "admissions_sigmoid_prime_x.py": {
        "train_nn": ("FAIL", 1, "sigmoid_prime_of_x", "sigmoid_prime(x) of the inputs"),
        "error_term_formula": ("FAIL", 1, "older_prime_of_inputs", "σ′ is taken of the inputs"),
        "sigmoid": ("PASS", None, None, ""),
        "sigmoid_prime": ("PASS", None, None, ""),
        "error_formula": ("PASS", None, None, ""),
    },
    "admissions_x_twice.py": {
        "train_nn": ("FAIL", 1, "x_twice", "x multiplied twice"),
        "error_term_formula": ("FAIL", 1, None, "differs from autograd's in direction"),
        "sigmoid": ("PASS", None, None, ""),
    },
    "admissions_no_mean.py": {
        "train_nn": ("FAIL", 1, "no_mean", "not divided by the number of records"),
        "sigmoid": ("PASS", None, None, ""),
    },
    "admissions_forward_targets.py": {
        "train_nn": ("FAIL", 1, None, "does not depend on the weights"),
        "sigmoid": ("PASS", None, None, ""),
    },
    "admissions_unseeded.py": {
        "train_nn": ("FAIL", None, None, "seed the generator first (np.random.seed(42))"),
        "sigmoid": ("PASS", None, None, ""),
    },
    "admissions_wrong_signature.py": {
        "train_nn": ("FAIL", None, None, "train_nn(features, targets) fits none of "
                     "mse_training's forms"),
        "sigmoid": ("PASS", None, None, ""),
    },
    "admissions_pandas2_bools.py": {
        "": ("FAIL", None, None, "raised UFuncTypeError"),
        "train_nn": ("PASS", None, None, "given the course's pandas DataFrame/Series"),
        "sigmoid": ("PASS", None, None, ""),
        "sigmoid_prime": ("PASS", None, None, ""),
    },
    "epoch_iterrows_inplace.py": {
        "train_epoch": ("PASS", None, None, "given the course's pandas DataFrame/Series"),
        "sigmoid": ("PASS", None, None, ""),
    },
    "epoch_global_learnrate.py": {
        "train_epoch": ("FAIL", 1, None, "it does not use its `learnrate` argument"),
        "sigmoid": ("PASS", None, None, ""),
    },
    "epoch_hardcoded_records.py": {
        "train_epoch": ("FAIL", 1, None, "it divides by 360, not by the 120 records"),
        "sigmoid": ("PASS", None, None, ""),
    },
    "backprop_epoch_values.py": {
        "train_epoch": ("PASS", None, None, "also right"),
        "sigmoid": ("PASS", None, None, ""),
    },
    "backprop_exercise_print_order.py": {
        "backprop_exercise": ("FAIL", 1, "print_order", "the order the course prints them in"),
        "sigmoid": ("PASS", None, None, ""),
    },
    "sigmoid_exercise_lists.py": {
        "sigmoid_exercise": ("PASS", None, None, "also right"),
        "sigmoid": ("FAIL", None, None, "sigmoid([-4., -3., -2., -1., 0., 1., 2., 3., 4.]) raised "
                    "TypeError"),
    },
    "gradient_descent_helpers.py": {
        "sigmoid": ("PASS", None, None, ""),
        "output_formula": ("FAIL", None, None, "output_formula([[0.78, 0.69], [0.12, 0.4 ], "
                           "[0.5 , 0.9 ], [0.33, 0.05]], [ 0.4, -0.7], 0.15) raised IndexError"),
        "error_formula": ("FAIL", None, None, "error_formula(0, 0.05) = -0.0512933 where"),
    },
}


def _rows_in_process(path: Path, tmp_path: Path, monkeypatch, **params) -> list[FunctionReport]:
    """What the child process does, here: the same spec, the same rows."""
    work = tmp_path / "work"
    work.mkdir()
    spec, results = notebook.prepare(path, notebook.read_cells(path), work, concept=None,
                                     function=None, time_limit=60.0, params=params)
    monkeypatch.chdir(work)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    assert notebook.main([str(spec)]) == 0
    return [FunctionReport(**row) for row in notebook.read_rows(results)]


def _assert_rows(rows: list[FunctionReport], expected: dict[str, tuple]) -> None:
    got = {r.function: r for r in rows}
    assert set(got) == set(expected), [r.function for r in rows]
    for name, (verdict, step, diagnosis, words) in expected.items():
        r = got[name]
        assert (r.verdict, r.step, r.diagnosis) == (verdict, step, diagnosis), r
        assert words in r.message, r.message
        assert "\n" not in r.message


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_fixture_gets_its_verdicts(name, tmp_path, monkeypatch):
    rows = _rows_in_process(FIXTURES / name, tmp_path, monkeypatch, epochs=EPOCHS)
    _assert_rows(rows, EXPECTED[name])


def test_the_fixtures_are_all_listed():
    on_disk = {p.name for p in FIXTURES.glob("*.py")}
    assert on_disk == set(EXPECTED)
    assert len(EXPECTED) >= 15


def test_a_raising_cell_names_the_line_and_the_fix(tmp_path, monkeypatch):
    rows = _rows_in_process(FIXTURES / "admissions_pandas2_bools.py", tmp_path, monkeypatch,
                            epochs=3)
    cell = next(r for r in rows if r.function == "")
    assert cell.message.startswith("admissions_pandas2_bools.py raised UFuncTypeError: Cannot "
                                   "cast ufunc 'add' output from dtype('O')")
    assert "fix: pd.get_dummies gives bool columns on pandas ≥ 2" in cell.message
    assert "dtype=int" in cell.message and cell.cell == 1
    assert "error_formula" not in {r.function for r in rows}  # defined after the raise


def test_the_whole_run_bisects_to_a_later_epoch(tmp_path, monkeypatch):
    src = (FIXTURES / "admissions_correct.py").read_text(encoding="utf-8")
    body = src.split("epochs = 1000")[0]  # the data and the helpers, without the run
    late = body + '''

def train_nn(features, targets, epochs, learnrate):
    np.random.seed(42)
    n_records, n_features = features.shape
    weights = np.random.normal(scale=1 / n_features**.5, size=n_features)
    del_w = np.zeros(weights.shape)  # above the epoch loop
    for e in range(epochs):
        for x, y in zip(features.values, targets):
            output = sigmoid(np.dot(x, weights))
            del_w += (y - output) * output * (1 - output) * x
        weights += learnrate * del_w / n_records
    return weights
'''
    path = tmp_path / "late.py"
    path.write_text(late, encoding="utf-8")
    rows = {r.function: r for r in _rows_in_process(path, tmp_path, monkeypatch, epochs=20)}
    r = rows["train_nn"]
    assert (r.verdict, r.step, r.epoch, r.diagnosis) == ("FAIL", 2, 1, "del_w_not_reset")
    assert "the first wrong epoch (found by re-running with fewer epochs)" in r.message


def test_course_names_cover_steps_and_helpers():
    names = course_names()
    assert names[:6] == ["train_nn", "train_epoch", "sigmoid_exercise", "backprop_exercise",
                         "error_term_formula", "update_weights"]
    assert {"sigmoid", "sigmoid_prime", "output_formula", "error_formula"} <= set(names)
    assert course_names("backprop") == ["train_epoch", "sigmoid", "sigmoid_prime",
                                        "output_formula", "error_formula"]


# --------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_check_submission_runs_a_file_in_its_own_process(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text((FIXTURES / "admissions_no_mean.py").read_text(encoding="utf-8")
                    + "\nimport os\nprint(os.getcwd())\nopen('student_data.csv').close()\n",
                    encoding="utf-8")
    rows = check_submission(str(path), epochs=5)
    assert [(r.function, r.verdict) for r in rows] == [("train_nn", "FAIL"), ("sigmoid", "PASS")]
    r = rows[0]
    assert r.file == str(path) and r.concept == "mse_training" and r.diagnosis == "no_mean"
    assert r.to_json()["verdict"] == "FAIL" and r.seconds > 0
    assert "MPLBACKEND" not in os.environ or os.environ["MPLBACKEND"]  # ours is untouched


def test_a_function_that_is_missing_and_one_asked_for(tmp_path):
    rows = check_submission(FIXTURES / "epoch_global_learnrate.py", function="train_nn")
    assert [(r.function, r.verdict) for r in rows] == [("train_nn", "MISSING")]
    assert rows[0].message == "epoch_global_learnrate.py defines no function 'train_nn'"
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n", encoding="utf-8")
    (row,) = check_submission(empty)
    assert row.verdict == "MISSING" and "defines none of the course's functions" in row.message


def test_usage_errors_raise_naming_the_argument(tmp_path):
    with pytest.raises(FileNotFoundError, match="path: no such file"):
        check_submission(tmp_path / "nope.py")
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(ValueError, match=r"path: expected a \.py file or a \.ipynb notebook"):
        check_submission(tmp_path / "a.txt")
    with pytest.raises(ValueError, match="concept: unknown concept 'nope'"):
        check_submission(FIXTURES / "admissions_correct.py", concept="nope")
    with pytest.raises(ValueError, match="time_limit: expected a positive number"):
        check_submission(FIXTURES / "admissions_correct.py", time_limit=0)


def _current_plus(error_term, x, del_w):
    del_w = del_w + error_term  # the current loop, written out
    return del_w


def _current_array(error_term, x, delta_w):
    delta_w += np.array(error_term, dtype=float)  # another name, a cast
    return delta_w


def _current_named(x, y, output, acc):
    term = error_term_formula(x, y, output)  # noqa: F821 (never called: read, not run)
    acc += term
    return acc


def _older(error_term, x, del_w):
    del_w += error_term * x  # the older loop: the product is taken here
    return del_w


def _older_dot(error_term, x, del_w):
    del_w = del_w + np.dot(error_term, x)
    return del_w


@pytest.mark.parametrize(("fn", "concept"), [
    (_current_plus, "student_admissions"), (_current_array, "student_admissions"),
    (_current_named, "student_admissions"), (_older, "mse_training"),
    (_older_dot, "mse_training")])
def test_the_loop_is_read_from_the_source_in_any_spelling(fn, concept):
    from gd_compare.learner.submission import loop_concept

    assert loop_concept(fn) == concept
