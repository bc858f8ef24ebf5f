"""The mutation classes a review found surviving the CLI's default run, each pinned down by a
NumPy-only test against an independent oracle — the learner-style reference code of
:mod:`gd_compare.learner.solutions` (plain loops, no shared helper with the backend):

- the per-record path (``per_record=True``), for the neuron and the network;
- ``loss="sse"`` (the step and the reported loss), on every training path;
- the cache-blocked kernel, with n above one block;
- networks with two hidden layers;
- helpers the training loop does not call: ``sigmoid_prime``, ``gradient``,
  ``network_gradient``, ``sse`` (and their siblings);
- a float32 run computed in float64.
"""

from __future__ import annotations

import numpy as np
import pytest

from gd_compare import numpy_backend as nb
from gd_compare.learner import solutions as ref
from gd_compare.lesson.data import initial_network_weights, initial_weights
from gd_compare.numpy_backend import kernels

RTOL = 1e-12


def _neuron_epochs(X, y, w, lr, epochs, sse=False):
    """The lesson's loop (solutions.mse_training) for ``epochs`` epochs; ``sse``: no /n."""
    w = w.astype(np.float64).copy()
    losses = []
    for _ in range(epochs):
        err = y - ref.sigmoid(X @ w)
        losses.append(float(err @ err) if sse else float(np.mean(err**2)))
        w = ref.mse_training(X, y, w, lr * len(y) if sse else lr)
    return w, np.array(losses)


def _network_epochs(X, y, ws, lr, epochs, sse=False):
    """Full-batch descent with the reference's general backward pass (any number of layers)."""
    ws = [w.copy() for w in ws]
    losses = []
    for _ in range(epochs):
        out = X
        for W in ws[:-1]:
            out = ref.sigmoid(out @ W)
        err = y - ref.sigmoid(out @ ws[-1])
        losses.append(float(err @ err) if sse else float(np.mean(err**2)))
        grads = ref.network_gradient(X, y, ws)
        scale = len(y) if sse else 1
        ws = [W - lr * scale * g for W, g in zip(ws, grads)]
    return ws, np.array(losses)


@pytest.fixture(scope="module")
def data(admissions):
    X, y, _, _ = admissions
    return X, y, initial_weights(X.shape[1])


# --------------------------------------------------------------------------- per-record, SSE


@pytest.mark.parametrize("loss", ["mse", "sse"])
@pytest.mark.parametrize("per_record", [True, False])
def test_neuron_training_paths_against_the_lessons_loop(data, loss, per_record):
    X, y, w0 = data
    lr = 0.5 if loss == "mse" else 0.5 / len(y)
    run = nb.mse_training(X, y, w0, lr=lr, epochs=4, per_record=per_record, loss=loss)
    w, losses = _neuron_epochs(X, y, w0, lr, 4, sse=loss == "sse")
    np.testing.assert_allclose(run.weights, w, rtol=RTOL)
    np.testing.assert_allclose(run.losses, losses, rtol=RTOL)


@pytest.mark.parametrize("loss", ["mse", "sse"])
def test_sgd_batches_against_the_reference_batch_step(data, loss):
    X, y, w0 = data
    lr = 0.5 if loss == "mse" else 0.02
    run = nb.sgd_batching(X, y, w0, lr=lr, epochs=2, batch_size=50, loss=loss)
    w, losses = w0.copy(), []
    for batch in _batches(len(y), 50, 2):
        Xb, yb = X[batch], y[batch]
        err = yb - ref.sigmoid(Xb @ w)
        losses.append(float(err @ err) if loss == "sse" else float(np.mean(err**2)))
        w = ref.sgd_batching(Xb, yb, w, lr * len(yb) if loss == "sse" else lr)
    np.testing.assert_allclose(run.weights, w, rtol=RTOL)
    np.testing.assert_allclose(run.losses, losses, rtol=RTOL)


def _batches(n, size, epochs):
    from gd_compare.lesson.core import BatchOrder

    order = BatchOrder(n, size, seed=42)
    return [b for _ in range(epochs) for b in order]


