"""``gd_compare.grade(paths, ...)``: a class's submissions, each checked in an isolated process
forked from a warm worker, as one DataFrame (and, with ``out``, the files instructors upload)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from gd_compare.learner.exercises import EXERCISES
from gd_compare.learner.grading.discovery import GradeUsageError, Submission, find_submissions
from gd_compare.learner.grading.isolation import Limits, verdict_rows
from gd_compare.learner.grading.pool import PoolError, WorkerPool
from gd_compare.learner.grading.results import Journal, rows_frame, write_outputs

#: The largest address-space limit taken, in MB (1 TiB): beyond it setrlimit overflows.
MAX_MEMORY_MB = 1 << 20
#: The longest time limit taken, in seconds (a day): beyond it the platform's timers overflow
#: (the CLI refuses the same bound: ``gd_compare.cli._common.MAX_SECONDS``).
MAX_TIME_LIMIT = 86_400.0

__all__ = ["GradeRun", "grade", "grade_run"]


class GradeRun:
    """What a run did: ``rows`` (finished), ``not_graded`` (keys the grader could not grade,
    with why), ``interrupted``, ``submissions`` (how many were asked)."""

    def __init__(self, submissions: int) -> None:
        self.submissions = submissions
        self.rows: list[dict[str, Any]] = []
        self.entries: list[dict[str, Any]] = []
        self.not_graded: dict[str, str] = {}
        self.interrupted = False
        self.resumed = 0
        #: seconds to a warm worker, and of the whole run
        self.startup_seconds = 0.0
        self.wall_seconds = 0.0

    @property
    def frame(self) -> pd.DataFrame:
        frame = rows_frame(self.rows)
        frame.attrs["not_graded"] = dict(self.not_graded)
        frame.attrs["interrupted"] = self.interrupted
        return frame


def _check_options(concept: str | None, function: str | None, jobs: int | None,
                   time_limit: float, memory_limit: int) -> int:
    if concept is not None and concept not in EXERCISES:
        raise GradeUsageError(f"concept: expected one of {', '.join(EXERCISES)}, got {concept!r}")
    if function is not None and not function.isidentifier():
        raise GradeUsageError(f"function: expected a Python function name, got {function!r}")
    jobs = (os.cpu_count() or 1) if jobs is None else jobs
    if not isinstance(jobs, int) or jobs < 1:
        raise GradeUsageError(f"jobs: expected a whole number >= 1, got {jobs!r}")
    if not 0 < time_limit <= MAX_TIME_LIMIT:
        raise GradeUsageError(f"time_limit: expected seconds > 0 and at most a day "
                              f"({MAX_TIME_LIMIT:g}), got {time_limit!r}")
    if not isinstance(memory_limit, int) or not 1024 <= memory_limit <= MAX_MEMORY_MB:
        raise GradeUsageError(f"memory_limit: expected whole megabytes from 1024 (a worker with "
                              f"torch already maps about 700 MB) to {MAX_MEMORY_MB}, "
                              f"got {memory_limit!r}")
    return jobs


def _options_key(options: dict[str, Any]) -> str:
    text = json.dumps(options, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def grade_run(
    paths: Sequence[str | Path],
    *,
    concept: str | None = None,
    function: str | None = None,
    jobs: int | None = None,
    time_limit: float = 60.0,
    memory_limit: int = 4096,
    out: str | Path | None = None,
    resume: bool = False,
    exclude: Sequence[str] = (),
    params: dict[str, Any] | None = None,
    on_start: Callable[[int, int], None] | None = None,
    on_done: Callable[[dict[str, Any]], None] | None = None,
) -> GradeRun:
    """:func:`grade` with the whole story (what :mod:`gd_compare.cli.grade` reports). Usage
    errors raise :class:`GradeUsageError` before anything runs; Ctrl-C ends the run with every
    finished submission written (``interrupted``)."""
    started = time.perf_counter()
    jobs = _check_options(concept, function, jobs, time_limit, memory_limit)
    if out is not None and Path(out).exists() and not Path(out).is_dir():
        raise GradeUsageError(f"out: {str(out)!r} is a file; expected a folder")
    subs = find_submissions(paths, exclude)
    params = dict(params or {})
    options = {"concept": concept, "function": function, "time_limit": time_limit,
               "memory_limit": memory_limit, "params": params}
    out_dir = Path(out) if out is not None else None
    journal = Journal(out_dir, _options_key(options), resume)
    run = GradeRun(len(subs))
    todo: list[Submission] = []
    for sub in subs:
        entry = journal.finished(sub.key, sub.sha256)
        if entry is None:
            todo.append(sub)
        else:
            run.entries.append(entry)
            run.resumed += 1
    if on_start is not None:
        on_start(len(todo), run.resumed)
    limits = Limits(time_limit=float(time_limit), memory_mb=int(memory_limit))
    by_id = {i: sub for i, sub in enumerate(todo)}
    job_list = [{"id": i, "path": str(sub.path), "concept": concept, "function": function,
                 "params": params, "limits": vars(limits)} for i, sub in by_id.items()]
    try:
        if job_list:
            with WorkerPool(min(jobs, len(job_list))) as pool:
                run.startup_seconds = pool.startup_seconds
                for job, outcome in pool.run(job_list):
                    sub = by_id[job["id"]]
                    rows = verdict_rows(sub.key, job, outcome)
                    run.entries.append(journal.add(sub.key, sub.sha256, rows, outcome))
                    if on_done is not None:
                        on_done(run.entries[-1])
    except KeyboardInterrupt:
        run.interrupted = True
    except PoolError as exc:
        done = {e["key"] for e in run.entries}
        run.not_graded = {s.key: str(exc) for s in todo if s.key not in done}
    order = {s.key: k for k, s in enumerate(subs)}
    run.entries.sort(key=lambda e: order.get(e["key"], len(order)))
    run.rows = [r for e in run.entries for r in e["rows"]]
    run.wall_seconds = time.perf_counter() - started
    if out_dir is not None:
        write_outputs(out_dir, run.entries, options,
                      {"jobs": jobs, "submissions": run.submissions, "resumed": run.resumed,
                       "not_graded": run.not_graded, "interrupted": run.interrupted,
                       "startup_seconds": round(run.startup_seconds, 3),
                       "wall_seconds": round(run.wall_seconds, 3)})
    return run


def grade(
    paths: Sequence[str | Path] | str | Path,
    *,
    concept: str | None = None,
    function: str | None = None,
    jobs: int | None = None,
    time_limit: float = 60.0,
    memory_limit: int = 4096,
    out: str | Path | None = None,
    resume: bool = False,
    exclude: Sequence[str] = (),
    **params: Any,
) -> pd.DataFrame:
    """Grade a class: every submission checked in a process of its own, forked from a warm
    worker (torch and the package imported once), with a time and a memory limit.

    Parameters
    ----------
    paths
        Submission files (``.py``, ``.ipynb``) or folders searched recursively.
    concept
        The concept the step functions implement (``mse_training``, ...; default: the one each
        function's name decides, as ``gd-compare check`` does: ``train_nn`` → mse_training).
    function
        Check only this function in each file (default: every course function a file
        defines, found by name: ``train_nn``, ``train_epoch``, ``sigmoid``, ...).
    jobs
        Submissions checked at once (default: the number of cores).
    time_limit
        Wall-clock seconds per submission, and as many CPU seconds (default 60).
    memory_limit
        Megabytes of address space per submission, counting the ~0.7 GB a worker with torch
        already maps (default 4096).
    out
        A folder for ``grades.csv``, ``grades.json``, ``grades.jsonl`` (the journal) and one
        Gradescope ``<file>/results.json`` per submission (default: nothing written).
    resume
        Skip the submissions the journal in ``out`` holds with the same content and options.
    exclude
        Glob patterns of files to leave out (``helpers.py``, ``tests/*``).
    **params
        The check's parameters (``epochs``, ``lr``, ...; see
        :func:`gd_compare.learner.check.check`).

    Returns
    -------
    pandas.DataFrame
        One row per checked function: ``file`` (relative to the folder graded), ``function``,
        ``concept``, ``verdict`` (PASS, FAIL, TIMEOUT, MEMORY, CRASHED, MISSING), ``step``,
        ``epoch``, ``batch``, ``record``, ``diagnosis``, ``seconds``, ``message``.
        ``attrs["not_graded"]`` names the submissions the grader itself could not grade.

    Raises
    ------
    ValueError
        A usage error (:class:`GradeUsageError`): a missing path, an empty folder, two
        submissions filed under the same name, a bad option.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    run = grade_run(paths, concept=concept, function=function, jobs=jobs, time_limit=time_limit,
                    memory_limit=memory_limit, out=out, resume=resume, exclude=exclude,
                    params=params)
    if run.not_graded:
        warnings.warn(f"{len(run.not_graded)} submission(s) not graded: "
                      f"{next(iter(run.not_graded.values()))}", RuntimeWarning, stacklevel=2)
    if run.interrupted:
        print("grade: interrupted; the finished submissions are in the result", file=sys.stderr)
    return run.frame
