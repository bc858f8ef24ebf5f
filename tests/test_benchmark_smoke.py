"""The benchmark runs (smallest sizes, nothing timed or asserted about speed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.torch
pytest.importorskip("torch")


def test_benchmark_prints_its_tables(capsys):
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench.py"
    spec = importlib.util.spec_from_file_location("gd_compare_bench", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    text = bench.main(["--smoke"])
    assert "| n | d | read X (floor)" in text
    assert "| 360 | 1 | 360 |" in text
    assert "PASS" in text
    assert "| Adam |" in text and "| Adagrad |" in text  # a row per optimizer
    assert text in capsys.readouterr().out
