"""Bias and binary cross-entropy in the NumPy backend (no torch): the formulas, the lesson's
figures, the finite-difference witness and bad input."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gd_compare import numpy_backend as nb
from gd_compare.lesson.data import initial_network_weights, initial_weights
from gd_compare.proof.gradcheck import check_concept, check_gradient

# --------------------------------------------------------------------------- the BCE formula


@given(h=st.floats(-1e3, 1e3), y=st.floats(0, 1))
def test_bce_is_the_cross_entropy_at_every_h(h, y):
    """(1 − y)·h − log_sigmoid(h) is −[y·log ŷ + (1 − y)·log(1 − ŷ)], written so that it stays
    exact where ŷ rounds to 0 or 1 (there it is log(1 + e^h) − y·h)."""
    got = nb.bce([[h]], [y], [1.0])
    exact = np.logaddexp(0.0, h) - y * h
    # (1 − y)·h and log_sigmoid(h) are each as large as |h| and cancel where y is tiny and h
    # very negative (h = −918, y ≈ 2e-8: 1.1e-12 apart): a few ULPs of |h| are rounding
    rounding = 8 * np.finfo(np.float64).eps * abs(h)
    assert got == pytest.approx(exact, rel=1e-13, abs=1e-13 + rounding)
    if abs(h) < 10:  # the naive form itself is only that close there: 1 − ŷ, rounded, loses
        s = 1 / (1 + np.exp(-h))  # about eps·e^|h| (h = 20: the naive value is 3.4e-8 off)
        naive = -(y * np.log(s) + (1 - y) * np.log1p(-s))
        assert got == pytest.approx(naive, rel=1e-9, abs=1e-12)


def test_bce_of_a_confident_wrong_answer_grows_like_h():
    # sigmoid(40) rounds to 1.0: log(1 − ŷ) = −inf, which nn.BCELoss clamps at −100
    assert nb.sigmoid(40.0) == 1.0
    assert nb.bce([[40.0], [-40.0], [1000.0]], [0.0, 1.0, 0.0], [1.0]) == pytest.approx(
        (40 + 40 + 1000) / 3, rel=1e-15)
    assert nb.log_sigmoid(-1000.0) == -1000.0 and nb.log_sigmoid(1000.0) == 0.0


def test_bce_error_term_is_the_error():
    """∂BCE/∂h = ŷ − y: the sigmoid' cancels, the gradient is −error·x / m (no ½)."""
    rng = np.random.default_rng(0)
    X, y, w = rng.normal(size=(9, 3)), rng.integers(0, 2, 9).astype(float), rng.normal(size=3)
    error = y - nb.sigmoid(X @ w)
    np.testing.assert_allclose(nb.gradient(X, y, w, loss="bce"), -(error @ X) / 9, rtol=1e-15)
    g_w, g_b = nb.gradient(X, y, (w, np.array([0.3])), loss="bce")
    error = y - nb.sigmoid(X @ w + 0.3)
    np.testing.assert_allclose(g_w, -(error @ X) / 9, rtol=1e-15)
    np.testing.assert_allclose(g_b, [-error.sum() / 9], rtol=1e-14)
    # saturated: MSE's error_term vanishes (sigmoid' = 0), BCE's is the full error
    Xs = np.array([[1000.0], [-1000.0]])  # ŷ = 1 and 0 exactly, both wrong
    assert np.array_equal(nb.gradient(Xs, [0.0, 1.0], [1.0]), [0.0])
    assert nb.gradient(Xs, [0.0, 1.0], [1.0], loss="bce")[0] == 1000.0


# --------------------------------------------------------------------------- the bias


def test_the_bias_is_a_weight_on_a_constant_input_of_one(admissions):
    X, y, _, _ = admissions
    w = initial_weights(6)
    ones = np.column_stack([X, np.ones(len(y))])
    for loss in ("mse", "bce"):
        with_bias = nb.mse_training(X, y, w, epochs=200, loss=loss, bias=True, record=False)
        column = nb.mse_training(ones, y, np.append(w, 0.0), epochs=200, loss=loss,
                                 record=False)
        np.testing.assert_allclose(with_bias.params[0], column.weights[:6], rtol=0, atol=1e-13)
        np.testing.assert_allclose(with_bias.params[1], column.weights[6:], rtol=0, atol=1e-13)
        np.testing.assert_allclose(with_bias.losses, column.losses, rtol=1e-13)


