"""``gd-compare``: run every concept in both backends and print the side-by-side verdict.

``gd-compare plot [--out DIR]`` draws the same comparisons as PNGs (see
:mod:`gd_compare.show.plots`).
``gd-compare check PATH.py:FUNCTION --concept NAME`` grades a learner's function
(:mod:`gd_compare.cli.check`); ``gd-compare grade PATH...`` a class's submissions
(:mod:`gd_compare.cli.grade`).

Exit status: 0 when every concept agrees; 1 when any differs, diverges or crashes (every concept
still runs and gets its row and JSON entry, ``"status"``: ``passed``/``failed``/``diverged``/
``error``); 2 for a usage error (a bad option value, checked before any run), always with a
one-line message and no traceback (``--traceback`` shows a crash's whole traceback).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import sys
import threading
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

import numpy as np

from gd_compare.cli._common import (
    PROG,
    _add_training_options,
    _check_writable,
    _ignored,
    _optimizer_overrides,
    _overrides,
    _Parser,
    _positive_float,
    _positive_int,
    _seed,
    _sizes,
    _validate,
)
from gd_compare.cli.plot import plot_main
from gd_compare.lesson.concepts import CONCEPTS, LESSON_CONCEPTS
from gd_compare.lesson.core import DivergenceError, format_log
from gd_compare.lesson.course import format_course_log
from gd_compare.lesson.options import (
    OPTIMIZERS,
    SCHEDULERS,
    check_optimizer,
    check_scheduler,
    parse_option,
)
from gd_compare.lesson.parallel import WorkerError, keep_workers, start_pool
from gd_compare.lesson.workers import TORCH_PRELOAD, start_fork_server
from gd_compare.proof.harness import DEFAULT_TOLERANCE, Comparison, compare
from gd_compare.show.table import Outcome, _notes, format_table

__all__ = [
    "build_parser",
    "entry",
    "main",
]


#: ``gd-compare SUBCOMMAND``: one line each in ``--help`` (a subcommand whose module is absent
#: is not listed)
SUBCOMMANDS = {
    "check": ("gd_compare.cli.check",
              "check a learner's function against PyTorch autograd, step by step"),
    "plot": ("gd_compare.cli.plot",
             "write PNGs: loss curves, per-update difference, weights of every concept"),
    "grade": ("gd_compare.cli.grade",
              "grade PATH... — a class's submissions in parallel, each isolated (CSV, JSON, "
              "Gradescope)"),
}


def _subcommands_epilog() -> str:
    lines = [f"  {PROG} {name:<6} {line}" for name, (_module, line) in SUBCOMMANDS.items()]
    return ("subcommands (each has its own --help):\n" + "\n".join(lines) + "\n\n"
            f"With no subcommand, {PROG} runs the concepts and prints the table.")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description="Run each gradient-descent concept by hand in NumPy and with PyTorch "
        "autograd + torch.optim\nfrom the same start, and show that every step agrees.",
        epilog=_subcommands_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--concept", action="append", choices=list(CONCEPTS), metavar="NAME",
                   help=f"run only this concept (repeatable): {', '.join(CONCEPTS)} (the "
                   f"default runs the lesson's: {', '.join(LESSON_CONCEPTS)})")
    p.add_argument("--lr", type=_positive_float,
                   help="learning rate for every concept (default: the lesson's, 0.01 for "
                   "simple_step, 0.005 for backprop as the course ran it, 0.5 for the others)")
    p.add_argument("--epochs", type=_positive_int,
                   help="epochs of the training concepts (default: mse_training 1000, "
                   "sgd_batching 100, backprop 900)")
    p.add_argument("--batch-size", type=_positive_int,
                   help="mini-batch size of sgd_batching (default 32; 360 = full batch) and "
                   "of backprop (default: full batch, one update per epoch)")
    p.add_argument("--hidden", type=_sizes, metavar="SIZES",
                   help="backprop's hidden-layer sizes, comma-separated, e.g. 3,2 (default 2)")
    p.add_argument("--workers", type=_positive_int,
                   help="data_parallel's worker processes K (default 2; each takes "
                   "--batch-size records per update)")
    p.add_argument("--dtype", choices=list(DEFAULT_TOLERANCE), default="float64",
                   help="float64 (default; tolerance 1e-12) or float32 (tolerance 1e-5)")
    p.add_argument("--seed", type=_seed,
                   help="seed of the initial weights and the batch shuffle (default 42; "
                   "backprop 21, the course's)")
    p.add_argument("--split-seed", type=_seed, metavar="SEED",
                   help="seed of the 90/10 train/test split of the admissions data, for the "
                   "training concepts (default 42; backprop 21, as the course's quiz)")
    _add_training_options(p)
    p.add_argument("--json", metavar="PATH|-",
                   help="also write the results as JSON to PATH, or only JSON to stdout with -")
    p.add_argument("--optimizer", choices=list(OPTIMIZERS), metavar="NAME",
                   help=f"optimizer of the training concepts: {', '.join(OPTIMIZERS)} (default: "
                   "sgd, the lesson's); NumPy by hand (gd_compare.optim) vs torch.optim")
    p.add_argument("--optimizer-option", type=parse_option, action="append", metavar="KEY=VALUE",
                   help="an option of the optimizer, torch's keyword (repeatable), e.g. "
                   "momentum=0.9, nesterov=True, betas=(0.9,0.99)")
    p.add_argument("--scheduler", choices=list(SCHEDULERS), metavar="NAME",
                   help=f"learning-rate scheduler, stepped once per epoch: {', '.join(SCHEDULERS)}")
    p.add_argument("--scheduler-option", type=parse_option, action="append", metavar="KEY=VALUE",
                   help="an option of the scheduler (repeatable), e.g. step_size=100, gamma=0.5")
    p.add_argument("--traceback", action="store_true",
                   help="when a run crashes, show the whole traceback (default: one line)")
    return p
















def _record(result: Comparison | Outcome, args: argparse.Namespace) -> dict[str, Any]:
    """The JSON record of a comparison (``status`` passed/failed) or of a concept that diverged
    or crashed; a training concept's names its optimizer and scheduler with their options."""
    if isinstance(result, Outcome):
        return result.to_json()
    record = {**result.to_json(), "status": "passed" if result.passed else "failed"}
    if CONCEPTS[result.concept].kind == "training":
        o = _optimizer_overrides(args)
        record["optimizer"] = check_optimizer(o["optimizer"] or "sgd",
                                              o["optimizer_kwargs"]).to_json()
        scheduler = check_scheduler(o["scheduler"], o["scheduler_kwargs"])
        record["scheduler"] = scheduler.to_json() if scheduler else None
    return record












