"""``gd-compare check PATH.py:FUNCTION [--concept NAME]``: grade a learner's own function;
``gd-compare check SUBMISSION.ipynb`` (or ``.py``): every course function a learner's notebook
or file defines, one verdict line each (:func:`gd_compare.learner.submission.check_submission`).

The function is loaded from the file and run by :func:`gd_compare.learner.check.check` in lockstep
with
the PyTorch autograd twin. Exit status: 0 the function is right, 1 it is wrong — a wrong step
(printed with its diagnosis), a failure inside it, or a file that does not import (the learner's
code failed: its error in one line) — and 2 for a usage error: a bad option, a missing file, or a
FUNCTION the imported file does not define as a function (what was typed names nothing to check). An
instructor can loop it over a folder of submissions::

    for f in submissions/*.py; do gd-compare check "$f:train_epoch" --concept mse_training; done
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gd_compare.cli._common import (
    PROG,
    _check_writable,
    _Parser,
    _positive_float,
    _positive_int,
    _seconds,
    _seed,
    _sizes,
)
from gd_compare.learner.exercises import EXERCISES
from gd_compare.lesson.core import DivergenceError
from gd_compare.proof.harness import DEFAULT_TOLERANCE

__all__ = [
    "LoadError",
    "NoSuchFunctionError",
    "build_check_parser",
    "check_main",
    "load_function",
]


class LoadError(Exception):
    """The learner's file could not be imported: the learner's code failed (exit 1)."""


class NoSuchFunctionError(LoadError):
    """The file imports but the FUNCTION typed on the command line is not a function in it:
    a usage error (exit 2), like a missing file."""


def build_check_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=f"{PROG} check",
        description="Run a learner's own function for one concept in lockstep with PyTorch "
        "autograd from the same state at every step; stop at the first wrong step and name the "
        "classic mistake that reproduces it. PATH.py:FUNCTION checks one function; a whole "
        "NOTEBOOK.ipynb or FILE.py (no :FUNCTION) is run in a separate process with the "
        "course's data files and every course function it defines is checked, one line each. "
        "Exit 0 right, 1 wrong (or nothing to check), 2 usage error.",
    )
    p.add_argument("target", metavar="PATH.py:FUNCTION | NOTEBOOK.ipynb | FILE.py",
                   help="the learner's file and the function in it, e.g. mine.py:train_epoch; "
                   "or a whole notebook or file")
    p.add_argument("--concept", choices=list(EXERCISES), metavar="NAME",
                   help=f"what the function implements: {', '.join(EXERCISES)} (default: the "
                   "course's function name decides it, e.g. train_nn → mse_training)")
    p.add_argument("--lr", type=_positive_float, help="learning rate (default: the lesson's)")
    p.add_argument("--epochs", type=_positive_int,
                   help="steps to check (default: mse_training 1000, sgd_batching 100, "
                   "backprop 900, gradient and network_gradient 10)")
    p.add_argument("--batch-size", type=_positive_int, help="sgd_batching's batch size (32)")
    p.add_argument("--hidden", type=_sizes, metavar="SIZES",
                   help="hidden-layer sizes: backprop one (default 2), network_gradient any "
                   "(default 3,3)")
    p.add_argument("--dtype", choices=list(DEFAULT_TOLERANCE), default="float64",
                   help="float64 (default; tolerance 1e-12) or float32 (tolerance 1e-5)")
    p.add_argument("--seed", type=_seed, help="seed of the starting weights and the shuffle")
    p.add_argument("--time-limit", type=_seconds, metavar="SECONDS",
                   help="seconds one call of the function may take (default 10); for a whole "
                   "notebook, seconds its cells may take (default 120)")
    p.add_argument("--json", metavar="PATH|-",
                   help="also write the result as JSON to PATH, or only JSON to stdout with -")
    return p


def _split_target(parser: argparse.ArgumentParser, target: str) -> tuple[Path, str | None]:
    path, sep, name = target.rpartition(":")
    if not sep and target.endswith((".ipynb", ".py")):
        if not Path(target).is_file():
            parser.error(f"{target!r}: no such file")
        return Path(target), None  # a whole submission
    if not sep or not path or not name:
        parser.error(f"expected PATH.py:FUNCTION, NOTEBOOK.ipynb or FILE.py, got {target!r}")
    file = Path(path)
    if not file.is_file():
        parser.error(f"{path!r}: no such file")
    if file.suffix not in (".py", ".ipynb"):  # what the user typed: not a learner's failure
        parser.error(f"{path!r}: expected a .py file or a .ipynb notebook before :{name}")
    if not name.isidentifier():
        parser.error(f"{name!r} is not a function name")
    return file, name


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg} (line {exc.lineno})"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}{': ' + text if text else ''}"


def load_function(file: Path, name: str) -> Callable[..., Any]:
    """Import ``file`` (its folder first on ``sys.path``, its printing swallowed) and return
    its callable ``name``; any failure is a :class:`LoadError` with one line."""
    module_name = f"_gd_compare_learner_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise LoadError(f"{file}: cannot import: not a Python file")
    module = importlib.util.module_from_spec(spec)
    folder = str(file.resolve().parent)
    sys.path.insert(0, folder)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            spec.loader.exec_module(module)
    except BaseException as exc:  # SystemExit at import too (KeyboardInterrupt re-raised)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise LoadError(f"{file}: cannot import: {_one_line(exc)}") from None
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)
    fn = getattr(module, name, None)
    if fn is None:
        raise NoSuchFunctionError(f"{file}: has no function {name!r}")
    if not callable(fn):
        raise NoSuchFunctionError(f"{file}: {name!r} is a {type(fn).__name__}, not a function")
    return fn


def _params(concept: str, args: argparse.Namespace,
            parser: argparse.ArgumentParser) -> dict[str, Any]:
    known = EXERCISES[concept].defaults
    wanted = {"lr": args.lr, "epochs": args.epochs, "batch_size": args.batch_size,
              "seed": args.seed, "hidden": args.hidden}
    out = {}
    for key, value in wanted.items():
        if value is None:
            continue
        if key not in known:
            parser.error(f"--{key.replace('_', '-')}: {concept} has no {key}")
        out[key] = value
    if concept == "backprop" and "hidden" in out:
        if len(out["hidden"]) != 1:
            parser.error(f"--hidden: backprop's function has one hidden layer, got "
                         f"{','.join(map(str, out['hidden']))}")
        out["hidden"] = out["hidden"][0]
    return out


def _write_json(path: str, payload: dict[str, Any] | list[dict[str, Any]]) -> None:
    text = json.dumps(payload, indent=1) + "\n"
    if path == "-":
        sys.stdout.write(text)
    else:
        Path(path).write_text(text, encoding="utf-8")


def check_main(argv: Sequence[str]) -> int:
    """``gd-compare check``: exit 0 right, 1 wrong, 2 usage."""
    parser = build_check_parser()
    args = parser.parse_args(argv)
    file, name = _split_target(parser, args.target)
    if args.json is not None and args.json != "-":
        _check_writable(parser, args.json)  # an empty name too: exit 2, as the main command
    if name is None or file.suffix == ".ipynb":
        return _submission_main(parser, args, file, name)
    concept = args.concept
    target = {"path": str(file), "function": name, "concept": concept}
    try:
        fn = load_function(file, name)
    except NoSuchFunctionError as exc:  # what the user typed names no function: usage, no JSON
        parser.error(str(exc))
    except LoadError as exc:
        if args.json:
            _write_json(args.json, target | {"passed": False, "problem": "import",
                                             "message": str(exc)})
        if args.json != "-":
            print(f"FAIL {exc}")
        return 1
    if concept is None:
        from gd_compare.learner.submission import _concept_of

        concept = _concept_of(name, fn, None)
        if concept is None:
            parser.error(f"--concept: {name!r} is not one of the course's function names: "
                         f"give --concept ({', '.join(EXERCISES)})")
        target["concept"] = concept
    params = _params(concept, args, parser)
    from gd_compare.learner.check import check  # torch is imported here, not for --help

    try:
        result = check(fn, concept, dtype=args.dtype, time_limit=args.time_limit or 10.0,
                       **params)
    except DivergenceError as exc:  # the run itself blows up at these options: not the learner
        print(f"{PROG} check: {exc}", file=sys.stderr)
        return 1
    except (ValueError, TypeError) as exc:
        parser.error(str(exc))
    if args.json:
        _write_json(args.json, target | result.to_dict())
    if args.json != "-":
        print(("PASS " if result.passed else "FAIL ") + str(result))
    return 0 if result.passed else 1


def _submission_main(parser: argparse.ArgumentParser, args: argparse.Namespace, file: Path,
                     name: str | None) -> int:
    """A whole notebook or file: one line per function; exit 0 when every function found
    passes, 1 when one fails or none can be checked."""
    from gd_compare.learner.submission import check_submission

    params = _params(args.concept, args, parser) if args.concept else {
        k: v for k, v in (("lr", args.lr), ("epochs", args.epochs), ("seed", args.seed))
        if v is not None}
    if args.dtype != "float64":
        params["dtype"] = args.dtype
    try:
        rows = check_submission(file, concept=args.concept, function=name,
                                time_limit=args.time_limit or 120.0, **params)
    except (ValueError, FileNotFoundError) as exc:
        parser.error(str(exc))
    if args.json:
        _write_json(args.json, [r.to_json() for r in rows])
    if args.json != "-":
        for r in rows:
            print(f"{r.verdict} {r.function + ': ' if r.function else ''}{r.message}")
    ok = bool(rows) and all(r.verdict == "PASS" for r in rows)
    return 0 if ok else 1
