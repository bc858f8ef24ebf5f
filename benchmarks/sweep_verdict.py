"""False PASS / false FAIL sweep of the verdict (issue 18): mutant backends that must FAIL and
correct-but-differently-rounded backends or configurations that must PASS, each compared
against PyTorch. Prints a table and the counts, and writes them to
``docs/benchmarks/verdict_sweep.md``.

    PYTHONPATH=$PWD python benchmarks/sweep_verdict.py [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from gd_compare import compare, load_admissions
from gd_compare import numpy_backend as nb
from gd_compare.lesson.core import BatchOrder, Step
from gd_compare.proof.mutants import edited, replaced, reported

__all__ = ["main"]

OUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks" / "verdict_sweep.md"


def _tb() -> Any:
    from gd_compare import torch_backend

    return torch_backend


# --------------------------------------------------------------------------- correct variants


def _sigmoid_tanh(h: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * h))


def _variant(name: str, sigmoid: Callable[[np.ndarray], np.ndarray],
             weighted_sum: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Any:
    """A neuron backend written differently (its own loop, its own sums): the same math,
    rounded differently. ``weighted_sum(error_term, X)`` is Σ_i error_term_i·x_i."""

    def gradient(features, targets, weights, loss="mse"):
        X, y, w = (np.asarray(v) for v in (features, targets, weights))
        out = sigmoid(X @ w)
        error_term = (y - out) * out * (1 - out)
        return -weighted_sum(error_term, X) / len(y)

    def loop(features, targets, weights, lr, epochs, batch_size=None, seed=42, shuffle=True,
             drop_last=False, **_: Any) -> Iterator[Step]:
        X, y = np.asarray(features), np.asarray(targets)
        w = np.array(weights)
        order = BatchOrder(len(y), batch_size or len(y), seed=seed, shuffle=shuffle,
                           drop_last=drop_last)
        index = 0
        for epoch in range(epochs):
            batches = list(order)
            for b, rows in enumerate(batches):
                index += 1
                out = sigmoid(X[rows] @ w)
                loss = float(np.mean((y[rows] - out) ** 2))
                w -= lr * gradient(X[rows], y[rows], w)
                yield Step(index, epoch, b == len(batches) - 1, (w,), loss)

    return replaced(name, gradient=gradient, iter_mse_training=loop, iter_sgd_batching=loop)


def _correct() -> list[tuple[str, str, dict[str, Any], Any]]:
    """(label, concept, compare kwargs, first backend or None for NumPy's own)."""
    einsum = _variant("einsum", lambda h: 1 / (1 + np.exp(-h)),
                      lambda e, X: np.einsum("i,ij->j", e, X))
    reversed_sum = _variant("reversed", lambda h: 1 / (1 + np.exp(-h)),
                            lambda e, X: e[::-1] @ X[::-1])
    tanh = _variant("tanh_sigmoid", _sigmoid_tanh, lambda e, X: e @ X)
    cases: list[tuple[str, str, dict[str, Any], Any]] = []
    for mod in (einsum, reversed_sum, tanh):
        for lr in (0.5, 100):
            cases.append((f"{mod.__name__}, lr {lr}", "mse_training",
                          {"lr": lr, "epochs": 300}, mod))
            cases.append((f"{mod.__name__}, lr {lr}", "sgd_batching",
                          {"lr": lr, "epochs": 20}, mod))
    for concept, extra in (("mse_training", {"epochs": 300}), ("sgd_batching", {"epochs": 20}),
                           ("backprop", {"epochs": 200, "hidden": (8, 8)})):
        for lr in (100.0, 300.0):
            cases.append((f"chaotic lr {lr}", concept, {**extra, "lr": lr}, None))
        for optimizer, opts in (("adam", None), ("adamw", None), ("rmsprop", {"centered": True}),
                                ("sgd", {"momentum": 0.9, "nesterov": True}),
                                ("adagrad", None)):
            cases.append((f"{optimizer} {opts or ''}".strip(), concept,
                          {**extra, "optimizer": optimizer, "optimizer_kwargs": opts,
                           "lr": 0.5 if concept != "backprop" else 0.05}, None))
        for dtype_opt in ("sgd", "adam"):
            cases.append((f"float32 {dtype_opt}", concept,
                          {**extra, "dtype": "float32", "optimizer": dtype_opt}, None))
    cases.append(("float32 adam, wide", "backprop",
                  {"dtype": "float32", "hidden": (64, 64), "optimizer": "adam", "lr": 0.01,
                   "batch_size": 8, "epochs": 5}, None))
    cases.append(("data_parallel lr 100", "data_parallel", {"lr": 100, "epochs": 30}, None))
    cases.append(("data_parallel K=1 lr 100", "data_parallel",
                  {"lr": 100, "epochs": 30, "workers": 1}, None))
    cases.append(("plateau lr 300", "sgd_batching",
                  {"lr": 300, "epochs": 100, "scheduler": "reducelronplateau",
                   "scheduler_kwargs": {"patience": 1, "factor": 0.9, "min_lr": 150.0}}, None))
    return cases


# --------------------------------------------------------------------------- mutants


def _padded() -> Any:
    """Issue 18 A: an odd-sized batch's Σ error_term·x padded with its last row."""
    return _variant("padded", lambda h: 1 / (1 + np.exp(-h)),
                    lambda e, X: (np.append(e, e[-1]) @ np.vstack([X, X[-1:]])) if len(e) % 2
                    else e @ X)


def _halved_bias() -> Any:
    def sigmoid_step(**kwargs: Any) -> Any:
        r = nb.sigmoid_step(**kwargs)
        del_b = r.del_b * 0.5
        return dataclasses.replace(r, del_b=del_b, bias=del_b.copy())

    return replaced("halved_bias", sigmoid_step=sigmoid_step)


def _wide32() -> Any:
    def iter_mse_training(features, targets, weights, **kwargs):
        w32 = np.array(weights)
        for s in nb.iter_mse_training(np.asarray(features, np.float64),
                                      np.asarray(targets, np.float64),
                                      np.asarray(weights, np.float64), **kwargs):
            w32[...] = s.params[0]
            yield s._replace(params=(w32,), loss=float(np.float32(s.loss)))

    return replaced("float64_rounded", iter_mse_training=iter_mse_training)


def _mutants() -> list[tuple[str, str, dict[str, Any], Any]]:
    edits: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "stopped": lambda d: 0 * d, "x(1+1e-9)": lambda d: d * (1 + 1e-9),
        "x(1+1e-11)": lambda d: d * (1 + 1e-11), "sign": lambda d: -d, "x2": lambda d: 2 * d,
        "x0.5": lambda d: 0.5 * d,
        "one element x1.001": lambda d: np.where(np.arange(d.size).reshape(d.shape) == 0,
                                                 d * 1.001, d),
    }
    cases = []
    for name, edit in edits.items():
        for concept, fn, kw, after in (
                ("mse_training", "mse_training", {"lr": 0.5, "epochs": 60}, 0),
                ("mse_training", "mse_training", {"lr": 100, "epochs": 130}, 100),
                ("sgd_batching", "sgd_batching", {"lr": 100, "epochs": 20}, 150),
                ("backprop", "backprop_training",
                 {"hidden": (8, 8, 8), "optimizer": "adam", "lr": 0.1, "epochs": 120}, 100),
                ("data_parallel", "data_parallel", {"lr": 100, "epochs": 30}, 100)):
            cases.append((f"{name} after step {after}", concept, kw,
                          edited(name.replace(" ", "_"), fn,
                                 lambda s, a=after: s.index > a, edit)))
    X, y, _, _ = load_admissions().arrays()
    rng = np.random.default_rng(0)
    Xt = (np.tile(X, (30, 1)) + rng.normal(0, 0.01, (30 * len(X), X.shape[1])))[:-1]
    cases += [
        ("A: odd batch padded", "sgd_batching",
         {"features": Xt, "targets": np.tile(y, 30)[:-1], "batch_size": 32, "epochs": 1,
          "lr": 100}, _padded()),
        ("B: stopped behind a plateau", "sgd_batching",
         {"lr": 300, "epochs": 100, "scheduler": "reducelronplateau",
          "scheduler_kwargs": {"patience": 1, "factor": 0.9, "min_lr": 150.0}},
         edited("stop", "sgd_batching", lambda s: s.epoch >= 15, lambda d: 0 * d)),
        ("C: halved del_b, lr 1e-11", "sigmoid_step", {"bias": True, "lr": 1e-11},
         _halved_bias()),
        ("D: reported loss x1.01", "sgd_batching", {"lr": 100, "epochs": 55},
         reported("loss101", "sgd_batching", lambda s: s.index > 600, lambda v: 1.01 * v)),
        ("E: float64 rounded to float32", "mse_training", {"dtype": "float32", "epochs": 5},
         _wide32()),
    ]
    return cases


