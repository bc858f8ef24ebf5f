"""Data-parallel SGD on ``torch.distributed``: K worker processes, DDP, ``torch.optim``.

The PyTorch twin of :mod:`gd_compare.lesson.parallel`. Each worker is a real process: it joins a
``gloo`` process group (CPU), wraps the model (:class:`~gd_compare.torch_backend.Neuron` or
:class:`~gd_compare.torch_backend.Network`, with biases if asked) and its loss in
``DistributedDataParallel`` and steps ``torch.optim.SGD`` — or the run's ``torch.optim.<Class>``
and ``torch.optim.lr_scheduler.<Class>``, built as ``torch_backend`` builds them
(:mod:`gd_compare.lesson.options`). Its records come from ``DistributedSampler`` over each epoch's
shared order and a ``DataLoader`` with the per-worker batch size; ``loss.backward()`` makes DDP
all-reduce (average) the gradients, so every worker takes the same step. No derivative is
written here.

After every update each worker all-reduces its loss (for the report) and all-gathers its
parameters: rank 0 checks that every rank holds bit-for-bit the same weights and streams the
step to the process that started the workers, which yields it like a backend's ``iter_`` stream.

Faults end a run, never hang it: the parent watches every worker (its exit code, its errors,
and a shared per-rank progress counter) and ends all of them with a :class:`WorkerError` naming
the rank that failed — raised, died (e.g. killed) or made no progress for ``timeout`` seconds.

Beyond one machine: ``torchrun ... -m gd_compare.torch_backend.distributed`` (:func:`main`) runs
the same
per-worker loop, reading MASTER_ADDR, MASTER_PORT, WORLD_SIZE and RANK from the environment.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import multiprocessing as mp
import os
import pickle
import queue
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from numpy.typing import ArrayLike
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, Subset, TensorDataset

from gd_compare.lesson.core import Reduction, Step, raise_if_diverged
from gd_compare.lesson.options import OPTIMIZERS, SCHEDULERS, parse_option
from gd_compare.lesson.parallel import (
    DEFAULT_TIMEOUT,
    DataParallelRun,
    WorkerError,
    data_parallel_functions,
    data_parallel_run,
    epoch_orders,
    forget_pool,
    is_network,
    keep_pool,
    kept_pool,
)
from gd_compare.lesson.workers import (
    TORCH_PRELOAD,
    WorkerProcess,
    fork_server_context,
    stop_fork_server,
)

__all__ = [
    "Fault",
    "RankMismatchError",
    "WorkerPool",
    "data_parallel",
    "data_parallel_accuracy",
    "data_parallel_bce",
    "data_parallel_forward",
    "data_parallel_gradient",
    "data_parallel_mse",
    "data_parallel_sse",
    "iter_data_parallel",
    "main",
    "run_steps",
    "train_shard",
]

#: Seconds the K workers may take to start (import torch, join the process group).
STARTUP_TIMEOUT = 180.0
#: After the first failure, how long the parent waits for the other workers' reports.
GRACE = 2.0
_POLL = 0.05


class RankMismatchError(WorkerError):
    """The workers' weights differ after an update (DDP keeps them bit-for-bit equal)."""


@dataclass(frozen=True)
class Fault:
    """A fault to inject (for tests): at update ``step``, worker ``rank`` raises
    (``"raise"``), kills itself with SIGKILL (``"kill"``), hangs (``"hang"``) or nudges its
    weights by 1e-9 so the ranks disagree (``"perturb"``)."""

    rank: int
    step: int
    kind: str

    def __post_init__(self) -> None:
        if self.kind not in ("raise", "kill", "hang", "perturb"):
            raise ValueError(f"kind: expected raise, kill, hang or perturb, got {self.kind!r}")


# --------------------------------------------------------------------------- one worker's loop


@dataclass
class _Status:
    """Where a worker is: ``phase`` 2·k while computing update k, 2·k + 1 inside update k's
    collectives (all-reduce, all-gather); ``in_collective`` for the error report."""

    report: Callable[[int], None]
    in_collective: bool = False
    step: int = 0

    def enter(self, step: int) -> None:
        self.step, self.in_collective = step, False
        self.report(2 * step)

    def collective(self) -> None:
        self.in_collective = True
        self.report(2 * self.step + 1)

    def leave(self) -> None:
        self.in_collective = False