@pytest.mark.parametrize("loss", ["mse", "sse"])
@pytest.mark.parametrize("per_record", [True, False])
@pytest.mark.parametrize("hidden", [(2,), (3, 2)])
def test_network_training_paths_against_the_reference_backward_pass(data, loss, per_record,
                                                                    hidden):
    X, y, _ = data
    ws = initial_network_weights(X.shape[1], hidden, seed=21)
    lr = 0.5 if loss == "mse" else 0.5 / len(y)
    run = nb.backprop_training(X, y, ws, lr=lr, epochs=3, hidden=hidden,
                               per_record=per_record, loss=loss)
    want, losses = _network_epochs(X, y, ws, lr, 3, sse=loss == "sse")
    for got, w in zip(run.params, want, strict=True):
        np.testing.assert_allclose(got, w, rtol=1e-11, atol=1e-15)
    np.testing.assert_allclose(run.losses, losses, rtol=RTOL)
    if hidden == (2,):  # the course's one-epoch loop itself
        a, b = ref.backprop(X, y, ws[0].copy(), ws[1].copy(), lr * (len(y) if loss == "sse"
                                                                      else 1))
        one = nb.backprop_training(X, y, ws, lr=lr, epochs=1, per_record=per_record, loss=loss)
        np.testing.assert_allclose(one.params[0], a, rtol=RTOL)
        np.testing.assert_allclose(one.params[1], b, rtol=RTOL)


# --------------------------------------------------------------------------- blocked kernel


@pytest.mark.parametrize("loss", ["mse", "sse"])
def test_full_batch_above_one_block_takes_the_blocked_kernel_and_is_right(loss):
    rng = np.random.default_rng(7)
    n, d = 2500, 64  # block_rows(64, 8) = 1024: three blocks, the last one partial
    assert n > kernels.block_rows(d, 8) and n % kernels.block_rows(d, 8)
    X = rng.standard_normal((n, d)) / 4
    y = (rng.random(n) < 0.4).astype(float)
    w0 = rng.normal(scale=d**-0.5, size=d)
    lr = 0.5 if loss == "mse" else 0.5 / n
    run = nb.mse_training(X, y, w0, lr=lr, epochs=3, loss=loss)
    w, losses = w0.copy(), []
    for _ in range(3):
        err = y - ref.sigmoid(X @ w)
        losses.append(float(err @ err) if loss == "sse" else float(np.mean(err**2)))
        w = w - lr * (n if loss == "sse" else 1) * ref.gradient(X, y, w)
    np.testing.assert_allclose(run.weights, w, rtol=1e-11)
    np.testing.assert_allclose(run.losses, losses, rtol=1e-11)


# --------------------------------------------------------------------------- helpers


def test_helpers_off_the_training_path(data):
    X, y, w = data
    h = np.array([-3.0, -0.5, 0.0, 0.7, 2.0])
    s = 1 / (1 + np.exp(-h))
    np.testing.assert_allclose(nb.sigmoid(h), s, rtol=1e-15)
    np.testing.assert_allclose(nb.sigmoid_prime(h), s * (1 - s), rtol=1e-15)
    assert nb.sigmoid_prime(0.0) == 0.25
    err = y - ref.sigmoid(X @ w)
    assert nb.sse(X, y, w) == pytest.approx(float(np.sum(err**2)), rel=RTOL)
    assert nb.mse(X, y, w) == pytest.approx(float(np.mean(err**2)), rel=RTOL)
    np.testing.assert_allclose(nb.forward(X, w), ref.sigmoid(X @ w), rtol=RTOL)
    np.testing.assert_allclose(nb.gradient(X, y, w), ref.gradient(X, y, w), rtol=RTOL)
    np.testing.assert_allclose(nb.gradient(X, y, w, loss="sse"),
                               len(y) * ref.gradient(X, y, w), rtol=RTOL)
    assert nb.accuracy(X, y, w) == float(np.mean((ref.sigmoid(X @ w) > 0.5) == y))
    assert nb.accuracy(X, y, w, threshold=0.6) == float(np.mean((ref.sigmoid(X @ w) > 0.6)
                                                                == y))


@pytest.mark.parametrize("hidden", [(2,), (3, 2), (2, 3, 2)])
def test_network_helpers_off_the_training_path(data, hidden):
    X, y, _ = data
    ws = initial_network_weights(X.shape[1], hidden, seed=5)
    for got, want in zip(nb.network_gradient(X, y, ws), ref.network_gradient(X, y, ws),
                         strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-17)
    for got, want in zip(nb.network_gradient(X, y, ws, loss="sse"),
                         ref.network_gradient(X, y, ws), strict=True):
        np.testing.assert_allclose(got, len(y) * want, rtol=1e-12, atol=1e-15)
    out = X
    for W in ws[:-1]:
        out = ref.sigmoid(out @ W)
    output = ref.sigmoid(out @ ws[-1])
    np.testing.assert_allclose(nb.network_forward(X, ws), output, rtol=RTOL)
    err = y - output
    assert nb.network_mse(X, y, ws) == pytest.approx(float(np.mean(err**2)), rel=RTOL)
    assert nb.network_sse(X, y, ws) == pytest.approx(float(np.sum(err**2)), rel=RTOL)
    assert nb.network_accuracy(X, y, ws) == float(np.mean((output > 0.5) == y))
    assert nb.network_accuracy(X, y, ws, 0.45) == float(np.mean((output > 0.45) == y))