def _report(results: list[Comparison | Outcome], dtype: str, out: TextIO,
            optimizer: str = "sgd") -> None:
    rtol, atol = DEFAULT_TOLERANCE[dtype]
    print(f"gd_compare: NumPy by hand vs PyTorch autograd + torch.optim.{OPTIMIZERS[optimizer]} "
          f"({dtype}, "
          f"pass when |Δ| <= {atol:g} + {rtol:g}·|value| at every step)\n", file=out)
    print(format_table(results), file=out)
    done = [r for r in results if isinstance(r, Comparison)]
    for r in done:
        if r.numpy.log:
            print(f"\nThe lesson's log ({r.concept}, NumPy | PyTorch):", file=out)
            for a, b in zip(*_log_lines(r), strict=True):
                print(f"  {a:<62} | {b}", file=out)
        if r.bias:
            per_array = ", ".join(f"{k} {v:.2e}" for k, v in r.max_abs_diff.items())
            print(f"\n  {r.concept} with a bias, max |Δ| per quantity: {per_array}", file=out)
        if r.numpy.test_accuracy is not None:
            print(f"  Prediction accuracy: {r.numpy.test_accuracy:.3f} | "
                  f"Prediction accuracy: {r.torch.test_accuracy:.3f}", file=out)
    notes = [n for r in done for n in _notes(r)]
    if notes:
        print("", file=out)
        for n in notes:
            print(f"note: {n}", file=out)
    for r in results:
        if isinstance(r, Outcome):
            print(f"\n{r.status.upper()} {r.concept}: {r.message}", file=out)
        elif not r.passed:
            print(f"\nFAIL {r.first_failure}", file=out)
    passed = sum(isinstance(r, Comparison) and r.passed for r in results)
    verdict = "all concepts agree" if passed == len(results) else "MISMATCH"
    print(f"\n{passed}/{len(results)} concepts pass: {verdict}", file=out)
    others = [n for n in CONCEPTS if n not in LESSON_CONCEPTS
              and n not in {r.concept for r in results}]
    if others:
        print(f"The course's sibling notebooks run when named: "
              f"{', '.join(f'--concept {n}' for n in others)}", file=out)


def _log_lines(r: Comparison) -> tuple[list[str], list[str]]:
    """Each backend's log lines: the lesson's, or a notebook's with its accuracy."""
    if not CONCEPTS[r.concept].log_accuracy:
        return format_log(r.numpy.log), format_log(r.torch.log)
    return (format_course_log(r.numpy.log, r.numpy.log_accuracy),
            format_course_log(r.torch.log, r.torch.log_accuracy))












def _run(name: str, args: argparse.Namespace, progress: bool) -> Comparison | Outcome:
    """One concept: its verdict, or what stopped it (diverged, or crashed: one line unless
    ``--traceback``)."""
    try:
        return compare(name, dtype=args.dtype, progress=progress, **_overrides(name, args))
    except DivergenceError as exc:
        return Outcome(name, "diverged", str(exc))
    except WorkerError as exc:  # a data-parallel worker raised, died or hung: its rank, one line
        message = str(exc).splitlines()[0]  # "data_parallel: worker rank 1 raised ..."
        print(f"{PROG}: {message}", file=sys.stderr)
        return Outcome(name, "error", message)
    except Exception as exc:  # a backend's math crashed: the run's failure, not a usage error
        if args.traceback:
            traceback.print_exc()
        message = f"{type(exc).__name__}: {exc}"
        print(f"{PROG}: {name} crashed: {message}"
              + ("" if args.traceback else " (--traceback shows where)"), file=sys.stderr)
        return Outcome(name, "error", message)