def _model(dp: DataParallelRun) -> nn.Module:
    from gd_compare.torch_backend import Network, Neuron

    params = dp.run.params
    return Network(params) if dp.network else Neuron.of(params)


class _Objective(nn.Module):
    """What DDP wraps: the model and its loss on a batch, ``forward(xb, yb) → (reported, E)``
    — ``torch_backend``'s own objective: ``nn.MSELoss`` (mean or sum) on ŷ with E = ½·it, or
    ``nn.BCEWithLogitsLoss`` on h with E = it. (DDP must run the forward pass to all-reduce
    the backward's gradients; BCE needs the model's h, not its ŷ.)"""

    def __init__(self, model: nn.Module, reduction: str) -> None:
        from gd_compare.torch_backend.autograd import _criterion

        super().__init__()
        self.model, self.reduction = model, reduction
        self.criterion = _criterion(reduction)

    def forward(self, xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        from gd_compare.torch_backend.autograd import _objective

        return _objective(self.model, xb, yb, self.reduction, self.criterion)


def _apply_fault(fault: Fault | None, rank: int, step: int, phase: str) -> None:
    if fault is None or fault.rank != rank or fault.step != step:
        return
    if phase == "compute" and fault.kind == "raise":
        raise RuntimeError("injected fault")
    if phase == "compute" and fault.kind == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if phase == "compute" and fault.kind == "hang":
        while True:
            time.sleep(3600)


def train_shard(
    dp: DataParallelRun,
    rank: int,
    status: _Status | None = None,
    fault: Fault | None = None,
) -> Iterator[tuple[Step, float]]:
    """Worker ``rank``'s loop (the process group is already up, world size = ``dp.workers``):
    per update, its shard's forward pass, ``E.backward()`` (E = ½·MSE, ½·SSE or the mean BCE)
    — DDP averages the gradients across the workers inside it — and ``optimizer.step()``; the
    scheduler's ``step()`` after each epoch (ReduceLROnPlateau's on the mean of the epoch's
    all-reduced losses, the same number on every rank). Yields the update (the all-reduced
    loss; the live parameters) and the largest |Δ| between any rank's parameters and this
    rank's (0.0: identical; every rank computes it from an all-gather)."""
    status = status or _Status(lambda _: None)
    k = dp.workers
    run = dp.run
    model = _model(dp)
    # broadcasts rank 0's parameters; hooks the gradients' all-reduce into backward()
    ddp = DistributedDataParallel(_Objective(model, run.reduction))
    # torch.optim.<Class>(params, lr=lr, **options), as torch_backend builds it
    optimizer = run.optimizer.build(torch.optim, ddp.parameters(), run.lr)
    schedule = (run.scheduler.build(torch.optim.lr_scheduler, optimizer) if run.scheduler
                else None)
    params = list(model.parameters())
    views = model.weights_view() if dp.network else model.params_view()
    dataset = TensorDataset(torch.from_numpy(run.X), torch.from_numpy(run.y))
    index = 0
    for epoch, order in enumerate(epoch_orders(len(run.y), run.epochs, dp.seed, dp.shuffle)):
        # DistributedSampler over this epoch's shared order: pads (or cuts) it to a multiple
        # of K and hands this rank every K-th record; the DataLoader cuts them into batches
        sampler = DistributedSampler(Subset(dataset, order.tolist()), num_replicas=k, rank=rank,
                                     shuffle=False, drop_last=dp.drop_last)
        loader = DataLoader(sampler.dataset, batch_size=dp.batch_size, sampler=sampler,
                            drop_last=dp.drop_last)
        last = len(loader) - 1
        epoch_loss = 0.0
        for b, (xb, yb) in enumerate(loader):
            index += 1
            status.enter(index)
            _apply_fault(fault, rank, index, "compute")
            optimizer.zero_grad(set_to_none=True)
            loss, objective = ddp(xb, yb)  # this shard's MSE (SSE, BCE) and E_r
            status.collective()
            objective.backward()  # E_r = ½·MSE_r (or BCE_r); DDP: grad ← Σ_r grad_r / K
            optimizer.step()
            if fault is not None and fault.kind == "perturb" and (fault.rank, fault.step) == (
                    rank, index):
                with torch.no_grad():
                    params[0].add_(1e-9)
            reported = loss.detach() / k  # the loss, all-reduced as DDP does the gradient
            dist.all_reduce(reported)
            spread = _rank_spread(params, k)
            status.leave()
            value = reported.item()
            epoch_loss += value
            raise_if_diverged("data_parallel", value, run.lr, epoch=epoch, batch=b, index=index,
                              params=views if b == last else ())
            yield Step(index, epoch, b == last, views, value), spread
        if schedule is not None:
            run.scheduler.step(schedule, epoch_loss / len(loader))


def _rank_spread(params: Sequence[torch.Tensor], k: int) -> float:
    """All-gather every rank's parameters; the largest |Δ| to this rank's."""
    flat = torch.cat([p.detach().reshape(-1) for p in params])
    gathered = [torch.empty_like(flat) for _ in range(k)]
    dist.all_gather(gathered, flat)
    return max(float((g - flat).abs().max()) for g in gathered)


# --------------------------------------------------------------------------- worker processes


def _die_with_parent() -> None:
    """Linux: the kernel kills this worker if the process that started it dies (no orphans)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:  # the parent died before prctl
        os._exit(1)


def _warm_up() -> None:
    """Pay the one-time costs at start-up, not inside the first run's ``timeout``: the first
    optimizer of a process imports ``torch._dynamo`` (seconds), the first DDP its reducer."""
    model = nn.Linear(1, 1)
    DistributedDataParallel(model)
    torch.optim.SGD(model.parameters(), lr=0.1)


def _worker(rank: int, workers: int, host: str, port: int, jobs: Any, results: Any,
            phase: Any, timeout: float) -> None:
    """A worker process: join the group via the parent's TCPStore, then run jobs until None."""
    status = _Status(lambda value: phase.__setitem__(rank, value))
    try:
        _die_with_parent()
        torch.set_num_threads(1)
        store = dist.TCPStore(host, port, workers, False, timedelta(seconds=timeout))
        dist.init_process_group("gloo", store=store, rank=rank, world_size=workers,
                                timeout=timedelta(seconds=timeout))
        _warm_up()
        results.put(("ready", rank))
        while (job := jobs.get()) is not None:
            dp, fault = job
            status.enter(0)
            for step, spread in train_shard(dp, rank, status, fault):
                if rank == 0:
                    results.put(("step", step._replace(params=tuple(np.array(p) for p in
                                                                     step.params)), spread))
            results.put(("done", rank))
        dist.barrier()  # every rank is done with gloo before any closes its connections
        dist.destroy_process_group()
        results.close()
        results.join_thread()
    except BaseException as exc:
        results.put(("error", rank, status.step, f"{type(exc).__name__}: {exc}",
                     traceback.format_exc(), status.in_collective))
        results.close()
        results.join_thread()
        os._exit(1)
    os._exit(0)  # everything is flushed: skip the interpreter's slow teardown of torch


def _context() -> mp.context.BaseContext:
    """multiprocessing's ``forkserver`` (:mod:`gd_compare.lesson.workers`): a clean server
    process imports torch (and warms it up, :mod:`._preload`) once, and each worker is forked
    from it in milliseconds — where ``spawn`` would import torch again in every worker (seconds
    each). Workers never fork from the caller's process, which may hold threads (PyTorch's, a
    notebook's), and never import the caller's ``__main__``. The server is kept for the
    process's life."""
    return fork_server_context(TORCH_PRELOAD)


def _stop_fork_server() -> None:
    stop_fork_server()


class WorkerPool:
    """K worker processes in one gloo process group on 127.0.0.1, started on a free port (the
    parent's ``TCPStore`` binds port 0), reused for run after run until :meth:`close`."""

    def __init__(self, workers: int, *, timeout: float = DEFAULT_TIMEOUT,
                 startup_timeout: float = STARTUP_TIMEOUT) -> None:
        self.workers = workers
        self.closed = False
        ctx = _context()
        self._store = dist.TCPStore("127.0.0.1", 0, workers + 1, True, timedelta(seconds=60),
                                    wait_for_workers=False)
        self.port = self._store.port
        self.results = ctx.Queue()
        self.jobs = [ctx.Queue() for _ in range(workers)]
        self.phase = ctx.Array("q", workers, lock=False)
        # the gloo timeout is a backstop: the parent's own watch (``timeout``) acts first
        gloo_timeout = max(timeout, startup_timeout) + 60.0
        self.processes = [
            WorkerProcess(target=_worker, name=f"gd_compare-rank{r}", daemon=True,
                        args=(r, workers, "127.0.0.1", self.port, self.jobs[r], self.results,
                              self.phase, gloo_timeout))
            for r in range(workers)
        ]
        for p in self.processes:
            p.start()
        try:
            self._await_ready(startup_timeout)
        except BaseException:
            self.kill()
            raise

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.pid is not None]

    def _await_ready(self, startup_timeout: float) -> None:
        ready: set[int] = set()
        deadline = time.monotonic() + startup_timeout
        while len(ready) < self.workers:
            try:
                msg = self.results.get(timeout=_POLL)
            except queue.Empty:
                self._check_alive()
                if time.monotonic() > deadline:
                    late = sorted(set(range(self.workers)) - ready)
                    raise WorkerError(f"data_parallel: worker rank {late[0]} did not start "
                                      f"within {startup_timeout:g} s (ranks not ready: {late})",
                                      late[0]) from None
                continue
            if msg[0] == "error":
                raise self._failure(msg)
            ready.add(msg[1])

    #: The run handed to the workers in advance (:meth:`prefetch`), pickled; None: none.
    _prefetched: bytes | None = None

    def prefetch(self, dp: DataParallelRun) -> None:
        """Hand every worker ``dp`` now, before anyone asks for it: the workers run it while the
        caller does other work (the CLI's other concepts), and their messages wait in the
        results queue. The next :meth:`run` of the very same run (the same pickled bytes, no
        fault) reads them instead of starting it again — the same messages, checked the same
        way; any other run first reads this one to its end, unused. At most one at a time."""
        if dp.workers != self.workers or self.closed or self._prefetched is not None:
            return
        self._start((dp, None))
        self._prefetched = _job_bytes((dp, None))

    def _start(self, job: tuple[DataParallelRun, Fault | None]) -> None:
        for r in range(self.workers):
            self.phase[r] = 0
        for q in self.jobs:
            q.put(job)

    def run(self, dp: DataParallelRun, timeout: float = DEFAULT_TIMEOUT,
            fault: Fault | None = None) -> Iterator[Step]:
        """Hand every worker the run; yield rank 0's steps. Any fault ends all workers and
        raises :class:`WorkerError` naming the rank; different weights across ranks raise
        :class:`RankMismatchError`. A run handed over in advance (:meth:`prefetch`) is read
        from where it got to."""
        if dp.workers != self.workers:
            raise ValueError(f"workers: this pool has {self.workers}, the run wants {dp.workers}")
        pending, self._prefetched = self._prefetched, None
        if pending is not None and pending != _job_bytes((dp, fault)):
            for _ in self._steps(timeout):  # another run: the one in advance ends first, unread
                pass
            pending = None
        if pending is None:
            self._start((dp, fault))
        yield from self._steps(timeout)

    def _steps(self, timeout: float) -> Iterator[Step]:
        """Rank 0's steps of the run the workers were handed, until every worker is done."""
        done: set[int] = set()
        seen = list(self.phase)
        moved = time.monotonic()
        try:
            while len(done) < self.workers:
                try:
                    msg = self.results.get(timeout=_POLL)
                except queue.Empty:
                    self._check_alive()
                    now, current = time.monotonic(), list(self.phase)
                    if current != seen:
                        seen, moved = current, now
                    elif now - moved > timeout:
                        raise self._hang(current, timeout) from None
                    continue
                moved = time.monotonic()
                if msg[0] == "step":
                    step, spread = msg[1], msg[2]
                    if spread != 0.0:
                        raise RankMismatchError(
                            f"data_parallel: after update {step.index} the workers' weights "
                            f"differ (max |Δ| to rank 0: {spread:.3g}); DDP keeps them equal")
                    yield step
                elif msg[0] == "done":
                    done.add(msg[1])
                elif msg[0] == "error":
                    raise self._failure(msg)
        except BaseException:
            self.kill()  # a failed (or abandoned) run leaves no worker behind
            raise

    # ---------------------------------------------------------------- failures

    def _check_alive(self) -> None:
        if any(p.exitcode is not None for p in self.processes):
            raise self._failure(None)

    def _failure(self, first: tuple | None) -> WorkerError:
        """Wait up to :data:`GRACE` for the other workers' reports, end all, and name the rank
        whose fault came first in cause: raised in its own code or died > failed in a
        collective (a consequence of another rank's fault)."""
        errors = {first[1]: first} if first else {}
        deadline = time.monotonic() + GRACE
        while time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                msg = self.results.get(timeout=_POLL)
                if msg[0] == "error":
                    errors.setdefault(msg[1], msg)
                continue
            if all(p.exitcode is not None or r in errors for r, p in enumerate(self.processes)):
                break
        steps = [v // 2 for v in self.phase]
        self.kill()
        causes, consequences = [], []
        for r, p in enumerate(self.processes):
            if r in errors:
                _, _, step, text, tb, in_collective = errors[r]
                if in_collective:  # its collective broke: the other rank's fault, not its own
                    short = text if len(text) <= 60 else text[:60] + "…"
                    line = f"rank {r} failed in a collective at update {step} ({short})"
                    consequences.append((r, step, line, tb))
                else:
                    causes.append((r, step, f"rank {r} raised {text} at update {step}", tb))
            elif p.exitcode not in (None, 0, -signal.SIGKILL) or (
                    p.exitcode == -signal.SIGKILL and r not in self._killed):
                code = p.exitcode
                how = (f"was killed by {signal.Signals(-code).name}" if code < 0
                       else f"exited with code {code}")
                causes.append((r, steps[r], f"rank {r} {how} at update {steps[r]}", ""))
        ranked = causes or consequences
        if not ranked:
            return WorkerError("data_parallel: the workers ended without a report")
        rank, step, line, tb = ranked[0]
        others = [x[2] for x in (causes[1:] + consequences if causes else consequences[1:])]
        message = f"data_parallel: worker {line}"
        if others:
            message += "; then " + "; ".join(others)
        message += f" (all {self.workers} workers ended)"
        if tb:
            message += f"\n--- traceback of rank {rank} ---\n{tb.rstrip()}"
        return WorkerError(message, rank, step)

    def _hang(self, phase: list[int], timeout: float) -> WorkerError:
        self.kill()
        behind = [r for r, v in enumerate(phase) if v == min(phase)]
        step = min(phase) // 2
        if len(behind) < self.workers:
            ahead = [r for r in range(self.workers) if r not in behind]
            names = ", ".join(f"rank {r}" for r in behind)
            return WorkerError(
                f"data_parallel: worker {names} made no progress for {timeout:g} s at update "
                f"{step} (hung; ranks {ahead} were waiting for it in the all-reduce; all "
                f"{self.workers} workers ended)", behind[0], step)
        where = "in the all-reduce" if min(phase) % 2 else "computing"
        return WorkerError(
            f"data_parallel: all {self.workers} workers made no progress for {timeout:g} s at "
            f"update {step} ({where}; all ended)", 0, step)

    # ---------------------------------------------------------------- ending

    _killed: frozenset[int] = frozenset()

    def kill(self) -> None:
        """End every worker now (SIGKILL) and reap them."""
        if self.closed:
            return
        self.closed = True
        forget_pool(self)
        self._killed = frozenset(r for r, p in enumerate(self.processes)
                                 if p.exitcode is None)
        for p in self.processes:
            if p.exitcode is None:
                p.kill()
        for p in self.processes:
            p.join(5)
        self._release()

    def close(self) -> None:
        """Ask every worker to leave the group and exit; kill any that does not in 10 s."""
        if self.closed:
            return
        if self._prefetched is not None:  # a run handed over in advance, never read: not waited
            self.kill()
            return
        for q in self.jobs:
            with contextlib.suppress(OSError, ValueError):
                q.put(None)
        deadline = time.monotonic() + 10
        for p in self.processes:
            p.join(max(0.0, deadline - time.monotonic()))
        self.kill()

    def _release(self) -> None:
        for q in (*self.jobs, self.results):
            q.cancel_join_thread()
            q.close()
        self._store = None

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _job_bytes(job: tuple[DataParallelRun, Fault | None]) -> bytes:
    """A job's identity: its pickle (data, start, options — what the workers are sent)."""
    return pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)


