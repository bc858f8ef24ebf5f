"""What every ``gd-compare`` subcommand parses the same way: value types, the run
and training options, checks made before any run.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from gd_compare.lesson.concepts import CONCEPTS, get_concept
from gd_compare.lesson.core import REDUCTIONS

__all__ = []


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


#: The longest time limit taken (a day): beyond it the platform's timers overflow.
MAX_SECONDS = 86_400.0


def _seconds(text: str) -> float:
    """A time limit: seconds > 0, at most :data:`MAX_SECONDS`."""
    value = _positive_float(text)
    if value > MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"expected at most {MAX_SECONDS:g} seconds (a day), "
                                         f"got {text!r}")
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




def _add_training_options(p: argparse.ArgumentParser) -> None:
    """``--bias`` and ``--loss`` (the main command and ``plot``)."""
    p.add_argument("--bias", action="store_true", default=None,
                   help="give every unit a bias, starting at 0 (the lesson's neuron and network "
                   "have none): the neuron and network concepts")
    p.add_argument("--loss", choices=list(REDUCTIONS),
                   help="the loss the training concepts descend: mse (default: the lesson's "
                   "½·MSE), sse (½·SSE) or bce (mean binary cross-entropy); "
                   "student_admissions: bce (default, summed) or sse (½·SSE)")
    p.add_argument("--data", metavar="PATH",
                   help="logistic_regression: the course's data.csv (not bundled; "
                   "udacity/deep-learning-v2-pytorch, intro-neural-networks/gradient-descent, "
                   "MIT licence)")


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


#: run options and the concept parameter each sets
RUN_OPTIONS: dict[str, str] = {"lr": "--lr", "epochs": "--epochs", "batch_size": "--batch-size",
                               "seed": "--seed", "hidden": "--hidden",
                               "split_seed": "--split-seed", "workers": "--workers",
                               "bias": "--bias", "loss": "--loss", "data": "--data"}


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
    from gd_compare import numpy_backend

    for name in names:
        spec = get_concept(name)
        try:
            inputs = spec.inputs(args.dtype, **_overrides(name, args))
            if spec.kind == "training":  # checks the run's arguments; computes nothing yet
                getattr(numpy_backend, "iter_" + spec.function_name)(**inputs.kwargs)
        except (ValueError, TypeError) as exc:
            parser.error(f"{name}: {exc}")


def _optimizer_overrides(args: argparse.Namespace) -> dict[str, Any]:
    optimizer_option = getattr(args, "optimizer_option", None)
    scheduler_option = getattr(args, "scheduler_option", None)
    return {"optimizer": getattr(args, "optimizer", None),
            "optimizer_kwargs": dict(optimizer_option) if optimizer_option else None,
            "scheduler": getattr(args, "scheduler", None),
            "scheduler_kwargs": dict(scheduler_option) if scheduler_option else None}
