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

from gd_compare import optim
from gd_compare.lesson.core import (
    BackpropStep,
    BatchOrder,
    NeuronStep,
    Reduction,
    SimpleStep,
    Step,
    batch_divisor,
    check_backprop_inputs,
    check_bias,
    check_binary,
    check_loss_targets,
    check_lr,
    check_network_data,
    check_neuron_data,
    check_neuron_inputs,
    check_reduction,
    check_simple_inputs,
    check_threshold,
    raise_if_diverged,
    raise_if_input_overflows,
    split_network,
)
from gd_compare.lesson.options import LESSON_SGD, OptimizerChoice, SchedulerChoice
from gd_compare.lesson.training import Loops, training_functions
from gd_compare.numpy_backend import kernels
from gd_compare.optim import lr_scheduler

__all__ = [
    "accuracy",
    "backprop_exercise",
    "backprop_training",
    "bce",
    "forward",
    "gradient",
    "iter_backprop_training",
    "iter_mse_training",
    "iter_sgd_batching",
    "log_sigmoid",
    "mse",
    "mse_training",
    "network_accuracy",
    "network_bce",
    "network_course_loss",
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


def _h(X: np.ndarray, params: tuple[np.ndarray, ...]) -> np.ndarray:
    """h = X @ w, or X @ w + b for a neuron with a bias: (n, d) → (n,)."""
    h = X @ params[0]
    return h + params[1] if len(params) > 1 else h


def forward(features: ArrayLike, weights: ArrayLike) -> np.ndarray:
    """ŷ = sigmoid(features @ weights): (n, d) @ (d,) → (n,). ``weights`` may be the pair
    (w, b) of a neuron with a bias: ŷ = sigmoid(features @ w + b)."""
    X, _, params = check_neuron_data(features, None, weights)
    return sigmoid(_h(X, params))


def mse(features: ArrayLike, targets: ArrayLike, weights: ArrayLike) -> float:
    """MSE = mean((ŷ − y)²), the loss the lesson prints."""
    X, y, params = check_neuron_data(features, targets, weights)
    error = y - sigmoid(_h(X, params))
    return float(np.mean(error**2))


def sse(features: ArrayLike, targets: ArrayLike, weights: ArrayLike) -> float:
    """SSE = Σ(ŷ − y)², the lesson's first metric: it grows with the number of records."""
    X, y, params = check_neuron_data(features, targets, weights)
    error = y - sigmoid(_h(X, params))
    return float(np.sum(error**2))


def accuracy(
    features: ArrayLike, targets: ArrayLike, weights: ArrayLike, threshold: float = 0.5
) -> float:
    """Share of records with (ŷ > threshold) == y; targets must be 0 or 1."""
    X, y, params = check_neuron_data(features, targets, weights)
    check_binary("targets", y)
    threshold = check_threshold(threshold)
    predictions = sigmoid(_h(X, params)) > threshold
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
    with np.errstate(over="ignore"):  # an overflow is reported just below, by name
        loss = error**2
    raise_if_input_overflows("simple_step", float(loss), x=float(x_), y=float(y_), w=float(w_))
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
    *,
    bias: bool = False,
) -> NeuronStep:
    """One gradient-descent step of one sigmoid neuron, in the lesson's names.

    h          = x·w                                  (scalar)
    output     = sigmoid(h)                           ŷ
    error      = y − output
    error_term = error·sigmoid'(h) = error·output·(1 − output)
    del_w      = lr·error_term·x                      (d,)
    weights    ← weights + del_w

    The step is gradient descent on E = ½(y − ŷ)²: −∂E/∂w = error_term·x.
    ``bias=True``: h = x·w + b with b starting at 0; del_b = lr·error_term (−∂E/∂b = error_term:
    the bias is a weight on an input that is always 1).
    """
    x_, y_, w_ = check_neuron_inputs(x, y, weights)
    lr = check_lr(lr)
    b = np.zeros(1, dtype=w_.dtype) if check_bias(bias) else None
    h = np.dot(x_, w_)
    if b is not None:
        h = h + b[0]
    output = sigmoid(h)
    error = y_ - output
    # sigmoid'(h) = output·(1 − output): reuse the output instead of calling sigmoid_prime(h)
    error_term = error * output * (1 - output)
    del_w = lr * error_term * x_
    new_weights = w_ + del_w
    loss = float(error**2)
    raise_if_diverged("sigmoid_step", loss, lr, epoch=0, batch=0, index=1, params=[new_weights])
    if b is None:
        return NeuronStep(float(h), float(output), float(error), float(error_term), del_w,
                          new_weights, loss)
    del_b = lr * error_term * np.ones(1, dtype=b.dtype)
    return NeuronStep(float(h), float(output), float(error), float(error_term), del_w,
                      new_weights, loss, b + del_b, del_b)


