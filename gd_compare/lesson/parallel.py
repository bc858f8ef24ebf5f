"""Data-parallel SGD, what both sides share: the sharding, the run's set-up and checks, the
public functions written once, the worker-pool registry. The NumPy twin
(:mod:`gd_compare.numpy_backend.distributed`: every shard's gradient by hand, the all-reduce
written out) and :mod:`gd_compare.torch_backend.distributed` (K real processes with
``torch.distributed`` and ``DistributedDataParallel``) build their streams of steps on it.
This module never imports torch.

One update of data-parallel SGD with K workers and a per-worker batch of B records:

    shard_r      = worker r's B records of this step (DistributedSampler's split, below)
    g_r          = ∂E_r/∂w on shard_r          E_r = ½·MSE of the shard (½·SSE, or mean BCE)
    g            = Σ_r g_r / K                  the all-reduce: DDP divides each g_r by K, sums
    w           ← w − lr·g                      every worker takes the same step
    loss         = Σ_r loss_r / K               the shard losses, all-reduced the same way

``w ← w − lr·g`` is the lesson's plain SGD; with ``optimizer=`` (Adam, momentum SGD, ...) every
worker hands the same all-reduced g to its optimizer instead — here the hand-written twin of
:mod:`gd_compare.optim` — and a learning-rate ``scheduler`` (:mod:`gd_compare.optim.lr_scheduler`)
steps once per epoch, ReduceLROnPlateau on the mean of the epoch's all-reduced losses, as in
every training concept (:mod:`gd_compare.lesson.options`). ``bias=True`` adds the biases to w (one
per unit, from 0), ``loss="bce"`` steps on the mean binary cross-entropy (no ½).

With equal shards and the mean loss, Σ_r ½·MSE_r / K is ½·MSE of the global batch of K·B
records, so K workers with batch B take exactly the steps of one process with batch K·B
(Goyal et al. 2017); with ½·SSE the all-reduce divides by K, i.e. the single process's lr/K.

How the records are split (``torch.utils.data.DistributedSampler``, torch 2.13, written out in
:func:`shard_indices`): each epoch's order of the n records (one shuffled permutation per epoch
from ``np.random.default_rng(seed)``, as :class:`~gd_compare.lesson.core.BatchOrder` draws it; both
sides use these very permutations) is padded by repeating its first records until it divides
by K (``drop_last=False``), or cut to a multiple of K (``drop_last=True``); worker r takes every
K-th record from position r. Each worker then cuts its records into batches of B, in order
(a ``DataLoader`` with ``batch_size=B``; with ``drop_last`` a last short batch is dropped).
Every worker holds the same number of records, so the shards of a step are always equal in
size, and step j's shards together are records j·K·B … (j+1)·K·B − 1 of the padded order.
"""

from __future__ import annotations

import math
import numbers
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np
from numpy.typing import ArrayLike

from gd_compare.lesson.core import (
    Reduction,
    Step,
    Training,
    check_count,
    check_seed,
    collect,
    is_biased_pair,
)
from gd_compare.lesson.data import LESSON_SEED
from gd_compare.lesson.training import TrainingRun, network_run, neuron_run

__all__ = [
    "DataParallelRun",
    "WorkerError",
    "data_parallel_run",
    "epoch_orders",
    "is_network",
    "keep_workers",
    "shard_batches",
    "shard_indices",
    "start_pool",
    "total_steps",
]

#: Seconds a data-parallel run may go without any worker making progress before it is ended.
DEFAULT_TIMEOUT = 60.0


class WorkerError(RuntimeError):
    """A worker process of a data-parallel run failed (raised, died or hung): ``rank`` names it,
    ``step`` the update it was at (``None`` before the first)."""

    def __init__(self, message: str, rank: int | None = None, step: int | None = None) -> None:
        super().__init__(message)
        self.rank = rank
        self.step = step


# --------------------------------------------------------------------------- sharding


def shard_indices(order: np.ndarray, workers: int, rank: int, drop_last: bool = False
                  ) -> np.ndarray:
    """The records worker ``rank`` of ``workers`` gets from one epoch's ``order`` — what
    ``DistributedSampler(dataset, num_replicas=workers, rank=rank, shuffle=False,
    drop_last=drop_last)`` yields over ``Subset(dataset, order)``:

    total  = ceil(n / K)·K, padded with order[0], order[1], … (repeated if need be)
    or     = floor(n / K)·K, the tail cut off                  (``drop_last``)
    shard  = padded[rank : total : K]
    """
    n = len(order)
    per_worker = n // workers if drop_last else -(-n // workers)
    total = per_worker * workers
    if total > n:
        order = np.concatenate([order, np.resize(order, total - n)])
    return order[rank:total:workers]