def run_steps(dp: DataParallelRun, timeout: float = DEFAULT_TIMEOUT,
              fault: Fault | None = None, pool: WorkerPool | None = None) -> Iterator[Step]:
    """Rank 0's steps of ``dp`` from K worker processes: ``pool``'s, the pool
    :func:`~gd_compare.lesson.parallel.keep_workers` keeps, or K fresh ones ended at the end."""
    own = pool is None and (pool := kept_pool(dp.workers)) is None
    if own:
        pool = WorkerPool(dp.workers, timeout=timeout)
        own = not keep_pool(pool)
    assert pool is not None
    try:
        yield from pool.run(dp, timeout, fault)
    finally:
        if own:
            pool.close()


# --------------------------------------------------------------------------- public twins


def _loss(reduction: str) -> Callable[..., float]:
    return {"mse": data_parallel_mse, "sse": data_parallel_sse,
            "bce": data_parallel_bce}[reduction]


# run_steps looked up at each call, as a module global (a test may replace it)
iter_data_parallel, data_parallel = data_parallel_functions(
    lambda dp, timeout: run_steps(dp, timeout), _loss, "gd_compare.torch_backend")


def data_parallel_mse(features: ArrayLike, targets: ArrayLike, params: Any) -> float:
    """The train MSE of a neuron's weights (one array, or (w, b)) or a network's (a tuple per
    layer, then its biases)."""
    from gd_compare import torch_backend as tb

    return (tb.network_mse if is_network(params) else tb.mse)(features, targets, params)


