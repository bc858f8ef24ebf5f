"""gd_compare.torch_backend: the same functions, derivatives from autograd."""

from __future__ import annotations

import inspect
import itertools
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gd_compare import DivergenceError
from gd_compare import numpy_backend as nb

torch = pytest.importorskip("torch")  # the whole module is marked torch; see pytestmark
from gd_compare import torch_backend as tb  # noqa: E402
from gd_compare.torch_backend.autograd import _criterion, _objective  # noqa: E402

pytestmark = pytest.mark.torch


def test_both_backends_share_names_and_signatures():
    shared = set(nb.__all__)
    assert shared <= set(tb.__all__)
    assert set(tb.__all__) - shared == {"Neuron", "Network"}  # torch-only nn.Modules
    for name in sorted(shared):
        assert inspect.signature(getattr(nb, name)) == inspect.signature(getattr(tb, name)), name


TRAINING = ["iter_mse_training", "mse_training", "iter_sgd_batching", "sgd_batching",
            "iter_backprop_training", "backprop_training"]


@pytest.mark.parametrize("name", TRAINING)
def test_public_training_functions_are_written_once(name):
    """Built by gd_compare.lesson.training for both backends: one body, each backend's loops."""
    a, b = getattr(nb, name), getattr(tb, name)
    assert a is not b and a.__code__ is b.__code__
    assert (a.__module__, b.__module__) == ("gd_compare.numpy_backend", "gd_compare.torch_backend")
    assert a.__doc__ == b.__doc__ and a.__qualname__ == name


@pytest.mark.parametrize("name", ["iter_data_parallel", "data_parallel"])
def test_public_data_parallel_functions_are_written_once(name):
    """Built by gd_compare.lesson.parallel for both sides: one body, each side's stream of steps."""
    a, b = getattr(nb, name), getattr(tb, name)
    assert a is not b and a.__code__ is b.__code__
    assert (a.__module__, b.__module__) == ("gd_compare.numpy_backend", "gd_compare.torch_backend")
    assert a.__doc__ == b.__doc__ and a.__qualname__ == name
    assert inspect.signature(a) == inspect.signature(b)


def test_lesson_numbers_from_autograd():
    s = tb.simple_step()
    assert s.slope == -24.0 and s.w == pytest.approx(2.24, abs=1e-15)
    ex = tb.sigmoid_exercise()
    assert ex.output == pytest.approx(0.6899744811276125, abs=1e-16)
    np.testing.assert_allclose(
        ex.del_w, [-0.02031869, -0.04063738, -0.06095608, -0.08127477], atol=5e-9
    )


def test_sigmoid_equals_torch_sigmoid_at_extremes():
    h = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = nb.sigmoid(h)
    np.testing.assert_array_equal(ours, torch.sigmoid(torch.from_numpy(h)).numpy())
    np.testing.assert_array_equal(tb.sigmoid(h), ours)


def test_sigmoid_prime_from_autograd_matches_the_hand_formula():
    h = np.linspace(-20, 20, 101)
    np.testing.assert_allclose(tb.sigmoid_prime(h), nb.sigmoid_prime(h), rtol=1e-14, atol=1e-300)


def test_neuron_leaves_the_global_torch_rng_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    tb.Neuron(np.ones(6))
    assert torch.equal(torch.rand(3), expected)


def test_training_does_not_mutate_caller_arrays(admissions):
    X, y, _, _ = admissions
    X, y = X.copy(), y.copy()
    w = np.full(6, 0.2)
    copies = X.copy(), y.copy(), w.copy()
    tb.sgd_batching(X, y, w, epochs=2, batch_size=50)
    tb.mse_training(X, y, w, epochs=2, per_record=True)
    for original, kept in zip((X, y, w), copies):
        np.testing.assert_array_equal(original, kept)


