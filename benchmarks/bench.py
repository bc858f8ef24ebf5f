"""gd_compare benchmark: each backend, the harness around them, and the floors they are held to.

    python benchmarks/bench.py            # the full run (a few minutes on 2 cores)
    python benchmarks/bench.py --quick    # smaller sizes, fewer repeats (under a minute)
    python benchmarks/bench.py --readme   # also write the tables into docs/benchmarks.md

For n = 360 (the admissions data, d = 6) and n = 1e4, 1e5, 1e6 (``make_synthetic``, d = 16) and
batch sizes 1, 32 and n (full batch) it times, in one process and interleaved (every repeat
runs every candidate once, so load from other processes hits all of them alike; the figure is
the minimum over repeats):

- NumPy: the lesson's per-record loop (one epoch; for large n timed on the first rows and scaled,
  marked ≈), the plain vectorised epoch (``_gradient_step``) and the backend's own update (the
  cache-blocked kernel for the full batch), against the floor *one streaming read of X*
  (``X @ w``);
- PyTorch: the backend's update (``iter_*`` generator: batch fetch, forward, backward,
  ``optimizer.step()``, ``.item()``, divergence check), against the floor *bare
  forward + backward + optimizer.step()* on the same batch with nothing around it;
- the harness: what the lockstep comparison adds per update (backends replaced by recordings of
  their steps, so only the harness's own work is timed), as a share of running both backends;
- per optimizer (``bench_optimizers.py``): the NumPy twin's ``step()`` vs ``torch.optim``'s,
  each backend's update with it and the harness per update;
- per-example SGD on the admissions data through the harness (1000 epochs; ``--quick``: 10,
  scaled), a 1e6-step ``record=False`` comparison's resident memory, and the cold start of
  ``python -m gd_compare`` (whole process) against ``import torch`` + the first optimizer.

Timings on a shared machine are noisy: compare the ratios within one run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
import types
from collections import deque
from collections.abc import Callable
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's gd_compare, wherever the script is run from

import numpy as np  # noqa: E402

from gd_compare import compare, initial_weights, load_admissions, make_synthetic  # noqa: E402
from gd_compare.lesson.core import BatchOrder, Step  # noqa: E402
from gd_compare.numpy_backend import by_hand  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_optimizers import bench_optimizers  # noqa: E402

LR = 0.5


def _best(times: list[float]) -> float:
    return min(times)


def _interleaved(cands: dict[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    """Run every candidate once per repeat (each returns seconds per unit); keep the minimum."""
    seen: dict[str, list[float]] = {k: [] for k in cands}
    for _ in range(repeats):
        for k, f in cands.items():
            seen[k].append(f())
    return {k: _best(v) for k, v in seen.items()}


def _data(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if n == 360:
        X, y, _, _ = load_admissions().arrays()
    else:
        X, y = make_synthetic(n, 16, seed=0)
    return X, y, initial_weights(X.shape[1])


def _iter(mod, X, y, w, batch: int, epochs: int):
    if batch == len(y):
        return mod.iter_mse_training(X, y, w, LR, epochs)
    return mod.iter_sgd_batching(X, y, w, LR, epochs, batch)


def _per_update(mod, X, y, w, batch: int, k: int) -> Callable[[], float]:
    """Seconds per update of ``mod``'s training stream (set-up and first update excluded)."""
    per_epoch = len(BatchOrder(len(y), batch))
    epochs = -(-(k + 1) // per_epoch)

    def run() -> float:
        steps = _iter(mod, X, y, w, batch, epochs)
        next(steps)
        t = time.perf_counter()
        deque(islice(steps, k), maxlen=0)
        return (time.perf_counter() - t) / k

    return run


def _bare_torch(X, y, w, batch: int, k: int) -> Callable[[], float]:
    """The PyTorch floor: forward, backward and optimizer.step() on one fixed batch."""
    import torch
    from torch import nn

    from gd_compare.torch_backend import Neuron

    rows = next(iter(BatchOrder(len(y), batch, seed=0)))
    xb, yb = torch.from_numpy(X[rows]), torch.from_numpy(y[rows])

    def run() -> float:
        model = Neuron(w)
        criterion = nn.MSELoss()
        optimizer = torch.optim.SGD(model.parameters(), lr=LR)
        t = time.perf_counter()
        for _ in range(k):
            model.zero_grad(set_to_none=True)
            loss = criterion(model(xb), yb)
            (0.5 * loss).backward()
            optimizer.step()
        return (time.perf_counter() - t) / k

    return run


def _replay(mod, X, y, w, batch: int, k: int):
    """``mod`` with its training stream replaced by a recording of its first ``k`` steps."""
    fn = "iter_mse_training" if batch == len(y) else "iter_sgd_batching"
    recorded = [Step(s.index, s.epoch, s.end_of_epoch, tuple(p.copy() for p in s.params), s.loss)
                for s in islice(_iter(mod, X, y, w, batch, 1000), k)]
    return types.SimpleNamespace(
        **{fn: lambda **kw: iter(recorded)},
        **{name: getattr(mod, name) for name in ("mse", "sse", "accuracy")},
    )


def _harness_per_update(X, y, w, batch: int, k: int, torch_mod) -> Callable[[], float]:
    """What the lockstep comparison itself costs per update: compare() over recorded steps
    (k steps minus k0 steps, so the evaluations at the start and the end cancel out).

    Its per-update work depends on the parameters, not on n: the steps are recorded on the
    first rows only (at most 2,000, the same d and batch size, full batch stays full)."""
    m = min(len(y), 2000)
    X, y = X[:m], y[:m]
    batch = m if batch >= m else batch
    full = batch == m
    concept = "mse_training" if full else "sgd_batching"
    extra = {} if full else {"batch_size": batch}
    per_epoch = len(BatchOrder(m, batch))
    k0 = per_epoch if per_epoch < k // 2 else 1  # both runs log epoch 0 (and no other), or neither
    pairs = {s: (_replay(by_hand, X, y, w, batch, s), _replay(torch_mod, X, y, w, batch, s))
             for s in (k0, k)}

    def timed(s: int) -> float:
        t = time.perf_counter()
        compare(concept, features=X, targets=y, weights=w, lr=LR, epochs=10_000,
                backends=pairs[s], **extra)
        return time.perf_counter() - t

    def run() -> float:
        return max(timed(k) - timed(k0), 0.0) / (k - k0)

    return run


def _fmt_t(seconds: float | None, approx: bool = False) -> str:
    if seconds is None:
        return "–"
    pre = "≈" if approx else ""
    if seconds >= 1:
        return f"{pre}{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{pre}{seconds * 1e3:.3g} ms"
    return f"{pre}{seconds * 1e6:.3g} µs"


def _ratio(a: float | None, b: float | None) -> str:
    return "–" if a is None or b is None or b == 0 else f"{a / b:.2f}×"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------- the sections


def bench_sizes(sizes: list[int], batches: list[int | None], repeats: int, k_mini: int,
                log: Callable[[str], None]) -> tuple[str, str, dict]:
    from gd_compare import torch_backend

    full_rows, mini_rows, raw = [], [], {}
    for n in sizes:
        X, y, w = _data(n)
        d = X.shape[1]
        for batch in batches:
            b = n if batch is None else batch
            if b > n:
                continue
            per_epoch = len(BatchOrder(n, b))
            # full batch: ~3e6 elements of X per measurement
            k = max(3, min(300, int(3e6 // (n * d)) + 3)) if batch is None else k_mini
            cands = {
                "numpy": _per_update(by_hand, X, y, w, b, k),
                "torch": _per_update(torch_backend, X, y, w, b, k),
                "bare": _bare_torch(X, y, w, b, k),
                "harness": _harness_per_update(X, y, w, b, 200, torch_backend),
            }
            if batch is None:
                out = np.empty(n)
                m_rec = min(n, 20_000)

                def read(X=X, w=w, out=out, k=k):
                    """One streaming read of X: the faster of X @ w (BLAS) and X.sum()."""
                    t = time.perf_counter()
                    for _ in range(k):
                        np.dot(X, w, out=out)
                    gemv = time.perf_counter() - t
                    t = time.perf_counter()
                    for _ in range(k):
                        X.sum()
                    return min(gemv, time.perf_counter() - t) / k

                def plain(X=X, y=y, w=w, k=k):
                    ww = w.copy()
                    t = time.perf_counter()
                    for _ in range(k):
                        by_hand._gradient_step(X, y, (ww,), 1e-9, "mse")
                    return (time.perf_counter() - t) / k

                def per_record(X=X, y=y, w=w, m=m_rec):
                    t = time.perf_counter()
                    by_hand._per_record_epoch(X[:m], y[:m], (w.copy(),), LR, "mse")
                    return (time.perf_counter() - t) * (len(y) / m)

                cands |= {"read": read, "plain": plain, "per_record": per_record}
            r = _interleaved(cands, repeats)
            raw[f"{n}/{'full' if batch is None else b}"] = r
            both = r["numpy"] + r["torch"]
            if batch is None:
                full_rows.append([
                    f"{n:,}", str(d), _fmt_t(r["read"]),
                    _fmt_t(r["per_record"], approx=m_rec < n), _fmt_t(r["plain"]),
                    _fmt_t(r["numpy"]), _ratio(r["numpy"], r["read"]),
                    _fmt_t(r["torch"]), _fmt_t(r["bare"]), _ratio(r["torch"], r["bare"]),
                    _ratio(r["numpy"], r["torch"]),
                    _fmt_t(r["harness"]), f"{100 * r['harness'] / both:.1f}%",
                ])
            else:
                mini_rows.append([
                    f"{n:,}", str(b), f"{per_epoch:,}",
                    _fmt_t(r["numpy"]), _fmt_t(r["numpy"] * per_epoch, approx=per_epoch > k),
                    _fmt_t(r["torch"]), _fmt_t(r["torch"] * per_epoch, approx=per_epoch > k),
                    _fmt_t(r["bare"]), _ratio(r["torch"], r["bare"]),
                    _ratio(r["numpy"], r["torch"]),
                    _fmt_t(r["harness"]), f"{100 * r['harness'] / both:.1f}%",
                ])
            log(f"  n={n:,} batch={'full' if batch is None else b}: "
                + ", ".join(f"{key} {_fmt_t(v)}" for key, v in r.items()))
    full = _table(
        ["n", "d", "read X (floor)", "per-record loop epoch", "plain vectorised epoch",
         "NumPy epoch (blocked)", "NumPy / read", "PyTorch step", "bare fwd+bwd+step (floor)",
         "PyTorch / floor", "NumPy / PyTorch", "harness / update", "harness adds"],
        full_rows)
    mini = _table(
        ["n", "batch", "updates / epoch", "NumPy update", "NumPy epoch", "PyTorch update",
         "PyTorch epoch", "bare fwd+bwd+step (floor)", "PyTorch / floor", "NumPy / PyTorch",
         "harness / update", "harness adds"],
        mini_rows)
    return full, mini, raw


def bench_fetch(repeats: int, k: int) -> str:
    """How the PyTorch backend takes its batches, and how it reads the loss."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    X, y, _ = _data(360)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    rows = []
    for b in (1, 32):
        order = BatchOrder(360, b, seed=0)
        loader = DataLoader(TensorDataset(Xt, yt), sampler=order, batch_size=None)
        per_epoch = len(order)

        def via_loader(loader=loader, per_epoch=per_epoch):
            t = time.perf_counter()
            for _ in range(max(1, k // per_epoch)):
                for _xb, _yb in loader:
                    pass
            return (time.perf_counter() - t) / (max(1, k // per_epoch) * per_epoch)

        def via_index(order=order, per_epoch=per_epoch):
            t = time.perf_counter()
            for _ in range(max(1, k // per_epoch)):
                for batch in order:
                    r = torch.from_numpy(batch)
                    _xb, _yb = Xt.index_select(0, r), yt.index_select(0, r)
            return (time.perf_counter() - t) / (max(1, k // per_epoch) * per_epoch)

        r = _interleaved({"loader": via_loader, "index": via_index}, repeats)
        rows.append([f"batch {b}: fetch", f"DataLoader {_fmt_t(r['loader'])}",
                     f"index_select {_fmt_t(r['index'])}", _ratio(r["loader"], r["index"])])
    loss = torch.tensor(0.25, dtype=torch.float64) * 2
    store = torch.empty(k, dtype=torch.float64)

    def item():
        t = time.perf_counter()
        for _ in range(k):
            loss.item()
        return (time.perf_counter() - t) / k

    def into_tensor():
        t = time.perf_counter()
        for i in range(k):
            store[i] = loss.detach()
        return (time.perf_counter() - t) / k

    r = _interleaved({"item": item, "store": into_tensor}, repeats)
    rows.append(["the loss", f"`store[i] = loss.detach()` {_fmt_t(r['store'])}",
                 f"`.item()` {_fmt_t(r['item'])}", _ratio(r["store"], r["item"])])
    return _table(["per update", "alternative", "what the backend does", "alternative / backend"],
                  rows)


def bench_threads(n: int, repeats: int) -> str:
    """PyTorch full-batch step with 1 and 2 intra-op threads (and NumPy's BLAS threads)."""
    import torch

    from gd_compare import torch_backend

    X, y, w = _data(n)
    k = 5
    before = torch.get_num_threads()
    out = {}
    try:
        for threads in sorted({1, os.cpu_count() or 1}):
            torch.set_num_threads(threads)
            out[f"torch {threads}"] = _interleaved(
                {"t": _per_update(torch_backend, X, y, w, n, k)}, repeats)["t"]
    finally:
        torch.set_num_threads(before)
    try:
        from threadpoolctl import threadpool_info, threadpool_limits

        blas = [f"{i['internal_api']} {i.get('architecture', '')} ×{i['num_threads']}"
                for i in threadpool_info() if i["user_api"] == "blas"]
        for threads in (1, None):
            with threadpool_limits(limits=threads, user_api="blas"):
                key = f"numpy blas {threads or 'default'}"
                out[key] = _interleaved({"n": _per_update(by_hand, X, y, w, n, k)}, repeats)["n"]
    except ImportError:
        blas = ["threadpoolctl not installed"]
    cells = [f"{key}: {_fmt_t(v)}" for key, v in out.items()]
    return (f"n = {n:,} full batch, per update; NumPy's BLAS: "
            f"{', '.join(blas)}\n\n" + " · ".join(cells))


def bench_end_to_end(repeats: int, quick: bool) -> str:
    """The lesson's runs whole: compare() against the two backends run alone, one after the
    other (each from its iter_ function to the last step, set-up included)."""
    from gd_compare import torch_backend
    from gd_compare.lesson.concepts import CONCEPTS

    cases = [("mse_training", {}), ("sgd_batching", {}),
             ("sgd_batching", {"batch_size": 1, "epochs": 3 if quick else 10})]
    rows = []
    for name, params in cases:
        kwargs = CONCEPTS[name].inputs("float64", **params).kwargs

        def alone(mod, name=name, kwargs=kwargs):
            t = time.perf_counter()
            deque(getattr(mod, "iter_" + name)(**kwargs), maxlen=0)
            return time.perf_counter() - t

        def harness(record, name=name, params=params):
            t = time.perf_counter()
            compare(name, record=record, **params)
            return time.perf_counter() - t

        r = _interleaved({"numpy": lambda: alone(by_hand), "torch": lambda: alone(torch_backend),
                          "recorded": lambda: harness(True), "streamed": lambda: harness(False)},
                         repeats)
        both = r["numpy"] + r["torch"]
        label = name + "".join(f", {k}={v}" for k, v in params.items())
        rows.append([label, _fmt_t(r["numpy"]), _fmt_t(r["torch"]), _fmt_t(r["recorded"]),
                     f"{100 * (r['recorded'] / both - 1):+.1f}%", _fmt_t(r["streamed"]),
                     f"{100 * (r['streamed'] / both - 1):+.1f}%"])
    return _table(["run (lesson defaults)", "NumPy alone", "PyTorch alone",
                   "compare(record=True)", "vs alone", "compare(record=False)", "vs alone"], rows)


def bench_sgd_lesson(epochs: int) -> dict:
    """Per-example SGD on the admissions data through the harness (the CLI's comparison)."""
    from gd_compare import torch_backend  # noqa: F401  (import outside the timing)

    compare("sgd_batching", batch_size=1, epochs=1)  # first optimizer outside the timing
    t = time.perf_counter()
    result = compare("sgd_batching", batch_size=1, epochs=epochs, record=False)
    seconds = time.perf_counter() - t
    return {"epochs": epochs, "steps": result.steps, "seconds": seconds,
            "per_update": seconds / result.steps, "passed": result.passed,
            "max_abs_diff": max(result.max_abs_diff.values())}


def _run(cmd: list[str], env: dict | None = None) -> tuple[float, str]:
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    return time.perf_counter() - t, proc.stdout + proc.stderr


def bench_cold_start(repeats: int) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    py = sys.executable
    probe = ("import time; t0 = time.perf_counter(); import torch; t1 = time.perf_counter(); "
             "torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1); "
             "t2 = time.perf_counter(); print(t1 - t0, t2 - t1)")
    cases = {
        "`python -c pass`": [py, "-c", "pass"],
        "`import gd_compare` (NumPy; pandas waits for the CSV)": [py, "-c", "import gd_compare"],
        "`python -m gd_compare --concept simple_step`": [py, "-m", "gd_compare", "--concept",
                                                         "simple_step"],
        "`python -m gd_compare` (every concept, the lesson's defaults)": [py, "-m",
                                                                          "gd_compare"],
    }
    # the same CLI run under -X importtime: how much of *that* process torch's imports take
    # (the first optimizer's cost is its import of torch._dynamo)
    shares = []
    for _ in range(repeats):
        wall, text = _run([py, "-X", "importtime", *cases[
            "`python -m gd_compare --concept simple_step`"][1:]], env)
        cumulative = {}
        for line in text.splitlines():
            m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\s*)(\S+)", line)
            if m and m.group(3) in ("gd_compare.torch_backend", "torch._dynamo"):
                cumulative[m.group(3)] = max(cumulative.get(m.group(3), 0), int(m.group(1)))
        shares.append((cumulative.get("gd_compare.torch_backend", 0) / 1e6,
                       cumulative.get("torch._dynamo", 0) / 1e6, wall))
    walls: dict[str, list[float]] = {k: [] for k in cases}
    imports, optim = [], []
    for _ in range(repeats):
        for key, cmd in cases.items():
            walls[key].append(_run(cmd, env)[0])
        _, text = _run([py, "-c", probe], env)
        a, b = (float(v) for v in text.split()[-2:])
        imports.append(a)
        optim.append(b)
    torch_cost = min(imports) + min(optim)
    rows = [[k, _fmt_t(min(v))] for k, v in walls.items()]
    rows.append(["in-process: `import torch`", _fmt_t(min(imports))])
    rows.append(["in-process: first `torch.optim.SGD(...)`", _fmt_t(min(optim))])
    simple = min(walls["`python -m gd_compare --concept simple_step`"])
    full = min(walls["`python -m gd_compare` (every concept, the lesson's defaults)"])
    rows.append(["share of `import torch` + first optimizer (in-process figures)",
                 f"{100 * torch_cost / simple:.0f}% of simple_step, "
                 f"{100 * torch_cost / full:.0f}% of the full run"])
    t_imp, t_dyn, wall = min(shares, key=lambda v: v[2])
    rows.append(["`-X importtime` of the simple_step run: `gd_compare.torch_backend` (torch, "
                 "torch.nn) + `torch._dynamo` (imported by the first optimizer)",
                 f"{t_imp:.2f} s + {t_dyn:.2f} s of {wall:.2f} s "
                 f"({100 * (t_imp + t_dyn) / wall:.0f}%)"])
    return _table(["cold start (whole process)", "wall time"], rows)


def bench_memory(steps: int, pair: str) -> dict:
    _, text = _run([sys.executable, str(ROOT / "benchmarks" / "memory_check.py"),
                    "--steps", str(steps), "--pair", pair])
    return json.loads(text.strip().splitlines()[-1])


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return (f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {cpu}, "
            f"{os.cpu_count()} cores, Python {platform.python_version()}, "
            f"NumPy {np.__version__}, torch {torch.__version__}")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description="gd_compare benchmark (see the module docstring)")
    p.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats (< 1 min)")
    p.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)  # the test: tiny
    p.add_argument("--readme", action="store_true", help="write the tables into docs/benchmarks.md")
    p.add_argument("--sgd-epochs", type=int,
                   help="epochs of the per-example SGD run (default 100, scaled to 1000; "
                   "--quick 10)")
    args = p.parse_args(argv)

    if args.smoke:
        sizes, batches, repeats, k_mini, sgd_epochs = [360], [1, None], 1, 5, 1
    elif args.quick:
        sizes, batches, repeats, k_mini, sgd_epochs = [360, 10_000, 100_000], [1, 32, None], 3, \
            100, 10
    else:
        sizes, batches, repeats, k_mini, sgd_epochs = [360, 10_000, 100_000, 1_000_000], \
            [1, 32, None], 5, 200, 100
    sgd_epochs = args.sgd_epochs or sgd_epochs
    started = time.perf_counter()
    import torch

    from gd_compare.proof.harness import TORCH_THREADS

    default_threads = torch.get_num_threads()
    if TORCH_THREADS:  # time the backends alone as compare() runs them
        torch.set_num_threads(TORCH_THREADS)
    try:
        return _main(args, sizes, batches, repeats, k_mini, sgd_epochs, started, default_threads)
    finally:
        torch.set_num_threads(default_threads)


def _main(args, sizes, batches, repeats, k_mini, sgd_epochs, started, default_threads) -> str:
    import torch

    machine = _machine() + f"; torch threads: {torch.get_num_threads()} (default {default_threads})"
    log(f"gd_compare benchmark: {machine}")
    by_hand_warm = compare("simple_step")  # import torch and the first optimizer, outside timings
    assert by_hand_warm.passed
    full, mini, _ = bench_sizes(sizes, batches, repeats, k_mini, log)
    sections = [
        f"Machine: {machine}. Minimum over {repeats} interleaved repeats.",
        "**Full batch** (one update per epoch):\n\n" + full,
        "**Mini-batches** (≈: per-epoch time from the per-update time):\n\n" + mini,
    ]
    log("optimizers ...")
    sections.append("**Optimizers** (admissions data, batches of 32: the NumPy twin's `step()` "
                    "alone vs `torch.optim`'s on a (6,) weight, each backend's whole update, and "
                    "the harness per update):\n\n"
                    + bench_optimizers(repeats, 12 * max(k_mini // 12, 1), _interleaved, _fmt_t,
                                       _ratio, _table))
    if not args.smoke:
        log("batch fetch and loss read ...")
        sections.append("**PyTorch loop details** (admissions data):\n\n"
                        + bench_fetch(repeats, 2000 if not args.quick else 500))
        log("the lesson's runs, end to end ...")
        sections.append("**The harness end to end** (whole runs, with the lesson's log, final "
                        "loss and test accuracy):\n\n" + bench_end_to_end(repeats, args.quick))
        log("threads ...")
        sections.append("**Threads**: " + bench_threads(sizes[-1], repeats))
    log(f"per-example SGD on the admissions data, {sgd_epochs} epochs, through the harness ...")
    sgd = bench_sgd_lesson(sgd_epochs)
    scaled = sgd["per_update"] * 360 * 1000
    sections.append(
        "**Per-example SGD, admissions data, 1000 epochs (360,000 updates) through the "
        "harness** (`compare('sgd_batching', batch_size=1, epochs=1000, record=False)`): "
        + (f"{sgd['seconds']:.1f} s" if sgd_epochs == 1000 else
           f"≈{scaled:.0f} s (scaled from {sgd_epochs} epochs, {sgd['seconds']:.2f} s)")
        + f", {_fmt_t(sgd['per_update'])} per update, max |Δ| {sgd['max_abs_diff']:.2g}, "
        + ("PASS" if sgd["passed"] else "FAIL") + ".")
    if not args.smoke:
        log("cold start ...")
        sections.append("**Cold start**:\n\n" + bench_cold_start(2 if args.quick else 3))
        steps, pair = (50_000, "numpy") if args.quick else (1_000_000, "numpy")
        log(f"memory: {steps:,} steps, record=False ...")
        mem = bench_memory(steps, pair)
        sections.append(
            f"**Memory**: `compare(..., record=False)` over {mem['steps']:,} updates "
            f"(harness with the NumPy backend on both sides, `benchmarks/memory_check.py "
            f"--pair numpy`): RSS {mem['rss_first_mib']} MiB at the first tenth, "
            f"{mem['rss_last_mib']} MiB at the end (growth {mem['rss_growth_mib']} MiB), peak "
            f"{mem['peak_rss_mib']} MiB. This benchmark process: peak RSS "
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB.")
    sections.append(f"Benchmark wall time: {time.perf_counter() - started:.0f} s.")
    text = "\n\n".join(sections)
    print(text)
    if args.readme:
        _write_readme(text, "--quick" if args.quick else "")
    return text


def _write_readme(text: str, flag: str) -> None:
    readme = ROOT / "docs" / "benchmarks.md"  # the tables moved from the README to the docs
    body = readme.read_text(encoding="utf-8")
    flag = f" {flag}" if flag else ""
    block = (f"<!-- bench:start (written by `python benchmarks/bench.py --readme{flag}`) -->\n"
             f"{text}\n<!-- bench:end -->")
    pattern = re.compile(r"<!-- bench:start.*?<!-- bench:end -->", re.S)
    if pattern.search(body):
        body = pattern.sub(lambda _: block, body)
    else:
        body = body.rstrip("\n") + "\n\n" + block + "\n"
    readme.write_text(body, encoding="utf-8")


if __name__ == "__main__":
    main()