def sigmoid_exercise(
    x: ArrayLike = (1.0, 2.0, 3.0, 4.0),
    y: ArrayLike = 0.5,
    weights: ArrayLike = (0.5, -0.5, 0.3, 0.1),
    lr: float = 0.5,
    *,
    bias: bool = False,
) -> NeuronStep:
    """The lesson's exercise: :func:`sigmoid_step` on x=[1, 2, 3, 4], y=0.5,
    w=[0.5, −0.5, 0.3, 0.1], lr=0.5. It prints output 0.6899744811276125,
    error −0.18997448112761249 and change in weights
    [−0.02031869, −0.04063738, −0.06095608, −0.08127477]."""
    return sigmoid_step(x, y, weights, lr, bias=bias)


# --------------------------------------------------------------------------- 4./5. training


def log_sigmoid(h: ArrayLike) -> np.ndarray:
    """log(sigmoid(h)) = min(h, 0) − log1p(exp(−|h|)), elementwise: the stable form (what
    ``torch.nn.functional.logsigmoid`` evaluates). Finite for every finite h: at h = −1000 it is
    −1000 (the naive log(sigmoid(h)) is log(0) = −inf)."""
    h = np.asarray(h)
    return np.asarray(np.minimum(h, 0) - np.log1p(np.exp(-np.abs(h))))