def shard_batches(shard: np.ndarray, batch_size: int, drop_last: bool = False
                  ) -> list[np.ndarray]:
    """A worker's records cut into batches of ``batch_size`` in order (a ``DataLoader``'s
    batches); a last short batch is kept unless ``drop_last``."""
    count = len(shard) // batch_size if drop_last else -(-len(shard) // batch_size)
    return [shard[i * batch_size:(i + 1) * batch_size] for i in range(count)]


def epoch_orders(n: int, epochs: int, seed: int | None, shuffle: bool) -> Iterator[np.ndarray]:
    """Each epoch's order of the n records: a fresh permutation from one
    ``np.random.default_rng(seed)`` per epoch (the very ones :class:`BatchOrder` draws), or
    ``0 … n−1`` without shuffling."""
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        yield rng.permutation(n) if shuffle else np.arange(n)


@dataclass(frozen=True)
class DataParallelRun:
    """A checked data-parallel run: the training run (data, start, lr, epochs, loss) and how it
    is split — ``workers`` K, the per-worker ``batch_size`` B, ``seed``, ``shuffle``,
    ``drop_last``; ``network`` tells a network (weights per layer) from a single neuron."""

    run: TrainingRun
    workers: int
    batch_size: int
    seed: int | None
    shuffle: bool
    drop_last: bool
    network: bool

    @property
    def per_worker(self) -> int:
        """Records per worker and epoch (DistributedSampler's ``num_samples``)."""
        n, k = len(self.run.y), self.workers
        return n // k if self.drop_last else -(-n // k)

    @property
    def steps_per_epoch(self) -> int:
        return total_steps(len(self.run.y), self.workers, self.batch_size, self.drop_last, 1)

    @property
    def total_steps(self) -> int:
        return total_steps(len(self.run.y), self.workers, self.batch_size, self.drop_last,
                           self.run.epochs)

    def finish(self, steps: Iterator[Step], loss_function: Callable[..., float],
               record: bool | int) -> Training:
        """Run ``steps`` to the end; the lesson's log evaluates
        ``loss_function(X, y, params)`` (a neuron's one array — or its pair (w, b) with a
        bias —, a network's tuple)."""
        return collect(steps, lambda params: loss_function(self.run.X, self.run.y, _arg(params)),
                       epochs=self.run.epochs, total_steps=self.total_steps, record=record)

    def epochs(self) -> Iterator[list[list[np.ndarray]]]:
        """Per epoch, per step, the K shards (one index array per worker, rank order)."""
        for order in epoch_orders(len(self.run.y), self.run.epochs, self.seed, self.shuffle):
            per_rank = [shard_batches(shard_indices(order, self.workers, r, self.drop_last),
                                      self.batch_size, self.drop_last)
                        for r in range(self.workers)]
            yield [list(shards) for shards in zip(*per_rank, strict=True)]

    def global_batches(self) -> Iterator[list[np.ndarray]]:
        """Per epoch, the global batch of every step: the K shards together — records
        j·K·B … (j+1)·K·B − 1 of the padded order (what one process with batch K·B sees)."""
        for steps in self.epochs():
            yield [np.concatenate(shards) for shards in steps]


def total_steps(n: int, workers: int, batch_size: int, drop_last: bool, epochs: int) -> int:
    """Updates of a run over n records: per epoch, ceil (or floor, ``drop_last``) of the
    per-worker records (ceil or floor of n / K) over the per-worker batch size."""
    per_worker = n // workers if drop_last else -(-n // workers)
    steps = per_worker // batch_size if drop_last else -(-per_worker // batch_size)
    return epochs * steps


def _check_workers(workers: int, n: int) -> int:
    if isinstance(workers, bool) or not isinstance(workers, numbers.Integral):
        raise TypeError(f"workers: expected an int, got {type(workers).__name__}")
    return check_count("workers", int(workers), high=n)


def check_timeout(timeout: float) -> float:
    """Seconds (> 0, finite) a run may go without progress before its workers are ended."""
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real):
        raise TypeError(f"timeout: expected a number of seconds > 0, got "
                        f"{type(timeout).__name__}")
    if not (math.isfinite(timeout) and timeout > 0):
        raise ValueError(f"timeout: expected a finite number of seconds > 0, got {timeout!r}")
    return float(timeout)


