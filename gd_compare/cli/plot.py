"""``gd-compare plot``: the comparisons drawn as PNGs (:mod:`gd_compare.show.plots`).
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gd_compare.cli._common import (
    PROG,
    _add_training_options,
    _dpi,
    _ignored,
    _Parser,
    _run_options,
    _validate,
    _wanted,
)
from gd_compare.lesson.concepts import CONCEPTS, LESSON_CONCEPTS
from gd_compare.lesson.core import DivergenceError
from gd_compare.proof.harness import DEFAULT_TOLERANCE

__all__ = ['build_plot_parser', 'plot_main']


def build_plot_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=f"{PROG} plot",
        description="Run the concepts in both backends and write PNGs: for every concept the "
        "loss curves of NumPy (by hand) and PyTorch (autograd) overlaid, their difference per "
        "update on a log axis and the weight trajectories; plus SSE vs MSE and a learning-rate "
        "sweep (mse_training) and batch sizes 1/32/360 (sgd_batching).",
    )
    p.add_argument("--out", metavar="DIR", default="gd-compare-plots",
                   help="directory for the PNGs, created if missing (default: gd-compare-plots)")
    p.add_argument("--concept", action="append", choices=list(CONCEPTS), metavar="NAME",
                   help=f"plot only this concept (repeatable): {', '.join(CONCEPTS)}")
    p.add_argument("--dtype", choices=list(DEFAULT_TOLERANCE), default="float64",
                   help="float64 (default) or float32")
    p.add_argument("--dpi", type=_dpi, default=100, help="PNG resolution, 10 to 600 (default 100)")
    _run_options(p)
    _add_training_options(p)
    p.add_argument("--traceback", action="store_true",
                   help="when a run crashes, show the whole traceback (default: one line)")
    return p


def plot_main(argv: Sequence[str]) -> int:
    """``gd-compare plot``: write the PNGs, list them; exit 0/1/2 as the main command."""
    parser = build_plot_parser()
    args = parser.parse_args(argv)
    if not args.out.strip():  # Path("") is the current folder: never write there unasked
        parser.error("--out: expected a folder name, got an empty name")
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".gd-compare-write-test"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        parser.error(f"--out: cannot write PNGs into {args.out!r}: {exc.strerror or exc}")
    names = list(dict.fromkeys(args.concept or LESSON_CONCEPTS))
    _validate(parser, names, args)
    note = _ignored(names, args)
    if note:
        print(note, file=sys.stderr)
    from gd_compare.show import plots  # matplotlib is imported only for this subcommand

    paths, comparisons, stopped = [], [], []
    for name in names:  # one concept at a time: a run that crashes does not stop the others
        try:  # an overflow is reported once, as a DivergenceError, not as numpy warnings
            with np.errstate(over="ignore", invalid="ignore"):
                saved = plots.save_all(out, concepts=[name], dtype=args.dtype, dpi=args.dpi,
                                       progress=sys.stderr.isatty(),
                                       echo=lambda p: print(f"wrote {p}"), params=_wanted(args))
        except Exception as exc:  # diverged or crashed: one line (see _run), then the next one
            stopped.append(_plot_failure(name, exc, args.traceback))
            continue
        paths += saved.paths
        comparisons += saved.comparisons
    for r in comparisons:
        if not r.passed:
            print(f"FAIL {r.first_failure}", file=sys.stderr)
    passed = sum(r.passed for r in comparisons)
    ok = passed == len(comparisons) and not stopped
    verdict = "all runs agree" if ok else "MISMATCH"
    print(f"{len(paths)} PNGs in {out}; {passed}/{len(comparisons)} runs pass: {verdict}"
          + (f"; stopped: {', '.join(stopped)}" if stopped else ""))
    return 0 if ok else 1


def _plot_failure(name: str, exc: Exception, show_traceback: bool) -> str:
    """One line on stderr naming the concept whose pictures could not be drawn and why (the
    whole traceback first with ``--traceback``); returns the concept's name."""
    if isinstance(exc, DivergenceError):  # its message names the backend and the concept
        print(f"{PROG} plot: {exc}", file=sys.stderr)
        return name
    if show_traceback:
        traceback.print_exception(exc)
    text = str(exc).strip()
    message = type(exc).__name__ + (f": {text.splitlines()[0]}" if text else "")
    print(f"{PROG} plot: {name} crashed: {message}"
          + ("" if show_traceback else " (--traceback shows where)"), file=sys.stderr)
    return name
