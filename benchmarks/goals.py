"""The performance goals of issue 20, each measured as a ratio, side by side in one run, and
written to ``docs/benchmarks/performance.md`` (generated: never edit that file by hand).

    python benchmarks/goals.py                      # this checkout (a few minutes on 2 cores)
    python benchmarks/goals.py --quick              # fewer repeats and sizes
    python benchmarks/goals.py --before /path/to/an/older/checkout   # before | after columns

Every figure is timed in a fresh process (``--worker``) that imports the checkout under test,
and the candidates of one table are interleaved (every repeat runs each once), so load from
other processes hits them alike. Each cell is ``median [min]`` of the per-repeat ratios.

1. **CLI start-up** — the default ``gd-compare`` (the lesson's concepts, ``data_parallel``
   included) and the same run without ``data_parallel``, each ÷ the floor ``import numpy, pandas,
   torch`` + a first ``torch.optim.SGD`` (goal: ≤ 1.25).
2. **compare's overhead** — ``compare("mse_training")`` on synthetic data (d = 16, full batch,
   and mini-batches of n/10) ÷ (the NumPy backend's run + the PyTorch backend's run in one
   process), plain SGD and Adam (goal: ≤ 1.10); at n = 1e6, the peak resident memory of a
   process running ``compare`` ÷ one running both backends alone (goal: ≤ 1.10).
3. **NumPy optimizer epochs** — one full-batch epoch of the NumPy backend at n = 1e6 with Adam,
   and with SGD momentum 0.9, ÷ one with plain SGD; and the minor page faults per epoch
   (goal: ≤ 1.5, no allocation churn).

4. **The verdict's cost on the lesson's runs** — ``compare(concept)`` ÷ (the NumPy backend's
   run + the PyTorch backend's run, in the same process) for the lesson's three training
   concepts with plain SGD, Adam, SGD momentum 0.9 and SGD + StepLR (goal: ≤ 1.10).
5. **The test suite** — the README's test command, ``python -m pytest``, wall time on this
   machine's cores (goal: ≤ 2 min on 2 cores; ``--no-tests`` skips it: it takes minutes).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
OUT = ROOT / "docs" / "benchmarks" / "performance.md"
D = 16
FLOOR = ("import numpy, pandas, torch\n"
         "torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)\n")


# --------------------------------------------------------------------------- workers


def _data(n: int):
    from gd_compare import initial_weights, make_synthetic

    X, y = make_synthetic(n, D, seed=0)
    return X, y, initial_weights(D)


def _run_kwargs(n: int, batch: str, optimizer: str, epochs: int) -> dict:
    X, y, w = _data(n)
    kw = {"features": X, "targets": y, "weights": w, "epochs": epochs, "lr": 0.01,
          "optimizer": optimizer}
    if batch == "mini":
        kw["batch_size"] = max(1, n // 10)
    return kw


def _backends_alone(kw: dict, batch: str) -> None:
    import torch

    from gd_compare import numpy_backend, torch_backend
    from gd_compare.proof import harness

    name = "sgd_batching" if batch == "mini" else "mse_training"
    torch.set_num_threads(harness.TORCH_THREADS or torch.get_num_threads())  # as compare does
    for mod in (numpy_backend, torch_backend):
        for _ in getattr(mod, "iter_" + name)(**kw):
            pass


def _compare(kw: dict, batch: str):
    from gd_compare import compare

    name = "sgd_batching" if batch == "mini" else "mse_training"
    result = compare(name, record=False, **kw)
    assert result.passed, str(result.first_failure)


#: The lesson runs' settings of table 4: (label, compare's keyword arguments).
SETTINGS: dict[str, tuple[str, dict]] = {
    "sgd": ("plain SGD", {}),
    "adam": ("Adam", {"optimizer": "adam"}),
    "momentum": ("momentum 0.9", {"optimizer": "sgd", "optimizer_kwargs": {"momentum": 0.9}}),
    "steplr": ("SGD + StepLR", {"scheduler": "steplr", "scheduler_kwargs": {"step_size": 10}}),
}
LESSON_RUNS = ("mse_training", "sgd_batching", "backprop")


def _lesson_pair(concept: str, setting: str) -> dict:
    """A lesson run's ``compare`` and both backends alone, in this process, after a warm-up."""
    import numpy as np

    from gd_compare import compare, numpy_backend, torch_backend
    from gd_compare.lesson.concepts import get_concept
    from gd_compare.proof import harness

    # an older checkout (--before) has it under its former, private name
    thread_policy = getattr(harness, "thread_policy", None) or harness._thread_policy

    params = SETTINGS[setting][1]
    compare(concept, epochs=2, record=False, **params)  # torch, torch.optim, dynamo: warm
    spec = get_concept(concept)
    kwargs = spec.inputs(np.dtype("float64"), **params).kwargs
    start = time.perf_counter()
    with thread_policy():  # the threads compare runs PyTorch with, for a fair pair
        for mod in (numpy_backend, torch_backend):
            for _ in getattr(mod, "iter_" + spec.function_name)(**kwargs):
                pass
    alone = time.perf_counter() - start
    start = time.perf_counter()
    result = compare(concept, record=False, **params)
    seconds = time.perf_counter() - start
    assert result.passed, str(result.first_failure)
    return {"compare": seconds, "alone": alone}


