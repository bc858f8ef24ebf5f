"""``gd-compare``: run every concept in both backends and print the side-by-side verdict.

``gd-compare plot [--out DIR]`` draws the same comparisons as PNGs (see :mod:`gd_compare.plots`).
``gd-compare check PATH.py:FUNCTION --concept NAME`` grades a learner's function
(:mod:`gd_compare.cli_check`).

Exit status: 0 when every concept agrees; 1 when any differs, diverges or crashes (every concept
still runs and gets its row and JSON entry, ``"status"``: ``passed``/``failed``/``diverged``/
``error``); 2 for a usage error (a bad option value, checked before any run), always with a
one-line message and no traceback (``--traceback`` shows a crash's whole traceback).
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TextIO

import numpy as np

from .concepts import CONCEPTS, get_concept
from .core import REDUCTIONS, DivergenceError, format_log
from .data_parallel import WorkerError
from .harness import DEFAULT_TOLERANCE, Comparison, compare
from .options import OPTIMIZERS, SCHEDULERS, check_optimizer, check_scheduler
from .verdict import AMPLIFICATION

PROG = "gd-compare"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2 (argparse prints usage too)
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _sizes(text: str) -> tuple[int, ...]:
    sizes = []
    for k, part in enumerate(text.split(","), start=1):
        try:
            sizes.append(_positive_int(part.strip()))
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentTypeError(f"hidden layer {k}: {exc}") from None
    return tuple(sizes)


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to 2**32 - 1, got "
                                         f"{text!r}")
    return value


def _dpi(text: str) -> int:
    value = _positive_int(text)
    if not 10 <= value <= 600:
        raise argparse.ArgumentTypeError(f"expected a resolution from 10 to 600, got {text!r}")
    return value


def _option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE``, the value a Python literal (``0.9``, ``True``, ``(0.9, 0.99)``) or a bare
    word (``min``)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip().isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        parsed = ast.literal_eval(value.strip())
    except TypeError as exc:  # e.g. {[1]: 2}: an unhashable key
        raise argparse.ArgumentTypeError(f"{key.strip()}: not a valid value ({exc}), "
                                         f"got {value!r}") from None
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        if not value.strip().isidentifier():
            raise argparse.ArgumentTypeError(
                f"{key.strip()}: expected a Python literal (e.g. 0.9, True, (0.9, 0.99)), "
                f"got {value!r}") from None
        parsed = value.strip()
    return key.strip(), parsed


def _add_training_options(p: argparse.ArgumentParser) -> None:
    """``--bias`` and ``--loss`` (the main command and ``plot``)."""
    p.add_argument("--bias", action="store_true", default=None,
                   help="give every unit a bias, starting at 0 (the lesson's neuron and network "
                   "have none): the neuron and network concepts")
    p.add_argument("--loss", choices=list(REDUCTIONS),
                   help="the loss the training concepts descend: mse (default: the lesson's "
                   "½·MSE), sse (½·SSE) or bce (mean binary cross-entropy)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description="Run each gradient-descent concept by hand in NumPy and with PyTorch "
        "autograd + torch.optim from the same start, and show that every step agrees.",
        epilog=f"{PROG} plot [--out DIR] writes PNGs of the loss curves, the per-update "
        f"difference and the weights of every concept (see {PROG} plot --help).",
    )
    p.add_argument("--concept", action="append", choices=list(CONCEPTS), metavar="NAME",
                   help=f"run only this concept (repeatable): {', '.join(CONCEPTS)}")
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
    p.add_argument("--optimizer-option", type=_option, action="append", metavar="KEY=VALUE",
                   help="an option of the optimizer, torch's keyword (repeatable), e.g. "
                   "momentum=0.9, nesterov=True, betas=(0.9,0.99)")
    p.add_argument("--scheduler", choices=list(SCHEDULERS), metavar="NAME",
                   help=f"learning-rate scheduler, stepped once per epoch: {', '.join(SCHEDULERS)}")
    p.add_argument("--scheduler-option", type=_option, action="append", metavar="KEY=VALUE",
                   help="an option of the scheduler (repeatable), e.g. step_size=100, gamma=0.5")
    p.add_argument("--traceback", action="store_true",
                   help="when a run crashes, show the whole traceback (default: one line)")
    return p


#: run options and the concept parameter each sets
RUN_OPTIONS: dict[str, str] = {"lr": "--lr", "epochs": "--epochs", "batch_size": "--batch-size",
                               "seed": "--seed", "hidden": "--hidden",
                               "split_seed": "--split-seed", "workers": "--workers",
                               "bias": "--bias", "loss": "--loss"}


def _wanted(args: argparse.Namespace) -> dict[str, Any]:
    return {k: getattr(args, k, None) for k in RUN_OPTIONS if getattr(args, k, None) is not None}


def _overrides(name: str, args: argparse.Namespace) -> dict[str, Any]:
    defaults = CONCEPTS[name].defaults
    wanted = {**_wanted(args), **_optimizer_overrides(args)}
    return {k: v for k, v in wanted.items() if v is not None and k in defaults}


def _ignored(names: Sequence[str], args: argparse.Namespace) -> str | None:
    """One line naming the options given that some selected concepts do not take."""
    flags = {**RUN_OPTIONS, "optimizer": "--optimizer", "optimizer_kwargs": "--optimizer-option",
             "scheduler": "--scheduler", "scheduler_kwargs": "--scheduler-option"}
    given = {**_wanted(args),
             **{k: v for k, v in _optimizer_overrides(args).items() if v is not None}}
    parts = []
    for key in given:
        skip = [n for n in names if key not in CONCEPTS[n].defaults]
        if skip:
            parts.append(f"{flags[key]} ({', '.join(skip)})")
    if not parts:
        return None
    return f"{PROG}: note: ignored where it does not apply: {'; '.join(parts)}"


def _validate(parser: argparse.ArgumentParser, names: Sequence[str],
              args: argparse.Namespace) -> None:
    """Check every option against every selected concept before anything runs: a value the
    concept or its training run rejects is a usage error (exit 2), not a crash."""
    from . import numpy_backend

    for name in names:
        spec = get_concept(name)
        try:
            inputs = spec.inputs(args.dtype, **_overrides(name, args))
            if spec.kind == "training":  # checks the run's arguments; computes nothing yet
                getattr(numpy_backend, "iter_" + spec.function_name)(**inputs.kwargs)
        except (ValueError, TypeError) as exc:
            parser.error(f"{name}: {exc}")


@dataclass
class Outcome:
    """A concept that did not produce a verdict: it diverged, or its run crashed."""

    concept: str
    status: str  # "diverged" or "error"
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.concept, "status": self.status, "passed": False,
                "message": self.message}


def _optimizer_overrides(args: argparse.Namespace) -> dict[str, Any]:
    optimizer_option = getattr(args, "optimizer_option", None)
    scheduler_option = getattr(args, "scheduler_option", None)
    return {"optimizer": getattr(args, "optimizer", None),
            "optimizer_kwargs": dict(optimizer_option) if optimizer_option else None,
            "scheduler": getattr(args, "scheduler", None),
            "scheduler_kwargs": dict(scheduler_option) if scheduler_option else None}


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


def _fmt(value: Any) -> str:
    arr = np.atleast_1d(np.asarray(value, dtype=float))
    parts = [f"{v:.6g}" for v in arr[:3]]
    text = ", ".join(parts) + (", …" if arr.size > 3 else "")
    return text if np.ndim(value) == 0 else f"[{text}]"


def _headline(result: Comparison) -> tuple[str, str, str]:
    name = result.headline
    if name.startswith("train "):
        return name, _fmt(result.numpy.final_loss), _fmt(result.torch.final_loss)
    return name, _fmt(result.numpy.values[name]), _fmt(result.torch.values[name])


def format_table(results: Sequence[Comparison | Outcome]) -> str:
    """concept | quantity | NumPy | PyTorch | max |Δ| | ULPs | steps | verdict"""
    header = ("concept", "quantity", "NumPy (by hand)", "PyTorch (autograd)", "max |Δ|",
              "ULPs", "steps", "verdict")
    rows = []
    for r in results:
        if isinstance(r, Outcome):
            rows.append((r.concept, get_concept(r.concept).headline, "–", "–", "–", "–", "–",
                         r.status.upper()))
            continue
        quantity, a, b = _headline(r)
        max_abs = max(r.max_abs_diff.values(), default=0.0)
        ulps = max(r.max_ulps.values(), default=0)
        rows.append((r.concept, quantity, a, b, f"{max_abs:.2e}", str(ulps), str(r.steps),
                     "PASS" if r.passed else "FAIL"))
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in (header, *rows)]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _notes(r: Comparison) -> list[str]:
    """What a learner needs to read a verdict: amplified rounding, ties, saturation."""
    notes = []
    f = r.rejudge
    if f is not None and f.amplified_steps:
        notes.append(
            f"{r.concept}: {f.amplified_steps} steps differ beyond the tolerance by rounding that "
            f"an unstable trajectory amplifies — the free-running gap reaches {f.max_gap:.3g}, "
            f"at most {f.max_ratio:.3g}x what NumPy drifts against itself nudged by 1 ULP per "
            f"step (allowed {AMPLIFICATION:g}x); from a common state ({f.common_state_steps} "
            f"steps re-judged) the gradients agree to {f.common_state_max_rel:.2g} (relative)"
            + (f", and each backend's own update is its optimizer's step from its own gradient "
               f"to {f.update_audit_max_rel:.2g} ({f.update_audit_steps} steps audited)"
               if f.update_audit_steps else ""))
    if r.threshold_rows:
        notes.append(f"{r.concept}: test row(s) {list(r.threshold_rows)} sit on the threshold: "
                     f"the outputs agree within the tolerance but fall on opposite sides of 0.5 "
                     f"(a tie, not a mismatch; the accuracies differ by these rows)")
    if getattr(r, "schedule_tie", None) is not None:
        notes.append(f"{r.concept}: {r.schedule_tie} (compared {r.steps} steps)")
    saturated = _saturation(r)
    if saturated is not None:
        notes.append(saturated)
    return notes


def _saturation(r: Comparison) -> str | None:
    """Flag a training run whose outputs are pinned at 0 or 1: sigmoid'(h) ≈ 0, so every
    gradient vanishes and the loss stays flat (a learning rate far too large)."""
    spec = get_concept(r.concept)
    if spec.kind != "training" or r.numpy.final_loss is None:
        return None
    from . import numpy_backend

    try:
        X = spec.inputs(r.dtype).kwargs["features"]
        weights = r.numpy.final_weights
        out = getattr(numpy_backend, spec.forward_function)(
            X, weights[0] if len(weights) == 1 else weights)
    except (ValueError, TypeError, KeyError):
        return None  # the run used data of its own: nothing to say
    pinned = float(np.mean(out * (1 - out) < 1e-8))
    if pinned < 0.5:
        return None
    return (f"{r.concept}: saturated — {pinned:.0%} of the training outputs are pinned at 0 or 1 "
            f"(sigmoid'(h) < 1e-8), so the gradients vanish and the loss stays flat: the "
            f"learning rate is far too large for this model")


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
            for a, b in zip(format_log(r.numpy.log), format_log(r.torch.log), strict=True):
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


def _run_options(p: argparse.ArgumentParser) -> None:
    """The run options ``gd-compare plot`` shares with the main command: they set each
    concept's main picture (the teacher's comparisons keep their own lr/epochs/batch sizes)."""
    p.add_argument("--lr", type=_positive_float, help="learning rate (default: the lesson's)")
    p.add_argument("--epochs", type=_positive_int, help="epochs of the training concepts")
    p.add_argument("--batch-size", type=_positive_int,
                   help="mini-batch size of sgd_batching and backprop")
    p.add_argument("--seed", type=_seed, help="seed of the initial weights and the shuffle")
    p.add_argument("--hidden", type=_sizes, metavar="SIZES", help="backprop's hidden layers")
    p.add_argument("--split-seed", type=_seed, metavar="SEED",
                   help="seed of the 90/10 split of the admissions data")


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
    names = list(dict.fromkeys(args.concept or CONCEPTS))
    _validate(parser, names, args)
    note = _ignored(names, args)
    if note:
        print(note, file=sys.stderr)
    from . import plots  # matplotlib is imported only for this subcommand

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


def _check_writable(parser: argparse.ArgumentParser, path: str) -> None:
    """``--json PATH`` must name a file we can create now (in an existing folder): the
    ``.partial`` file it is written through is created and removed before any run."""
    if not path.strip():
        parser.error("--json: expected a file name or - (stdout), got an empty name")
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        parser.error(f"--json: {path!r} is a folder; expected a file name")
    if not folder.is_dir():
        parser.error(f"--json: cannot write {path!r}: no folder {str(folder)!r}")
    probe = target.with_name(target.name + ".partial")
    try:
        probe.open("x").close()
        probe.unlink()
        if target.exists() and not os.access(target, os.W_OK):
            raise PermissionError(13, "permission denied")
    except FileExistsError:
        pass  # a .partial left over from an earlier run: it is replaced at the end
    except OSError as exc:
        parser.error(f"--json: cannot write {path!r}: {exc.strerror or exc}")


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


def main(argv: Sequence[str] | None = None) -> int:
    """``gd-compare [plot|check] ...``; a reader that closes the pipe early (``| head``) ends the
    run quietly, as other command-line tools do, instead of with a traceback."""
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except BrokenPipeError:
        # stdout is gone: point it at devnull so the interpreter's final flush cannot fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _main(argv: list[str]) -> int:
    if argv[:1] == ["plot"]:
        return plot_main(argv[1:])
    if argv[:1] == ["check"]:
        from .cli_check import check_main  # it imports this module

        return check_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    names = list(dict.fromkeys(args.concept or CONCEPTS))
    if args.json is not None and args.json != "-":
        _check_writable(parser, args.json)  # fail now, not after the runs; the file is untouched
    _validate(parser, names, args)
    note = _ignored(names, args)
    if note:
        print(note, file=sys.stderr)
    results: list[Comparison | Outcome] = []
    progress = sys.stderr.isatty() and args.json != "-"
    # a step that overflows is reported once, as a DivergenceError, not as numpy warnings
    with np.errstate(over="ignore", invalid="ignore"):
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
