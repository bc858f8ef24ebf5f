"""Peak RSS of a lockstep comparison without recording: is it flat in the number of steps?

    python benchmarks/memory_check.py [--steps 1000000] [--pair torch|numpy]

Runs ``compare("sgd_batching", batch_size=1, record=False)`` (per-example SGD on the admissions
data, 360 updates per epoch) for about ``--steps`` updates and prints the resident set size
sampled every tenth of the run, then the process's peak RSS. ``--pair numpy`` compares the NumPy
backend with itself (the harness alone, ~20x faster than with PyTorch), ``--pair torch`` (the
default) runs the real comparison. Prints one JSON line last, for ``bench.py``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's gd_compare

import psutil

from gd_compare import compare
from gd_compare import numpy_backend as by_hand


def _sampling(module, every: int, samples: list[tuple[int, float]]):
    """``module`` with ``iter_sgd_batching`` wrapped to record the RSS every ``every`` steps."""
    proc = psutil.Process()

    def iter_sgd_batching(**kwargs):
        for step in module.iter_sgd_batching(**kwargs):
            if step.index % every == 0:
                samples.append((step.index, proc.memory_info().rss / 2**20))
            yield step

    names = ("mse", "sse", "accuracy")
    return types.SimpleNamespace(iter_sgd_batching=iter_sgd_batching,
                                 **{k: getattr(module, k) for k in names})


def _peak_rss_mib() -> float:
    """This process's peak RSS: VmHWM (ru_maxrss also counts the parent's memory at fork)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=1_000_000)
    p.add_argument("--pair", choices=("torch", "numpy"), default="torch")
    args = p.parse_args(argv)
    if args.pair == "torch":
        from gd_compare import torch_backend as other
    else:
        other = by_hand
    epochs = max(1, round(args.steps / 360))
    samples: list[tuple[int, float]] = []
    backends = (_sampling(by_hand, max(1, epochs * 36), samples), other)
    compare("sgd_batching", batch_size=1, epochs=1, record=False, backends=backends)  # warm-up
    samples.clear()
    start = time.perf_counter()
    result = compare("sgd_batching", batch_size=1, epochs=epochs, record=False,
                     backends=backends)
    seconds = time.perf_counter() - start
    peak = _peak_rss_mib()
    for index, rss in samples:
        print(f"step {index:>9,}: RSS {rss:7.1f} MiB")
    rss = [r for _, r in samples]
    out = {"pair": args.pair, "steps": result.steps, "seconds": round(seconds, 1),
           "passed": result.passed, "rss_first_mib": round(rss[0], 1),
           "rss_last_mib": round(rss[-1], 1), "rss_growth_mib": round(rss[-1] - rss[0], 1),
           "peak_rss_mib": round(peak, 1)}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