# --------------------------------------------------------------------------- the sweep


def _run(cases: list[tuple[str, str, dict[str, Any], Any]], must_pass: bool
         ) -> list[tuple[str, str, str, float]]:
    rows = []
    for label, concept, kwargs, mod in cases:
        start = time.perf_counter()
        backends = None if mod is None else (mod, _tb())
        try:
            r = compare(concept, record=False, backends=backends, **kwargs)
            got = "PASS" if r.passed else f"FAIL at {r.first_failure.step}"
            if r.passed and r.trajectories == "amplified":
                got = "SAME MATH"
        except Exception as exc:  # a run that blew up is not a PASS
            got = f"error: {type(exc).__name__}"
        ok = got in ("PASS", "SAME MATH") if must_pass else got.startswith("FAIL")
        rows.append((f"{concept}: {label}", got, "ok" if ok else
                     ("FALSE FAIL" if must_pass else "FALSE PASS"),
                     time.perf_counter() - start))
        print(f"{rows[-1][2]:10} {rows[-1][0]}: {got} ({rows[-1][3]:.1f} s)", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every third case only")
    args = parser.parse_args(argv)
    mutants, correct = _mutants(), _correct()
    if args.quick:
        mutants, correct = mutants[::3], correct[::3]
    bad = _run(mutants, must_pass=False)
    good = _run(correct, must_pass=True)
    false_pass = sum(r[2] == "FALSE PASS" for r in bad)
    false_fail = sum(r[2] == "FALSE FAIL" for r in good)
    lines = ["# Verdict sweep (generated by `benchmarks/sweep_verdict.py`)", "",
             f"Mutants: {len(bad)}, false PASS: {false_pass}. Correct variants: {len(good)}, "
             f"false FAIL: {false_fail}.", "", "| run | verdict | | s |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d:.1f} |" for a, b, c, d in bad + good]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(lines[2])
    return 0 if not (false_pass or false_fail) else 1


if __name__ == "__main__":
    sys.exit(main())
