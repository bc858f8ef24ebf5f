"""A training run's checked inputs, shared by both backends' training functions.

``iter_mse_training``, ``iter_sgd_batching`` and ``iter_backprop_training`` take the same
arguments in both backends; :func:`neuron_run` and :func:`network_run` check them once (naming
any bad argument) and fix everything a run needs before its first step: the data and the
starting weights as fresh float arrays of one dtype, the learning rate, the epochs, the loss
reduction and the :class:`~gd_compare.core.BatchOrder`. The backends then differ only in their
loops. No derivative lives here, and nothing imports torch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .core import (
    BatchOrder,
    Reduction,
    Step,
    Training,
    check_count,
    check_dataset,
    check_flag,
    check_lr,
    check_network,
    check_reduction,
    check_seed,
    collect,
)
from .data import BACKPROP_SEED, LESSON_SEED, initial_network_weights, initial_weights


@dataclass(frozen=True)
class TrainingRun:
    """Everything a training loop needs, checked: ``X`` (n, d), ``y`` (n,), the starting
    ``params`` (one array for a neuron, one per layer for a network; the loop's own copies),
    ``lr``, ``epochs``, ``reduction`` ("mse" or "sse") and the batch ``order``."""

    X: np.ndarray
    y: np.ndarray
    params: tuple[np.ndarray, ...]
    lr: float
    epochs: int
    reduction: Reduction
    order: BatchOrder

    @property
    def total_steps(self) -> int:
        return self.epochs * len(self.order)

    def finish(
        self,
        steps: Iterator[Step],
        loss_function: Callable[..., float],
        record: bool | int,
    ) -> Training:
        """Run ``steps`` to the end (:func:`~gd_compare.core.collect`); the lesson's log
        evaluates ``loss_function(X, y, params)`` — ``params`` a single array for a neuron."""
        single = len(self.params) == 1

        def evaluate(params: tuple[np.ndarray, ...]) -> float:
            return loss_function(self.X, self.y, params[0] if single else params)

        return collect(steps, evaluate, epochs=self.epochs, total_steps=self.total_steps,
                       record=record)


def _require_targets(targets: ArrayLike | None) -> None:
    if targets is None:
        raise TypeError("targets: expected one target per record (n,), got None")


def _order(
    n: int, batch_size: int | None, seed: int | None, shuffle: bool, drop_last: bool
) -> BatchOrder:
    """``batch_size=None`` (or n) is the full batch, one update per epoch."""
    shuffle, drop_last = check_flag("shuffle", shuffle), check_flag("drop_last", drop_last)
    if batch_size is None:
        return BatchOrder(n, n, shuffle=False)
    return BatchOrder(n, batch_size, seed=seed, shuffle=shuffle, drop_last=drop_last)


def neuron_run(
    features: ArrayLike,
    targets: ArrayLike,
    weights: ArrayLike | None,
    lr: float,
    epochs: int,
    loss: str,
    *,
    batch_size: int | None = None,
    seed: int | None = LESSON_SEED,
    shuffle: bool = True,
    drop_last: bool = False,
) -> TrainingRun:
    """One sigmoid neuron's run; ``weights=None`` is the lesson's Normal(0, 1/√d) draw, seed 42."""
    _require_targets(targets)
    X, y, w = check_dataset(features, targets, weights)
    w = initial_weights(X.shape[1], dtype=X.dtype) if w is None else w
    return TrainingRun(X, y, (w,), check_lr(lr), check_count("epochs", epochs),
                       check_reduction(loss),
                       _order(len(y), batch_size, check_seed(seed), shuffle, drop_last))


def network_run(
    features: ArrayLike,
    targets: ArrayLike,
    weights: Sequence[ArrayLike] | None,
    hidden: int | Sequence[int],
    lr: float,
    epochs: int,
    loss: str,
    *,
    batch_size: int | None = None,
    seed: int | None = BACKPROP_SEED,
    shuffle: bool = True,
    drop_last: bool = False,
) -> TrainingRun:
    """A network's run; ``weights=None`` draws the course's start with ``seed``
    (:func:`~gd_compare.data.initial_network_weights`)."""
    _require_targets(targets)
    seed = check_seed(seed)
    X, y, ws, sizes = check_network(features, targets, weights, hidden)
    if ws is None:
        ws = initial_network_weights(X.shape[1], sizes, BACKPROP_SEED if seed is None else seed,
                                     dtype=X.dtype)
    return TrainingRun(X, y, tuple(ws), check_lr(lr), check_count("epochs", epochs),
                       check_reduction(loss), _order(len(y), batch_size, seed, shuffle, drop_last))
