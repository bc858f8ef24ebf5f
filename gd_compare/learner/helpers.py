"""The course's helper functions checked against their definitions on a grid of inputs.

The notebooks define small helpers next to the training code — ``sigmoid``, ``sigmoid_prime``,
``output_formula``, ``error_formula`` (the GradientDescent and StudentAdmissions notebooks) —
and the training code trusts them. :func:`check_helper` calls the learner's helper on a grid
of inputs (scalars and arrays, as the notebooks call them) and compares with the definition:
PASS, or FAIL with the first wrong input. No torch here: these are definitions, not steps.

==================  ===========================================================  ==============
helper              definition                                                   called as
==================  ===========================================================  ==============
``sigmoid``         1 / (1 + exp(−x))                                            x scalar/array
``sigmoid_prime``   sigmoid(x)·(1 − sigmoid(x))                                  x scalar/array
``output_formula``  sigmoid(features·weights + bias)                             one record and
                                                                                 all records
``error_formula``   −y·log(output) − (1 − y)·log(1 − output)  (cross-entropy)    y, output
==================  ===========================================================  ==============
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["HELPERS", "Helper", "HelperResult", "check_helper"]

#: relative tolerance of a helper's value (float64 definitions, a few ULPs apart)
RTOL = 1e-12
ATOL = 1e-14


def _sigmoid(x):
    return 1 / (1 + np.exp(-np.asarray(x, dtype=np.float64)))


def _sigmoid_prime(x):
    return _sigmoid(x) * (1 - _sigmoid(x))


def _output_formula(features, weights, bias):
    return _sigmoid(np.dot(features, weights) + bias)


def _error_formula(y, output):
    return -y * np.log(output) - (1 - y) * np.log(1 - output)


def _grid_x() -> list[tuple]:
    xs = [-10.0, -3.5, -1.0, -0.25, 0.0, 0.3, 1.0, 2.5, 8.0]
    return [(x,) for x in xs] + [(np.linspace(-4, 4, 9),)]


def _grid_output() -> list[tuple]:
    features = np.array([[0.78, 0.69], [0.12, 0.4], [0.5, 0.9], [0.33, 0.05]])
    weights, bias = np.array([0.4, -0.7]), 0.15
    return [(features[0].copy(), weights.copy(), bias),
            (features[2].copy(), np.array([-1.2, 0.3]), -0.4),
            (features.copy(), weights.copy(), bias)]


def _grid_error() -> list[tuple]:
    return [(y, out) for y in (0.0, 1.0) for out in (0.05, 0.3, 0.5, 0.9)] + \
        [(np.array([1.0, 0.0, 1.0]), np.array([0.2, 0.6, 0.95]))]


@dataclass(frozen=True)
class Helper:
    """A helper's definition and the inputs it is tried on."""

    name: str
    definition: str
    reference: Callable[..., Any]
    grid: Callable[[], list[tuple]]


#: name → helper (the sibling notebooks' concepts may add theirs)
HELPERS: dict[str, Helper] = {h.name: h for h in (
    Helper("sigmoid", "1 / (1 + exp(−x))", _sigmoid, _grid_x),
    Helper("sigmoid_prime", "sigmoid(x)·(1 − sigmoid(x))", _sigmoid_prime, _grid_x),
    Helper("output_formula", "sigmoid(np.dot(features, weights) + bias)", _output_formula,
           _grid_output),
    Helper("error_formula", "−y·log(output) − (1 − y)·log(1 − output)", _error_formula,
           _grid_error),
)}


@dataclass(frozen=True)
class HelperResult:
    """PASS, or the first input where the helper differs from its definition."""

    name: str
    passed: bool
    message: str
    #: the index (0-based) of the first wrong input on the grid, None when it passed
    case: int | None = None


def _show(args: tuple) -> str:
    def one(a):
        a = np.asarray(a)
        if a.ndim == 0:
            return f"{a.item():g}"
        return " ".join(np.array2string(a, precision=3, separator=", ",
                                        max_line_width=10_000).split())
    return ", ".join(one(a) for a in args)


def check_helper(name: str, fn: Callable[..., Any]) -> HelperResult:
    """The learner's helper ``fn`` against the definition of ``name`` on its grid.

    Parameters
    ----------
    name
        One of :data:`HELPERS`.
    fn
        The learner's function of that name.
    """
    helper = HELPERS[name]
    for k, args in enumerate(helper.grid()):
        want = np.asarray(helper.reference(*args), dtype=np.float64)
        fresh = tuple(np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in args)
        try:
            with contextlib.redirect_stdout(io.StringIO()), np.errstate(all="ignore"):
                got = fn(*fresh)
            got = np.asarray(got, dtype=np.float64)
        except Exception as exc:
            text = str(exc).splitlines()[0] if str(exc) else ""
            return HelperResult(name, False, f"{name}({_show(args)}) raised "
                                f"{type(exc).__name__}{': ' + text if text else ''}", k)
        if got.shape != want.shape and got.size == want.size:
            got = got.reshape(want.shape)
        with np.errstate(invalid="ignore"):
            ok = got.shape == want.shape and bool(np.all(
                np.abs(got - want) <= ATOL + RTOL * np.abs(want)))
        if not ok:
            shown = _show((got,)) if got.size < 12 else f"an array of shape {got.shape}"
            return HelperResult(name, False, f"{name}({_show(args)}) = {shown} where "
                                f"{helper.definition} gives {_show((want,))}", k)
    return HelperResult(name, True, f"{name} agrees with {helper.definition} on "
                        f"{len(helper.grid())} inputs")