def test_bias_starts_at_zero_and_the_weights_keep_the_lessons_draw(admissions):
    from gd_compare.lesson.training import network_run, neuron_run

    X, y, _, _ = admissions
    w, b = neuron_run(X, y, None, 0.5, 1, "mse", bias=True).params
    np.testing.assert_array_equal(w, initial_weights(6))
    assert b.shape == (1,) and b[0] == 0.0
    params = network_run(X, y, None, (3, 2), 0.5, 1, "bce", bias=True).params
    assert [p.shape for p in params] == [(6, 3), (3, 2), (2,), (3,), (2,), (1,)]
    for got, drawn in zip(params[:3], initial_network_weights(6, (3, 2)), strict=True):
        np.testing.assert_array_equal(got, drawn)
    assert all(not p.any() for p in params[3:])


def test_lessons_neuron_with_and_without_bias_mse_and_bce(admissions):
    """The README's table: lesson's split, weights, lr 0.5, 1000 epochs."""
    X, y, X_test, y_test = admissions
    expected = {("mse", False): 0.19700668351312708, ("mse", True): 0.1969734768673633,
                ("bce", False): 0.5782705525118881, ("bce", True): 0.57827055251164}
    for (loss, bias), train_loss in expected.items():
        run = nb.mse_training(X, y, loss=loss, bias=bias, record=False)
        params = run.params if bias else run.weights
        assert run.log[-1][1] == pytest.approx(train_loss, rel=1e-3)
        final = nb.bce(X, y, params) if loss == "bce" else nb.mse(X, y, params)
        assert final == pytest.approx(train_loss, rel=1e-12)
        assert nb.accuracy(X_test, y_test, params) == 0.725


def test_per_record_matches_the_matrix_form_with_bias_and_bce(admissions):
    X, y, _, _ = admissions
    for loss in ("mse", "sse", "bce"):
        lr = 0.001 if loss == "sse" else 0.5
        a = nb.mse_training(X, y, lr=lr, epochs=20, loss=loss, bias=True, record=False)
        b = nb.mse_training(X, y, lr=lr, epochs=20, loss=loss, bias=True, per_record=True,
                            record=False)
        for p, q in zip(a.params, b.params, strict=True):
            np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(a.losses, b.losses, rtol=1e-12)
        net = [nb.backprop_training(X[:40], y[:40], lr=0.5, epochs=5, hidden=(3, 2), loss=loss,
                                    bias=True, per_record=pr, batch_size=16, record=False)
               for pr in (False, True)]
        for p, q in zip(net[0].params, net[1].params, strict=True):
            np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-14)


def test_bias_routes_the_large_full_batch_around_the_blocked_kernel(monkeypatch):
    from gd_compare.lesson.data import make_synthetic
    from gd_compare.numpy_backend import kernels

    X, y = make_synthetic(3000, 4)
    monkeypatch.setattr(kernels, "BLOCK_BYTES", 256 * 4 * 8)  # n spans several blocks
    called = []
    real = kernels.blocked_full_batch_step
    monkeypatch.setattr(kernels, "blocked_full_batch_step",
                        lambda *a: called.append(1) or real(*a))
    nb.mse_training(X, y, epochs=2, record=False)
    assert len(called) == 2
    called.clear()
    for kw in ({"bias": True}, {"loss": "bce"}):
        run = nb.mse_training(X, y, epochs=5, record=False, **kw)
        ref = nb.mse_training(X, y, epochs=5, record=False, per_record=True, **kw)
        assert not called
        for p, q in zip(run.params, ref.params, strict=True):
            np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-15)


# --------------------------------------------------------------------------- the witness


