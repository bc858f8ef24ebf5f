"""Benchmark rows per optimizer: the NumPy twin's ``step`` against ``torch.optim``'s, each
backend's whole update with it, and what the harness adds (``benchmarks/bench.py`` prints the
table; the admissions data, mini-batches of 32)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from itertools import islice

import numpy as np

from gd_compare import compare, initial_weights, load_admissions, optim
from gd_compare import numpy_backend as by_hand

#: (label, optimizer, options, lr)
OPTIMIZERS = [
    ("the lesson's SGD", "sgd", {}, 0.5),
    ("SGD momentum 0.9, nesterov", "sgd", {"momentum": 0.9, "nesterov": True}, 0.1),
    ("Adam", "adam", {}, 1e-3),
    ("AdamW", "adamw", {}, 1e-3),
    ("RMSprop centered, momentum 0.5", "rmsprop", {"centered": True, "momentum": 0.5}, 1e-4),
    ("Adagrad", "adagrad", {}, 1e-2),
]
BATCH = 32


def _step_only(name: str, options: dict, lr: float, k: int) -> dict[str, Callable[[], float]]:
    """Seconds per ``step()`` of the optimizer alone on a (6,) weight vector."""
    import torch

    from gd_compare.lesson.options import check_optimizer

    choice = check_optimizer(name, options)
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(6) * 1e-2 for _ in range(k)]

    def numpy_step() -> float:
        w = np.zeros(6)
        opt = choice.build(optim, [w], lr)
        t = time.perf_counter()
        for g in grads:
            opt.step([g])
        return (time.perf_counter() - t) / k

    def torch_step() -> float:
        w = torch.zeros(6, dtype=torch.float64, requires_grad=True)
        opt = choice.build(torch.optim, [w], lr)
        tgrads = [torch.from_numpy(g) for g in grads]
        t = time.perf_counter()
        for g in tgrads:
            w.grad = g
            opt.step()
        return (time.perf_counter() - t) / k

    return {"numpy step": numpy_step, "torch step": torch_step}


def _update(mod, X, y, w, name, options, lr, k) -> Callable[[], float]:
    """Seconds per update of ``mod``'s training stream with this optimizer."""
    epochs = -(-(k + 1) // -(-len(y) // BATCH))

    def run() -> float:
        steps = mod.iter_sgd_batching(X, y, w, lr, epochs, BATCH, optimizer=name,
                                      optimizer_kwargs=options)
        next(steps)
        t = time.perf_counter()
        deque(islice(steps, k), maxlen=0)
        return (time.perf_counter() - t) / k

    return run


def _harness(name, options, lr, epochs) -> Callable[[], float]:
    def run() -> float:
        t = time.perf_counter()
        r = compare("sgd_batching", optimizer=name, optimizer_kwargs=options, lr=lr,
                    epochs=epochs, batch_size=BATCH, record=False)
        assert r.passed, r.first_failure
        return (time.perf_counter() - t) / r.steps

    return run


def bench_optimizers(repeats: int, k: int, interleaved, fmt_t, ratio, table) -> str:
    """One row per optimizer; the helpers are bench.py's (interleaved repeats, formats)."""
    from gd_compare import torch_backend

    X, y, _, _ = load_admissions().arrays()
    w = initial_weights(X.shape[1])
    epochs = max(1, k // 12)
    rows = []
    for label, name, options, lr in OPTIMIZERS:
        cands = _step_only(name, options, lr, k)
        cands["numpy update"] = _update(by_hand, X, y, w, name, options, lr, k)
        cands["torch update"] = _update(torch_backend, X, y, w, name, options, lr, k)
        cands["harness"] = _harness(name, options, lr, epochs)
        r = interleaved(cands, repeats)
        adds = max(r["harness"] - r["numpy update"] - r["torch update"], 0.0)
        rows.append([label, fmt_t(r["numpy step"]), fmt_t(r["torch step"]),
                     ratio(r["numpy step"], r["torch step"]), fmt_t(r["numpy update"]),
                     fmt_t(r["torch update"]), fmt_t(r["harness"]), fmt_t(adds)])
    return table(["optimizer", "NumPy `step()`", "`torch.optim` `step()`", "NumPy / torch",
                  "NumPy update", "PyTorch update", "harness / update", "harness adds"], rows)
