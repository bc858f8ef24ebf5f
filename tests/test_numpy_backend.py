"""gd_compare.numpy_backend: the lesson's numbers, by hand (no torch needed)."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gd_compare import DivergenceError
from gd_compare import numpy_backend as nb

# The lesson's training log and accuracy, as its per-record loop prints them (seed 42).
LESSON_LOG = [0.2627609384996635, 0.20928619409324875, 0.20084292908073426,
              0.19862156475527873, 0.19779851396686027, 0.19742577912189863,
              0.19723507746241065, 0.1971294562509248, 0.19706766341315082,
              0.19703005801777368]


def test_importing_the_numpy_backend_does_not_import_torch():
    code = ("import sys, gd_compare, gd_compare.numpy_backend, gd_compare.proof.harness; "
            "gd_compare.numpy_backend.mse_training(*gd_compare.load_admissions().arrays()[:2], "
            "epochs=2); sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# --------------------------------------------------------------------------- sigmoid


def test_sigmoid_is_stable_at_the_extremes():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = nb.sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    np.testing.assert_array_equal(out, [0.0, 0.5, 1.0])
    assert nb.sigmoid(np.float32(-100)).dtype == np.float32


@given(hnp.arrays(np.float64, st.integers(1, 20), elements=st.floats(-700, 700)))
@example(np.array([25.75]))  # near 1, sigmoid(h ± eps) differ by less than a ULP of 1
def test_sigmoid_prime_matches_central_differences(h):
    """sigmoid'(h) against central differences of sigmoid. sigmoid' is even, so the difference
    is taken at −|h|, in the tail where sigmoid keeps full relative precision: at +|h| the two
    values sit within a ULP of 1 and their difference is rounding, not slope. The lesson's
    sigmoid(h)·(1 − sigmoid(h)) itself carries 1 − sigmoid(h)'s rounding there, at most a few
    units of machine epsilon in absolute terms: that is the absolute tolerance."""
    eps = 1e-6
    t = -np.abs(h)
    numeric = (nb.sigmoid(t + eps) - nb.sigmoid(t - eps)) / (2 * eps)
    np.testing.assert_allclose(nb.sigmoid_prime(h), numeric, rtol=1e-6,
                               atol=2 * np.finfo(np.float64).eps)


# --------------------------------------------------------------------------- the three steps


def test_simple_step_is_the_lessons_example():
    step = nb.simple_step()
    assert (step.prediction, step.error, step.loss, step.slope) == (6.0, -4.0, 16.0, -24.0)
    assert step.w == pytest.approx(2.24, abs=1e-15)


def test_sigmoid_step_lesson_values():
    s = nb.sigmoid_step()
    assert s.h == pytest.approx(0.07, abs=1e-16)
    assert s.output == pytest.approx(0.5174928576663897, abs=1e-16)
    assert s.error == pytest.approx(0.2 - 0.5174928576663897, abs=1e-16)
    assert s.error_term == pytest.approx(s.error * s.output * (1 - s.output), abs=1e-18)
    np.testing.assert_allclose(s.del_w, 0.5 * s.error_term * np.array([0.1, 0.3]), rtol=1e-15)
    np.testing.assert_allclose(s.weights, np.array([-0.8, 0.5]) + s.del_w, rtol=1e-15)


def test_sigmoid_exercise_prints_the_lessons_output():
    s = nb.sigmoid_exercise()
    assert s.output == pytest.approx(0.6899744811276125, abs=1e-16)
    assert s.error == pytest.approx(-0.1899744811276125, abs=1e-16)
    np.testing.assert_allclose(
        s.del_w, [-0.02031869, -0.04063738, -0.06095608, -0.08127477], atol=5e-9
    )


def test_sigmoid_step_error_term_uses_sigmoid_prime():
    x, y, w = np.array([1.0, -2.0, 0.5]), 0.9, np.array([0.3, 0.1, -0.7])
    s = nb.sigmoid_step(x, y, w, lr=0.1)
    assert s.error_term == pytest.approx((y - s.output) * nb.sigmoid_prime(s.h), rel=1e-15)


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"x": [1.0, 2.0, 3.0]}, ValueError, r"x and weights: shapes must match"),
    ({"x": [np.nan, 1.0]}, ValueError, "x: contains NaN"),
    ({"y": [0.1, 0.2]}, ValueError, "y: expected 0-D"),
    ({"weights": [1.0, np.inf]}, ValueError, "weights: contains NaN or inf"),
    ({"lr": 0}, ValueError, "lr: expected a finite number > 0"),
    ({"lr": float("nan")}, ValueError, "lr"),
    ({"lr": "0.5"}, TypeError, "lr"),
])
def test_sigmoid_step_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        nb.sigmoid_step(**kwargs)


def test_simple_step_bad_input():
    with pytest.raises(ValueError, match="w: expected 0-D"):
        nb.simple_step(w=[1.0, 2.0])
    with pytest.raises(ValueError, match="lr"):
        nb.simple_step(lr=-1)


def test_step_does_not_mutate_inputs():
    x, w = np.array([0.1, 0.3]), np.array([-0.8, 0.5])
    nb.sigmoid_step(x, 0.2, w)
    np.testing.assert_array_equal(x, [0.1, 0.3])
    np.testing.assert_array_equal(w, [-0.8, 0.5])


# --------------------------------------------------------------------------- training


@pytest.mark.slow
def test_mse_training_reproduces_the_lesson(admissions):
    X, y, X_test, y_test = admissions
    run = nb.mse_training(X, y, per_record=True)
    assert [e for e, _ in run.log] == list(range(0, 1000, 100))
    np.testing.assert_allclose([v for _, v in run.log], LESSON_LOG, rtol=0, atol=1e-15)
    assert "WARNING" not in "".join(run.log_lines())
    assert f"Prediction accuracy: {nb.accuracy(X_test, y_test, run.weights):.3f}" == (
        "Prediction accuracy: 0.725"
    )


def test_per_record_loop_and_vectorized_agree(admissions):
    X, y, _, _ = admissions
    loop = nb.mse_training(X, y, epochs=300, per_record=True)
    vec = nb.mse_training(X, y, epochs=300)
    np.testing.assert_allclose(vec.history[0], loop.history[0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(vec.losses, loop.losses, rtol=1e-12, atol=1e-14)
    assert loop.steps == vec.steps == 300


def test_batch_size_n_is_exactly_full_batch_training(admissions):
    X, y, _, _ = admissions
    full = nb.mse_training(X, y, epochs=50)
    sgd = nb.sgd_batching(X, y, epochs=50, batch_size=len(y), seed=123)
    np.testing.assert_array_equal(sgd.history[0], full.history[0])
    np.testing.assert_array_equal(sgd.losses, full.losses)


def test_batch_size_one_is_per_example_sgd(admissions):
    X, y, _, _ = admissions
    X, y = X[:20], y[:20]
    w0 = np.linspace(-0.5, 0.5, 6)
    run = nb.sgd_batching(X, y, w0, lr=0.3, epochs=3, batch_size=1, seed=5)
    # by hand: one record at a time, in the permutation drawn from the same seed
    w, rng = w0.copy(), np.random.default_rng(5)
    for _ in range(3):
        for i in rng.permutation(20):
            out = 1 / (1 + np.exp(-(X[i] @ w)))
            w = w + 0.3 * (y[i] - out) * out * (1 - out) * X[i]
    np.testing.assert_allclose(run.weights, w, rtol=1e-13, atol=1e-15)
    assert run.steps == 60


def test_drop_last_and_partial_batches(admissions):
    X, y, _, _ = admissions
    assert nb.sgd_batching(X, y, epochs=2, batch_size=100).steps == 8
    assert nb.sgd_batching(X, y, epochs=2, batch_size=100, drop_last=True).steps == 6


def test_sse_steps_are_n_times_the_mse_steps(admissions):
    X, y, _, _ = admissions
    w0 = np.zeros(6)  # from zero, the new weights *are* the step: no cancellation
    mse_step = nb.mse_training(X, y, w0, lr=1e-3, epochs=1).weights - w0
    sse_step = nb.mse_training(X, y, w0, lr=1e-3, epochs=1, loss="sse").weights - w0
    np.testing.assert_allclose(sse_step, len(y) * mse_step, rtol=1e-12)


@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_divergence_names_epoch_and_step_and_suggests_smaller_lr(admissions):
    X, y, _, _ = admissions
    with pytest.raises(DivergenceError, match=r"epoch 0, step 0 .*smaller learning rate"):
        list(nb.iter_mse_training(X, y, lr=1e308, loss="sse", epochs=3))


def test_training_checks_its_arguments_eagerly(admissions):
    X, y, _, _ = admissions
    with pytest.raises(ValueError, match="features and targets"):
        nb.iter_mse_training(X, y[:-1])
    with pytest.raises(ValueError, match="epochs: expected an int >= 1, got 0"):
        nb.mse_training(X, y, epochs=0)
    with pytest.raises(ValueError, match="batch_size: expected an int between 1 and 360"):
        nb.sgd_batching(X, y, batch_size=361)
    with pytest.raises(ValueError, match="batch_size"):
        nb.sgd_batching(X, y, batch_size=0)
    with pytest.raises(ValueError, match="loss: expected one of"):
        nb.mse_training(X, y, loss="mae")
    with pytest.raises(ValueError, match="weights: expected 6 weights"):
        nb.mse_training(X, y, np.zeros(5))
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match=r"features: contains NaN or inf at index \(3, 2\)"):
        nb.mse_training(bad, y)


def test_accuracy_needs_binary_targets(admissions):
    X, y, _, _ = admissions
    with pytest.raises(ValueError, match="targets: accuracy needs binary targets"):
        nb.accuracy(X, y + 0.5, np.zeros(6))


@given(
    X=hnp.arrays(np.float64, st.tuples(st.integers(1, 12), st.integers(1, 4)),
                 elements=st.floats(-3, 3)),
    lr=st.floats(1e-3, 2.0),
)
def test_training_never_mutates_its_inputs(X, lr):
    y = (X[:, 0] > 0).astype(float)
    w = np.full(X.shape[1], 0.1)
    copies = X.copy(), y.copy(), w.copy()
    nb.mse_training(X, y, w, lr=lr, epochs=2)
    nb.sgd_batching(X, y, w, lr=lr, epochs=2, batch_size=1)
    for original, kept in zip((X, y, w), copies):
        np.testing.assert_array_equal(original, kept)


def test_float32_stays_float32(admissions):
    X, y, _, _ = (a.astype(np.float32) for a in admissions)
    run = nb.mse_training(X, y, epochs=3)
    assert run.weights.dtype == np.float32


def test_sigmoid_returns_an_array_even_for_a_scalar():
    assert isinstance(nb.sigmoid(0.0), np.ndarray) and nb.sigmoid(0.0) == 0.5
    assert isinstance(nb.sigmoid_prime(0.0), np.ndarray) and nb.sigmoid_prime(0.0) == 0.25