@pytest.mark.parametrize("concept", ["mse_training", "sgd_batching", "backprop"])
@pytest.mark.parametrize("loss", ["mse", "sse", "bce"])
def test_finite_differences_confirm_bias_and_bce_gradients(concept, loss):
    point = {"hidden": (3, 2)} if concept == "backprop" else {}
    check = check_concept(concept, "numpy", loss=loss, bias=True, **point)
    assert check.passed, str(check)
    assert check.names[-1] in ("bias", "biases[2]")
    assert check.max_rel_error < 1e-7


def _scratch_backend(**steps):
    """A backend module whose one-step functions are ``steps`` (the others: NumPy's)."""
    mod = ModuleType("scratch_backend")
    for name in ("sigmoid_step", "sigmoid_exercise", "backprop_exercise"):
        setattr(mod, name, steps.get(name, getattr(nb, name)))
    return mod


@pytest.mark.parametrize("concept", ["sigmoid_step", "sigmoid_exercise", "backprop_exercise"])
def test_finite_differences_cover_the_biases_of_the_one_step_concepts(concept):
    from gd_compare.proof.gradcheck import concept_problem

    names = concept_problem(concept, bias=True).names
    assert names[-2:] == (("bias_hidden", "bias_output") if concept == "backprop_exercise"
                          else ("weights", "bias"))
    assert "bias" not in "".join(concept_problem(concept).names)
    check = check_concept(concept, "numpy", bias=True)
    assert check.passed and check.max_rel_error < 1e-7, str(check)
    assert all(np.any(g != 0) for g in check.analytic)  # every gradient really checked


def test_finite_differences_catch_a_wrong_del_b_in_a_one_step_concept():
    """del_b without sigmoid'(h) (error·lr, as if the bias skipped the chain rule) or with the
    input's x: the weights' gradient is right, the witness names the bias."""
    from dataclasses import replace

    def no_sigmoid_prime(x, y, weights, lr=0.5, *, bias=False):
        step = nb.sigmoid_step(x, y, weights, lr, bias=bias)
        return replace(step, del_b=lr * step.error * np.ones(1)) if bias else step

    def hidden_bias_times_x(x, target, w_ih, w_ho, lr=0.5, *, bias=False):
        step = nb.backprop_exercise(x, target, w_ih, w_ho, lr, bias=bias)
        return replace(step, delta_b_h=step.delta_b_h * np.sum(x)) if bias else step

    scratch = _scratch_backend(sigmoid_step=no_sigmoid_prime,
                               sigmoid_exercise=no_sigmoid_prime,
                               backprop_exercise=hidden_bias_times_x)
    for concept, wrong in (("sigmoid_step", ("bias",)), ("sigmoid_exercise", ("bias",)),
                           ("backprop_exercise", ("bias_hidden",))):
        check = check_concept(concept, scratch, bias=True)
        assert check.failed == wrong, str(check)
        assert check_concept(concept, scratch).passed  # without a bias nothing is wrong


def test_a_one_step_bias_is_checked_only_where_the_step_starts_it():
    from gd_compare.proof.gradcheck import concept_problem

    problem = concept_problem("sigmoid_step", bias=True)
    with pytest.raises(ValueError, match="starts every bias at 0"):
        problem.gradient(nb, (problem.params[0], np.ones(1)))


def test_finite_differences_catch_bce_stepped_as_if_sse(admissions):
    """The course's confusion: report log-loss, step with the squared error's error_term."""
    X, y, _, _ = admissions
    w = initial_weights(6)
    wrong = check_gradient(lambda v: nb.bce(X, y, v), lambda v: nb.gradient(X, y, v), w)
    right = check_gradient(lambda v: nb.bce(X, y, v),
                           lambda v: nb.gradient(X, y, v, loss="bce"), w)
    assert not wrong.passed and wrong.max_rel_error > 0.5
    assert right.passed and right.max_rel_error < 1e-7


# --------------------------------------------------------------------------- bad input


