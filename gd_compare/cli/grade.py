"""``gd-compare grade PATH... [--concept NAME]``: grade a class's submissions.

Each submission is checked in a process of its own, forked from a warm worker (torch and the
package imported once), with a wall-clock/CPU and an address-space limit; the rows go to a
summary table on stdout and, with ``--out DIR``, to ``grades.csv``, ``grades.json`` and one
Gradescope ``results.json`` per submission. Exit status: 0 every submission was graded
(whatever its grade), 1 the grader itself could not grade some (its worker failed, or Ctrl-C),
2 a usage error (a missing path, an empty folder, two submissions filed under the same name, a
bad option) — one line, no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from gd_compare.cli._common import PROG, _Parser, _positive_float, _positive_int, _seconds
from gd_compare.learner.exercises import EXERCISES
from gd_compare.learner.grading.api import MAX_MEMORY_MB

__all__ = ["build_grade_parser", "grade_main"]


def _memory_mb(text: str) -> int:
    value = _positive_int(text)
    if not 1024 <= value <= MAX_MEMORY_MB:
        raise argparse.ArgumentTypeError(f"expected megabytes from 1024 (a worker with torch "
                                         f"already maps about 700 MB) to {MAX_MEMORY_MB}, "
                                         f"got {text!r}")
    return value


def build_grade_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=f"{PROG} grade",
        description="Grade a class: check every submission's function in lockstep with "
        "PyTorch autograd, each in an isolated process forked from a warm worker, "
        "in parallel. Exit 0 all graded, 1 the grader could not grade some, 2 usage error.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="submission files (.py, .ipynb) or folders, searched recursively")
    p.add_argument("--concept", choices=list(EXERCISES), metavar="NAME",
                   help="what the step functions implement (default: decided by each "
                   f"function's name, as in check): {', '.join(EXERCISES)}")
    p.add_argument("--function", metavar="NAME",
                   help="check only this function in each file (default: every course "
                   "function a file defines, found by name)")
    p.add_argument("--jobs", type=_positive_int, default=os.cpu_count() or 1, metavar="N",
                   help="submissions checked at once (default: the number of cores, "
                   f"{os.cpu_count() or 1})")
    p.add_argument("--time-limit", type=_seconds, default=60.0, metavar="S",
                   help="wall-clock seconds per submission, and as many CPU seconds (default 60)")
    p.add_argument("--memory-limit", type=_memory_mb, default=4096, metavar="MB",
                   help="megabytes of address space per submission, counting the ~0.7 GB a "
                   "worker with torch maps (default 4096)")
    p.add_argument("--out", metavar="DIR",
                   help="write grades.csv, grades.json and DIR/<file>/results.json (Gradescope)")
    p.add_argument("--resume", action="store_true",
                   help="skip submissions already graded in --out with the same content and "
                   "options")
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                   help="leave out files matching GLOB (repeatable), e.g. helpers.py, 'tests/*'")
    p.add_argument("--epochs", type=_positive_int,
                   help="steps to check (default: the concept's, e.g. mse_training 1000)")
    p.add_argument("--lr", type=_positive_float, help="learning rate (default: the lesson's)")
    return p


class _Progress:
    """A progress bar on a terminal (tqdm, on stderr); nothing otherwise."""

    def __init__(self) -> None:
        self.bar: Any = None

    def start(self, todo: int, resumed: int) -> None:
        if resumed:
            print(f"{PROG} grade: {resumed} submission(s) already graded (--resume)",
                  file=sys.stderr)
        if sys.stderr.isatty() and todo:
            from tqdm import tqdm

            self.bar = tqdm(total=todo, unit="submission", file=sys.stderr)

    def done(self, entry: dict[str, Any]) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(entry["key"][-30:], refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def grade_main(argv: Sequence[str]) -> int:
    """``gd-compare grade``: exit 0 all graded, 1 not all, 2 usage."""
    parser = build_grade_parser()
    args = parser.parse_intermixed_args(argv)  # PATHs before and after the options
    if args.function is not None and not args.function.isidentifier():
        parser.error(f"--function: {args.function!r} is not a function name")
    if args.out is not None and not args.out.strip():
        parser.error("--out: expected a folder name, got an empty name")
    if args.resume and args.out is None:
        parser.error("--resume: needs --out DIR (the journal of the run to resume)")
    from gd_compare.learner.grading import GradeUsageError, grade_run
    from gd_compare.learner.grading.results import summary

    params = {k: v for k, v in (("epochs", args.epochs), ("lr", args.lr)) if v is not None}
    for key in params:
        if args.concept is not None and key not in EXERCISES[args.concept].defaults:
            parser.error(f"--{key}: {args.concept} has no {key}")
    progress = _Progress()
    try:
        run = grade_run(args.paths, concept=args.concept, function=args.function,
                        jobs=args.jobs, time_limit=args.time_limit,
                        memory_limit=args.memory_limit, out=args.out, resume=args.resume,
                        exclude=args.exclude, params=params, on_start=progress.start,
                        on_done=progress.done)
    except GradeUsageError as exc:
        parser.error(str(exc))
    except OSError as exc:  # --out cannot be created or written
        parser.error(f"--out: cannot write {args.out!r}: {exc.strerror or exc}")
    finally:
        progress.close()
    print(summary(run.rows, run.submissions))
    if args.out:
        print(f"\nwritten: {os.path.join(args.out, 'grades.csv')}, grades.json, and "
              f"<file>/results.json for {len(run.entries)} submission(s)")
    if run.interrupted:
        print(f"{PROG} grade: interrupted: {len(run.entries)} of {run.submissions} submission(s) "
              "graded and written" + (" (--resume continues)" if args.out else ""),
              file=sys.stderr)
        return 1
    if run.not_graded:
        first = next(iter(run.not_graded.values()))
        print(f"{PROG} grade: {len(run.not_graded)} submission(s) not graded: {first}",
              file=sys.stderr)
        return 1
    return 0
