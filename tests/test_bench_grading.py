"""benchmarks/bench_grading.py: the submissions it generates are what it says (nothing timed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.torch

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_grading.py"


def _bench():
    spec = importlib.util.spec_from_file_location("gd_compare_bench_grading", PATH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


@pytest.mark.parametrize("loop", [False, True])
def test_generated_submissions_are_right_or_a_named_mistake(tmp_path, loop):
    from gd_compare.learner.check import check

    bench = _bench()
    bench.write_submissions(tmp_path / "s", 6, loop=loop, seed=3)
    files = sorted((tmp_path / "s").glob("*.py"))
    assert [f.name for f in files] == [f"student_{k:03d}.py" for k in range(6)]
    verdicts = {}
    for f in files:
        spec = importlib.util.spec_from_file_location(f"gd_compare_bench_{f.stem}", f)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        result = check(module.train_epoch, "mse_training", epochs=3)
        verdicts[f.name] = (result.passed, result.matches[:1])
    assert {m for passed, m in verdicts.values() if not passed} <= {("gradient_ascent",),
                                                                   ("no_mean",)}
    assert sum(passed for passed, _ in verdicts.values()) >= 3