def test_bad_bias_and_bce_input(admissions):
    X, y, _, _ = admissions
    with pytest.raises(TypeError, match=r"bias: expected True or False, got str"):
        nb.mse_training(X, y, bias="yes")
    with pytest.raises(TypeError, match=r"bias: expected True or False, got int"):
        nb.backprop_training(X, y, bias=1)
    with pytest.raises(ValueError, match=r"targets: loss='bce' .* needs targets in \[0, 1\], "
                                         r"found 2.0 at index 3"):
        nb.sgd_batching(X, np.where(np.arange(360) == 3, 2.0, y), loss="bce")
    with pytest.raises(ValueError, match=r"targets: loss='bce'.*found -0.5"):
        nb.backprop_training(X, y - 0.5, loss="bce")
    with pytest.raises(ValueError, match=r"targets: loss='bce'"):
        nb.gradient(X, y + 1, initial_weights(6), loss="bce")
    with pytest.raises(ValueError, match=r"loss: expected one of \('mse', 'sse', 'bce'\)"):
        nb.mse_training(X, y, loss="ce")
    with pytest.raises(ValueError, match=r"weights: got a pair \(weights, bias\) but bias=False"):
        nb.mse_training(X, y, (initial_weights(6), np.zeros(1)))
    with pytest.raises(ValueError, match=r"bias: expected shape \(1,\)"):
        nb.mse(X, y, (initial_weights(6), np.zeros(2)))
    with pytest.raises(ValueError, match=r"biases\[1\] \(the output unit\): expected shape "
                                         r"\(1,\)"):
        nb.network_mse(X, y, (*initial_network_weights(6), np.zeros(2), np.zeros(2)))
    with pytest.raises(ValueError, match=r"got one bias per layer after the weights but "
                                         r"bias=False"):
        nb.backprop_training(X, y, (*initial_network_weights(6), np.zeros(2), np.zeros(1)))
    # soft targets in [0, 1] are fine for BCE; the caller's arrays are not changed
    soft = np.linspace(0, 1, 360)
    w, b = initial_weights(6), np.array([0.25])
    nb.mse_training(X, soft, (w, b), epochs=3, loss="bce", bias=True)
    assert b[0] == 0.25 and np.array_equal(w, initial_weights(6))


# --------------------------------------------------------------------------- the verdict's words


def _gradient_off(name: str, k: int) -> ModuleType:
    """The NumPy backend, but its gradient function (the common-state check's) returns array
    ``k`` 1.5 times too large; the training itself is NumPy's, bit for bit."""
    mod = ModuleType("off_backend")
    for attr in dir(nb):
        if not attr.startswith("__"):
            setattr(mod, attr, getattr(nb, attr))
    real = getattr(nb, name)

    def off(*args, **kw):
        grads = real(*args, **kw)
        grads = list(grads) if isinstance(grads, tuple) else [grads]
        grads[k] = grads[k] * 1.5
        return tuple(grads) if len(grads) > 1 else grads[0]

    setattr(mod, name, off)
    return mod


@pytest.mark.parametrize(("concept", "point", "k", "name"), [
    ("mse_training", {}, 1, "bias"),
    ("mse_training", {}, 0, "weights"),
    ("backprop", {"hidden": (3,)}, 2, "bias[0] (hidden layer 1)"),
    ("backprop", {"hidden": (3,)}, 3, "bias[1] (the output unit)"),
    ("backprop", {"hidden": (3,)}, 1, "weights[1] (layer 2: hidden layer 1 → output)"),
])
def test_a_common_state_gradient_mismatch_names_the_array(concept, point, k, name):
    from gd_compare import compare

    spec_gradient = {"mse_training": "gradient", "backprop": "network_gradient"}[concept]
    result = compare(concept, epochs=2, bias=True, **point,
                     backends=(nb, _gradient_off(spec_gradient, k)))
    assert not result.passed
    message = str(result.first_failure)
    assert f"the gradients differ: {name}, max |Δ|" in message, message
    assert "parameter " not in message


def test_param_names_of_a_neuron_and_a_network():
    from gd_compare.proof.tracking import param_names

    assert param_names(1, False) == ["weights"]
    assert param_names(2, True) == ["weights", "bias"]
    assert param_names(3, False) == ["weights[0] (layer 1: input → hidden layer 1)",
                                     "weights[1] (layer 2: hidden layer 1 → hidden layer 2)",
                                     "weights[2] (layer 3: hidden layer 2 → output)"]
    assert param_names(4, True)[2:] == ["bias[0] (hidden layer 1)", "bias[1] (the output unit)"]
