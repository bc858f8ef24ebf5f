"""Gradient descent by hand: every derivative written out in NumPy.

The PyTorch twin of each function has the same name and signature in
:mod:`gd_compare.torch_backend`; there autograd finds the derivatives this file writes.
This module never imports torch.

Conventions (the lesson's): a record ``x`` has shape (d,), ``features`` (n, d), ``targets`` (n,),
``weights`` (d,); h = x·w, ŷ = output = sigmoid(h), error = y − ŷ.
The lesson's update, w ← w + lr·Σ error_term·x / m, is gradient descent on
E = ½·MSE = (1/2m)·Σ(y − ŷ)²; the loss it *reports* is MSE = mean((ŷ − y)²).
With ``loss="sse"`` the update is gradient descent on ½·SSE = ½·Σ(y − ŷ)² (no division by m)
and the reported loss is SSE.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import ArrayLike

from .core import (
    BatchOrder,
    NeuronStep,
    Reduction,
    SimpleStep,
    Step,
    Training,
    check_binary,
    check_count,
    check_dataset,
    check_lr,
    check_neuron_inputs,
    check_reduction,
    check_simple_inputs,
    collect,
    raise_if_diverged,
)
from .data import initial_weights

__all__ = [
    "accuracy",
    "forward",
    "iter_mse_training",
    "iter_sgd_batching",
    "mse",
    "mse_training",
    "sgd_batching",
    "sigmoid",
    "sigmoid_exercise",
    "sigmoid_prime",
    "sigmoid_step",
    "simple_step",
    "sse",
]

# --------------------------------------------------------------------------- activation


def sigmoid(h: ArrayLike) -> np.ndarray:
    """sigmoid(h) = 1 / (1 + exp(−h)), elementwise.

    The same formula ``torch.sigmoid`` evaluates on the CPU. It is stable as written: for
    h → −∞, exp(−h) overflows to inf and 1/inf = 0 exactly (the overflow warning is silenced);
    for h → +∞, exp(−h) → 0 and the result is 1. No NaN for any finite h.
    """
    h = np.asarray(h)
    if h.dtype.kind != "f":
        h = h.astype(np.float64)
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-h))


def sigmoid_prime(h: ArrayLike) -> np.ndarray:
    """sigmoid'(h) = sigmoid(h)·(1 − sigmoid(h)): the local derivative of the activation."""
    s = sigmoid(h)
    return s * (1 - s)


def forward(features: ArrayLike, weights: ArrayLike) -> np.ndarray:
    """ŷ = sigmoid(features @ weights): (n, d) @ (d,) → (n,)."""
    X, _, w = check_dataset(features, None, weights)
    return sigmoid(X @ w)


def mse(features: ArrayLike, targets: ArrayLike, weights: ArrayLike) -> float:
    """MSE = mean((ŷ − y)²), the loss the lesson prints."""
    X, y, w = check_dataset(features, targets, weights)
    error = y - sigmoid(X @ w)
    return float(np.mean(error**2))


def sse(features: ArrayLike, targets: ArrayLike, weights: ArrayLike) -> float:
    """SSE = Σ(ŷ − y)², the lesson's first metric: it grows with the number of records."""
    X, y, w = check_dataset(features, targets, weights)
    error = y - sigmoid(X @ w)
    return float(np.sum(error**2))


def accuracy(
    features: ArrayLike, targets: ArrayLike, weights: ArrayLike, threshold: float = 0.5
) -> float:
    """Share of records with (ŷ > threshold) == y; targets must be 0 or 1."""
    X, y, w = check_dataset(features, targets, weights)
    check_binary("targets", y)
    predictions = sigmoid(X @ w) > threshold
    return float(np.mean(predictions == y))


# --------------------------------------------------------------------------- 1. one weight


def simple_step(x: float = 3.0, y: float = 10.0, w: float = 2.0, lr: float = 0.01) -> SimpleStep:
    """The one-weight example: prediction = w·x, MSE = (prediction − y)².

    slope = dMSE/dw = 2·(prediction − y)·x      — the chain rule, by hand
    w ← w − lr·slope
    With the lesson's numbers: prediction 6, error −4, slope −24, new w 2.24.
    """
    x_, y_, w_ = check_simple_inputs(x, y, w)
    lr = check_lr(lr)
    prediction = w_ * x_
    error = prediction - y_
    loss = error**2
    slope = 2 * error * x_
    new_w = w_ - lr * slope
    raise_if_diverged("simple_step", float(loss), lr, epoch=0, batch=0, index=1, params=[new_w])
    return SimpleStep(float(prediction), float(error), float(loss), float(slope), float(new_w))


