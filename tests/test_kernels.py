"""gd_compare.numpy_backend.kernels: the cache-blocked full-batch kernel against the plain
vectorised step and
the lesson's loop."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gd_compare.numpy_backend import by_hand as nb
from gd_compare.numpy_backend import kernels
from gd_compare.proof.harness import DEFAULT_TOLERANCE

TOL = {np.dtype(k): v for k, v in DEFAULT_TOLERANCE.items()}


def _close(a, b, dtype) -> bool:
    rtol, atol = TOL[np.dtype(dtype)]
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return bool(np.all(np.abs(a - b) <= atol + rtol * np.maximum(np.abs(a), np.abs(b))))


def _problem(n: int, d: int, seed: int, dtype):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(dtype)
    y = (rng.random(n) < 0.5).astype(dtype)
    w = rng.normal(scale=d**-0.5, size=d).astype(dtype)
    return X, y, w


@given(
    n=st.integers(1, 700),
    d=st.integers(1, 9),
    rows=st.integers(1, 300),
    dtype=st.sampled_from([np.float64, np.float32]),
    reduction=st.sampled_from(["mse", "sse"]),
    seed=st.integers(0, 2**16),
)
def test_blocked_matches_plain_and_per_record(n, d, rows, dtype, reduction, seed):
    X, y, w = _problem(n, d, seed, dtype)
    lr = 0.5 if reduction == "mse" else 0.5 / n
    plain, blocked, loop = w.copy(), w.copy(), w.copy()
    loss_plain = nb._gradient_step(X, y, (plain,), lr, reduction)
    buffers = kernels.BlockBuffers(n, d, X.dtype, rows)
    loss_blocked = kernels.blocked_full_batch_step(X, y, blocked, lr, reduction, buffers)
    loss_loop = nb._per_record_epoch(X, y, (loop,), lr, reduction)
    assert blocked.dtype == plain.dtype
    assert _close(blocked, plain, dtype) and _close(loss_blocked, loss_plain, dtype)
    assert _close(blocked, loop, dtype) and _close(loss_blocked, loss_loop, dtype)
    if rows >= n:  # one block: the very same operations
        assert np.array_equal(blocked, plain) and loss_blocked == loss_plain


def test_buffers_are_reused_across_epochs():
    X, y, w = _problem(1000, 5, 0, np.float64)
    buffers = kernels.BlockBuffers(1000, 5, X.dtype, 128)
    ref, got = w.copy(), w.copy()
    for _ in range(20):
        a = nb._gradient_step(X, y, (ref,), 0.5, "mse")
        b = kernels.blocked_full_batch_step(X, y, got, 0.5, "mse", buffers)
        assert _close(a, b, np.float64)
    assert _close(got, ref, np.float64)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_full_batch_training_takes_the_blocked_kernel(monkeypatch, dtype):
    X, y, w = _problem(1500, 4, 1, dtype)
    monkeypatch.setattr(kernels, "BLOCK_BYTES", 256 * 4 * np.dtype(dtype).itemsize)  # 6 blocks
    calls = []
    real = kernels.blocked_full_batch_step
    monkeypatch.setattr(kernels, "blocked_full_batch_step",
                        lambda *a: calls.append(1) or real(*a))
    run = nb.mse_training(X, y, w, lr=0.5, epochs=30, record=False)
    assert len(calls) == 30
    ref = w.copy()
    losses = [nb._gradient_step(X, y, (ref,), 0.5, "mse") for _ in range(30)]
    assert _close(run.weights, ref, dtype) and _close(run.losses, losses, dtype)
    loop = nb.mse_training(X, y, w, lr=0.5, epochs=30, per_record=True, record=False)
    assert _close(run.weights, loop.weights, dtype)


def test_small_full_batch_keeps_the_plain_step(monkeypatch):
    X, y, w = _problem(360, 6, 2, np.float64)
    monkeypatch.setattr(kernels, "blocked_full_batch_step", None)  # would fail if called
    nb.mse_training(X, y, w, epochs=3)


@pytest.mark.parametrize("optimizer, options", [("adam", {}), ("sgd", {"momentum": 0.9}),
                                                ("rmsprop", {"centered": True})])
def test_an_optimizers_full_batch_takes_the_blocked_kernel_too(monkeypatch, optimizer, options):
    """Optimizer runs at full batch get their gradient −del_w / m from the blocked kernel (no
    n-long temporary per epoch); the optimizer is fed the plain step's gradient to a few ULPs."""
    from gd_compare import optim

    X, y, w = _problem(1500, 4, 3, np.float64)
    monkeypatch.setattr(kernels, "BLOCK_BYTES", 256 * 4 * 8)  # 6 blocks
    calls = []
    real = kernels.blocked_del_w
    monkeypatch.setattr(kernels, "blocked_del_w", lambda *a: calls.append(1) or real(*a))
    run = nb.mse_training(X, y, w, lr=0.01, epochs=30, record=False, optimizer=optimizer,
                          optimizer_kwargs=options)
    assert len(calls) == 30
    ref = w.copy()
    cls = {"adam": optim.Adam, "sgd": optim.SGD, "rmsprop": optim.RMSprop}[optimizer]
    plain = cls([ref], lr=0.01, **options)
    losses = [nb._optimizer_step(X, y, (ref,), "mse", plain) for _ in range(30)]
    assert _close(run.weights, ref, np.float64) and _close(run.losses, losses, np.float64)



@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_public_gradient_of_a_large_batch_stays_the_plain_sum(monkeypatch, dtype):
    """Past one block, full-batch *training* takes the blocked kernel, but the public
    ``gradient`` and losses keep the plain long sums: the re-judge measures the rounding noise
    of a sum on the reference backend's gradient (rows reversed, a wider float), and a blocked
    sum — about 5x more accurate in float32 — would understate the noise of PyTorch's long sum
    and fail honest float32 runs at n ≥ 3e5 as "different math"."""
    X, y, w = _problem(1500, 4, 4, dtype)
    monkeypatch.setattr(kernels, "BLOCK_BYTES", 256 * 4 * np.dtype(dtype).itemsize)  # 6 blocks
    monkeypatch.setattr(kernels, "blocked_del_w", None)  # would fail if called
    (del_w,), _ = nb._neuron_del_w(X, y, (w,), "mse")
    assert np.array_equal(nb.gradient(X, y, w), -del_w / len(y))
    assert nb.mse(X, y, w) == float(np.mean((y - nb.sigmoid(X @ w)) ** 2))
    assert nb.sse(X, y, w) == float(np.sum((y - nb.sigmoid(X @ w)) ** 2))
