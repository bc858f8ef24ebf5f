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

A network (section 6, ``backprop_training``) has ``weights`` = (W_1 (d, h_1), ..., w_out (h_L,))
and the same loss convention; its backward pass is written out layer by layer.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

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
    check_dataset,
    check_lr,
    check_network,
    check_neuron_inputs,
    check_reduction,
    check_simple_inputs,
    check_threshold,
    hidden_of,
    raise_if_diverged,
)
from .data import BACKPROP_SEED
from .training import TrainingRun, network_run, neuron_run

__all__ = [
    "accuracy",
    "backprop_training",
    "forward",
    "gradient",
    "iter_backprop_training",
    "iter_mse_training",
    "iter_sgd_batching",
    "mse",
    "mse_training",
    "network_accuracy",
    "network_forward",
    "network_gradient",
    "network_mse",
    "network_sse",
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
        return np.asarray(1.0 / (1.0 + np.exp(-h)))


def sigmoid_prime(h: ArrayLike) -> np.ndarray:
    """sigmoid'(h) = sigmoid(h)·(1 − sigmoid(h)): the local derivative of the activation."""
    s = sigmoid(h)
    return np.asarray(s * (1 - s))


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
    threshold = check_threshold(threshold)
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
    del_w, error = _neuron_del_w(X, y, weights)
    m = len(y) if reduction == "mse" else 1
    weights += del_w * lr / m
    return float((error @ error) / m)


def _neuron_del_w(
    X: np.ndarray, y: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The lesson's ``del_w`` summed over a batch, and the batch's ``error`` (m,)."""
    output = sigmoid(X @ weights)
    error = y - output
    error_term = error * output * (1 - output)
    del_w = error_term @ X
    return del_w, error


def gradient(
    features: ArrayLike, targets: ArrayLike, weights: ArrayLike, loss: Reduction = "mse"
) -> np.ndarray:
    """∂E/∂w of one sigmoid neuron on a batch, by hand: the gradient every training update of
    :func:`mse_training` and :func:`sgd_batching` steps against (the same code).

    E = ½·MSE = (1/2m)·Σ(y − ŷ)²  ⇒  ∂E/∂w = −Σ_i error_term_i·x_i / m = −del_w / m   (d,)
    (``loss="sse"``: E = ½·SSE, no division by m). The training update is w ← w − lr·∂E/∂w.
    """
    X, y, w = check_dataset(features, targets, weights)
    reduction = check_reduction(loss)
    del_w, _ = _neuron_del_w(X, y, w)
    m = len(y) if reduction == "mse" else 1
    return -del_w / m


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
    run = neuron_run(features, targets, weights, lr, epochs, loss, batch_size=batch_size,
                     seed=seed, shuffle=shuffle, drop_last=drop_last)
    return _steps(run, "sgd_batching")


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
    run = neuron_run(features, targets, weights, lr, epochs, loss)
    return _steps(run, "mse_training", per_record)


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
    run = neuron_run(features, targets, weights, lr, epochs, loss)
    return run.finish(_steps(run, "mse_training", per_record), _loss_function(loss), record)


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
    run = neuron_run(features, targets, weights, lr, epochs, loss, batch_size=batch_size,
                     seed=seed, shuffle=shuffle, drop_last=drop_last)
    return run.finish(_steps(run, "sgd_batching"), _loss_function(loss), record)


def _steps(run: TrainingRun, concept: str, per_record: bool = False) -> Iterator[Step]:
    """The neuron's stream of steps for a checked run (the lesson's loop if ``per_record``)."""
    if per_record:
        return _train_per_record(run.X, run.y, run.params[0], run.lr, run.epochs, run.reduction)
    return _train(run.X, run.y, run.params[0], run.lr, run.epochs, run.order, run.reduction,
                  concept)


def _loss_function(reduction: str):
    return sse if reduction == "sse" else mse


# --------------------------------------------------------------------------- 6. backpropagation
#
# A network with L hidden sigmoid layers of sizes h_1 .. h_L and one sigmoid output, no biases
# (as the course's exercise). weights = (W_1, ..., W_L, w_out):
#   W_1 (d, h_1), W_k (h_{k-1}, h_k), w_out (h_L,)            — the course's shapes, with
#   L = 1: weights_input_hidden (n_features, n_hidden), weights_hidden_output (n_hidden,).
# Forward, for a batch X (m, d):  hidden_output_0 = X,
#   hidden_output_k = sigmoid(hidden_output_{k-1} @ W_k)       (m, h_k)
#   output          = sigmoid(hidden_output_L @ w_out)         (m,)


def _network_outputs(X: np.ndarray, weights: Sequence[np.ndarray]) -> list[np.ndarray]:
    """[hidden_output_0 = X, hidden_output_1, ..., hidden_output_L, output] for a batch X (m, d)
    (or one record x (d,): then every hidden output is (h_k,) and the output a scalar)."""
    outputs = [X]
    for W in weights[:-1]:
        outputs.append(sigmoid(np.dot(outputs[-1], W)))
    outputs.append(sigmoid(np.dot(outputs[-1], weights[-1])))
    return outputs


def network_forward(features: ArrayLike, weights: Sequence[ArrayLike]) -> np.ndarray:
    """ŷ = output of the network for every record: (n, d) → (n,)."""
    X, _, ws, _ = check_network(features, None, weights, hidden_of(weights))
    return _network_outputs(X, ws)[-1]


def _network_error(features, targets, weights) -> np.ndarray:
    X, y, ws, _ = check_network(features, targets, weights, hidden_of(weights))
    return y - _network_outputs(X, ws)[-1]


def network_mse(features: ArrayLike, targets: ArrayLike, weights: Sequence[ArrayLike]) -> float:
    """MSE = mean((ŷ − y)²) of the network, the loss the lesson prints."""
    error = _network_error(features, targets, weights)
    return float(np.mean(error**2))


def network_sse(features: ArrayLike, targets: ArrayLike, weights: Sequence[ArrayLike]) -> float:
    """SSE = Σ(ŷ − y)² of the network."""
    error = _network_error(features, targets, weights)
    return float(np.sum(error**2))


def network_accuracy(
    features: ArrayLike,
    targets: ArrayLike,
    weights: Sequence[ArrayLike],
    threshold: float = 0.5,
) -> float:
    """Share of records with (ŷ > threshold) == y; targets must be 0 or 1."""
    X, y, ws, _ = check_network(features, targets, weights, hidden_of(weights))
    check_binary("targets", y)
    threshold = check_threshold(threshold)
    predictions = _network_outputs(X, ws)[-1] > threshold
    return float(np.mean(predictions == y))


def _backprop(
    X: np.ndarray, y: np.ndarray, weights: Sequence[np.ndarray]
) -> tuple[list[np.ndarray], np.ndarray]:
    """The backward pass on a batch X (m, d), y (m,), vectorized over the records: each layer's
    ``del_w`` summed over the batch (the course's per-record sums, as matrix products), and the
    batch's ``error`` (m,). −∂E/∂W_k = del_w[k] / m for E = ½·MSE.

    error               = y − output                                            (m,)
    output_error_term   = error·output·(1 − output)                             (m,)
    del_w[L]            = hidden_output_Lᵀ @ output_error_term                  (h_L,)
    hidden_error        = output_error_term ⊗ w_out   (each unit's share)       (m, h_L)
    for k = L .. 1:
        hidden_error_term = hidden_error·hidden_output_k·(1 − hidden_output_k) (m, h_k)
        del_w[k-1]        = hidden_output_{k-1}ᵀ @ hidden_error_term            (h_{k-1}, h_k)
        hidden_error      = hidden_error_term @ W_kᵀ   (the transposed weights) (m, h_{k-1})
    """
    *hidden_outputs, output = _network_outputs(X, weights)
    error = y - output
    output_error_term = error * output * (1 - output)
    del_w: list[np.ndarray] = [np.empty(0)] * len(weights)
    del_w[-1] = hidden_outputs[-1].T @ output_error_term
    hidden_error = np.outer(output_error_term, weights[-1])
    for k in range(len(weights) - 2, -1, -1):
        hidden_output = hidden_outputs[k + 1]
        hidden_error_term = hidden_error * hidden_output * (1 - hidden_output)
        del_w[k] = hidden_outputs[k].T @ hidden_error_term
        if k:
            hidden_error = hidden_error_term @ weights[k].T
    return del_w, error


def _backprop_per_record(
    X: np.ndarray, y: np.ndarray, weights: Sequence[np.ndarray]
) -> tuple[list[np.ndarray], float]:
    """The backward pass as the course's loop writes it, record by record, accumulating each
    layer's ``del_w``; returns them and the batch's sum of squared errors. For one record x (d,):

    output_error_term  = error·output·(1 − output)                        scalar
    del_w[L]          += output_error_term·hidden_output_L                 (h_L,)
    hidden_error       = output_error_term·w_out                           (h_L,)
    for k = L .. 1:
        hidden_error_term = hidden_error·hidden_output_k·(1 − hidden_output_k)    (h_k,)
        del_w[k-1]       += hidden_error_term·hidden_output_{k-1}[:, None]        (h_{k-1}, h_k)
        hidden_error      = W_k @ hidden_error_term  (x @ W forward, W · δ back)  (h_{k-1},)

    With one hidden layer these are the course's ``weights_hidden_output`` and
    ``weights_input_hidden`` lines (``del_w_input_hidden += hidden_error_term * x[:, None]``).
    """
    del_w = [np.zeros(w.shape, dtype=w.dtype) for w in weights]
    sq_error = 0.0
    for x, target in zip(X, y, strict=True):
        *hidden_outputs, output = _network_outputs(x, weights)
        error = target - output
        output_error_term = error * output * (1 - output)
        del_w[-1] += output_error_term * hidden_outputs[-1]
        hidden_error = output_error_term * weights[-1]
        for k in range(len(weights) - 2, -1, -1):
            hidden_output = hidden_outputs[k + 1]
            hidden_error_term = hidden_error * hidden_output * (1 - hidden_output)
            del_w[k] += hidden_error_term * hidden_outputs[k][:, None]
            if k:
                hidden_error = np.dot(weights[k], hidden_error_term)
        sq_error += error * error
    return del_w, float(sq_error)


def _backprop_step(
    X: np.ndarray,
    y: np.ndarray,
    weights: Sequence[np.ndarray],
    lr: float,
    reduction: Reduction,
    per_record: bool,
) -> float:
    """One update of every layer on a batch; ``weights`` change in place:
    W_k += lr·del_w[k] / m  (m = 1 for SSE). Returns the batch loss before the update."""
    if per_record:
        del_w, sq_error = _backprop_per_record(X, y, weights)
    else:
        del_w, error = _backprop(X, y, weights)
        sq_error = float(error @ error)
    m = len(y) if reduction == "mse" else 1
    for W, d in zip(weights, del_w, strict=True):
        W += d * lr / m
    return sq_error / m


def network_gradient(
    features: ArrayLike,
    targets: ArrayLike,
    weights: Sequence[ArrayLike],
    loss: Reduction = "mse",
) -> tuple[np.ndarray, ...]:
    """∂E/∂W for every layer, by hand (the backward pass :func:`backprop_training` steps with):
    ∂E/∂W_k = −del_w[k] / m of E = ½·MSE (``loss="sse"``: ½·SSE, no /m). Same shapes as
    ``weights``: (d, h_1), ..., (h_L,)."""
    X, y, ws, _ = check_network(features, targets, weights, hidden_of(weights))
    reduction = check_reduction(loss)
    del_w, _ = _backprop(X, y, ws)
    m = len(y) if reduction == "mse" else 1
    return tuple(-d / m for d in del_w)




def iter_backprop_training(
    features: ArrayLike,
    targets: ArrayLike,
    weights: Sequence[ArrayLike] | None = None,
    lr: float = 0.005,
    epochs: int = 900,
    hidden: int | Sequence[int] = (2,),
    *,
    batch_size: int | None = None,
    seed: int | None = BACKPROP_SEED,
    shuffle: bool = True,
    drop_last: bool = False,
    per_record: bool = False,
    loss: Reduction = "mse",
) -> Iterator[Step]:
    """Train the network by backpropagation, one :class:`Step` per update; ``Step.params`` is
    the tuple of live per-layer weights (W_1, ..., W_L, w_out) in the shapes above.

    ``weights=None`` draws the course's start with ``seed`` (:func:`initial_network_weights`:
    Normal(0, 1/√d), seed 21). ``batch_size=None`` is full-batch gradient descent, one update per
    epoch (the course's exercise); an int takes mini-batches of the shared
    :class:`~gd_compare.core.BatchOrder` (a fresh permutation from ``seed`` every epoch).
    ``per_record=True`` runs the course's record-by-record loop instead of the matrix products.
    """
    run = network_run(features, targets, weights, hidden, lr, epochs, loss,
                      batch_size=batch_size, seed=seed, shuffle=shuffle, drop_last=drop_last)
    return _train_network(run.X, run.y, run.params, run.lr, run.epochs, run.order,
                          run.reduction, bool(per_record))


def _train_network(
    X: np.ndarray,
    y: np.ndarray,
    weights: tuple[np.ndarray, ...],
    lr: float,
    epochs: int,
    order: BatchOrder,
    reduction: Reduction,
    per_record: bool,
) -> Iterator[Step]:
    last = len(order) - 1
    index = 0
    for epoch in range(epochs):
        for b, batch in enumerate(order):
            index += 1
            loss = _backprop_step(X[batch], y[batch], weights, lr, reduction, per_record)
            raise_if_diverged("backprop", loss, lr, epoch=epoch, batch=b, index=index,
                              params=weights if b == last else ())
            yield Step(index, epoch, b == last, weights, loss)


def backprop_training(
    features: ArrayLike,
    targets: ArrayLike,
    weights: Sequence[ArrayLike] | None = None,
    lr: float = 0.005,
    epochs: int = 900,
    hidden: int | Sequence[int] = (2,),
    *,
    batch_size: int | None = None,
    seed: int | None = BACKPROP_SEED,
    shuffle: bool = True,
    drop_last: bool = False,
    per_record: bool = False,
    loss: Reduction = "mse",
    record: bool | int = True,
) -> Training:
    """:func:`iter_backprop_training` run to the end: ``params`` the final per-layer weights,
    the loss of every update, the weights after every (``record``-th) update, and the lesson's
    log every epochs/10 epochs (the train MSE of the whole network on all of ``features``)."""
    run = network_run(features, targets, weights, hidden, lr, epochs, loss,
                      batch_size=batch_size, seed=seed, shuffle=shuffle, drop_last=drop_last)
    steps = _train_network(run.X, run.y, run.params, run.lr, run.epochs, run.order,
                           run.reduction, bool(per_record))
    return run.finish(steps, network_sse if loss == "sse" else network_mse, record)


# --------------------------------------------------------------------------- 7. data-parallel SGD
# K workers' shards, each shard's gradient by hand, the all-reduce written out: its own module.
from .data_parallel import (  # noqa: E402
    data_parallel,
    data_parallel_accuracy,
    data_parallel_mse,
    data_parallel_sse,
    iter_data_parallel,
)

__all__ += ["data_parallel", "data_parallel_accuracy", "data_parallel_mse",
            "data_parallel_sse", "iter_data_parallel"]