def worker(kind: str, n: int, batch: str, optimizer: str, epochs: int) -> dict:
    """One measurement in this (fresh) process; prints JSON."""
    if kind == "lesson":  # batch: the concept, optimizer: the setting
        return _lesson_pair(batch, optimizer)
    if kind in ("compare", "alone"):
        kw = _run_kwargs(n, batch, optimizer, epochs)
        import torch

        # imported and its first optimizer built (torch._dynamo) before the clock, in both
        torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)

        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        (_compare if kind == "compare" else _backends_alone)(kw, batch)
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return {"seconds": seconds, "peak_mib": peak / 1024, "base_mib": base / 1024}
    if kind == "epoch":
        from gd_compare import numpy_backend

        kw = _run_kwargs(n, "full", optimizer, epochs)
        if optimizer == "momentum":
            kw |= {"optimizer": "sgd", "optimizer_kwargs": {"momentum": 0.9}}
        steps = numpy_backend.iter_mse_training(**kw)
        next(steps)  # the first epoch allocates the run's buffers and the optimizer's state
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        times = []
        for _ in range(epochs - 1):
            start = time.perf_counter()
            next(steps)
            times.append(time.perf_counter() - start)
        faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / (epochs - 1)
        return {"seconds": statistics.median(times), "faults": faults}
    raise ValueError(kind)


def _spawn(root: Path, args: list[str]) -> dict:
    env = os.environ | {"PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, str(HERE), "--worker", *args], env=env,
                          capture_output=True, text=True, timeout=1800, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _wall(root: Path, argv: list[str], expect: int | None = None) -> float:
    """Seconds of one fresh run of ``argv``; with ``expect``, its exit status must be that (a
    command that fails fast would otherwise time as a fast command)."""
    env = os.environ | {"PYTHONPATH": str(root), "MPLBACKEND": "Agg"}
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, timeout=1800, check=False,
                          cwd=str(root))
    seconds = time.perf_counter() - start
    if expect is not None and done.returncode != expect:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode} (expected {expect}):\n"
                           f"{done.stderr.decode(errors='replace')[-2000:]}")
    return seconds


# --------------------------------------------------------------------------- tables


def _cell(ratios: list[float]) -> str:
    return f"{statistics.median(ratios):.2f} [{min(ratios):.2f}]"


