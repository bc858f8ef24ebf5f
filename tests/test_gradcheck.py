"""The finite-difference witness: exact on known gradients, every concept's gradient in both
backends at random points, a wrong gradient caught even when two implementations agree, and
errors instead of NaN verdicts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gd_compare import numpy_backend as nb
from gd_compare.lesson.data import initial_network_weights, make_synthetic
from gd_compare.proof.gradcheck import (
    RTOL,
    GradCheck,
    check_backends,
    check_concept,
    check_gradient,
    concept_problem,
    noise_floor,
    numerical_gradient,
    relative_error,
)

CONCEPT_NAMES = ["simple_step", "sigmoid_step", "sigmoid_exercise", "backprop_exercise",
                 "mse_training",
                 "sgd_batching", "backprop"]

finite = st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False)


def vectors(n: int):
    return hnp.arrays(np.float64, n, elements=finite)


# --------------------------------------------------------------------------- the tool itself


def test_numerical_gradient_of_a_quadratic_and_no_mutation():
    a = np.array([1.0, -2.0, 3.0])
    w = np.array([0.5, 0.25, -1.5])
    before = w.copy()
    g = numerical_gradient(lambda v: float(np.sum(a * v**2)), w)
    np.testing.assert_allclose(g, 2 * a * w, rtol=1e-9)
    np.testing.assert_array_equal(w, before)
    layers = (np.ones((2, 3)), np.arange(2.0))
    grads = numerical_gradient(lambda ps: float(np.sum(ps[0] ** 3) + ps[1] @ ps[1]), layers)
    np.testing.assert_allclose(grads[0], 3 * np.ones((2, 3)), rtol=1e-9)
    np.testing.assert_allclose(grads[1], 2 * np.arange(2.0), atol=1e-9)
    np.testing.assert_array_equal(layers[0], np.ones((2, 3)))


def test_relative_error_formula():
    assert relative_error(np.array([3.0, 4.0]), np.array([3.0, 4.0])) == 0.0
    assert relative_error(np.zeros(2), np.zeros(2)) == 0.0
    # ‖g − g_fd‖ / max(‖g‖, ‖g_fd‖) = ‖(0, 1)‖ / ‖(3, 5)‖
    assert relative_error(np.array([3.0, 4.0]), np.array([3.0, 5.0])) == pytest.approx(
        1 / np.sqrt(34))
    assert noise_floor(0.2) == pytest.approx(10 * 2.220446049250313e-16 / 1e-6)
    assert noise_floor(100.0) == pytest.approx(100 * noise_floor(0.2))


def test_check_gradient_passes_a_right_and_fails_a_wrong_gradient():
    X, y = make_synthetic(50, 4, seed=3)
    w = np.array([0.3, -0.2, 0.1, 0.4])
    loss = lambda v: 0.5 * nb.mse(X, y, v)  # noqa: E731 - E = ½·MSE
    good = check_gradient(loss, lambda v: nb.gradient(X, y, v), w)
    assert isinstance(good, GradCheck) and good.passed and good.max_rel_error < 1e-8
    assert "PASS" in str(good)
    # the gradient of MSE instead of ½·MSE: off by exactly 2
    bad = check_gradient(loss, lambda v: 2 * nb.gradient(X, y, v), w)
    assert not bad.passed and bad.failed == ("params",)
    assert bad.max_rel_error == pytest.approx(0.5, rel=1e-6)
    assert "WRONG" in str(bad)


def test_a_wrong_gradient_is_caught_even_when_two_implementations_agree():
    X, y = make_synthetic(40, 3, seed=5)
    ws = initial_network_weights(3, (2,), seed=5)

    def full_mse_gradient(Xb, yb, weights):  # a second, independent derivation, same mistake:
        # d(MSE)/dW (no ½) — it matches 2·network_gradient to the last bits
        out = [Xb]
        for W in weights:
            out.append(nb.sigmoid(out[-1] @ W))
        delta = 2 * (out[-1] - yb) * out[-1] * (1 - out[-1]) / len(yb)
        g_ho = out[1].T @ delta
        g_ih = Xb.T @ (np.outer(delta, weights[1]) * out[1] * (1 - out[1]))
        return g_ih, g_ho

    doubled = tuple(2 * g for g in nb.network_gradient(X, y, ws))
    independent = full_mse_gradient(X, y, ws)
    for a, b in zip(doubled, independent, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13)  # the two "backends" agree ...
    loss = lambda p: 0.5 * nb.network_mse(X, y, p)  # noqa: E731
    for grad_fn in (lambda p: full_mse_gradient(X, y, p),
                    lambda p: tuple(2 * g for g in nb.network_gradient(X, y, p))):
        check = check_gradient(loss, grad_fn, ws)
        assert not check.passed and check.failed == ("params[0]", "params[1]")  # ... both wrong
    assert check_gradient(loss, lambda p: nb.network_gradient(X, y, p), ws).passed


@pytest.mark.filterwarnings("ignore:invalid value encountered in log:RuntimeWarning")
def test_errors_instead_of_nan_verdicts():
    with pytest.raises(ValueError, match=r"the loss is nan at the point"):
        check_gradient(lambda w: float(np.log(w[0])), lambda w: 1 / w, np.array([-1.0]))
    with pytest.raises(ValueError, match=r"the loss is inf at the point"):
        numerical_gradient(lambda w: float(1 / w[0]) if w[0] else np.inf, np.array([0.0]))
    with pytest.raises(ValueError, match=r"the loss is nan at params\[0\]\[0\] ± 1e-06"):
        numerical_gradient(lambda w: float(np.log(w[0])), np.array([5e-7]))
    with pytest.raises(ValueError, match=r"params: contains NaN"):
        numerical_gradient(lambda w: 0.0, np.array([np.nan]))
    with pytest.raises(ValueError, match=r"grad_fn: the gradient of params\[1\] is not finite"):
        check_gradient(lambda p: 0.0, lambda p: (np.zeros(2), np.array([np.inf])),
                       (np.zeros(2), np.zeros(1)))
    with pytest.raises(ValueError, match=r"grad_fn: the gradient of params has shape \(3,\)"):
        check_gradient(lambda w: 0.0, lambda w: np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match=r"grad_fn: expected 2 gradient array"):
        check_gradient(lambda p: 0.0, lambda p: (np.zeros(2),), (np.zeros(2), np.zeros(1)))
    with pytest.raises(ValueError, match=r"eps"):
        numerical_gradient(lambda w: 0.0, np.zeros(1), eps=0.0)
    with pytest.raises(ValueError, match=r"unknown concept"):
        check_concept("nope")
    with pytest.raises(ValueError, match=r"backend: expected 'numpy', 'torch' or a module"):
        check_concept("simple_step", "jax")


def test_a_concept_at_a_point_with_a_non_finite_loss_is_an_error():
    # sigmoid(±1000) is exactly 0 or 1, so the loss stays finite; SSE of a huge-valued data set
    # in simple_step overflows: (w·x − y)² = inf
    with np.errstate(over="ignore"), pytest.raises(ValueError, match=r"the loss is inf at the "
                                                                    r"point"):
        check_concept("simple_step", x=1e200, w=1e200, y=0.0)


# --------------------------------------------------------------------------- every concept


@pytest.mark.parametrize("concept", CONCEPT_NAMES)
def test_every_concept_numpy_at_the_lesson_point(concept):
    check = check_concept(concept, "numpy")
    assert check.passed, str(check)
    assert check.max_rel_error < 1e-7


def test_the_hand_gradient_functions_against_finite_differences(admissions):
    X, y, _, _ = admissions
    w = np.array([0.1, -0.4, 0.3, 0.2, -0.1, 0.05])
    for loss in ("mse", "sse"):
        total = nb.mse if loss == "mse" else nb.sse
        check = check_gradient(lambda v, t=total: 0.5 * t(X, y, v),
                               lambda v, s=loss: nb.gradient(X, y, v, loss=s), w)
        assert check.passed and check.max_rel_error < 1e-8, str(check)
    ws = initial_network_weights(6, (4, 3))
    check = check_gradient(lambda p: 0.5 * nb.network_mse(X, y, p),
                           lambda p: nb.network_gradient(X, y, p), ws)
    assert check.passed and check.max_rel_error < 1e-7, str(check)


@given(x=st.floats(-3, 3), y=st.floats(-10, 10), w=st.floats(-3, 3))
def test_simple_step_numpy_any_point(x, y, w):
    assert check_concept("simple_step", "numpy", x=x, y=y, w=w).passed


@given(x=vectors(3), y=st.floats(0, 1), w=vectors(3))
def test_sigmoid_step_numpy_any_point(x, y, w):
    assert check_concept("sigmoid_step", "numpy", x=x, y=y, weights=w).passed


@given(w=vectors(6), per_record=st.booleans(), loss=st.sampled_from(["mse", "sse"]))
def test_mse_training_numpy_any_point(w, per_record, loss):
    check = check_concept("mse_training", "numpy", weights=w, per_record=per_record, loss=loss)
    assert check.passed, str(check)


@given(w=vectors(6), batch_size=st.integers(1, 360), seed=st.integers(0, 2**32 - 1))
def test_sgd_batching_numpy_any_point(w, batch_size, seed):
    check = check_concept("sgd_batching", "numpy", weights=w, batch_size=batch_size, seed=seed)
    assert check.passed, str(check)


@st.composite
def networks(draw):
    hidden = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    fan_in = (6, *hidden)
    ws = [draw(hnp.arrays(np.float64, (a, b), elements=finite))
          for a, b in zip(fan_in[:-1], hidden, strict=True)]
    ws.append(draw(hnp.arrays(np.float64, hidden[-1], elements=finite)))
    return hidden, tuple(ws)


@given(net=networks(), batch_size=st.sampled_from([None, 1, 32, 200]),
       per_record=st.booleans(), seed=st.integers(0, 1000))
def test_backprop_numpy_any_point(net, batch_size, per_record, seed):
    hidden, ws = net
    check = check_concept("backprop", "numpy", hidden=hidden, weights=ws, seed=seed,
                          batch_size=batch_size, per_record=per_record and batch_size is not None)
    assert check.passed, str(check)


@given(net=networks())
def test_backprop_witness_catches_a_doubled_gradient_anywhere(net):
    hidden, ws = net
    problem = concept_problem("backprop", hidden=hidden, weights=ws)
    true = problem.gradient(nb, problem.params)
    assume(all(np.max(np.abs(g)) > 1e-6 for g in true))  # not a flat spot: wrong is visible
    check = check_gradient(problem.loss, lambda p: tuple(2 * g for g in problem.gradient(nb, p)),
                           problem.params)
    assert not check.passed and check.max_rel_error > 0.4


# --------------------------------------------------------------------------- PyTorch too


@pytest.mark.torch
@pytest.mark.parametrize("concept", CONCEPT_NAMES)
def test_every_concept_both_backends_at_the_lesson_point(concept):
    checks = check_backends(concept)
    assert set(checks) == {"numpy", "torch"}
    for name, check in checks.items():
        assert check.passed and check.max_rel_error < RTOL, f"{name}: {check}"
    # the two gradients, read off the two updates, agree far below the witness's noise
    for a, b in zip(checks["numpy"].analytic, checks["torch"].analytic, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


@pytest.mark.torch
def test_torch_gradient_functions_against_finite_differences(admissions):
    from gd_compare import torch_backend as tb

    X, y, _, _ = admissions
    w = np.array([0.1, -0.4, 0.3, 0.2, -0.1, 0.05])
    assert check_gradient(lambda v: 0.5 * tb.mse(X, y, v), lambda v: tb.gradient(X, y, v),
                          w).passed
    ws = initial_network_weights(6, (3, 2))
    check = check_gradient(lambda p: 0.5 * tb.network_mse(X, y, p),
                           lambda p: tb.network_gradient(X, y, p), ws)
    assert check.passed and check.max_rel_error < 1e-7, str(check)


@pytest.mark.torch
@given(net=networks(), batch_size=st.sampled_from([None, 16]))
def test_backprop_torch_any_point(net, batch_size):
    hidden, ws = net
    check = check_concept("backprop", "torch", hidden=hidden, weights=ws, batch_size=batch_size)
    assert check.passed, str(check)


@pytest.mark.torch
@given(x=vectors(4), y=st.floats(0, 1), w=vectors(4), w6=vectors(6),
       concept=st.sampled_from(["sigmoid_exercise", "mse_training", "sgd_batching"]))
def test_neuron_concepts_torch_any_point(x, y, w, w6, concept):
    point = {"x": x, "y": y, "weights": w} if concept == "sigmoid_exercise" else {"weights": w6}
    assert check_concept(concept, "torch", **point).passed


def test_a_gradcheck_prints_as_one_readable_line():
    check = check_concept("sigmoid_exercise", "numpy")
    text = repr(check)
    assert text.startswith("GradCheck(PASS, max relative error ") and "weights" in text
    assert "array(" not in text and "\n" not in text
    assert "array(" not in repr({"numpy": check})
