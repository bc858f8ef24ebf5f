"""Data-parallel SGD on this machine: what K worker processes cost, for K = 1, 2, 4.

    python benchmarks/bench_data_parallel.py            # about a minute on 2 cores
    python benchmarks/bench_data_parallel.py --quick    # fewer steps and repeats

Three tables (the admissions data, the lesson's neuron, B = 30 records per worker, float64):

1. **Start-up**: starting K workers (``gd_compare.torch_backend.distributed.WorkerPool``) until
every one has
   joined the gloo process group: cold (the fork server imports torch and warms it up first),
   warm (the fork server already runs: workers are forked), and with ``spawn`` instead (every
   worker imports torch itself) for comparison.
2. **Per step, inside the workers** (timed in K processes of the benchmark's own, gloo on
   127.0.0.1, one thread each, interleaved repeats, the minimum; rank 0's figure): a local
   step (forward, backward, ``optimizer.step()`` on the worker's B records, no communication),
   the DDP step (the same with ``DistributedDataParallel``: the gradient all-reduce inside
   ``backward()``), a bare ``all_reduce`` of the 6 gradient numbers, and the two checks the
   package adds per update (the loss all-reduce and the all-gather of every rank's weights);
   against one process taking the step at batch K·B.
3. **End to end**: per update, rank 0's steps streamed to the parent (``run_steps``, warm
   workers) against one process's ``torch_backend.iter_sgd_batching`` at batch K·B and the
   NumPy twin.

On 2 cores, K processes are *slower* than one: the cores are shared and every step waits for
the slowest worker and for the all-reduce. The point of the concept is the proof, not speed.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's gd_compare, wherever the script is run from

import multiprocessing as mp  # noqa: E402

import numpy as np  # noqa: E402

B = 30


def _fmt(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"


def _timed(fn, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - start) / steps


# --------------------------------------------------------------------------- 1. start-up


def startup(ks: list[int], repeats: int) -> dict[str, dict[int, float]]:
    from gd_compare.torch_backend import distributed

    out: dict[str, dict[int, float]] = {"cold": {}, "warm": {}, "spawn": {}}
    for k in ks:
        cold = []
        for _ in range(repeats):
            distributed._stop_fork_server()
            start = time.perf_counter()
            distributed.WorkerPool(k).close()
            cold.append(time.perf_counter() - start)
        out["cold"][k] = min(cold)
    keep = distributed.WorkerPool(1)  # keeps the fork server up
    try:
        for k in ks:
            warm = []
            for _ in range(repeats):
                start = time.perf_counter()
                pool = distributed.WorkerPool(k)
                warm.append(time.perf_counter() - start)
                pool.close()
            out["warm"][k] = min(warm)
    finally:
        keep.close()
    forkserver, process = distributed._context, distributed.WorkerProcess
    distributed._context = lambda: mp.get_context("spawn")
    distributed.WorkerProcess = mp.get_context("spawn").Process
    try:
        for k in ks:
            start = time.perf_counter()
            distributed.WorkerPool(k).close()
            out["spawn"][k] = time.perf_counter() - start
    finally:
        distributed._context, distributed.WorkerProcess = forkserver, process
    return out


# --------------------------------------------------------------------------- 2. per step


def _step_functions(k: int, rank: int, rows: slice):
    import torch
    import torch.distributed as dist
    from torch import nn
    from torch.nn.parallel import DistributedDataParallel

    from gd_compare import initial_weights, load_admissions
    from gd_compare.torch_backend import Neuron

    X, y, _, _ = load_admissions().arrays()
    xb, yb = torch.from_numpy(X[rows]), torch.from_numpy(y[rows])
    w = initial_weights(6)
    criterion = nn.MSELoss()
    model = Neuron(w)
    opt = torch.optim.SGD(model.parameters(), lr=1e-9)

    def local() -> None:
        model.zero_grad(set_to_none=True)
        (0.5 * criterion(model(xb), yb)).backward()
        opt.step()

    functions = {"local step": local}
    if k:
        ddp = DistributedDataParallel(Neuron(w))
        ddp_opt = torch.optim.SGD(ddp.parameters(), lr=1e-9)
        grad = torch.zeros(6, dtype=torch.float64)
        flat = torch.zeros(6, dtype=torch.float64)
        gathered = [torch.empty_like(flat) for _ in range(k)]

        def ddp_step() -> None:
            ddp_opt.zero_grad(set_to_none=True)
            (0.5 * criterion(ddp(xb), yb)).backward()
            ddp_opt.step()

        def checks() -> None:
            loss = torch.zeros((), dtype=torch.float64)
            dist.all_reduce(loss)
            dist.all_gather(gathered, flat)

        functions |= {"DDP step": ddp_step, "all_reduce (6 numbers)": lambda: dist.all_reduce(grad),
                      "checks (loss all-reduce + weights all-gather)": checks}
    return functions


def _step_worker(rank: int, k: int, port: int, steps: int, repeats: int, results) -> None:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    store = dist.TCPStore("127.0.0.1", port, k, False)
    dist.init_process_group("gloo", store=store, rank=rank, world_size=k)
    functions = _step_functions(k, rank, slice(rank * B, (rank + 1) * B))
    best: dict[str, float] = {}
    for _ in range(repeats):
        for name, fn in functions.items():
            _timed(fn, 20)
            dist.barrier()
            value = _timed(fn, steps)
            best[name] = min(best.get(name, value), value)
    results.put((rank, best))
    dist.barrier()
    dist.destroy_process_group()


def per_step(ks: list[int], steps: int, repeats: int) -> dict[int, dict[str, float]]:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    ctx = mp.get_context("spawn")
    out: dict[int, dict[str, float]] = {}
    for k in ks:
        store = dist.TCPStore("127.0.0.1", 0, k + 1, True, wait_for_workers=False)
        results = ctx.Queue()
        procs = [ctx.Process(target=_step_worker,
                             args=(r, k, store.port, steps, repeats, results)) for r in range(k)]
        for p in procs:
            p.start()
        got = dict(results.get(timeout=600) for _ in range(k))
        for p in procs:
            p.join(60)
        single = _step_functions(0, 0, slice(0, k * B))["local step"]
        _timed(single, 20)
        out[k] = got[0] | {f"one process, batch {k * B}": min(_timed(single, steps)
                                                               for _ in range(repeats))}
    return out


# --------------------------------------------------------------------------- 3. end to end


def end_to_end(ks: list[int], epochs: int) -> dict[int, dict[str, float]]:
    from gd_compare import initial_weights, load_admissions
    from gd_compare import torch_backend as tb
    from gd_compare.lesson import parallel as dpm
    from gd_compare.torch_backend.distributed import run_steps

    X, y, _, _ = load_admissions().arrays()
    w = initial_weights(6)
    out: dict[int, dict[str, float]] = {}
    with dpm.keep_workers():
        for k in ks:
            run = dpm.data_parallel_run(X, y, w, 0.5, epochs, B, k, None, 42, True, False, "mse")
            list(run_steps(run))  # starts (and keeps) the workers
            start = time.perf_counter()
            n = sum(1 for _ in run_steps(run))
            ddp = (time.perf_counter() - start) / n
            start = time.perf_counter()
            m = sum(1 for _ in tb.iter_sgd_batching(X, y, w, epochs=epochs, batch_size=k * B))
            single = (time.perf_counter() - start) / m
            start = time.perf_counter()
            t = sum(1 for _ in dpm.iter_data_parallel(X, y, w, epochs=epochs, batch_size=B,
                                                      workers=k))
            twin = (time.perf_counter() - start) / t
            out[k] = {"updates": n, "DDP, streamed to the parent": ddp,
                      "one process, batch K·B": single, "NumPy twin": twin}
    return out


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    ks = [1, 2, 4]
    steps, repeats, epochs = (200, 3, 10) if args.quick else (1000, 5, 50)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    began = time.perf_counter()
    print(f"Machine: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}, NumPy {np.__version__}, "
          f"torch {torch.__version__}; load average {os.getloadavg()[0]:.1f}. "
          f"B = {B} records per worker, float64, one thread per process.\n")

    up = startup(ks, 1 if args.quick else 3)
    print("**Start-up** (K workers until all joined the gloo group):\n")
    print("| K | cold (fork server starts: imports torch once) | warm (workers forked) | "
          "spawn (each worker imports torch) |")
    print("|---|---|---|---|")
    for k in ks:
        print(f"| {k} | {_fmt(up['cold'][k])} | {_fmt(up['warm'][k])} | {_fmt(up['spawn'][k])} |")

    steps_table = per_step(ks, steps, repeats)
    print("\n**Per step, inside the workers** (rank 0, minimum over repeats):\n")
    names = ["local step", "DDP step", "all_reduce (6 numbers)",
             "checks (loss all-reduce + weights all-gather)"]
    print("| K | global batch | one process, batch K·B | local step (B) | DDP step (B) | "
          "DDP / one process | bare all_reduce | the package's checks |")
    print("|---|---|---|---|---|---|---|---|")
    for k in ks:
        row = steps_table[k]
        single = row[f"one process, batch {k * B}"]
        print(f"| {k} | {k * B} | {_fmt(single)} | {_fmt(row[names[0]])} | "
              f"{_fmt(row[names[1]])} | {row[names[1]] / single:.2f}× | {_fmt(row[names[2]])} | "
              f"{_fmt(row[names[3]])} |")

    e2e = end_to_end(ks, epochs)
    print(f"\n**End to end**, per update ({epochs} epochs; warm workers):\n")
    print("| K | updates | DDP, rank 0's steps in the parent | one process, batch K·B | "
          "DDP / one process | NumPy twin (K shards by hand) |")
    print("|---|---|---|---|---|---|")
    for k in ks:
        row = e2e[k]
        ddp, single = row["DDP, streamed to the parent"], row["one process, batch K·B"]
        print(f"| {k} | {row['updates']} | {_fmt(ddp)} | {_fmt(single)} | {ddp / single:.1f}× | "
              f"{_fmt(row['NumPy twin'])} |")
    print(f"\nBenchmark wall time: {time.perf_counter() - began:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
