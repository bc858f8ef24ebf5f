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


def _goals():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "goals.py"
    spec = importlib.util.spec_from_file_location("gd_compare_goals", path)
    goals = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(goals)
    return goals


def test_goals_compare_table_pairs_each_run_and_amortises_the_largest(monkeypatch):
    """Table 2's rows: every size × batch × optimizer, then the largest n at 10x the epochs;
    each cell the ratio of the paired compare and alone runs (workers stubbed: no timing)."""
    goals = _goals()
    seen = []

    def spawn(root, args):
        seen.append(args)
        return {"seconds": 3.0 if args[0] == "compare" else 2.0}

    monkeypatch.setattr(goals, "_spawn", spawn)
    lines = goals.compare_table({"this": Path(".")}, [10_000, 1_000_000], 1)
    rows = [line for line in lines if line.startswith("| this |")]
    assert len(rows) == 2 * 2 * 2 + 2 and all("| 1.50 [1.50] |" in r for r in rows)
    assert rows[0].startswith("| this | 1e+04 | 200 | full | sgd |")
    assert rows[-1].startswith("| this | 1e+06 | 30 | full | adam |")
    assert ["compare", "1000000", "full", "adam", "30"] in seen
    assert ["alone", "1000000", "full", "adam", "30"] in seen


def test_goals_worker_measures_a_small_run():
    goals = _goals()
    got = goals.worker("compare", 2000, "mini", "adam", 2)
    assert got["seconds"] > 0 and got["peak_mib"] >= got["base_mib"] > 0