# --------------------------------------------------------------------------- float32


def _is_float32(value: float) -> bool:
    return float(np.float32(value)) == value


@pytest.mark.parametrize("per_record", [False, True])
def test_a_float32_run_is_computed_in_float32(data, per_record):
    X, y, w = (a.astype(np.float32) for a in data)
    for run in (nb.mse_training(X, y, w, epochs=3, per_record=per_record),
                nb.sgd_batching(X, y, w, epochs=1, batch_size=100),
                nb.backprop_training(X, y, hidden=(3, 2), epochs=3, per_record=per_record)):
        assert all(p.dtype == np.float32 for p in run.params)
        assert all(h.dtype == np.float32 for h in run.history)
        # every reported loss is a float32 number: computed in float32, not in float64
        assert all(_is_float32(v) for v in run.losses), run.losses
    assert nb.gradient(X, y, w).dtype == np.float32
    assert all(g.dtype == np.float32 for g in nb.network_gradient(
        X, y, initial_network_weights(6, (3, 2), dtype=np.float32)))
    assert nb.forward(X, w).dtype == np.float32 and nb.sigmoid_prime(w).dtype == np.float32


def test_a_float32_blocked_run_is_computed_in_float32():
    rng = np.random.default_rng(3)
    n, d = 5000, 64  # block_rows(64, 4) = 2048
    X = (rng.standard_normal((n, d)) / 4).astype(np.float32)
    y = (rng.random(n) < 0.4).astype(np.float32)
    w = rng.normal(scale=d**-0.5, size=d).astype(np.float32)
    run = nb.mse_training(X, y, w, epochs=2)
    assert run.weights.dtype == np.float32 and all(_is_float32(v) for v in run.losses)
    w64, _ = _neuron_epochs(X.astype(np.float64), y.astype(np.float64), w, 0.5, 2)
    np.testing.assert_allclose(run.weights, w64, rtol=1e-5)


# --------------------------------------------------------------------------- the survivors
# of a mutmut run on numpy_backend.py (tests/test_numpy_backend.py, test_mutation_classes.py,
# test_kernels.py, test_backprop.py): divergence messages, threshold ties, integer input to
# sigmoid, the per-record paths operation for operation.


def _sig(h):
    return 1.0 / (1.0 + np.exp(-h))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_per_record_neuron_epoch_is_the_lessons_loop_bit_for_bit(data, dtype):
    X, y, w = (a.astype(dtype) for a in data)
    got = nb.mse_training(X, y, w, lr=0.5, epochs=1, per_record=True).weights
    want = w.copy()
    del_w = np.zeros(want.shape, dtype=dtype)
    for x, target in zip(X, y):
        output = _sig(np.dot(x, want))
        error = target - output
        error_term = error * output * (1 - output)
        del_w += error_term * x
    want += (del_w * 0.5) / len(y)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_per_record_network_epoch_is_the_courses_loop_bit_for_bit(data, dtype):
    X, y, _ = (a.astype(dtype) for a in data)
    # W_ih starts at zero, so its new value is the accumulated del_w itself: an accumulator in
    # another dtype would show in the last bits
    ws = (np.zeros((X.shape[1], 2), dtype=dtype),
          initial_network_weights(X.shape[1], (2,), seed=21, dtype=dtype)[1])
    got = nb.backprop_training(X, y, ws, lr=0.5, epochs=1, per_record=True).params
    vectorized = nb.backprop_training(X, y, ws, lr=0.5, epochs=1).params
    w_ih, w_ho = (w.copy() for w in ws)
    d_ih, d_ho = np.zeros(w_ih.shape, dtype=dtype), np.zeros(w_ho.shape, dtype=dtype)
    for x, target in zip(X, y):
        hidden_output = _sig(np.dot(x, w_ih))
        output = _sig(np.dot(hidden_output, w_ho))
        error = target - output
        output_error_term = error * output * (1 - output)
        d_ho += output_error_term * hidden_output
        hidden_error = output_error_term * w_ho
        hidden_error_term = hidden_error * hidden_output * (1 - hidden_output)
        d_ih += hidden_error_term * x[:, None]
    w_ih += d_ih * 0.5 / len(y)
    w_ho += d_ho * 0.5 / len(y)
    assert all(p.dtype == dtype for p in got)
    np.testing.assert_array_equal(got[0], w_ih)
    np.testing.assert_array_equal(got[1], w_ho)
    # and per_record=True is not the vectorized path (which sums in another order)
    assert any(not np.array_equal(a, b) for a, b in zip(got, vectorized))


