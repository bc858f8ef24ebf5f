"""A training run's checked inputs, shared by both backends' training functions.

``iter_mse_training``, ``iter_sgd_batching`` and ``iter_backprop_training`` take the same
arguments in both backends; :func:`neuron_run` and :func:`network_run` check them once (naming
any bad argument) and fix everything a run needs before its first step: the data and the
starting weights as fresh float arrays of one dtype, the learning rate, the epochs, the loss
reduction and the :class:`~gd_compare.lesson.core.BatchOrder`. The backends then differ only in
their
loops. No derivative lives here, and nothing imports torch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from gd_compare.lesson.core import (
    BatchOrder,
    Reduction,
    Step,
    Training,
    check_bias,
    check_count,
    check_dataset,
    check_flag,
    check_log,
    check_loss_targets,
    check_lr,
    check_network,
    check_network_biases,
    check_network_data,
    check_neuron_data,
    check_reduction,
    check_seed,
    collect,
    is_biased_pair,
    split_network,
)
from gd_compare.lesson.data import (
    BACKPROP_SEED,
    LESSON_SEED,
    initial_network_weights,
    initial_weights,
)
from gd_compare.lesson.options import (
    LESSON_SGD,
    OptimizerChoice,
    SchedulerChoice,
    check_optimizer,
    check_scheduler,
)

__all__ = [
    "Loops",
    "TrainingFunctions",
    "TrainingRun",
    "network_run",
    "neuron_run",
    "training_functions",
]


@dataclass(frozen=True)
class TrainingRun:
    """Everything a training loop needs, checked: ``X`` (n, d), ``y`` (n,), the starting
    ``params`` (the weights — one array for a neuron, one per layer for a network — then the
    biases if ``bias``: one (1,) for a neuron, one per layer for a network; the loop's own
    copies), ``lr``, ``epochs``, ``reduction`` ("mse", "sse" or "bce"), the batch ``order``, the
    ``optimizer`` (default: the lesson's plain SGD) and the learning-rate ``scheduler`` (or
    ``None``)."""

    X: np.ndarray
    y: np.ndarray
    params: tuple[np.ndarray, ...]
    lr: float
    epochs: int
    reduction: Reduction
    order: BatchOrder
    optimizer: OptimizerChoice = LESSON_SGD
    scheduler: SchedulerChoice | None = None

    @property
    def total_steps(self) -> int:
        return self.epochs * len(self.order)

    def finish(
        self,
        steps: Iterator[Step],
        loss_function: Callable[..., float],
        record: bool | int,
    ) -> Training:
        """Run ``steps`` to the end (:func:`~gd_compare.lesson.core.collect`); the lesson's log
        evaluates ``loss_function(X, y, params)`` — ``params`` a single array for a neuron
        without a bias, else the tuple."""
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
    optimizer: str = "sgd",
    optimizer_kwargs: Mapping[str, Any] | None = None,
    scheduler: str | None = None,
    scheduler_kwargs: Mapping[str, Any] | None = None,
    bias: bool = False,
) -> TrainingRun:
    """One sigmoid neuron's run; ``weights=None`` is the lesson's Normal(0, 1/√d) draw, seed 42.
    ``bias``: the neuron gets a bias b (1,), starting at 0 (or given as ``weights=(w, b)``)."""
    _require_targets(targets)
    bias = check_bias(bias)
    if is_biased_pair(weights) and not bias:
        raise ValueError("weights: got a pair (weights, bias) but bias=False; pass bias=True "
                         "to train the bias, or the weight vector alone")
    if weights is None:
        X, y, _ = check_dataset(features, targets)
        params: tuple[np.ndarray, ...] = (initial_weights(X.shape[1], dtype=X.dtype),)
    else:
        X, y, params = check_neuron_data(features, targets, weights)
    if bias and len(params) == 1:
        params = (*params, np.zeros(1, dtype=X.dtype))
    reduction = check_reduction(loss)
    check_loss_targets(reduction, y)
    return TrainingRun(X, y, params, check_lr(lr), check_count("epochs", epochs), reduction,
                       _order(len(y), batch_size, check_seed(seed), shuffle, drop_last),
                       check_optimizer(optimizer, optimizer_kwargs),
                       check_scheduler(scheduler, scheduler_kwargs))


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
    optimizer: str = "sgd",
    optimizer_kwargs: Mapping[str, Any] | None = None,
    scheduler: str | None = None,
    scheduler_kwargs: Mapping[str, Any] | None = None,
    bias: bool = False,
) -> TrainingRun:
    """A network's run; ``weights=None`` draws the course's start with ``seed``
    (:func:`~gd_compare.lesson.data.initial_network_weights`). ``bias``: one bias per unit of every
    layer, starting at 0 (or given after the weights: ``weights=(W_1, ..., w_out, b_1, ...,
    b_out)``)."""
    _require_targets(targets)
    seed = check_seed(seed)
    bias = check_bias(bias)
    weights_only, biases = split_network(weights) if weights is not None else (None, ())
    if biases and not bias:
        raise ValueError("weights: got one bias per layer after the weights but bias=False; "
                         "pass bias=True to train them, or the weights alone")
    X, y, ws, sizes = check_network(features, targets, weights_only, hidden)
    if ws is None:
        ws = initial_network_weights(X.shape[1], sizes, BACKPROP_SEED if seed is None else seed,
                                     dtype=X.dtype)
    params = tuple(ws)
    if biases:
        params = check_network_data(X, y, (*ws, *biases))[2]
        X, y = X.astype(params[0].dtype, copy=False), y.astype(params[0].dtype, copy=False)
    elif bias:
        params += check_network_biases([np.zeros(h) for h in sizes] + [np.zeros(1)], sizes,
                                       X.dtype)
    reduction = check_reduction(loss)
    check_loss_targets(reduction, y)
    return TrainingRun(X, y, params, check_lr(lr), check_count("epochs", epochs), reduction,
                       _order(len(y), batch_size, seed, shuffle, drop_last),
                       check_optimizer(optimizer, optimizer_kwargs),
                       check_scheduler(scheduler, scheduler_kwargs))


# --------------------------------------------------------------------------- the public wrappers


@dataclass(frozen=True)
class Loops:
    """What a backend supplies to :func:`training_functions`: its loops (each a stream of
    :class:`~gd_compare.lesson.core.Step` s over checked inputs) and its losses (for the lesson's
    log).

    ``train(X, y, params, lr, epochs, order, reduction, concept, optimizer, scheduler)``: the
    neuron, batch by batch; ``train_per_record(X, y, params, lr, epochs, reduction)``: the
    lesson's record-by-record loop (plain SGD only); ``train_network(X, y, params, lr, epochs,
    order, reduction, per_record, optimizer, scheduler)``: backpropagation. ``params``: the
    weights, then the biases if any (:class:`TrainingRun`). ``optimizer`` and ``scheduler`` are
    the checked choices (:mod:`gd_compare.lesson.options`).
    """

    train: Callable[..., Iterator[Step]]
    train_per_record: Callable[..., Iterator[Step]]
    train_network: Callable[..., Iterator[Step]]
    mse: Callable[..., float]
    sse: Callable[..., float]
    network_mse: Callable[..., float]
    network_sse: Callable[..., float]
    #: the course's log line (the last record's output against all targets), ``log="course"``
    network_course_loss: Callable[..., float]
    bce: Callable[..., float]
    network_bce: Callable[..., float]

    def loss_function(self, run: TrainingRun, network: bool) -> Callable[..., float]:
        """The backend's function for the run's reported loss (the lesson's log)."""
        if network:
            return {"mse": self.network_mse, "sse": self.network_sse,
                    "bce": self.network_bce}[run.reduction]
        return {"mse": self.mse, "sse": self.sse, "bce": self.bce}[run.reduction]

    def neuron_steps(self, run: TrainingRun, concept: str, per_record: bool) -> Iterator[Step]:
        """The neuron's stream of steps for a checked run (the lesson's loop if ``per_record``)."""
        if check_flag("per_record", per_record):
            if not run.optimizer.lesson or run.scheduler is not None:
                raise ValueError("per_record: the lesson's record-by-record loop takes the "
                                 "lesson's plain SGD only (no optimizer options, no scheduler)")
            return self.train_per_record(run.X, run.y, run.params, run.lr, run.epochs,
                                         run.reduction)
        return self.train(run.X, run.y, run.params, run.lr, run.epochs, run.order,
                          run.reduction, concept, run.optimizer, run.scheduler)

    def network_steps(self, run: TrainingRun, per_record: bool) -> Iterator[Step]:
        """The network's stream of steps for a checked run (the course's loop if ``per_record``)."""
        return self.train_network(run.X, run.y, run.params, run.lr, run.epochs, run.order,
                                  run.reduction, per_record, run.optimizer, run.scheduler)


class TrainingFunctions(NamedTuple):
    """The six public training functions of one backend, in this order."""

    iter_mse_training: Callable[..., Iterator[Step]]
    mse_training: Callable[..., Training]
    iter_sgd_batching: Callable[..., Iterator[Step]]
    sgd_batching: Callable[..., Training]
    iter_backprop_training: Callable[..., Iterator[Step]]
    backprop_training: Callable[..., Training]


def training_functions(loops: Loops, module: str) -> TrainingFunctions:
    """The public training functions, written once, for the backend whose loops are ``loops``.

    Both backends call this (``numpy_backend`` with its hand-written loops, ``torch_backend``
    with autograd and ``torch.optim``), so the functions have one signature and one docstring
    by construction; ``module`` names the backend they are attached to (for ``help()``).
    """

    def iter_mse_training(
        features: ArrayLike,
        targets: ArrayLike,
        weights: ArrayLike | None = None,
        lr: float = 0.5,
        epochs: int = 1000,
        *,
        per_record: bool = False,
        loss: Reduction = "mse",
        optimizer: str = "sgd",
        optimizer_kwargs: Mapping[str, Any] | None = None,
        scheduler: str | None = None,
        scheduler_kwargs: Mapping[str, Any] | None = None,
        bias: bool = False,
    ) -> Iterator[Step]:
        """Full-batch gradient descent, one :class:`Step` per epoch:
        w ← w + lr·Σ_i error_term_i·x_i / n
        (the lesson's ``weights += del_w*learnrate/n_records``).

        ``per_record=True`` runs the lesson's own loop (record by record, accumulating del_w; in
        PyTorch ``backward()`` once per record adds into ``.grad``), kept as the readable
        reference; the default computes the same sums as matrix products.

        ``loss``: "mse" (the lesson's: step on ½·MSE, report MSE), "sse" (½·SSE) or "bce" (mean
        binary cross-entropy; error_term = error, targets in [0, 1]). ``bias=True`` adds a bias
        b (1,), starting at 0: ``Step.params`` is then (w, b).

        ``optimizer``: ``"sgd"`` (the lesson's update), ``"adam"``, ``"adamw"``, ``"rmsprop"``,
        ``"adagrad"``, with ``optimizer_kwargs`` in torch's keywords (``lr`` is this ``lr``);
        ``scheduler``: ``None``, ``"steplr"``, ``"exponentiallr"``, ``"cosineannealinglr"``,
        ``"reducelronplateau"`` with ``scheduler_kwargs``, stepped once per epoch. NumPy runs
        the hand-written :mod:`gd_compare.optim` / :mod:`gd_compare.optim.lr_scheduler`, PyTorch
        ``torch.optim`` (:mod:`gd_compare.lesson.options`). ``per_record`` keeps the lesson's SGD.
        """
        run = neuron_run(features, targets, weights, lr, epochs, loss, optimizer=optimizer,
                         optimizer_kwargs=optimizer_kwargs, scheduler=scheduler,
                         scheduler_kwargs=scheduler_kwargs,
                         bias=bias)
        return loops.neuron_steps(run, "mse_training", per_record)

    def mse_training(
        features: ArrayLike,
        targets: ArrayLike,
        weights: ArrayLike | None = None,
        lr: float = 0.5,
        epochs: int = 1000,
        *,
        per_record: bool = False,
        loss: Reduction = "mse",
        optimizer: str = "sgd",
        optimizer_kwargs: Mapping[str, Any] | None = None,
        scheduler: str | None = None,
        scheduler_kwargs: Mapping[str, Any] | None = None,
        bias: bool = False,
        record: bool | int = True,
    ) -> Training:
        """The lesson's training loop run to the end: final weights, the loss of every epoch, the
        weights after every (or every ``record``-th) epoch, and the lesson's log every epochs/10."""
        run = neuron_run(features, targets, weights, lr, epochs, loss, optimizer=optimizer,
                         optimizer_kwargs=optimizer_kwargs, scheduler=scheduler,
                         scheduler_kwargs=scheduler_kwargs,
                         bias=bias)
        steps = loops.neuron_steps(run, "mse_training", per_record)
        return run.finish(steps, loops.loss_function(run, network=False), record)

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
        optimizer: str = "sgd",
        optimizer_kwargs: Mapping[str, Any] | None = None,
        scheduler: str | None = None,
        scheduler_kwargs: Mapping[str, Any] | None = None,
        bias: bool = False,
    ) -> Iterator[Step]:
        """Mini-batch SGD as a stream of :class:`Step` s: each update uses one batch of a fresh
        per-epoch permutation (:class:`~gd_compare.lesson.core.BatchOrder`, the same rows in the
        same
        order in both backends), with the lesson's update averaged over the batch's own size.

        ``weights=None`` starts from the lesson's Normal(0, 1/√d) draw with seed 42.
        ``batch_size == n`` is full-batch gradient descent (:func:`iter_mse_training`);
        ``batch_size == 1`` is per-example SGD.
        """
        run = neuron_run(features, targets, weights, lr, epochs, loss, batch_size=batch_size,
                         seed=seed, shuffle=shuffle, drop_last=drop_last, optimizer=optimizer,
                         optimizer_kwargs=optimizer_kwargs, scheduler=scheduler,
                         scheduler_kwargs=scheduler_kwargs,
                         bias=bias)
        return loops.neuron_steps(run, "sgd_batching", False)

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
        optimizer: str = "sgd",
        optimizer_kwargs: Mapping[str, Any] | None = None,
        scheduler: str | None = None,
        scheduler_kwargs: Mapping[str, Any] | None = None,
        bias: bool = False,
        record: bool | int = True,
    ) -> Training:
        """:func:`iter_sgd_batching` run to the end (see :func:`mse_training` for what is kept)."""
        run = neuron_run(features, targets, weights, lr, epochs, loss, batch_size=batch_size,
                         seed=seed, shuffle=shuffle, drop_last=drop_last, optimizer=optimizer,
                         optimizer_kwargs=optimizer_kwargs, scheduler=scheduler,
                         scheduler_kwargs=scheduler_kwargs,
                         bias=bias)
        steps = loops.neuron_steps(run, "sgd_batching", False)
        return run.finish(steps, loops.loss_function(run, network=False), record)

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
        optimizer: str = "sgd",
        optimizer_kwargs: Mapping[str, Any] | None = None,
        scheduler: str | None = None,
        scheduler_kwargs: Mapping[str, Any] | None = None,
        bias: bool = False,
    ) -> Iterator[Step]:
        """Train the network by backpropagation, one :class:`Step` per update; ``Step.params`` is
        the tuple of live per-layer weights (W_1, ..., W_L, w_out), in the NumPy backend's shapes
        in both backends.

        ``weights=None`` draws the course's start with ``seed`` (:func:`initial_network_weights`:
        Normal(0, 1/√d), seed 21). ``batch_size=None`` is full-batch gradient descent, one update
        per epoch (the course's exercise); an int takes mini-batches of the shared
        :class:`~gd_compare.lesson.core.BatchOrder` (a fresh permutation from ``seed`` every epoch).
        ``per_record=True`` runs the course's record-by-record loop instead of the matrix products.
        ``loss`` as in :func:`iter_mse_training`; ``bias=True`` adds one bias per unit of every
        layer, starting at 0, after the weights in ``Step.params``: (..., b_1, ..., b_out).
        ``optimizer``, ``optimizer_kwargs``, ``scheduler``, ``scheduler_kwargs``: as
        :func:`iter_mse_training`.
        """
        run = network_run(features, targets, weights, hidden, lr, epochs, loss,
                          batch_size=batch_size, seed=seed, shuffle=shuffle, drop_last=drop_last,
                          optimizer=optimizer, optimizer_kwargs=optimizer_kwargs,
                          scheduler=scheduler, scheduler_kwargs=scheduler_kwargs,
                          bias=bias)
        return loops.network_steps(run, check_flag("per_record", per_record))

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
        optimizer: str = "sgd",
        optimizer_kwargs: Mapping[str, Any] | None = None,
        scheduler: str | None = None,
        scheduler_kwargs: Mapping[str, Any] | None = None,
        bias: bool = False,
        record: bool | int = True,
        log: str = "train",
    ) -> Training:
        """:func:`iter_backprop_training` run to the end: ``params`` the final per-layer weights,
        the loss of every update, the weights after every (``record``-th) update, and the lesson's
        log every epochs/10 epochs: ``log="train"`` the train MSE (SSE) of the whole network on
        all of ``features``; ``log="course"`` the course's own line (``network_course_loss``: the
        last record's output against all targets — what its quiz printed, 0.251357252426 first)."""
        run = network_run(features, targets, weights, hidden, lr, epochs, loss,
                          batch_size=batch_size, seed=seed, shuffle=shuffle, drop_last=drop_last,
                          optimizer=optimizer, optimizer_kwargs=optimizer_kwargs,
                          scheduler=scheduler, scheduler_kwargs=scheduler_kwargs,
                          bias=bias)
        steps = loops.network_steps(run, check_flag("per_record", per_record))
        if check_log(log) == "course":
            return run.finish(steps, loops.network_course_loss, record)
        return run.finish(steps, loops.loss_function(run, network=True), record)

    functions = TrainingFunctions(iter_mse_training, mse_training, iter_sgd_batching,
                                  sgd_batching, iter_backprop_training, backprop_training)
    for function in functions:
        function.__module__ = module
        function.__qualname__ = function.__name__
    return functions