def _start_data_parallel(names: Sequence[str], args: argparse.Namespace) -> None:
    """``data_parallel``'s workers start first, while the other concepts run: the fork server
    (a clean interpreter that imports torch) now, before this process imports torch, and the
    K workers in a background thread; the run waits for them, and they end with the command.
    (torch is imported here, in this thread, which the first concept needs anyway: never by two
    threads at once.)"""
    if "data_parallel" not in names:
        return
    start_fork_server(TORCH_PRELOAD)
    from gd_compare.torch_backend.distributed import WorkerPool

    job = _data_parallel_job(args)
    count = _overrides("data_parallel", args).get(
        "workers", CONCEPTS["data_parallel"].defaults["workers"])

    def start(workers: int) -> WorkerPool:
        pool = WorkerPool(workers)
        if job is not None:  # the workers run it now; compare("data_parallel") reads it later
            pool.prefetch(job)
        return pool

    start_pool(count, start)


def _data_parallel_job(args: argparse.Namespace) -> Any:
    """The run ``compare("data_parallel", ...)`` will hand the workers, built as it builds it
    (the concept's inputs, then ``data_parallel_run``), or ``None`` if it cannot be built here
    (the run itself then reports why)."""
    from gd_compare.lesson.concepts import check_dtype, get_concept
    from gd_compare.lesson.parallel import data_parallel_run

    try:
        inputs = get_concept("data_parallel").inputs(check_dtype(args.dtype),
                                                     **_overrides("data_parallel", args))
        return data_parallel_run(**inputs.kwargs)
    except Exception:
        return None


def main(argv: Sequence[str] | None = None) -> int:
    """``gd-compare [plot|check] ...``; a reader that closes the pipe early (``| head``) ends the
    run quietly, as other command-line tools do, instead of with a traceback."""
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except BrokenPipeError:
        # stdout is gone: point it at devnull so the interpreter's final flush cannot fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def entry() -> NoReturn:
    """The command (``gd-compare``, ``python -m gd_compare``): :func:`main`, then the process
    ends without tearing torch down (~0.3-0.6 s of CPU for nothing: every file is written and
    closed, every worker ended). Every ``atexit`` handler still runs first — multiprocessing's
    among them, which releases the workers' semaphores. Call :func:`main` to stay in the
    process."""
    code = main()
    if any(t.is_alive() and not t.daemon for t in threading.enumerate()
           if t is not threading.main_thread()):
        sys.exit(code)  # a thread still working: the interpreter waits for it, as always
    code = _flush_output(code)
    atexit._run_exitfuncs()
    os._exit(code)


def _flush_output(code: int) -> int:
    """Write what stdout and stderr still buffer, as the interpreter's own exit would: a reader
    that is gone (``| true``) ends the command quietly with 1, as :func:`main` does; any other
    failure to write (a full disk) is said on stderr, and the command fails with 1."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:
            with contextlib.suppress(OSError):  # nothing more may reach the closed pipe
                os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
            code = code or 1
        except (OSError, ValueError) as exc:  # ValueError: a stream already closed
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.write(f"gd-compare: could not write the output: {exc}\n")
                sys.stderr.flush()
            code = code or 1
    return code


def _main(argv: list[str]) -> int:
    if argv[:1] == ["plot"]:
        return plot_main(argv[1:])
    if argv[:1] == ["check"]:
        from gd_compare.cli.check import check_main  # it imports this module

        return check_main(argv[1:])
    if argv[:1] == ["grade"]:
        from gd_compare.cli.grade import grade_main

        return grade_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    names = list(dict.fromkeys(args.concept or LESSON_CONCEPTS))
    if args.json is not None and args.json != "-":
        _check_writable(parser, args.json)  # fail now, not after the runs; the file is untouched
    _validate(parser, names, args)
    note = _ignored(names, args)
    if note:
        print(note, file=sys.stderr)
    results: list[Comparison | Outcome] = []
    progress = sys.stderr.isatty() and args.json != "-"
    # a step that overflows is reported once, as a DivergenceError, not as numpy warnings
    with np.errstate(over="ignore", invalid="ignore"), keep_workers():
        _start_data_parallel(names, args)
        for name in names:
            results.append(_run(name, args, progress))
    for r in results:
        if isinstance(r, Outcome) and r.status == "diverged":
            print(f"{PROG}: {r.message}", file=sys.stderr)
    if args.json != "-":
        _report(results, args.dtype, sys.stdout, args.optimizer or "sgd")
    if args.json:
        payload = json.dumps({"concepts": [_record(r, args) for r in results]}, indent=1)
        if args.json == "-":
            sys.stdout.write(payload + "\n")
        else:
            tmp = Path(args.json).with_name(Path(args.json).name + ".partial")
            try:
                tmp.write_text(payload + "\n", encoding="utf-8")
                os.replace(tmp, args.json)
            except OSError as exc:
                print(f"{PROG}: --json: cannot write {args.json!r}: {exc.strerror or exc}",
                      file=sys.stderr)
                return 1
    return 0 if all(isinstance(r, Comparison) and r.passed for r in results) else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