def test_sigmoid_of_integers_and_the_exercise_keeps_its_learning_rate():
    assert nb.sigmoid(0) == 0.5 and nb.sigmoid(0).dtype == np.float64
    np.testing.assert_array_equal(nb.sigmoid(np.array([0, 0])), [0.5, 0.5])
    a = nb.sigmoid_exercise(lr=0.1).del_w
    np.testing.assert_allclose(a, 0.2 * nb.sigmoid_exercise(lr=0.5).del_w, rtol=1e-15)


def test_a_prediction_on_the_threshold_counts_as_zero(data):
    X, y, _ = data
    assert nb.accuracy(X, y, np.zeros(X.shape[1])) == float(np.mean(y == 0))  # ŷ = 0.5
    ws = (np.ones((X.shape[1], 2)), np.zeros(2))
    assert nb.network_accuracy(X, y, ws) == float(np.mean(y == 0))


def _message(concept, bad, epoch, batch, index, lr):
    return (f"{concept} diverged: {bad} at epoch {epoch}, step {batch} of that epoch "
            f"(update {index}); try a smaller learning rate than lr={lr!r}")


def test_every_path_names_where_it_diverged(data):
    from gd_compare.lesson.core import DivergenceError

    X, y, w = data
    weights_inf = "the weights are no longer finite"
    cases = [
        (lambda: nb.simple_step(lr=1e308),
         _message("simple_step", weights_inf, 0, 0, 1, 1e308)),
        (lambda: nb.sigmoid_step(x=(1e300, 1e300), y=0.0, weights=(0.0, 0.0), lr=1e10),
         _message("sigmoid_step", weights_inf, 0, 0, 1, 1e10)),
        (lambda: nb.backprop_exercise(x=(1e300, 0.0, 0.0), weights_input_hidden=np.zeros((3, 2)),
                                      lr=1e12),
         _message("backprop_exercise", weights_inf, 0, 0, 1, 1e12)),
        (lambda: nb.mse_training(X, y, w, lr=1e308, epochs=3, loss="sse", per_record=True),
         _message("mse_training", weights_inf, 0, 0, 1, 1e308)),
        (lambda: nb.sgd_batching(X, y, w, lr=1e308, epochs=3, batch_size=100, loss="sse"),
         _message("sgd_batching", "the loss is nan", 0, 1, 2, 1e308)),
        (lambda: nb.backprop_training(X, y, lr=1e308, epochs=3, loss="sse", batch_size=100),
         _message("backprop", "the loss is nan", 0, 1, 2, 1e308)),
    ]
    for run, message in cases:
        with np.errstate(all="ignore"), pytest.raises(DivergenceError) as exc:
            run()
        assert str(exc.value) == message


@pytest.mark.parametrize("loss", ["mse", "sse"])
def test_a_step_schedule_and_an_optimizer_on_the_neuron_and_the_network(data, loss):
    """StepLR(step_size=1, gamma=0.5) halves the lesson's lr after every epoch: plain descent
    with lr_e = lr·0.5^e, epoch by epoch (neuron and network, MSE and SSE)."""
    X, y, w0 = data
    lr = 0.5 if loss == "mse" else 0.5 / len(y)
    kw = {"scheduler": "steplr", "scheduler_kwargs": {"step_size": 1, "gamma": 0.5}}
    run = nb.mse_training(X, y, w0, lr=lr, epochs=3, loss=loss, **kw)
    w = w0.copy()
    for e in range(3):
        w, _ = _neuron_epochs(X, y, w, lr * 0.5**e, 1, sse=loss == "sse")
    np.testing.assert_allclose(run.weights, w, rtol=1e-12)
    ws = initial_network_weights(X.shape[1], (2,), seed=21)
    net = nb.backprop_training(X, y, ws, lr=lr, epochs=3, loss=loss, **kw)
    want = ws
    for e in range(3):
        want, _ = _network_epochs(X, y, want, lr * 0.5**e, 1, sse=loss == "sse")
    for got, expected in zip(net.params, want, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-15)