# --------------------------------------------------------------------------- 2./3. one neuron


def sigmoid_step(
    x: ArrayLike = (0.1, 0.3),
    y: ArrayLike = 0.2,
    weights: ArrayLike = (-0.8, 0.5),
    lr: float = 0.5,
) -> NeuronStep:
    """One gradient-descent step of one sigmoid neuron, in the lesson's names.

    h          = x·w                                  (scalar)
    output     = sigmoid(h)                           ŷ
    error      = y − output
    error_term = error·sigmoid'(h) = error·output·(1 − output)
    del_w      = lr·error_term·x                      (d,)
    weights    ← weights + del_w

    The step is gradient descent on E = ½(y − ŷ)²: −∂E/∂w = error_term·x.
    """
    x_, y_, w_ = check_neuron_inputs(x, y, weights)
    lr = check_lr(lr)
    h = np.dot(x_, w_)
    output = sigmoid(h)
    error = y_ - output
    # sigmoid'(h) = output·(1 − output): reuse the output instead of calling sigmoid_prime(h)
    error_term = error * output * (1 - output)
    del_w = lr * error_term * x_
    new_weights = w_ + del_w
    loss = float(error**2)
    raise_if_diverged("sigmoid_step", loss, lr, epoch=0, batch=0, index=1, params=[new_weights])
    return NeuronStep(float(h), float(output), float(error), float(error_term), del_w,
                      new_weights, loss)


def sigmoid_exercise(
    x: ArrayLike = (1.0, 2.0, 3.0, 4.0),
    y: ArrayLike = 0.5,
    weights: ArrayLike = (0.5, -0.5, 0.3, 0.1),
    lr: float = 0.5,
) -> NeuronStep:
    """The lesson's exercise: :func:`sigmoid_step` on x=[1, 2, 3, 4], y=0.5,
    w=[0.5, −0.5, 0.3, 0.1], lr=0.5. It prints output 0.6899744811276125,
    error −0.18997448112761249 and change in weights
    [−0.02031869, −0.04063738, −0.06095608, −0.08127477]."""
    return sigmoid_step(x, y, weights, lr)


# --------------------------------------------------------------------------- 4./5. training


def _gradient_step(
    X: np.ndarray, y: np.ndarray, weights: np.ndarray, lr: float, reduction: Reduction
) -> float:
    """One update of the lesson's rule on a batch ``X`` (m, d), ``y`` (m,); ``weights`` (d,)
    change in place. Returns the batch loss (MSE or SSE) at the weights before the update.

    output     = sigmoid(X @ w)                 (m,)
    error      = y − output                     (m,)
    error_term = error·output·(1 − output)      (m,)
    del_w      = Σ_i error_term_i·x_i = error_term @ X      (d,)
    w         += lr·del_w / m       (m = 1 for SSE)
    """
    output = sigmoid(X @ weights)
    error = y - output
    error_term = error * output * (1 - output)
    del_w = error_term @ X
    m = len(y) if reduction == "mse" else 1
    weights += del_w * lr / m
    return float((error @ error) / m)


#: Rows per block of :func:`_blocked_full_batch_step`: about 512 KiB of ``X`` (half of this
#: machine's 1 MiB L2), so both matrix-vector products of a block read it from cache.
_BLOCK_BYTES = 1 << 19