def cli_table(roots: dict[str, Path], repeats: int) -> list[str]:
    py = sys.executable
    ratios: dict[tuple[str, str], list[float]] = {}
    seconds: dict[str, list[float]] = {}
    from gd_compare.lesson.concepts import LESSON_CONCEPTS

    # the default run's concepts but data_parallel (not CONCEPTS: its sibling notebooks need
    # --data, and a usage error ends the command in a fraction of a second)
    lesson = [c for c in LESSON_CONCEPTS if c != "data_parallel"]
    for _ in range(repeats):
        floor = _wall(ROOT, [py, "-c", FLOOR], expect=0)
        seconds.setdefault("floor", []).append(floor)
        for label, root in roots.items():
            every = _wall(root, [py, "-m", "gd_compare"], expect=0)
            seven = _wall(root, [py, "-m", "gd_compare",
                                 *[a for c in lesson for a in ("--concept", c)]], expect=0)
            ratios.setdefault((label, "default"), []).append(every / floor)
            ratios.setdefault((label, "without"), []).append(seven / floor)
            seconds.setdefault(label, []).append(every)
            seconds.setdefault(label + " without", []).append(seven)
    lines = ["| checkout | `gd-compare` ÷ floor | without `data_parallel` ÷ floor | "
             "`gd-compare` | without |",
             "|---|---|---|---|---|"]
    for label in roots:
        lines.append(f"| {label} | {_cell(ratios[label, 'default'])} | "
                     f"{_cell(ratios[label, 'without'])} | "
                     f"{statistics.median(seconds[label]):.2f} s | "
                     f"{statistics.median(seconds[label + ' without']):.2f} s |")
    lines.append("")
    lines.append(f"Floor (`import numpy, pandas, torch` + a first `torch.optim.SGD`): "
                 f"median {statistics.median(seconds['floor']):.2f} s. Goal: ≤ 1.25.")
    return lines