def _bce_terms(h: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Binary cross-entropy of each record from its h (the output before the sigmoid):

    −[y·log ŷ + (1 − y)·log(1 − ŷ)]  with ŷ = sigmoid(h), log(1 − ŷ) = log ŷ − h
      = (1 − y)·h − log_sigmoid(h)

    the formula ``nn.BCEWithLogitsLoss`` computes: exact where ŷ rounds to 0 or 1 (the loss
    of a confident wrong answer grows like |h|, it is not clamped)."""
    return (1 - y) * h - log_sigmoid(h)


def _error_term(error: np.ndarray, output: np.ndarray, reduction: Reduction) -> np.ndarray:
    """−∂E/∂h per record, the lesson's ``error_term``:

    squared error (E = ½·(y − ŷ)²):  error·sigmoid'(h) = error·output·(1 − output)
    cross-entropy (E = BCE):         error — the sigmoid' cancels: ∂BCE/∂ŷ = −error/(ŷ(1 − ŷ))
    """
    if reduction == "bce":
        return error
    return error * output * (1 - output)


def _neuron_del_w(
    X: np.ndarray, y: np.ndarray, params: tuple[np.ndarray, ...], reduction: Reduction = "mse"
) -> tuple[tuple[np.ndarray, ...], float]:
    """The lesson's ``del_w`` summed over a batch (and ``del_b`` with a bias), and the batch's
    summed loss (Σ error², or Σ BCE):

    h          = X @ w  (+ b)                    (m,)
    output     = sigmoid(h)
    error      = y − output
    error_term = :func:`_error_term`             (m,)
    del_w      = Σ_i error_term_i·x_i = error_term @ X    (d,)
    del_b      = Σ_i error_term_i                 (1,)   — del_w of an input that is always 1
    """
    weights, *bias = params
    h = X @ weights
    if bias:
        h = h + bias[0]
    output = sigmoid(h)
    error = y - output
    error_term = _error_term(error, output, reduction)
    del_w = error_term @ X
    total = np.sum(_bce_terms(h, y)) if reduction == "bce" else error @ error
    if bias:
        return (del_w, np.sum(error_term, keepdims=True)), total
    return (del_w,), total


def _gradient_step(
    X: np.ndarray, y: np.ndarray, params: tuple[np.ndarray, ...], lr: float,
    reduction: Reduction,
) -> float:
    """One update of the lesson's rule on a batch ``X`` (m, d), ``y`` (m,); the parameters
    (``weights`` (d,), and the bias (1,) if any) change in place. Returns the batch loss (MSE,
    SSE or BCE) at the parameters before the update.

    w += lr·del_w / m,   b += lr·del_b / m       (m = 1 for SSE; see :func:`_neuron_del_w`)
    """
    deltas, total = _neuron_del_w(X, y, params, reduction)
    m = batch_divisor(reduction, len(y))
    for p, d in zip(params, deltas, strict=True):
        p += d * lr / m
    return float(total / m)


def bce(features: ArrayLike, targets: ArrayLike, weights: ArrayLike) -> float:
    """Mean binary cross-entropy −mean[y·log ŷ + (1 − y)·log(1 − ŷ)], from h in the stable
    form (1 − y)·h − log_sigmoid(h) (:func:`log_sigmoid`; ``nn.BCEWithLogitsLoss``'s)."""
    X, y, params = check_neuron_data(features, targets, weights)
    check_loss_targets("bce", y)
    return float(np.mean(_bce_terms(_h(X, params), y)))


def gradient(
    features: ArrayLike, targets: ArrayLike, weights: ArrayLike, loss: Reduction = "mse"
) -> np.ndarray | tuple[np.ndarray, ...]:
    """∂E/∂w of one sigmoid neuron on a batch, by hand: the gradient every training update of
    :func:`mse_training` and :func:`sgd_batching` steps against (the same code; a full batch
    past one cache block trains through :mod:`~gd_compare.numpy_backend.kernels`, the same
    del_w summed block by block).

    E = ½·MSE = (1/2m)·Σ(y − ŷ)²  ⇒  ∂E/∂w = −Σ_i error_term_i·x_i / m = −del_w / m   (d,)
    (``loss="sse"``: E = ½·SSE, no division by m; ``loss="bce"``: E = mean BCE and
    error_term = error). The training update is w ← w − lr·∂E/∂w. ``weights`` = (w, b): the
    pair (∂E/∂w, ∂E/∂b), ∂E/∂b = −del_b / m.
    """
    X, y, params = check_neuron_data(features, targets, weights)
    reduction = check_reduction(loss)
    check_loss_targets(reduction, y)
    deltas, _ = _neuron_del_w(X, y, params, reduction)
    m = batch_divisor(reduction, len(y))
    grads = tuple(-d / m for d in deltas)
    return grads if len(grads) > 1 else grads[0]


def _per_record_epoch(
    X: np.ndarray, y: np.ndarray, params: tuple[np.ndarray, ...], lr: float,
    reduction: Reduction,
) -> float:
    """One epoch exactly as the lesson's loop writes it, record by record; the parameters
    change in place once, at the end. Returns the epoch's loss at the parameters before the
    update. (With a bias, del_b accumulates the error terms; with BCE, error_term = error.)"""
    n_records = len(y)
    weights, *bias = params
    del_w = np.zeros(weights.shape, dtype=weights.dtype)
    del_b = np.zeros(1, dtype=weights.dtype)
    total = 0.0
    for x, target in zip(X, y, strict=True):
        h = np.dot(x, weights)
        if bias:
            h = h + bias[0][0]
        output = sigmoid(h)
        error = target - output
        error_term = _error_term(error, output, reduction)
        del_w += error_term * x
        del_b += error_term
        total += _bce_terms(h, target) if reduction == "bce" else error * error
    m = batch_divisor(reduction, n_records)
    weights += (del_w * lr) / m
    if bias:
        bias[0] += (del_b * lr) / m
    return float(total / m)


def _optimizer_step(
    X: np.ndarray, y: np.ndarray, params: tuple[np.ndarray, ...], reduction: Reduction,
    optimizer: optim.Optimizer,
) -> float:
    """One update by a hand-written ``torch.optim`` twin (:mod:`gd_compare.optim`): it is given
    ∂E/∂w = −del_w / m (and ∂E/∂b = −del_b / m), the gradient :func:`_gradient_step` steps
    against. Returns the loss."""
    deltas, total = _neuron_del_w(X, y, params, reduction)
    m = batch_divisor(reduction, len(y))
    optimizer.step([-d / m for d in deltas])
    return float(total / m)


def _blocked_optimizer_step(
    X: np.ndarray, y: np.ndarray, params: tuple[np.ndarray, ...], reduction: Reduction,
    optimizer: optim.Optimizer, buffers: kernels.BlockBuffers,
) -> float:
    """:func:`_optimizer_step` on the full batch through the cache-blocked kernel
    (:func:`~gd_compare.numpy_backend.kernels.blocked_del_w`: the same del_w, its sum taken
    block by block, no n-long temporary): the optimizer is given ∂E/∂w = −del_w / m."""
    del_w, sq_error = kernels.blocked_del_w(X, y, params[0], buffers)
    m = batch_divisor(reduction, len(y))
    optimizer.step([-del_w / m])
    return float(sq_error / m)


def _train(
    X: np.ndarray,
    y: np.ndarray,
    params: tuple[np.ndarray, ...],
    lr: float,
    epochs: int,
    order: BatchOrder,
    reduction: Reduction,
    concept: str,
    optimizer: OptimizerChoice = LESSON_SGD,
    scheduler: SchedulerChoice | None = None,
) -> Iterator[Step]:
    last = len(order) - 1
    index = 0
    # The lesson's plain SGD is _gradient_step's own update. Another optimizer (or a learning-
    # rate schedule) is its hand-written torch.optim twin, fed the same gradient.
    by_hand = None if optimizer.lesson and scheduler is None else optimizer.build(optim, params, lr)
    schedule = scheduler.build(lr_scheduler, by_hand) if scheduler else None
    # The full batch (one slice of all rows) of the lesson's neuron (no bias, squared error)
    # takes the cache-blocked kernel (gd_compare.numpy_backend.kernels: _gradient_step's
    # arithmetic, arranged
    # for the cache) once n spans more than one block; mini-batches, small sets, a bias and
    # BCE take the plain form.
    blocked = (order.batch_size == len(y) and len(y) > kernels.block_rows(X.shape[1], X.itemsize)
               and len(params) == 1 and reduction != "bce")
    # (an optimizer's full batch too: its gradient −del_w / m from the same kernel)
    buffers = kernels.BlockBuffers(*X.shape, X.dtype) if blocked else None
    for epoch in range(epochs):
        epoch_loss = 0.0
        for b, batch in enumerate(order):
            index += 1
            if buffers is not None and by_hand is not None:
                loss = _blocked_optimizer_step(X, y, params, reduction, by_hand, buffers)
            elif by_hand is not None:
                loss = _optimizer_step(X[batch], y[batch], params, reduction, by_hand)
            elif buffers is not None:
                loss = kernels.blocked_full_batch_step(X, y, params[0], lr, reduction, buffers)
            else:
                loss = _gradient_step(X[batch], y[batch], params, lr, reduction)
            epoch_loss += loss
            raise_if_diverged(concept, loss, lr, epoch=epoch, batch=b, index=index,
                              params=params if b == last else ())
            yield Step(index, epoch, b == last, params, loss)
        if schedule is not None:
            scheduler.step(schedule, epoch_loss / len(order))


def _train_per_record(
    X: np.ndarray, y: np.ndarray, params: tuple[np.ndarray, ...], lr: float, epochs: int,
    reduction: Reduction,
) -> Iterator[Step]:
    for epoch in range(epochs):
        loss = _per_record_epoch(X, y, params, lr, reduction)
        raise_if_diverged("mse_training", loss, lr, epoch=epoch, batch=0, index=epoch + 1,
                          params=params)
        yield Step(epoch + 1, epoch, True, params, loss)


# --------------------------------------------------------------------------- 6. backpropagation
#
# A network with L hidden sigmoid layers of sizes h_1 .. h_L and one sigmoid output, no biases
# (as the course's exercise). weights = (W_1, ..., W_L, w_out):
#   W_1 (d, h_1), W_k (h_{k-1}, h_k), w_out (h_L,)            — the course's shapes, with
#   L = 1: weights_input_hidden (n_features, n_hidden), weights_hidden_output (n_hidden,).
# With ``bias=True`` the parameters go on with one bias per layer: (..., b_1 (h_1,), ...,
# b_L (h_L,), b_out (1,)), each added to its layer's input to the sigmoid.
# Forward, for a batch X (m, d):  hidden_output_0 = X,
#   hidden_output_k = sigmoid(hidden_output_{k-1} @ W_k (+ b_k))  (m, h_k)
#   output          = sigmoid(hidden_output_L @ w_out (+ b_out))   (m,)


def _layers(params: Sequence[np.ndarray]) -> tuple[Sequence[np.ndarray], Sequence[np.ndarray]]:
    """(weights, biases) of a checked parameter tuple: biases empty, or one per layer."""
    return split_network(params)  # type: ignore[return-value]


def _network_h(
    X: np.ndarray, params: Sequence[np.ndarray]
) -> tuple[list[np.ndarray], np.ndarray]:
    """[hidden_output_0 = X, ..., hidden_output_L] and the output's h (before its sigmoid), for
    a batch X (m, d) (or one record x (d,): then every hidden output is (h_k,))."""
    weights, biases = _layers(params)
    outputs = [X]
    for k, W in enumerate(weights[:-1]):
        h = np.dot(outputs[-1], W)
        outputs.append(sigmoid(h + biases[k] if biases else h))
    h = np.dot(outputs[-1], weights[-1])
    return outputs, (h + biases[-1][0] if biases else h)  # b_out (1,): the output's one bias


def _network_outputs(X: np.ndarray, params: Sequence[np.ndarray]) -> list[np.ndarray]:
    """[hidden_output_0 = X, hidden_output_1, ..., hidden_output_L, output] for a batch X (m, d)
    (or one record x (d,): then every hidden output is (h_k,) and the output a scalar)."""
    outputs, h = _network_h(X, params)
    return [*outputs, sigmoid(h)]


def network_forward(features: ArrayLike, weights: Sequence[ArrayLike]) -> np.ndarray:
    """ŷ = output of the network for every record: (n, d) → (n,)."""
    X, _, ws = check_network_data(features, None, weights)
    return _network_outputs(X, ws)[-1]


def _network_error(features, targets, weights) -> np.ndarray:
    X, y, ws = check_network_data(features, targets, weights)
    return y - _network_outputs(X, ws)[-1]


def network_mse(features: ArrayLike, targets: ArrayLike, weights: Sequence[ArrayLike]) -> float:
    """MSE = mean((ŷ − y)²) of the network, the loss the lesson prints."""
    error = _network_error(features, targets, weights)
    return float(np.mean(error**2))


def network_sse(features: ArrayLike, targets: ArrayLike, weights: Sequence[ArrayLike]) -> float:
    """SSE = Σ(ŷ − y)² of the network."""
    error = _network_error(features, targets, weights)
    return float(np.sum(error**2))


def network_bce(features: ArrayLike, targets: ArrayLike, weights: Sequence[ArrayLike]) -> float:
    """Mean binary cross-entropy of the network, from the output's h (see :func:`bce`)."""
    X, y, ws = check_network_data(features, targets, weights)
    check_loss_targets("bce", y)
    return float(np.mean(_bce_terms(_network_h(X, ws)[1], y)))


def network_accuracy(
    features: ArrayLike,
    targets: ArrayLike,
    weights: Sequence[ArrayLike],
    threshold: float = 0.5,
) -> float:
    """Share of records with (ŷ > threshold) == y; targets must be 0 or 1."""
    X, y, ws = check_network_data(features, targets, weights)
    check_binary("targets", y)
    threshold = check_threshold(threshold)
    predictions = _network_outputs(X, ws)[-1] > threshold
    return float(np.mean(predictions == y))


def _backprop(
    X: np.ndarray, y: np.ndarray, params: Sequence[np.ndarray], reduction: Reduction = "mse"
) -> tuple[list[np.ndarray], np.ndarray]:
    """The backward pass on a batch X (m, d), y (m,), vectorized over the records: each layer's
    ``del_w`` summed over the batch (the course's per-record sums, as matrix products), then
    each layer's ``del_b`` if the network has biases, and the batch's summed loss (Σ error², or
    Σ BCE). −∂E/∂W_k = del_w[k] / m for E = ½·MSE (or mean BCE).

    error               = y − output                                            (m,)
    output_error_term   = error·output·(1 − output)   (BCE: error)             (m,)
    del_w[L]            = hidden_output_Lᵀ @ output_error_term                  (h_L,)
    del_b[L]            = Σ_rows output_error_term                              (1,)
    hidden_error        = output_error_term ⊗ w_out   (each unit's share)       (m, h_L)
    for k = L .. 1:
        hidden_error_term = hidden_error·hidden_output_k·(1 − hidden_output_k) (m, h_k)
        del_w[k-1]        = hidden_output_{k-1}ᵀ @ hidden_error_term            (h_{k-1}, h_k)
        del_b[k-1]        = Σ_rows hidden_error_term                            (h_k,)
        hidden_error      = hidden_error_term @ W_kᵀ   (the transposed weights) (m, h_{k-1})
    """
    weights, biases = _layers(params)
    hidden_outputs, h = _network_h(X, params)
    output = sigmoid(h)
    error = y - output
    output_error_term = _error_term(error, output, reduction)
    del_w: list[np.ndarray] = [np.empty(0)] * len(weights)
    del_b: list[np.ndarray] = [np.empty(0)] * len(biases)
    del_w[-1] = hidden_outputs[-1].T @ output_error_term
    if biases:
        del_b[-1] = np.sum(output_error_term, keepdims=True)
    hidden_error = np.outer(output_error_term, weights[-1])
    for k in range(len(weights) - 2, -1, -1):
        hidden_output = hidden_outputs[k + 1]
        hidden_error_term = hidden_error * hidden_output * (1 - hidden_output)
        del_w[k] = hidden_outputs[k].T @ hidden_error_term
        if biases:
            del_b[k] = hidden_error_term.sum(axis=0)
        if k:
            hidden_error = hidden_error_term @ weights[k].T
    total = np.sum(_bce_terms(h, y)) if reduction == "bce" else error @ error
    return del_w + del_b, total


def _backprop_per_record(
    X: np.ndarray, y: np.ndarray, params: Sequence[np.ndarray], reduction: Reduction = "mse"
) -> tuple[list[np.ndarray], np.floating]:
    """The backward pass as the course's loop writes it, record by record, accumulating each
    layer's ``del_w`` (and ``del_b``); returns them and the batch's summed loss (Σ error², or
    Σ BCE). For one record x (d,):

    output_error_term  = error·output·(1 − output)   (BCE: error)         scalar
    del_w[L]          += output_error_term·hidden_output_L                 (h_L,)
    del_b[L]          += output_error_term                                 (1,)
    hidden_error       = output_error_term·w_out                           (h_L,)
    for k = L .. 1:
        hidden_error_term = hidden_error·hidden_output_k·(1 − hidden_output_k)    (h_k,)
        del_w[k-1]       += hidden_error_term·hidden_output_{k-1}[:, None]        (h_{k-1}, h_k)
        del_b[k-1]       += hidden_error_term                                     (h_k,)
        hidden_error      = W_k @ hidden_error_term  (x @ W forward, W · δ back)  (h_{k-1},)

    With one hidden layer these are the course's ``weights_hidden_output`` and
    ``weights_input_hidden`` lines (``del_w_input_hidden += hidden_error_term * x[:, None]``).
    """
    weights, biases = _layers(params)
    del_w = [np.zeros(w.shape, dtype=w.dtype) for w in weights]
    del_b = [np.zeros(b.shape, dtype=b.dtype) for b in biases]
    total = X.dtype.type(0)
    for x, target in zip(X, y, strict=True):
        hidden_outputs, h = _network_h(x, params)
        output = sigmoid(h)
        error = target - output
        output_error_term = _error_term(error, output, reduction)
        del_w[-1] += output_error_term * hidden_outputs[-1]
        if biases:
            del_b[-1] += output_error_term
        hidden_error = output_error_term * weights[-1]
        for k in range(len(weights) - 2, -1, -1):
            hidden_output = hidden_outputs[k + 1]
            hidden_error_term = hidden_error * hidden_output * (1 - hidden_output)
            del_w[k] += hidden_error_term * hidden_outputs[k][:, None]
            if biases:
                del_b[k] += hidden_error_term
            if k:
                hidden_error = np.dot(weights[k], hidden_error_term)
        total += _bce_terms(h, target) if reduction == "bce" else error * error
    return del_w + del_b, total


def _backprop_step(
    X: np.ndarray,
    y: np.ndarray,
    params: Sequence[np.ndarray],
    lr: float,
    reduction: Reduction,
    per_record: bool,
    optimizer: optim.Optimizer | None = None,
) -> float:
    """One update of every layer on a batch; the parameters change in place:
    W_k += lr·del_w[k] / m, b_k += lr·del_b[k] / m  (m = 1 for SSE). Returns the batch loss
    before the update. With a hand-written ``optimizer`` (:mod:`gd_compare.optim`) it is given
    ∂E/∂W_k = −del_w[k]/m (and ∂E/∂b_k = −del_b[k]/m) instead."""
    if per_record:
        deltas, total = _backprop_per_record(X, y, params, reduction)
    else:
        deltas, total = _backprop(X, y, params, reduction)
    m = batch_divisor(reduction, len(y))
    if optimizer is not None:
        optimizer.step([-d / m for d in deltas])
        return total / m
    for W, d in zip(params, deltas, strict=True):
        W += d * lr / m
    return float(X.dtype.type(total) / m)  # in the run's dtype, as the update


def network_course_loss(
    features: ArrayLike, targets: ArrayLike, weights: Sequence[ArrayLike]
) -> float:
    """The course's log line, exactly as its loop computes it after an epoch::

        hidden_output = sigmoid(np.dot(x, weights_input_hidden))   # x: the loop's last record
        out = sigmoid(np.dot(hidden_output, weights_hidden_output))
        loss = np.mean((out - targets) ** 2)

    ``x`` is left over from the training loop — the *last* record of ``features`` — so this is
    one record's output held against *all* targets, not the train MSE (:func:`network_mse`).
    """
    X, y, ws = check_network_data(features, targets, weights)
    out = _network_outputs(X[-1], ws)[-1]
    return float(np.mean((out - y) ** 2))


def network_gradient(
    features: ArrayLike,
    targets: ArrayLike,
    weights: Sequence[ArrayLike],
    loss: Reduction = "mse",
) -> tuple[np.ndarray, ...]:
    """∂E/∂W for every layer, by hand (the backward pass :func:`backprop_training` steps with):
    ∂E/∂W_k = −del_w[k] / m of E = ½·MSE (``loss="sse"``: ½·SSE, no /m; ``loss="bce"``: mean
    BCE). Same shapes as ``weights``: (d, h_1), ..., (h_L,), then the biases' if given."""
    X, y, ws = check_network_data(features, targets, weights)
    reduction = check_reduction(loss)
    check_loss_targets(reduction, y)
    deltas, _ = _backprop(X, y, ws, reduction)
    m = batch_divisor(reduction, len(y))
    return tuple(-d / m for d in deltas)


def backprop_exercise(
    x: ArrayLike = (0.5, 0.1, -0.2),
    target: ArrayLike = 0.6,
    weights_input_hidden: ArrayLike = ((0.5, -0.6), (0.1, -0.2), (0.1, 0.7)),
    weights_hidden_output: ArrayLike = (0.1, -0.3),
    lr: float = 0.5,
    *,
    bias: bool = False,
) -> BackpropStep:
    """The course's backpropagation exercise: one step of a 3-2-1 sigmoid network on one
    record, every quantity in the course's names (see
    :class:`~gd_compare.lesson.core.BackpropStep`).

    hidden_input      = x @ weights_input_hidden
    hidden_output     = sigmoid(hidden_input)
    output            = sigmoid(hidden_output @ weights_hidden_output)
    error             = target − output
    output_error_term = error·output·(1 − output)
    hidden_error_term = output_error_term·weights_hidden_output·hidden_output·(1 − hidden_output)
    delta_w_h_o       = lr·output_error_term·hidden_output
    delta_w_i_h       = lr·hidden_error_term·x[:, None]

    The course prints delta_w_h_o ``[0.00804047 0.00555918]`` and delta_w_i_h
    ``[[1.77005547e-04 −5.11178506e-04] [3.54011093e-05 −1.02235701e-04]
    [−7.08022187e-05 2.04471402e-04]]``.

    ``bias=True``: biases b_h (h,) and b_o (1,) from 0 join hidden_input and the output's
    input; delta_b_h = lr·hidden_error_term, delta_b_o = lr·output_error_term (del_w without
    the input: a bias is a weight on an input of 1).
    """
    x_, t_, w_ih, w_ho = check_backprop_inputs(x, target, weights_input_hidden,
                                               weights_hidden_output)
    lr = check_lr(lr)
    with_bias = check_bias(bias)
    b_h, b_o = np.zeros(w_ho.shape, dtype=w_ho.dtype), np.zeros(1, dtype=w_ho.dtype)
    hidden_input = np.dot(x_, w_ih) + b_h if with_bias else np.dot(x_, w_ih)
    hidden_output = sigmoid(hidden_input)
    output_input = np.dot(hidden_output, w_ho)
    output = sigmoid(output_input + b_o[0] if with_bias else output_input)
    error = t_ - output
    output_error_term = error * output * (1 - output)
    hidden_error_term = output_error_term * w_ho * hidden_output * (1 - hidden_output)
    delta_w_h_o = lr * output_error_term * hidden_output
    delta_w_i_h = lr * hidden_error_term * x_[:, None]
    new_w_ih, new_w_ho = w_ih + delta_w_i_h, w_ho + delta_w_h_o
    loss = float(error**2)
    raise_if_diverged("backprop_exercise", loss, lr, epoch=0, batch=0, index=1,
                      params=[new_w_ih, new_w_ho])
    extra = []
    if with_bias:
        delta_b_h = lr * hidden_error_term
        delta_b_o = lr * output_error_term * np.ones(1, dtype=b_o.dtype)
        extra = [delta_b_h, delta_b_o, b_h + delta_b_h, b_o + delta_b_o]
    return BackpropStep(hidden_input, hidden_output, float(output), float(error),
                        float(output_error_term), hidden_error_term, delta_w_h_o, delta_w_i_h,
                        new_w_ih, new_w_ho, loss, *extra)


def _train_network(
    X: np.ndarray,
    y: np.ndarray,
    weights: tuple[np.ndarray, ...],
    lr: float,
    epochs: int,
    order: BatchOrder,
    reduction: Reduction,
    per_record: bool,
    optimizer: OptimizerChoice = LESSON_SGD,
    scheduler: SchedulerChoice | None = None,
) -> Iterator[Step]:
    last = len(order) - 1
    index = 0
    # the course's update, or a hand-written torch.optim twin (gd_compare.optim) and schedule
    by_hand = None if optimizer.lesson and scheduler is None else optimizer.build(optim, weights,
                                                                                  lr)
    schedule = scheduler.build(lr_scheduler, by_hand) if scheduler else None
    for epoch in range(epochs):
        epoch_loss = 0.0
        for b, batch in enumerate(order):
            index += 1
            loss = _backprop_step(X[batch], y[batch], weights, lr, reduction, per_record, by_hand)
            epoch_loss += loss
            raise_if_diverged("backprop", loss, lr, epoch=epoch, batch=b, index=index,
                              params=weights if b == last else ())
            yield Step(index, epoch, b == last, weights, loss)
        if schedule is not None:
            scheduler.step(schedule, epoch_loss / len(order))


# --------------------------------------------------------------------------- the public wrappers
# Written once for both backends (gd_compare.lesson.training), built here from this file's loops.

(iter_mse_training, mse_training, iter_sgd_batching, sgd_batching, iter_backprop_training,
 backprop_training) = training_functions(
    Loops(_train, _train_per_record, _train_network, mse, sse, network_mse, network_sse,
          network_course_loss, bce, network_bce), "gd_compare.numpy_backend")