def data_parallel_run(
    features: ArrayLike,
    targets: ArrayLike,
    weights: ArrayLike | Sequence[ArrayLike] | None,
    lr: float,
    epochs: int,
    batch_size: int,
    workers: int,
    hidden: int | Sequence[int] | None,
    seed: int | None,
    shuffle: bool,
    drop_last: bool,
    loss: str,
    timeout: float = DEFAULT_TIMEOUT,
    *,
    optimizer: str = "sgd",
    optimizer_kwargs: Mapping[str, Any] | None = None,
    scheduler: str | None = None,
    scheduler_kwargs: Mapping[str, Any] | None = None,
    bias: bool = False,
) -> DataParallelRun:
    """Check a data-parallel run's inputs once, for both sides (errors name the argument),
    before any worker starts. ``hidden=None`` trains the lesson's single neuron, sizes train a
    network; ``optimizer``, ``scheduler`` (and their ``_kwargs``) and ``bias`` are checked as
    for every training concept (:func:`~gd_compare.lesson.training.neuron_run`)."""
    check_timeout(timeout)
    options = {"optimizer": optimizer, "optimizer_kwargs": optimizer_kwargs,
               "scheduler": scheduler, "scheduler_kwargs": scheduler_kwargs, "bias": bias}
    if hidden is None:
        run = neuron_run(features, targets, weights, lr, epochs, loss, **options)
    else:
        run = network_run(features, targets, weights, hidden, lr, epochs, loss, **options)
    n = len(run.y)
    k = _check_workers(workers, n)
    per_worker = n // k if drop_last else -(-n // k)
    b = check_count("batch_size", batch_size, high=per_worker)
    return DataParallelRun(run, k, b, check_seed(seed), bool(shuffle), bool(drop_last),
                           hidden is not None)


def is_network(params: Any) -> bool:
    """Whether ``params`` are a network's (a tuple per layer) rather than a neuron's (its
    weight vector, or the pair (w, b) of a neuron with a bias)."""
    return isinstance(params, (tuple, list)) and not is_biased_pair(params)


def _arg(params: tuple[np.ndarray, ...]) -> Any:
    """What the loss functions take: a neuron's weight vector alone, else the tuple."""
    return params[0] if len(params) == 1 else params


# --------------------------------------------------------------------------- the NumPy twin










class DataParallelFunctions(NamedTuple):
    """The two public data-parallel functions of one backend, in this order."""

    iter_data_parallel: Callable[..., Iterator[Step]]
    data_parallel: Callable[..., Training]