def data_parallel_sse(features: ArrayLike, targets: ArrayLike, params: Any) -> float:
    """The train SSE of a neuron's weights (one array, or (w, b)) or a network's (a tuple)."""
    from gd_compare import torch_backend as tb

    return (tb.network_sse if is_network(params) else tb.sse)(features, targets, params)


def data_parallel_bce(features: ArrayLike, targets: ArrayLike, params: Any) -> float:
    """The mean binary cross-entropy (``nn.BCEWithLogitsLoss``) of a neuron's weights (one
    array, or (w, b)) or a network's (a tuple)."""
    from gd_compare import torch_backend as tb

    return (tb.network_bce if is_network(params) else tb.bce)(features, targets, params)


def data_parallel_accuracy(features: ArrayLike, targets: ArrayLike, params: Any) -> float:
    """The test accuracy of a neuron's weights (one array, or (w, b)) or a network's (a tuple)."""
    from gd_compare import torch_backend as tb

    f = tb.network_accuracy if is_network(params) else tb.accuracy
    return f(features, targets, params)


def data_parallel_forward(features: ArrayLike, params: Any) -> np.ndarray:
    """ŷ of every record for a neuron's weights (one array, or (w, b)) or a network's."""
    from gd_compare import torch_backend as tb

    return (tb.network_forward if is_network(params) else tb.forward)(features, params)