def _block_rows(n_features: int, itemsize: int) -> int:
    return max(256, _BLOCK_BYTES // (n_features * itemsize))


class _BlockBuffers:
    """Scratch space for :func:`_blocked_full_batch_step`, allocated once per training run:
    three block-long vectors and the per-block partial sums (so nothing n-long is allocated
    per epoch)."""

    def __init__(self, n: int, d: int, dtype: np.dtype, rows: int | None = None) -> None:
        self.rows = min(n, rows or _block_rows(d, np.dtype(dtype).itemsize))
        self.a = np.empty(self.rows, dtype=dtype)
        self.b = np.empty(self.rows, dtype=dtype)
        self.c = np.empty(self.rows, dtype=dtype)
        blocks = -(-n // self.rows)
        self.del_w = np.empty((blocks, d), dtype=dtype)
        self.sq_error = np.empty(blocks, dtype=dtype)
        self.neg_w = np.empty(d, dtype=dtype)


def _blocked_full_batch_step(
    X: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    lr: float,
    reduction: Reduction,
    buffers: _BlockBuffers,
) -> float:
    """:func:`_gradient_step` on the full batch, reading ``X`` from memory once.

    The plain form makes two passes over ``X`` (``X @ w``, then ``error_term @ X``) and
    allocates several n-long temporaries. Here the rows are taken in blocks small enough to
    stay in cache: for each block ``Xb`` both products are done while ``Xb`` is still there,
    and every elementwise step writes into preallocated ``buffers``:

    output_b     = 1 / (1 + exp(Xb @ (−w)))         (Xb @ (−w) is exactly −(Xb @ w))
    error_b      = y_b − output_b
    error_term_b = error_b·output_b·(1 − output_b)
    del_w        = Σ_blocks error_term_b @ Xb;   Σ error² likewise

    Every elementwise value is bit-for-bit the one :func:`_gradient_step` computes; only the
    two sums are added in a different order (block partials, then the blocks in order), which
    moves the result by a few ULPs at most. With one block the result is identical.
    """
    n = len(y)
    rows = buffers.rows
    np.negative(weights, out=buffers.neg_w)
    blocks = 0
    with np.errstate(over="ignore"):  # exp(−h) = inf gives output 0, as sigmoid() does
        for start in range(0, n, rows):
            Xb = X[start:start + rows]
            m = len(Xb)
            output, error, term = buffers.a[:m], buffers.b[:m], buffers.c[:m]
            np.dot(Xb, buffers.neg_w, out=output)  # −h
            np.exp(output, out=output)
            output += 1
            np.divide(1, output, out=output)  # sigmoid(h)
            np.subtract(y[start:start + m], output, out=error)
            buffers.sq_error[blocks] = np.dot(error, error)
            np.multiply(error, output, out=term)
            np.subtract(1, output, out=output)  # 1 − output (output is not needed after this)
            term *= output  # error·output·(1 − output)
            np.dot(term, Xb, out=buffers.del_w[blocks])
            blocks += 1
    del_w = buffers.del_w[0] if blocks == 1 else buffers.del_w[:blocks].sum(axis=0)
    sq_error = buffers.sq_error[0] if blocks == 1 else buffers.sq_error[:blocks].sum()
    m = n if reduction == "mse" else 1
    weights += del_w * lr / m
    return float(sq_error / m)


def _per_record_epoch(
    X: np.ndarray, y: np.ndarray, weights: np.ndarray, lr: float, reduction: Reduction
) -> float:
    """One epoch exactly as the lesson's loop writes it, record by record; ``weights`` change
    in place once, at the end. Returns the epoch's loss at the weights before the update."""
    n_records = len(y)
    del_w = np.zeros(weights.shape, dtype=weights.dtype)
    sq_error = 0.0
    for x, target in zip(X, y, strict=True):
        output = sigmoid(np.dot(x, weights))
        error = target - output
        error_term = error * output * (1 - output)
        del_w += error_term * x
        sq_error += error * error
    m = n_records if reduction == "mse" else 1
    weights += (del_w * lr) / m
    return float(sq_error / m)


def iter_sgd_batching(
    features: ArrayLike,
    targets: ArrayLike,
    weights: ArrayLike | None = None,
    lr: float = 0.5,
    epochs: int = 100,
    batch_size: int = 32,
    *,
    seed: int | None = 42,
    shuffle: bool = True,
    drop_last: bool = False,
    loss: Reduction = "mse",
) -> Iterator[Step]:
    """Mini-batch SGD as a stream of :class:`Step` s: each update uses one batch of a fresh
    per-epoch permutation (:class:`~gd_compare.core.BatchOrder`), with the update of
    :func:`_gradient_step` averaged over the batch's own size.

    ``weights=None`` starts from the lesson's Normal(0, 1/√d) draw with seed 42.
    ``batch_size == n`` is full-batch gradient descent (:func:`iter_mse_training`);
    ``batch_size == 1`` is per-example SGD.
    """
    X, y, w = check_dataset(features, targets, weights)
    w = initial_weights(X.shape[1], dtype=X.dtype) if w is None else w
    lr = check_lr(lr)
    epochs = check_count("epochs", epochs)
    reduction = check_reduction(loss)
    order = BatchOrder(len(y), batch_size, seed=seed, shuffle=shuffle, drop_last=drop_last)
    return _train(X, y, w, lr, epochs, order, reduction, "sgd_batching")


def _train(
    X: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    lr: float,
    epochs: int,
    order: BatchOrder,
    reduction: Reduction,
    concept: str,
) -> Iterator[Step]:
    params = (w,)
    last = len(order) - 1
    index = 0
    # The full batch (one slice of all rows) takes the cache-blocked kernel once n spans more
    # than one block; mini-batches and small sets take the plain form.
    blocked = order.batch_size == len(y) and len(y) > _block_rows(X.shape[1], X.itemsize)
    buffers = _BlockBuffers(*X.shape, X.dtype) if blocked else None
    for epoch in range(epochs):
        for b, batch in enumerate(order):
            index += 1
            if buffers is not None:
                loss = _blocked_full_batch_step(X, y, w, lr, reduction, buffers)
            else:
                loss = _gradient_step(X[batch], y[batch], w, lr, reduction)
            raise_if_diverged(concept, loss, lr, epoch=epoch, batch=b, index=index,
                              params=params if b == last else ())
            yield Step(index, epoch, b == last, params, loss)


def _train_per_record(
    X: np.ndarray, y: np.ndarray, w: np.ndarray, lr: float, epochs: int, reduction: Reduction
) -> Iterator[Step]:
    params = (w,)
    for epoch in range(epochs):
        loss = _per_record_epoch(X, y, w, lr, reduction)
        raise_if_diverged("mse_training", loss, lr, epoch=epoch, batch=0, index=epoch + 1,
                          params=params)
        yield Step(epoch + 1, epoch, True, params, loss)


def iter_mse_training(
    features: ArrayLike,
    targets: ArrayLike,
    weights: ArrayLike | None = None,
    lr: float = 0.5,
    epochs: int = 1000,
    *,
    per_record: bool = False,
    loss: Reduction = "mse",
) -> Iterator[Step]:
    """Full-batch gradient descent, one :class:`Step` per epoch:
    w ← w + lr·Σ_i error_term_i·x_i / n  (the lesson's ``weights += del_w*learnrate/n_records``).

    ``per_record=True`` runs the lesson's own loop (record by record, accumulating del_w), kept
    as the readable reference; the default computes the same sums as matrix products.
    """
    X, y, w = check_dataset(features, targets, weights)
    w = initial_weights(X.shape[1], dtype=X.dtype) if w is None else w
    lr = check_lr(lr)
    epochs = check_count("epochs", epochs)
    reduction = check_reduction(loss)
    if per_record:
        return _train_per_record(X, y, w, lr, epochs, reduction)
    order = BatchOrder(len(y), len(y), shuffle=False)
    return _train(X, y, w, lr, epochs, order, reduction, "mse_training")


def mse_training(
    features: ArrayLike,
    targets: ArrayLike,
    weights: ArrayLike | None = None,
    lr: float = 0.5,
    epochs: int = 1000,
    *,
    per_record: bool = False,
    loss: Reduction = "mse",
    record: bool | int = True,
) -> Training:
    """The lesson's training loop run to the end: final weights, the loss of every epoch, the
    weights after every (or every ``record``-th) epoch, and the lesson's log every epochs/10."""
    steps = iter_mse_training(features, targets, weights, lr, epochs, per_record=per_record,
                              loss=loss)
    X, y, _ = check_dataset(features, targets)
    return collect(steps, _evaluator(X, y, loss), epochs=epochs, total_steps=epochs,
                   record=record)


def sgd_batching(
    features: ArrayLike,
    targets: ArrayLike,
    weights: ArrayLike | None = None,
    lr: float = 0.5,
    epochs: int = 100,
    batch_size: int = 32,
    *,
    seed: int | None = 42,
    shuffle: bool = True,
    drop_last: bool = False,
    loss: Reduction = "mse",
    record: bool | int = True,
) -> Training:
    """:func:`iter_sgd_batching` run to the end (see :func:`mse_training` for what is kept)."""
    steps = iter_sgd_batching(features, targets, weights, lr, epochs, batch_size, seed=seed,
                              shuffle=shuffle, drop_last=drop_last, loss=loss)
    X, y, _ = check_dataset(features, targets)
    per_epoch = len(BatchOrder(len(y), batch_size, drop_last=drop_last))
    return collect(steps, _evaluator(X, y, loss), epochs=epochs,
                   total_steps=epochs * per_epoch, record=record)


def _evaluator(X: np.ndarray, y: np.ndarray, reduction: Reduction):
    total = sse if reduction == "sse" else mse
    return lambda params: total(X, y, params[0])