def data_parallel_functions(
    steps: Callable[[DataParallelRun, float], Iterator[Step]],
    loss_function: Callable[[str], Callable[..., float]],
    module: str,
) -> DataParallelFunctions:
    """The public data-parallel functions, written once, for the backend whose stream of
    steps is ``steps(dp, timeout)`` (NumPy: :func:`_twin_steps` in this process; PyTorch:
    ``distributed.run_steps`` in worker processes) and whose lesson's-log loss for a reduction
    is ``loss_function(reduction)``. One signature and one docstring by construction, as
    :func:`~gd_compare.lesson.training.training_functions`; ``module`` names the module they are
    attached to (for ``help()``)."""

    def iter_data_parallel(
        features: ArrayLike,
        targets: ArrayLike,
        weights: ArrayLike | Sequence[ArrayLike] | None = None,
        lr: float = 0.5,
        epochs: int = 20,
        batch_size: int = 30,
        *,
        workers: int = 2,
        hidden: int | Sequence[int] | None = None,
        seed: int | None = LESSON_SEED,
        shuffle: bool = True,
        drop_last: bool = False,
        loss: Reduction = "mse",
        optimizer: str = "sgd",
        optimizer_kwargs: Mapping[str, Any] | None = None,
        scheduler: str | None = None,
        scheduler_kwargs: Mapping[str, Any] | None = None,
        bias: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Iterator[Step]:
        """Data-parallel SGD, one :class:`Step` per update (the all-reduced loss; the
        parameters every worker holds). ``workers`` K shards of ``batch_size`` B records each
        per update (module docstring); ``hidden=None`` is the lesson's neuron, sizes a network.
        ``loss``: "mse", "sse" or "bce"; ``bias=True``: one bias per unit, from 0, after the
        weights in ``Step.params``; ``optimizer``, ``optimizer_kwargs``, ``scheduler``,
        ``scheduler_kwargs``: as every training concept's (``numpy_backend.iter_sgd_batching``).
        NumPy: every shard's gradient by hand, in this process; PyTorch: ``workers`` processes
        (DDP, gloo, ``torch.optim``), rank 0's steps. All arguments are checked here, before any
        worker starts; ``timeout`` (PyTorch's processes only): seconds without progress before
        the workers are ended with a :class:`WorkerError`."""
        dp = data_parallel_run(features, targets, weights, lr, epochs, batch_size, workers,
                               hidden, seed, shuffle, drop_last, loss, timeout,
                               optimizer=optimizer, optimizer_kwargs=optimizer_kwargs,
                               scheduler=scheduler, scheduler_kwargs=scheduler_kwargs, bias=bias)
        return steps(dp, float(timeout))

    def data_parallel(
        features: ArrayLike,
        targets: ArrayLike,
        weights: ArrayLike | Sequence[ArrayLike] | None = None,
        lr: float = 0.5,
        epochs: int = 20,
        batch_size: int = 30,
        *,
        workers: int = 2,
        hidden: int | Sequence[int] | None = None,
        seed: int | None = LESSON_SEED,
        shuffle: bool = True,
        drop_last: bool = False,
        loss: Reduction = "mse",
        optimizer: str = "sgd",
        optimizer_kwargs: Mapping[str, Any] | None = None,
        scheduler: str | None = None,
        scheduler_kwargs: Mapping[str, Any] | None = None,
        bias: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        record: bool | int = True,
    ) -> Training:
        """:func:`iter_data_parallel` run to the end."""
        dp = data_parallel_run(features, targets, weights, lr, epochs, batch_size, workers,
                               hidden, seed, shuffle, drop_last, loss, timeout,
                               optimizer=optimizer, optimizer_kwargs=optimizer_kwargs,
                               scheduler=scheduler, scheduler_kwargs=scheduler_kwargs, bias=bias)
        return dp.finish(steps(dp, float(timeout)), loss_function(dp.run.reduction), record)

    functions = DataParallelFunctions(iter_data_parallel, data_parallel)
    for function in functions:
        function.__module__ = module
        function.__qualname__ = function.__name__
    return functions


















# --------------------------------------------------------------------------- worker pools


class _Pool(Protocol):
    workers: int

    def close(self) -> None: ...


#: Pools kept alive by :func:`keep_workers`, by number of workers (None: none kept).
_KEPT: dict[int, Any] | None = None
#: Pools being started in the background (:func:`start_pool`), by number of workers.
_STARTING: dict[int, threading.Thread] = {}


@contextmanager
def keep_workers() -> Iterator[None]:
    """Inside this block, data-parallel runs with the same K reuse one set of worker processes
    (started on first use) instead of starting K fresh ones per run; all are ended on exit.
    Outside it (the default), every run starts its workers and ends them when it ends."""
    global _KEPT
    outer = _KEPT
    _KEPT = {} if outer is None else outer
    try:
        yield
    finally:
        if outer is None:
            for count in list(_STARTING):
                _await_started(count)
            kept, _KEPT = _KEPT, None
            for pool in kept.values():
                pool.close()


def start_pool(workers: int, factory: Callable[[int], _Pool]) -> None:
    """Inside :func:`keep_workers`, start a pool of K workers now, in a background thread
    (``factory(K)``), and keep it: the run that needs it later (:func:`kept_pool`) waits for it
    instead of starting its own, so the workers' start-up overlaps the caller's other work. A
    pool that fails to start is dropped: the run then starts its own and reports why."""
    if _KEPT is None or workers in _KEPT or workers in _STARTING:
        return

    def start() -> None:
        with suppress(Exception):
            pool = factory(workers)
            if not keep_pool(pool):
                pool.close()

    thread = threading.Thread(target=start, name=f"gd_compare-start-{workers}", daemon=True)
    _STARTING[workers] = thread
    thread.start()


def _await_started(workers: int) -> None:
    thread = _STARTING.pop(workers, None)
    if thread is not None:
        thread.join()


def kept_pool(workers: int) -> Any | None:
    """The pool :func:`keep_workers` keeps for K workers (``None`` outside the block); one being
    started (:func:`start_pool`) is waited for."""
    _await_started(workers)
    return None if _KEPT is None else _KEPT.get(workers)


def keep_pool(pool: _Pool) -> bool:
    """Keep ``pool`` for later runs if inside :func:`keep_workers` (then True)."""
    if _KEPT is None:
        return False
    _KEPT[pool.workers] = pool
    return True


def forget_pool(pool: _Pool) -> None:
    """A kept pool that failed is not reused."""
    if _KEPT is not None and _KEPT.get(pool.workers) is pool:
        del _KEPT[pool.workers]
