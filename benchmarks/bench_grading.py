"""gd_compare benchmark: ``gd-compare grade`` (warm fork server, one isolated child per
submission) against the README's shell loop of cold ``gd-compare check`` runs.

    python benchmarks/bench_grading.py            # 100 vectorised + 20 loop-style (minutes)
    python benchmarks/bench_grading.py --smoke    # 4 + 2 submissions, 5 epochs (a test)

It generates the submissions (right and wrong ``train_epoch`` functions of ``mse_training``,
vectorised and in the lesson's record loop), then measures, each as one whole command:

- ``gd-compare grade DIR --jobs 2`` and ``--jobs 1`` on the vectorised set (wall time; peak
  memory of the whole process tree, PSS — pages shared by the forked children counted once —
  and RSS summed, sampled every 0.1 s);
- the shell loop ``for f in ...; do gd-compare check "$f:train_epoch" --concept mse_training;
  done`` on a sample (6 files; loop-style 2) and scaled to the set, to spare the shared CPU;
- the per-submission overhead beyond the check itself: (``--jobs 1`` wall − the time to a warm
  worker) / N − the mean time the check of a function took (its ``seconds``);
- the same comparison for the loop-style set.

Writes docs/benchmarks/grading.md. Timings on a shared machine are noisy: compare ratios.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "benchmarks" / "grading.md"

_VECTORISED = '''import numpy as np


def train_epoch(features, targets, weights, learnrate):
    {name} = 1 / (1 + np.exp(-np.dot(features, weights)))
    error_term = ({first} - {second}) * {name} * (1 - {name})
    return weights {sign} learnrate * np.dot(error_term, features) / {records}
'''
_LOOP = '''import numpy as np


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def train_epoch(features, targets, weights, learnrate):
    n_records = features.shape[0]
    del_w = np.zeros(weights.shape)
    for x, y in zip(features, targets):
        output = sigmoid(np.dot(x, weights))
        error = {error}
        error_term = error * output * (1 - output)
        del_w += error_term * x
    weights {sign}= learnrate * del_w / n_records
    return weights
'''


def write_submissions(folder: Path, n: int, loop: bool, seed: int = 0) -> None:
    """``n`` submissions ``student_NNN.py``: four in five right, the rest a classic mistake
    (the error's sign flipped, or no division by n_records)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    for k in range(n):
        wrong = rng.random() < 0.2
        kind = rng.choice(["sign", "records"]) if wrong else ""
        name = rng.choice(["output", "y_hat", "out", "nn_output"])
        if loop:
            text = _LOOP.format(error="output - y" if kind == "sign" else "y - output",
                                sign="+")
            if kind == "records":
                text = text.replace(" / n_records", "")
        else:
            text = _VECTORISED.format(
                name=name, first=name if kind == "sign" else "targets",
                second="targets" if kind == "sign" else name, sign="+",
                records="1" if kind == "records" else "features.shape[0]")
        (folder / f"student_{k:03d}.py").write_text(text, encoding="utf-8")


def _tree(root: int) -> list[int]:
    parents = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                parents[int(p.name)] = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def _memory(pids: list[int]) -> tuple[int, int]:
    """(PSS, RSS) summed over ``pids``, in kB."""
    pss = rss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
                elif line.startswith("Rss:"):
                    rss += int(line.split()[1])
        except OSError:
            continue
    return pss, rss


def run_measured(cmd: list[str]) -> dict[str, float]:
    """Run ``cmd``; its wall time and the peak PSS/RSS of its process tree (MB)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    peak = [0, 0]

    def sample() -> None:
        while proc.poll() is None:
            pss, rss = _memory(_tree(proc.pid))
            peak[0], peak[1] = max(peak[0], pss), max(peak[1], rss)
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    sampler.join()
    return {"wall": wall, "pss_mb": peak[0] / 1024, "rss_mb": peak[1] / 1024,
            "returncode": proc.returncode, "stdout": out, "stderr": err}


def grade(folder: Path, jobs: int, out: Path, epochs: int | None) -> dict[str, float]:
    cmd = [sys.executable, "-m", "gd_compare", "grade", str(folder), "--function",
           "train_epoch", "--concept", "mse_training", "--jobs", str(jobs), "--out", str(out)]
    if epochs:
        cmd += ["--epochs", str(epochs)]
    m = run_measured(cmd)
    if m["returncode"] != 0:
        raise SystemExit(f"grade failed: {m['stderr'][-2000:]}")
    data = json.loads((out / "grades.json").read_text())
    subs = data["submissions"]
    checks = [r["seconds"] for s in subs for r in s["rows"]]
    m.update(n=len(subs), startup=data["run"]["startup_seconds"],
             grader_wall=data["run"]["wall_seconds"], check_mean=sum(checks) / len(checks),
             counts=data["counts"])
    m["after_warmup"] = m["grader_wall"] - m["startup"]
    m["overhead"] = m["after_warmup"] / m["n"] * min(jobs, m["n"]) - m["check_mean"]
    return m


def shell_loop(folder: Path, sample: int, epochs: int | None) -> dict[str, float]:
    """Cold ``gd-compare check FILE:train_epoch`` on ``sample`` files, one after another."""
    files = sorted(folder.glob("*.py"))[:sample]
    walls = []
    for f in files:
        cmd = [sys.executable, "-m", "gd_compare", "check", f"{f}:train_epoch", "--concept",
               "mse_training"] + (["--epochs", str(epochs)] if epochs else [])
        walls.append(run_measured(cmd)["wall"])
    return {"per_file": sum(walls) / len(walls), "sample": len(walls)}


def _row(label: str, n: int, loop: dict, g2: dict, g1: dict | None) -> str:
    scaled = loop["per_file"] * n
    cells = [label, str(n), f"{scaled:.1f} (≈, {loop['sample']} files × {n / loop['sample']:g})",
             f"{g2['wall']:.1f}", f"**{scaled / g2['wall']:.1f}×**"]
    cells += [f"{g1['wall']:.1f}", f"{g1['wall'] / g2['wall']:.2f}× "
              f"({g1['after_warmup'] / g2['after_warmup']:.2f}×)"] if g1 else ["—", "—"]
    cells += [f"{g2['startup']:.1f}", f"{g2['check_mean']:.3f}",
              f"{(g1 or g2)['overhead']:.3f}", f"{g2['pss_mb']:.0f} / {g2['rss_mb']:.0f}"]
    return "| " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (for a test)")
    parser.add_argument("--write", action="store_true", help="write docs/benchmarks/grading.md")
    args = parser.parse_args(argv)
    n_vec, n_loop, sample, loop_sample, epochs = (4, 2, 2, 1, 5) if args.smoke else \
        (100, 20, 6, 2, None)
    with tempfile.TemporaryDirectory(prefix="gd_compare_bench_grading_") as tmp:
        tmp = Path(tmp)
        write_submissions(tmp / "vectorised", n_vec, loop=False)
        write_submissions(tmp / "loops", n_loop, loop=True, seed=1)
        g2 = grade(tmp / "vectorised", 2, tmp / "out2", epochs)
        g1 = grade(tmp / "vectorised", 1, tmp / "out1", epochs)
        loop_vec = shell_loop(tmp / "vectorised", sample, epochs)
        gl = grade(tmp / "loops", 2, tmp / "outl", epochs)
        loop_l = shell_loop(tmp / "loops", loop_sample, epochs)
    lines = [
        "# Grading a class: `gd-compare grade` against the shell loop",
        "",
        f"Generated by `python benchmarks/bench_grading.py{' --smoke' if args.smoke else ''}` "
        f"on {datetime.date.today()} ({platform.machine()}, {os.cpu_count()} cores shared with "
        "other work, Python " + platform.python_version() + "). Each figure is one whole "
        "command, wall-clock seconds; the shell loop runs `gd-compare check "
        "\"$f:train_epoch\" --concept mse_training` per file (measured on a sample, scaled, ≈). "
        "Submissions: `train_epoch` of `mse_training` (1000 epochs, the lesson's default), four "
        "in five right, the rest a classic mistake. Overhead = per-submission time beyond the "
        "check itself: (the grader's wall time − its time to a warm worker) / N × jobs − mean "
        "check time (jobs 1 when measured; loop-style row: jobs 2). `--jobs 2` vs `--jobs 1`: "
        "whole commands, and (in brackets) after the warm-up, i.e. throughput. Peak "
        "memory: the whole process tree (CLI, fork server, running children), PSS (shared pages "
        "counted once) / RSS summed, MB.",
        "",
        "| submissions | N | shell loop (s) | grade --jobs 2 (s) | speed-up | grade --jobs 1 "
        "(s) | jobs 2 vs 1 (after warm-up) | warm-up (s) | check per file (s) | "
        "overhead per file (s) | peak memory, PSS / RSS (MB) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        _row("vectorised", n_vec, loop_vec, g2, g1),
        _row("loop-style", n_loop, loop_l, gl, None),
        "",
        f"Verdicts (vectorised): {json.dumps(g2['counts'])}; loop-style: "
        f"{json.dumps(gl['counts'])}.",
        "",
        "Goals (issue 17): ≥ 10× the shell loop with `--jobs 2` (vectorised), overhead ≤ 0.2 s "
        "per submission, `--jobs 2` ≥ 1.8× `--jobs 1`.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(text, encoding="utf-8")
    return text


if __name__ == "__main__":
    main()