def test_per_record_accumulation_matches_the_batched_gradient(admissions):
    X, y, _, _ = admissions
    loop = tb.mse_training(X, y, epochs=20, per_record=True)
    vec = tb.mse_training(X, y, epochs=20)
    np.testing.assert_allclose(loop.history[0], vec.history[0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(loop.losses, vec.losses, rtol=1e-12, atol=1e-14)


def test_same_bad_input_errors_as_numpy(admissions):
    X, y, _, _ = admissions
    for backend in (nb, tb):
        with pytest.raises(ValueError, match="x and weights: shapes must match"):
            backend.sigmoid_step(x=[1.0, 2.0, 3.0])
        with pytest.raises(ValueError, match="batch_size"):
            backend.sgd_batching(X, y, batch_size=400)
        with pytest.raises(ValueError, match="targets: accuracy needs binary targets"):
            backend.accuracy(X, y * 2, np.zeros(6))


@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_divergence_raises_in_torch_too(admissions):
    X, y, _, _ = admissions
    with pytest.raises(DivergenceError, match=r"epoch 0, step 0 .*smaller learning rate"):
        list(tb.iter_mse_training(X, y, lr=1e308, loss="sse", epochs=3))


def test_float32_stays_float32(admissions):
    X, y, _, _ = (a.astype(np.float32) for a in admissions)
    assert tb.mse_training(X, y, epochs=2).weights.dtype == np.float32
    assert tb.sigmoid_step(np.float32([0.1, 0.3]), np.float32(0.2),
                           np.float32([-0.8, 0.5])).del_w.dtype == np.float32


def test_the_dataloader_hands_over_the_shared_batch_order(admissions):
    from torch.utils.data import DataLoader, TensorDataset

    from gd_compare.lesson.core import BatchOrder

    X, y, _, _ = admissions
    numpy_side = BatchOrder(len(y), 32, seed=9)
    loader = DataLoader(TensorDataset(torch.from_numpy(X), torch.from_numpy(y)),
                        sampler=BatchOrder(len(y), 32, seed=9), batch_size=None)
    for _ in range(2):  # two epochs: two fresh permutations, the same on both sides
        batches = list(numpy_side)
        loaded = list(loader)
        assert len(loaded) == len(batches) == 12
        for batch, (xb, yb) in zip(batches, loaded):
            np.testing.assert_array_equal(xb.numpy(), X[batch])
            np.testing.assert_array_equal(yb.numpy(), y[batch])


# --------------------------------------------------------------------------- one-off evaluations
# The public gradient, losses, forward and accuracy evaluate on bare leaf tensors
# (autograd._BareNeuron / _BareNetwork) rather than building the nn.Modules the training loops
# step: the values must be the modules' own, bit for bit (the verdict compares the loops'
# steps with them to a few ULPs).


def _module_values(model, X, y, reduction):
    """(reported loss, gradients, ŷ) through the module the training loop uses."""
    model.zero_grad(set_to_none=True)
    reported, objective = _objective(model, torch.from_numpy(X), torch.from_numpy(y), reduction,
                                     _criterion(reduction))
    objective.backward()
    grads = tuple(p.grad.numpy().copy() for p in model.parameters())
    with torch.no_grad():
        out = model(torch.from_numpy(X)).numpy()
    return reported.item(), grads, out


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 70), d=st.integers(1, 9), seed=st.integers(0, 2**16),
       bias=st.booleans(), reduction=st.sampled_from(["mse", "sse", "bce"]),
       dtype=st.sampled_from([np.float64, np.float32]))
def test_public_neuron_evaluations_are_the_module_s_bit_for_bit(n, d, seed, bias, reduction,
                                                                 dtype):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(dtype)
    y = rng.integers(0, 2, size=n).astype(dtype)
    params = (rng.normal(size=d).astype(dtype),) + ((rng.normal(size=1).astype(dtype),)
                                                    if bias else ())
    reported, grads, out = _module_values(tb.Neuron.of(params), X, y, reduction)
    mine = tb.gradient(X, y, params if bias else params[0], loss=reduction)
    mine = mine if bias else (mine,)
    assert len(mine) == len(grads)
    for g, want in zip(mine, grads, strict=True):
        np.testing.assert_array_equal(g, want.reshape(g.shape))
    assert getattr(tb, reduction)(X, y, params if bias else params[0]) == reported
    np.testing.assert_array_equal(tb.forward(X, params if bias else params[0]), out)
    assert tb.accuracy(X, y, params if bias else params[0]) == float(
        np.mean((out > 0.5) == y))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 40), sizes=st.lists(st.integers(1, 5), min_size=2, max_size=4),
       seed=st.integers(0, 2**16), bias=st.booleans(),
       reduction=st.sampled_from(["mse", "sse", "bce"]))
def test_public_network_evaluations_are_the_module_s_bit_for_bit(n, sizes, seed, bias,
                                                                  reduction):
    rng = np.random.default_rng(seed)
    X, y = rng.normal(size=(n, sizes[0])), rng.integers(0, 2, size=n).astype(float)
    # W_k (sizes[k], sizes[k+1]), then w_out (sizes[-1],); with a bias b_k per layer, b_out (1,)
    weights = [rng.normal(size=shape) for shape in itertools.pairwise(sizes)]
    weights.append(rng.normal(size=sizes[-1]))
    if bias:
        weights += [rng.normal(size=h) for h in sizes[1:]] + [rng.normal(size=1)]
    reported, grads, out = _module_values(tb.Network(weights), X, y, reduction)
    mine = tb.network_gradient(X, y, weights, loss=reduction)
    assert len(mine) == len(grads)
    for g, want in zip(mine, grads, strict=True):
        np.testing.assert_array_equal(g, want)
    assert getattr(tb, "network_" + reduction)(X, y, weights) == reported
    np.testing.assert_array_equal(tb.network_forward(X, weights), out)
    with torch.no_grad():
        last = tb.Network(weights)(torch.from_numpy(X[-1]))
        want = torch.mean((last - torch.from_numpy(y)) ** 2).item()
    assert tb.network_course_loss(X, y, weights) == want