def data_parallel_gradient(features: ArrayLike, targets: ArrayLike, params: Any,
                           loss: Reduction = "mse") -> Any:
    """∂E/∂params on a batch from autograd, for a neuron (one array, or (w, b)) or a network
    (a tuple per layer, then its biases)."""
    from gd_compare import torch_backend as tb

    f = tb.network_gradient if is_network(params) else tb.gradient
    return f(features, targets, params, loss)


# --------------------------------------------------------------------------- torchrun


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="torchrun ... -m gd_compare.torch_backend.distributed",
        description="Data-parallel SGD on the admissions data, one process per rank: "
        "MASTER_ADDR, MASTER_PORT, WORLD_SIZE and RANK come from the environment (torchrun). "
        "Rank 0 writes one JSON line per update.")
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=30, help="records per worker and update")
    p.add_argument("--hidden", type=lambda s: tuple(int(v) for v in s.split(",")),
                   default=None, help="hidden sizes (default: the single neuron)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the starting weights and the shuffle (default 42)")
    p.add_argument("--loss", choices=("mse", "sse", "bce"), default="mse")
    p.add_argument("--bias", action="store_true", help="one bias per unit, starting at 0")
    p.add_argument("--optimizer", choices=list(OPTIMIZERS), default="sgd", metavar="NAME",
                   help=f"torch.optim class: {', '.join(OPTIMIZERS)} (default: sgd)")
    p.add_argument("--optimizer-option", type=parse_option, action="append", metavar="KEY=VALUE",
                   help="an option of the optimizer, torch's keyword (repeatable)")
    p.add_argument("--scheduler", choices=list(SCHEDULERS), metavar="NAME",
                   help=f"lr scheduler, stepped once per epoch: {', '.join(SCHEDULERS)}")
    p.add_argument("--scheduler-option", type=parse_option, action="append", metavar="KEY=VALUE",
                   help="an option of the scheduler (repeatable)")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.add_argument("--drop-last", action="store_true")
    p.add_argument("--out", default="-", help="rank 0's JSON lines: a path, or - for stdout")
    return p




