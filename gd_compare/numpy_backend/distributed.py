"""Data-parallel SGD by hand, in this process: every worker's shard gradient
(``by_hand.gradient`` / ``network_gradient``), the all-reduce written out, one
step. The sharding and the run's set-up are shared with the PyTorch side
(:mod:`gd_compare.lesson.parallel`, whose docstring has the whole rule).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from gd_compare import optim
from gd_compare.lesson.core import (
    Reduction,
    Step,
    raise_if_diverged,
)
from gd_compare.lesson.parallel import DataParallelRun, _arg, data_parallel_functions, is_network
from gd_compare.numpy_backend import by_hand as nb
from gd_compare.optim import lr_scheduler

__all__ = [
    "allreduce_mean",
    "data_parallel",
    "data_parallel_accuracy",
    "data_parallel_bce",
    "data_parallel_forward",
    "data_parallel_gradient",
    "data_parallel_mse",
    "data_parallel_sse",
    "iter_data_parallel",
]


def allreduce_mean(values: Sequence[Any]) -> Any:
    """The all-reduce DDP runs on the gradients, written out: every worker's value divided by K
    first (DDP divides before it sums, to avoid overflow), then summed over the workers in
    rank order. For K a power of two the division is exact, so this is Σ_r g_r / K exactly."""
    k = len(values)
    total = values[0] / k
    for v in values[1:]:
        total = total + v / k
    return total


def _shard_gradient(dp: DataParallelRun, X: np.ndarray, y: np.ndarray,
                    params: tuple[np.ndarray, ...]) -> tuple[tuple[np.ndarray, ...], Any]:
    """One worker's gradient ∂E_r/∂params of its shard, by hand — ``numpy_backend.gradient`` /
    ``network_gradient``, the code every training update uses (biases and BCE included) — and
    its loss before the step, in the run's dtype (as the workers' tensors are)."""
    arg = _arg(params)
    grads = data_parallel_gradient(X, y, arg, dp.run.reduction)
    value = _loss(dp.run.reduction)(X, y, arg)
    return (grads if isinstance(grads, tuple) else (grads,)), X.dtype.type(value)


def _twin_steps(dp: DataParallelRun) -> Iterator[Step]:
    """The twin's loop: per step, K shard gradients, the all-reduce, one step — the lesson's
    w ← w − lr·g, or the hand-written optimizer given g; the scheduler after each epoch."""
    run = dp.run
    X, y, lr = run.X, run.y, run.lr
    params = tuple(p.copy() for p in run.params)
    by_hand = (None if run.optimizer.lesson and run.scheduler is None
               else run.optimizer.build(optim, params, lr))
    schedule = run.scheduler.build(lr_scheduler, by_hand) if run.scheduler else None
    index = 0
    for epoch, steps in enumerate(dp.epochs()):
        last = len(steps) - 1
        epoch_loss = 0.0
        for b, shards in enumerate(steps):
            index += 1
            per_worker = [_shard_gradient(dp, X[s], y[s], params) for s in shards]
            grads = [allreduce_mean([g[i] for g, _ in per_worker]) for i in range(len(params))]
            # the shard losses reduced in the run's dtype, as the workers' tensors are
            loss = float(allreduce_mean([value for _, value in per_worker]))
            if by_hand is not None:
                by_hand.step(grads)  # every worker's optimizer, given the same g
            else:
                for p, g in zip(params, grads, strict=True):
                    p -= lr * g  # torch.optim.SGD: p ← p − lr·g
            epoch_loss += loss
            raise_if_diverged("data_parallel", loss, lr, epoch=epoch, batch=b, index=index,
                              params=params if b == last else ())
            yield Step(index, epoch, b == last, params, loss)
        if schedule is not None:  # ReduceLROnPlateau: on the mean of the epoch's losses
            run.scheduler.step(schedule, epoch_loss / len(steps))


# by hand in this process (no timeout to keep); _loss, defined below, looked up at each call
iter_data_parallel, data_parallel = data_parallel_functions(
    lambda dp, _timeout: _twin_steps(dp), lambda reduction: _loss(reduction),
    "gd_compare.numpy_backend")


def _loss(reduction: str) -> Callable[..., float]:
    return {"mse": data_parallel_mse, "sse": data_parallel_sse,
            "bce": data_parallel_bce}[reduction]


def data_parallel_mse(features: ArrayLike, targets: ArrayLike, params: Any) -> float:
    """The train MSE of a neuron's weights (one array, or (w, b)) or a network's (a tuple
    per layer, then its biases)."""
    return (nb.network_mse if is_network(params) else nb.mse)(features, targets, params)


def data_parallel_sse(features: ArrayLike, targets: ArrayLike, params: Any) -> float:
    """The train SSE of a neuron's weights (one array, or (w, b)) or a network's (a tuple)."""
    return (nb.network_sse if is_network(params) else nb.sse)(features, targets, params)


def data_parallel_bce(features: ArrayLike, targets: ArrayLike, params: Any) -> float:
    """The mean binary cross-entropy of a neuron's weights (one array, or (w, b)) or a
    network's (a tuple)."""
    return (nb.network_bce if is_network(params) else nb.bce)(features, targets, params)


def data_parallel_accuracy(features: ArrayLike, targets: ArrayLike, params: Any) -> float:
    """The test accuracy of a neuron's weights (one array, or (w, b)) or a network's (a tuple)."""
    f = nb.network_accuracy if is_network(params) else nb.accuracy
    return f(features, targets, params)


def data_parallel_forward(features: ArrayLike, params: Any) -> np.ndarray:
    """ŷ of every record for a neuron's weights (one array, or (w, b)) or a network's."""
    return (nb.network_forward if is_network(params) else nb.forward)(features, params)


def data_parallel_gradient(features: ArrayLike, targets: ArrayLike, params: Any,
                           loss: Reduction = "mse") -> Any:
    """∂E/∂params on a batch, by hand, for a neuron (one array, or (w, b): the pair of
    gradients) or a network (a tuple per layer, then its biases)."""
    f = nb.network_gradient if is_network(params) else nb.gradient
    return f(features, targets, params, loss)
