"""What a grading run leaves: the rows as a DataFrame, ``grades.csv``, ``grades.json``, one
Gradescope ``results.json`` per submission, the journal ``--resume`` reads, and the summary
table printed at the end."""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from gd_compare.learner.grading.isolation import VERDICTS

__all__ = [
    "COLUMNS",
    "JOURNAL",
    "Journal",
    "gradescope_results",
    "rows_frame",
    "summary",
    "write_outputs",
]

#: the columns of ``grades.csv``, in order
COLUMNS = ("file", "function", "concept", "verdict", "step", "epoch", "batch", "record",
           "diagnosis", "seconds")
#: the journal of finished submissions in ``--out`` (one JSON object per line)
JOURNAL = "grades.jsonl"


def rows_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One row per checked function: :data:`COLUMNS` then ``message``."""
    frame = pd.DataFrame(list(rows), columns=[*COLUMNS, "message"])
    for col in ("step", "epoch", "batch", "record"):
        frame[col] = frame[col].astype("Int64")
    return frame


def _atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def gradescope_results(rows: Sequence[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """Gradescope's autograder ``results.json`` for one submission: one test per checked
    function, 1 point, 1 for PASS (the schema of ``gradescope-utils``' JSON test runner). A row
    about the whole submission (a cell that raised, a crash: no function name) is a test named
    ``submission`` worth 1 point only when it is the submission's only row."""
    tests = []
    for r in rows:
        name = (r["function"] or "submission") + (f" ({r['concept']})" if r.get("concept")
                                                   else "")
        output = f"{r['verdict']}: {r['message']}"
        if r.get("diagnosis") and "diagnosis:" not in r["message"]:
            output += f"\ndiagnosis: {r['diagnosis']}"
        passed = r["verdict"] == "PASS"
        worth = 1.0 if r["function"] or len(rows) == 1 else 0.0
        tests.append({"name": name, "score": worth if passed else 0.0, "max_score": worth,
                      "status": "passed" if passed else "failed", "output": output,
                      "visibility": "visible"})
    return {"score": sum(t["score"] for t in tests), "execution_time": round(seconds, 2),
            "tests": tests}


class Journal:
    """``--out/grades.jsonl``: one line per finished submission (its key, content hash,
    options and rows), appended as it finishes, so that an interrupted run loses nothing and
    ``--resume`` skips what is already graded with the same content and options."""

    def __init__(self, out: Path | None, options: str, resume: bool) -> None:
        self.path = out / JOURNAL if out is not None else None
        self.options = options
        self.done: dict[tuple[str, str], dict[str, Any]] = {}
        if self.path is None:
            return
        out.mkdir(parents=True, exist_ok=True)
        if resume and self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a line cut short by a killed run
                if entry.get("options") == options:
                    self.done[(entry["key"], entry["sha256"])] = entry
        entries = list(self.done.values())
        _atomic(self.path, "".join(json.dumps(e) + "\n" for e in entries))

    def finished(self, key: str, sha256: str) -> dict[str, Any] | None:
        return self.done.get((key, sha256))

    def add(self, key: str, sha256: str, rows: list[dict[str, Any]],
            outcome: dict[str, Any]) -> dict[str, Any]:
        entry = {"key": key, "sha256": sha256, "options": self.options, "rows": rows,
                 "seconds": outcome.get("seconds", 0.0),
                 "stdout": outcome.get("stdout", ""), "stderr": outcome.get("stderr", ""),
                 "stdout_bytes": outcome.get("stdout_bytes", 0),
                 "stderr_bytes": outcome.get("stderr_bytes", 0)}
        self.done[(key, sha256)] = entry
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")
        return entry


def write_outputs(out: Path, entries: Iterable[dict[str, Any]], options: dict[str, Any],
                  run: dict[str, Any] | None = None) -> None:
    """``grades.csv``, ``grades.json`` (with ``options`` and what the ``run`` did) and
    ``<key>/results.json`` for every entry."""
    entries = list(entries)
    rows = [r for e in entries for r in e["rows"]]
    with (out / "grades.csv.partial").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(COLUMNS), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(out / "grades.csv.partial", out / "grades.csv")
    payload = {"options": options, "run": run or {},
               "counts": dict(Counter(r["verdict"] for r in rows)),
               "submissions": [{k: e[k] for k in ("key", "sha256", "seconds", "rows",
                                                  "stdout", "stderr", "stdout_bytes",
                                                  "stderr_bytes")} for e in entries]}
    _atomic(out / "grades.json", json.dumps(payload, indent=1, ensure_ascii=False) + "\n")
    for e in entries:
        _atomic(out / e["key"] / "results.json",
                json.dumps(gradescope_results(e["rows"], e["seconds"]), indent=1,
                           ensure_ascii=False) + "\n")


def summary(rows: Sequence[dict[str, Any]], submissions: int, top: int = 5) -> str:
    """Counts per verdict and the most common diagnoses, as a small table."""
    counts = Counter(r["verdict"] for r in rows)
    width = max(len(v) for v in VERDICTS)
    lines = [f"{submissions} submission(s), {len(rows)} function(s) checked", ""]
    lines += [f"  {v:<{width}}  {counts.get(v, 0):>5}" for v in VERDICTS]
    found = Counter((r.get("diagnosis") or "").split(" — ")[0] for r in rows
                    if r.get("diagnosis"))
    if found:
        lines += ["", "Most common diagnoses:"]
        lines += [f"  {n:>5}  {d}" for d, n in found.most_common(top)]
    return "\n".join(lines)