def compare_table(roots: dict[str, Path], sizes: list[int], repeats: int) -> list[str]:
    lines = ["| checkout | n | epochs | batch | optimizer | compare ÷ (NumPy + PyTorch alone) |",
             "|---|---|---|---|---|---|"]
    runs = [(n, max(3, int(2e6 // n)), batch, opt) for n in sizes for batch in ("full", "mini")
            for opt in ("sgd", "adam")]
    # the largest n again, 10x the epochs: what a run's fixed cost (the data's check, the
    # gradients and losses at the start and at both final states, the logged epochs) weighs
    # once the epochs amortise it
    n = sizes[-1]
    runs += [(n, 10 * max(3, int(2e6 // n)), "full", opt) for opt in ("sgd", "adam")]
    for n, epochs, batch, opt in runs:
        ratios: dict[str, list[float]] = {}
        for _ in range(repeats):
            for label, root in roots.items():
                args = [str(n), batch, opt, str(epochs)]
                a = _spawn(root, ["compare", *args])["seconds"]
                b = _spawn(root, ["alone", *args])["seconds"]
                ratios.setdefault(label, []).append(a / b)
        for label in roots:
            lines.append(f"| {label} | {n:.0e} | {epochs} | {batch} | {opt} | "
                         f"{_cell(ratios[label])} |")
    lines += ["", "full: one batch; mini: batches of n/10; epochs = max(3, 2e6 / n), and 10x "
              "that for the largest n; lr 0.01; d = 16. Goal: ≤ 1.10."]
    return lines


def memory_table(roots: dict[str, Path], n: int) -> list[str]:
    lines = ["| checkout | n | compare peak | both backends alone peak | ratio |",
             "|---|---|---|---|---|"]
    for label, root in roots.items():
        args = [str(n), "full", "sgd", "3"]
        a = _spawn(root, ["compare", *args])["peak_mib"]
        b = _spawn(root, ["alone", *args])["peak_mib"]
        lines.append(f"| {label} | {n:.0e} | {a:.0f} MiB | {b:.0f} MiB | {a / b:.2f} |")
    lines += ["", "Peak resident memory of the whole process (`ru_maxrss`), full batch, plain "
              "SGD, 3 epochs. Goal: ≤ 1.10."]
    return lines


def epoch_table(roots: dict[str, Path], n: int, repeats: int, epochs: int) -> list[str]:
    lines = ["| checkout | optimizer | epoch ÷ SGD epoch | epoch | minor page faults / epoch |",
             "|---|---|---|---|---|"]
    for label, root in roots.items():
        figures: dict[str, list[dict]] = {}
        for _ in range(repeats):
            for opt in ("sgd", "adam", "momentum"):
                figures.setdefault(opt, []).append(
                    _spawn(root, ["epoch", str(n), "full", opt, str(epochs)]))
        for opt in ("adam", "momentum"):
            ratios = [f["seconds"] / s["seconds"]
                      for f, s in zip(figures[opt], figures["sgd"], strict=True)]
            ms = statistics.median(f["seconds"] for f in figures[opt]) * 1e3
            faults = statistics.median(f["faults"] for f in figures[opt])
            lines.append(f"| {label} | {opt} | {_cell(ratios)} | {ms:.1f} ms | {faults:.0f} |")
        ms = statistics.median(f["seconds"] for f in figures["sgd"]) * 1e3
        faults = statistics.median(f["faults"] for f in figures["sgd"])
        lines.append(f"| {label} | sgd | 1.00 | {ms:.1f} ms | {faults:.0f} |")
    lines += ["", f"The NumPy backend's full-batch epoch at n = {n:.0e}, d = {D}, float64 (median "
              f"over {epochs - 1} epochs after the first). Goal: ≤ 1.5."]
    return lines


def verdict_table(roots: dict[str, Path], repeats: int) -> list[str]:
    lines = ["| checkout | setting | " + " | ".join(LESSON_RUNS) + " |",
             "|---|---|" + "---|" * len(LESSON_RUNS)]
    for setting, (label, _) in SETTINGS.items():
        ratios: dict[tuple[str, str], list[float]] = {}
        for _ in range(repeats):
            for name, root in roots.items():
                for concept in LESSON_RUNS:
                    pair = _spawn(root, ["lesson", "0", concept, setting, "0"])
                    ratios.setdefault((name, concept), []).append(pair["compare"] / pair["alone"])
        for name in roots:
            cells = " | ".join(_cell(ratios[name, c]) for c in LESSON_RUNS)
            lines.append(f"| {name} | {label} | {cells} |")
    lines += ["", "The lesson's runs at their defaults (mse_training 1000 epochs, sgd_batching "
              "100 epochs of batches of 32, backprop 900 epochs); each pair in one fresh "
              "process, after a warm-up. Goal: ≤ 1.10."]
    return lines


def tests_table(roots: dict[str, Path]) -> list[str]:
    lines = ["| checkout | tests | wall time |", "|---|---|---|"]
    for name, root in roots.items():
        env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
        env["PYTHONPATH"] = str(root)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rfE", "-p",
                               "no:cacheprovider"],
                              cwd=str(root), env=env, capture_output=True, text=True,
                              timeout=3600, check=False)
        seconds = time.perf_counter() - start
        summary = (done.stdout.strip().splitlines() or ["?"])[-1].strip("= ")
        for line in done.stdout.splitlines():  # which test failed: the table only counts them
            if line.startswith(("FAILED ", "ERROR ")):
                print(f"{name}: {line}", file=sys.stderr)
        if done.returncode not in (0, 1):  # 1: some test failed, the time still counts
            raise RuntimeError(f"the tests of {root} did not run: {summary}\n{done.stderr}")
        lines.append(f"| {name} | {summary.split(' in ')[0]} | {seconds / 60:.1f} min "
                     f"({seconds:.0f} s) |")
    lines += ["", f"`python -m pytest` (the README's test command, `-n auto` on {os.cpu_count()} "
              "cores), one run. Goal: ≤ 2 min on 2 cores."]
    return lines


def _update_section(out: Path, sections: list, key: str) -> int:
    """Measure one table and put it into ``out`` in place of its section (appended when the
    page has none), noting when it was measured."""
    (title, table), = [(t, f) for k, t, f in sections if k == key]
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = [f"## {title}", "", *table(), "", f"(This table measured {when}.)", ""]
    text = out.read_text(encoding="utf-8").split("\n") if out.exists() else []
    heads = [i for i, line in enumerate(text) if line.startswith("## ")]
    mine = [i for i in heads if text[i] == body[0]]
    if mine:
        end = min([i for i in heads if i > mine[0]], default=len(text))
        text[mine[0]:end] = body
    else:
        text += ["", *body] if text and text[-1] else body
    out.write_text("\n".join(text).rstrip("\n") + "\n", encoding="utf-8")
    print("\n".join(body))
    return 0


def _checkout(text: str) -> Path:
    """``--before``: a folder holding a ``gd_compare`` package (an older checkout)."""
    path = Path(text).expanduser().resolve()
    if not (path / "gd_compare" / "__init__.py").is_file():
        raise argparse.ArgumentTypeError(f"expected a checkout of gd_compare (a folder with "
                                          f"gd_compare/__init__.py), got {text!r}")
    return path


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer repeats and sizes")
    p.add_argument("--before", type=_checkout, help="an older checkout, measured beside this one")
    p.add_argument("--out", type=Path, default=None,
                   help=f"the page to write (default: {OUT.relative_to(ROOT)}; with --only, "
                   "none: the table is printed)")
    p.add_argument("--only", choices=("cli", "compare", "memory", "epoch", "verdict", "tests"),
                   help="run one table alone")
    p.add_argument("--update", action="store_true",
                   help="with --only: rewrite that table's section of the page, keep the rest")
    p.add_argument("--no-tests", action="store_true",
                   help="skip table 5 (the test suite: minutes per checkout)")
    from gd_compare.cli._common import _positive_int  # the CLI's own check, named error

    p.add_argument("--repeats", type=_positive_int,
                   help="repeats per figure (default 3, --quick 1)")
    p.add_argument("--worker", nargs=5, metavar=("KIND", "N", "BATCH", "OPT", "EPOCHS"),
                   help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        kind, n, batch, opt, epochs = args.worker
        print(json.dumps(worker(kind, int(n), batch, opt, int(epochs))))
        return 0
    roots = {"this": ROOT} if args.before is None else {"before": args.before, "after": ROOT}
    repeats = args.repeats or (1 if args.quick else 3)
    sizes = [10_000, 1_000_000] if args.quick else [10_000, 100_000, 1_000_000]
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = ["# Performance figures", "",
            "<!-- generated by benchmarks/goals.py: do not edit by hand -->", "",
            f"Measured {when} on {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}{' (--quick)' if args.quick else ''}. Each cell: "
            "median [min] of the per-repeat ratios, candidates interleaved in one run. "
            "What is measured and why: [Performance](../performance.md).", ""]
    sections = [
        ("cli", "1. The default `gd-compare` against the import floor",
         lambda: cli_table(roots, repeats)),
        ("compare", "2. `compare` against both backends alone",
         lambda: compare_table(roots, sizes, repeats)),
        ("memory", "2b. `compare`'s peak memory at n = 1e6",
         lambda: memory_table(roots, 1_000_000)),
        ("epoch", "3. NumPy optimizer epochs at n = 1e6",
         lambda: epoch_table(roots, 1_000_000, repeats, 6 if args.quick else 11)),
        ("verdict", "4. The verdict's cost on the lesson's runs",
         lambda: verdict_table(roots, repeats)),
        ("tests", "5. The test suite", lambda: tests_table(roots)),
    ]
    if args.only and args.update:
        return _update_section(args.out or OUT, sections, args.only)
    out = args.out if args.out is not None or args.only else OUT
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
    text = list(head)
    for key, title, table in sections:  # the page is rewritten after each table
        if (args.only and key != args.only) or (key == "tests" and args.no_tests):
            continue
        text += [f"## {title}", "", *table(), ""]
        if out is not None:
            out.write_text("\n".join(text), encoding="utf-8")
    print("\n".join(text))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