def torchrun_run(args: argparse.Namespace, world_size: int) -> DataParallelRun:
    """The run every rank builds from the same options: the bundled admissions data and the
    lesson's (or course's) start, exactly as ``compare("data_parallel", ...)`` builds it."""
    from gd_compare.lesson.concepts import get_concept

    params: dict[str, Any] = {
        "lr": args.lr, "epochs": args.epochs, "batch_size": args.batch_size,
        "workers": world_size, "hidden": args.hidden, "loss": args.loss,
        "drop_last": args.drop_last, "bias": args.bias, "optimizer": args.optimizer,
        "optimizer_kwargs": dict(args.optimizer_option or ()), "scheduler": args.scheduler,
        "scheduler_kwargs": dict(args.scheduler_option or ()) or None}
    if args.seed is not None:
        params["seed"] = args.seed
    kw = get_concept("data_parallel").inputs(args.dtype, **params).kwargs
    return data_parallel_run(**kw)


def main(argv: Sequence[str] | None = None) -> int:
    """One rank under ``torchrun``: join the group from the environment (``env://``), train
    its shard, check all ranks' weights after every update; rank 0 writes the steps."""
    args = build_parser().parse_args(argv)
    missing = [v for v in ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK")
               if v not in os.environ]
    if missing:
        print(f"gd_compare.torch_backend.distributed: {', '.join(missing)} not set: start it "
              "with torchrun (see the docs, 'Data-parallel SGD')", file=sys.stderr)
        return 2
    try:  # every option is checked before the rank joins the group
        dp = torchrun_run(args, int(os.environ["WORLD_SIZE"]))
    except (ValueError, TypeError) as exc:
        print(f"gd_compare.torch_backend.distributed: {exc}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method="env://")
    rank = dist.get_rank()
    out = None
    if rank == 0:
        out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")  # noqa: SIM115
    try:
        for step, spread in train_shard(dp, rank):
            if spread != 0.0:
                raise RankMismatchError(f"rank {rank}: weights differ after update "
                                        f"{step.index} (max |Δ| {spread:.3g})")
            if out is not None:
                out.write(json.dumps({"index": step.index, "epoch": step.epoch,
                                      "end_of_epoch": step.end_of_epoch, "loss": step.loss,
                                      "params": [p.tolist() for p in step.params],
                                      "rank_spread": spread}) + "\n")
    finally:
        if out is not None and out is not sys.stdout:
            out.close()
    dist.barrier()  # every rank is done with gloo before any closes its connections
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":  # pragma: no cover - run by torchrun
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # everything is written and the group is destroyed: skip the interpreter's teardown, where
    # a C++ thread of the process group can still be joinable and abort the process (SIGABRT)
    os._exit(code)
