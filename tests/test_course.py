"""The course's sibling notebooks as concepts: ``student_admissions`` and ``logistic_regression``
(gd_compare.lesson.course, numpy_backend.course, torch_backend.course, the registry, the CLI)."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from gd_compare import CONCEPTS, LESSON_CONCEPTS, assert_equivalent, load_admissions
from gd_compare import numpy_backend as nb
from gd_compare.lesson.course import (
    GRADIENT_DESCENT_DATA,
    STUDENT_FEATURES,
    format_course_log,
    load_student_admissions,
    prepare_student_admissions,
    read_gradient_descent_csv,
)
from gd_compare.lesson.data import read_admissions_csv

#: float64 agreement of one hand-computed update with the loop's (a few ULPs)
ULPS64 = 1e-14


def sig(h):
    return 1 / (1 + np.exp(-h))


@pytest.fixture(scope="module")
def student():
    return load_student_admissions().arrays()


@pytest.fixture
def blobs_csv(tmp_path: Path) -> Path:
    """Two Gaussian blobs in the course's data.csv format: no header, x1, x2, y."""
    rng = np.random.default_rng(7)
    a = rng.normal([0.3, 0.3], 0.12, size=(30, 2))
    b = rng.normal([0.7, 0.7], 0.12, size=(30, 2))
    rows = np.vstack([np.c_[a, np.zeros(30)], np.c_[b, np.ones(30)]])
    rows = rows[rng.permutation(60)]
    path = tmp_path / "data.csv"
    path.write_text("\n".join(f"{x1:.5f},{x2:.5f},{int(y)}" for x1, x2, y in rows) + "\n")
    return path


# --------------------------------------------------------------------------- data


def test_student_data_is_prepared_the_notebooks_way():
    data = load_student_admissions()
    raw = read_admissions_csv()
    assert tuple(data.features.columns) == STUDENT_FEATURES
    assert data.features.shape == (360, 6) and data.features_test.shape == (40, 6)
    row = data.features.index[0]
    assert data.features.loc[row, "gre"] == raw.loc[row, "gre"] / 800
    assert data.features.loc[row, "gpa"] == raw.loc[row, "gpa"] / 4.0
    assert data.features.loc[row, f"rank_{raw.loc[row, 'rank']}"] == 1.0
    assert (data.features.dtypes == np.float64).all()  # not pandas >= 2's bool dummies
    # split seed 42 draws the lesson's own training rows, in the same drawn order
    assert list(data.features.index) == list(load_admissions().features.index)
    assert list(data.features_test.index) == sorted(data.features_test.index)
    other = load_student_admissions(split_seed=1)
    assert list(other.features.index) != list(data.features.index)


def test_the_pandas_2_trap_and_its_fix():
    """``get_dummies`` gives bool columns: ``features.values`` is an object array and the
    notebook's ``np.dot`` fails; ``dtype=float`` (what prepare does) is the learner's fix."""
    import pandas as pd

    raw = read_admissions_csv()
    naive = pd.concat([raw, pd.get_dummies(raw["rank"], prefix="rank")], axis=1).drop(
        columns="rank")
    values = naive.drop(columns="admit").values
    assert values.dtype == object
    with pytest.raises(TypeError):
        np.dot(values[0], np.ones(6)) + np.zeros(6)
        np.exp(-np.dot(values, np.ones(6)))
    fixed = prepare_student_admissions(raw).features.values
    assert fixed.dtype == np.float64


def test_gradient_descent_csv_is_read_and_checked(blobs_csv, tmp_path):
    X, y = read_gradient_descent_csv(blobs_csv)
    assert X.shape == (60, 2) and set(y) == {0.0, 1.0}
    with pytest.raises(ValueError, match=r"not bundled.*deep-learning-v2-pytorch.*MIT"):
        read_gradient_descent_csv(None)
    with pytest.raises(ValueError, match="data: no file"):
        read_gradient_descent_csv(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("x1,x2,y\n0.1,0.2,1\n")
    with pytest.raises(ValueError, match=r"data: .*without a header"):
        read_gradient_descent_csv(bad)
    two = tmp_path / "two.csv"
    two.write_text("0.1,0.2\n0.3,0.4\n")
    with pytest.raises(ValueError, match="3 columns"):
        read_gradient_descent_csv(two)
    labels = tmp_path / "labels.csv"
    labels.write_text("0.1,0.2,2\n")
    with pytest.raises(ValueError, match="column 3"):
        read_gradient_descent_csv(labels)


# --------------------------------------------------------------------------- student_admissions


@pytest.mark.parametrize("loss", ["bce", "sse"])
def test_student_first_update_is_the_summed_error_terms(student, loss):
    X, y, _, _ = student
    from gd_compare import initial_weights

    w0 = initial_weights(6, seed=42)
    out = sig(X @ w0)
    term = (y - out) if loss == "bce" else (y - out) * out * (1 - out)
    expected = w0 + 0.0001 * (term @ X)  # Σ error_term·x, no / n_records
    for per_record in (False, True):
        step = next(nb.iter_student_admissions(X, y, loss=loss, per_record=per_record))
        np.testing.assert_allclose(step.params[0], expected, rtol=ULPS64, atol=0)
    np.testing.assert_allclose(nb.summed_gradient(X, y, w0, loss=loss), -(term @ X),
                               rtol=ULPS64)


def test_student_log_and_accuracy_pinned(student):
    X, y, X_test, y_test = student
    run = nb.student_admissions(X, y)
    assert [e for e, _ in run.log] == list(range(0, 1000, 100))
    assert run.log[0][1] == pytest.approx(0.7485969097327869, rel=1e-15)
    assert run.log[-1][1] == pytest.approx(0.6078286729649012, rel=1e-14)
    assert nb.accuracy(X_test, y_test, run.weights) == 0.775
    sse = nb.student_admissions(X, y, loss="sse")
    assert sse.log[-1][1] == pytest.approx(0.6181000649891902, rel=1e-14)
    assert nb.accuracy(X_test, y_test, sse.weights) == 0.75


def test_student_per_record_is_the_same_run(student):
    X, y, _, _ = student
    for loss in ("bce", "sse"):
        a = nb.student_admissions(X, y, loss=loss, epochs=30, per_record=True)
        b = nb.student_admissions(X, y, loss=loss, epochs=30)
        np.testing.assert_allclose(a.weights, b.weights, rtol=ULPS64, atol=1e-16)


def test_student_rejects_what_it_does_not_run(student):
    X, y, _, _ = student
    with pytest.raises(ValueError, match=r"loss: student_admissions descends 'bce'.*'mse'"):
        nb.student_admissions(X, y, loss="mse")
    with pytest.raises(TypeError, match="per_record"):
        nb.student_admissions(X, y, per_record="yes")
    with pytest.raises(ValueError, match="targets"):
        nb.student_admissions(X, y + 2)


def test_caller_arrays_are_never_changed(student, blobs_csv):
    X, y, _, _ = student
    X, y = X.copy(), y.copy()
    w = np.full(6, 0.1)
    before = (X.copy(), y.copy(), w.copy())
    nb.student_admissions(X, y, w, epochs=3)
    for a, b in zip((X, y, w), before, strict=True):
        np.testing.assert_array_equal(a, b)
    Xl, yl = read_gradient_descent_csv(blobs_csv)
    wl, bl = np.array([0.2, -0.1]), np.array([0.0])
    nb.logistic_regression(Xl, yl, (wl, bl), epochs=2)
    assert wl.tolist() == [0.2, -0.1] and bl.tolist() == [0.0]


@pytest.mark.torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("loss", ["bce", "sse"])
def test_student_backends_agree_step_by_step(dtype, loss):
    result = assert_equivalent("student_admissions", dtype=dtype, loss=loss, epochs=200)
    assert result.steps == 200
    assert result.numpy.test_accuracy == result.torch.test_accuracy
    assert [e for e, _ in result.numpy.log] == list(range(0, 200, 20))


@pytest.mark.torch
def test_student_per_record_backends_agree():
    assert_equivalent("student_admissions", per_record=True, epochs=5)


# --------------------------------------------------------------------------- logistic_regression


def test_logistic_updates_once_per_record_in_file_order(blobs_csv):
    X, y = read_gradient_descent_csv(blobs_csv)
    from gd_compare import initial_weights

    w, b = initial_weights(2, seed=44), 0.0
    steps = nb.iter_logistic_regression(X, y)
    for k in range(3):  # the course's update_weights, record k
        out = sig(X[k] @ w + b)
        w, b = w + 0.01 * (y[k] - out) * X[k], b + 0.01 * (y[k] - out)
        step = next(steps)
        assert (step.index, step.epoch, step.end_of_epoch) == (k + 1, 0, False)
        np.testing.assert_allclose(step.params[0], w, rtol=ULPS64)
        np.testing.assert_allclose(step.params[1], [b], rtol=ULPS64)
    run = nb.logistic_regression(X, y)
    assert run.steps == 100 * 60
    assert [e for e, _ in run.log] == list(range(0, 100, 10))
    assert [e for e, _ in run.accuracy_log] == list(range(0, 100, 10))
    assert run.accuracy_log[0][1] == nb.accuracy(X, y, (run.history[0][59], run.history[1][59]))
    loss0 = np.mean(-y * np.log(sig(X @ run.history[0][59] + run.history[1][59][0]))
                    - (1 - y) * np.log(1 - sig(X @ run.history[0][59] + run.history[1][59][0])))
    assert run.log[0][1] == pytest.approx(loss0, rel=1e-14)
    assert run.log[-1][1] < run.log[0][1] and run.accuracy_log[-1][1] >= 0.9


def test_logistic_without_bias_never_moves_one(blobs_csv):
    X, y = read_gradient_descent_csv(blobs_csv)
    run = nb.logistic_regression(X, y, bias=False, epochs=2)
    assert len(run.params) == 1


def test_logistic_rejects_another_loss_or_order(blobs_csv):
    X, y = read_gradient_descent_csv(blobs_csv)
    with pytest.raises(ValueError, match="logistic_regression descends the cross-entropy only"):
        nb.logistic_regression(X, y, loss="sse")
    with pytest.raises(ValueError, match="batch_size"):
        nb.logistic_regression(X, y, batch_size=4)
    with pytest.raises(ValueError, match="shuffle"):
        nb.logistic_regression(X, y, shuffle=True)


def test_logistic_concept_needs_its_data(blobs_csv):
    spec = CONCEPTS["logistic_regression"]
    where = re.escape(GRADIENT_DESCENT_DATA)
    with pytest.raises(ValueError, match=r"data:.*not bundled.*" + where):
        spec.inputs()
    with pytest.raises(ValueError, match="loss: logistic_regression"):
        spec.inputs(data=str(blobs_csv), loss="mse")
    with pytest.raises(ValueError, match="not both"):
        spec.inputs(data=str(blobs_csv), features=np.ones((3, 2)), targets=np.ones(3))
    kwargs = spec.inputs(data=str(blobs_csv)).kwargs
    assert kwargs["features"].shape == (60, 2) and kwargs["bias"] is True


@pytest.mark.torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_logistic_backends_agree_step_by_step(blobs_csv, dtype):
    result = assert_equivalent("logistic_regression", dtype=dtype, data=str(blobs_csv),
                               epochs=10)
    assert result.steps == 600 and result.bias
    assert result.numpy.log_accuracy == result.torch.log_accuracy
    assert len(result.numpy.log_accuracy) == 10
    log = result.to_json()["numpy"]["log"]
    assert set(log[0]) == {"epoch", "train_loss", "accuracy"}


# --------------------------------------------------------------------------- registry and CLI


def test_registry_keeps_the_lesson_default():
    assert "student_admissions" in CONCEPTS and "logistic_regression" in CONCEPTS
    assert "student_admissions" not in LESSON_CONCEPTS
    assert len(LESSON_CONCEPTS) == 8


def test_course_log_lines():
    lines = format_course_log([(0, 0.7), (10, 0.8)], [0.4, 0.5])
    assert lines == ["Epoch 0: Train loss:  0.7  Accuracy:  0.4",
                     "Epoch 10: Train loss:  0.8  WARNING - Loss Increasing  Accuracy:  0.5"]


def _cli(argv: list[str]) -> tuple[int, str]:
    from gd_compare.cli import run as cli

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(argv)
    return code, out.getvalue()


@pytest.mark.torch
def test_cli_runs_both_concepts_with_json(blobs_csv):
    code, text = _cli(["--concept", "student_admissions", "--concept", "logistic_regression",
                       "--data", str(blobs_csv), "--epochs", "10", "--json", "-"])
    assert code == 0
    doc = {c["name"]: c for c in json.loads(text)["concepts"]}
    assert doc["student_admissions"]["passed"] and doc["logistic_regression"]["passed"]
    assert set(doc["student_admissions"]["numpy"]["log"][0]) == {"epoch", "train_loss"}
    assert "accuracy" in doc["logistic_regression"]["torch"]["log"][0]
    code, text = _cli(["--concept", "logistic_regression", "--data", str(blobs_csv),
                       "--epochs", "10"])
    assert code == 0 and "Epoch 0: Train loss:" in text and "Accuracy:" in text


@pytest.mark.parametrize("argv, message", [
    (["--concept", "logistic_regression"], "data.csv, which is not bundled"),
    (["--concept", "logistic_regression", "--data", "x.csv", "--loss", "sse"],
     "logistic_regression: loss"),
    (["--concept", "student_admissions", "--loss", "mse"], "student_admissions: loss"),
])
def test_cli_usage_errors_name_the_concept(argv, message, capsys):
    from gd_compare.cli import run as cli

    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


# --------------------------------------------------------------------------- the published output

#: "Implementing the Gradient Descent Algorithm", as the course published it (12 significant
#: digits): epoch 0 and epoch 90
PUBLISHED = {0: ("0.713584519538", 0.4), 90: ("0.337927365888", 0.94)}


@pytest.mark.torch
@pytest.mark.skipif(not os.environ.get("GD_COMPARE_COURSE_DATA"),
                    reason="set GD_COMPARE_COURSE_DATA to the course's data.csv (not bundled)")
def test_published_output_to_the_printed_digit():
    from gd_compare import torch_backend as tb

    X, y = read_gradient_descent_csv(os.environ["GD_COMPARE_COURSE_DATA"])
    for mod in (nb, tb):
        run = mod.logistic_regression(X, y)
        log, acc = dict(run.log), dict(run.accuracy_log)
        for epoch, (loss, accuracy) in PUBLISHED.items():
            assert f"{log[epoch]:.12g}" == loss
            assert acc[epoch] == accuracy


@pytest.mark.torch
def test_plot_draws_both_concepts(tmp_path, blobs_csv):
    from gd_compare.show import plots

    saved = plots.save_all(tmp_path, concepts=["student_admissions", "logistic_regression"],
                           dpi=20, params={"epochs": 3, "data": str(blobs_csv)})
    assert sorted(p.name for p in saved.paths) == ["logistic_regression.png",
                                                   "student_admissions.png"]
    assert all(r.passed for r in saved.comparisons)
    assert plots.param_names(saved.comparisons[1].numpy, True) == ["w[0]", "w[1]", "b"]


@pytest.mark.torch
def test_the_check_s_kept_record_step_is_the_loop_s_first_step_from_any_state():
    """learner.exercises' update_weights reference keeps one torch step (Neuron + SGD) per check
    and restarts it from each state: bit for bit iter_logistic_regression's first step, call
    after call, whatever the state before."""
    from gd_compare import torch_backend as tb
    from gd_compare.learner.exercises import EXERCISES, _ref_update_weights

    ex = EXERCISES["update_weights"]
    run = ex.setup(ex, {**ex.defaults, "epochs": 1}, np.dtype("float64"))
    rng = np.random.default_rng(5)
    for i in rng.integers(0, len(run.y), size=12):
        state = (rng.normal(size=run.X.shape[1]), rng.normal(size=1))
        Xr, yr = run.X[i:i + 1], run.y[i:i + 1]
        want = next(tb.iter_logistic_regression(Xr, yr, state, run.lr, epochs=1)).params
        _, got, _ = _ref_update_weights(run, Xr, yr, state, None)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)
    assert [key[0] for key in run.kept] == ["record_step"]
    # a copy at another learning rate (check's probes use dataclasses.replace) keeps its own
    other = dataclasses.replace(run, lr=run.lr / 3)
    assert not other.kept
    state = (rng.normal(size=run.X.shape[1]), rng.normal(size=1))
    want = next(tb.iter_logistic_regression(run.X[:1], run.y[:1], state, other.lr,
                                            epochs=1)).params
    _, got, _ = _ref_update_weights(other, run.X[:1], run.y[:1], state, None)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
