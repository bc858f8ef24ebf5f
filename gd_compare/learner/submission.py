"""Check a learner's whole submission — a ``.py`` file or a ``.ipynb`` notebook — one row per
course function it defines.

>>> from gd_compare.learner.submission import check_submission
>>> for row in check_submission("StudentAdmissions.ipynb"):
...     print(row.verdict, row.function, row.message)

The submission runs in a separate process (:mod:`gd_compare.learner.notebook`); the functions
are found by the course's names (:data:`STEP_FUNCTIONS`, :data:`gd_compare.learner.helpers.HELPERS`)
or ``function=``. A step function is checked by :func:`gd_compare.learner.check.check` (lockstep
with autograd, the first wrong step, the mistake named, the second points); a helper on a grid
of inputs. A learner's code never raises out of :func:`check_submission`: every problem is a
``FAIL`` or ``MISSING`` row with one line. Only usage errors raise: a path that does not exist
(``FileNotFoundError``), a file that is neither ``.py`` nor ``.ipynb`` or an unknown concept
(``ValueError``), each naming the argument.
"""

from __future__ import annotations

import ast
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["STEP_FUNCTIONS", "FunctionReport", "check_function", "check_submission",
           "course_names", "loop_concept"]

#: the course's learner function names → the concepts they may implement, in order: the first
#: whose forms the function's parameters fit is the one it is checked against (the sibling
#: notebooks' concepts add theirs)
STEP_FUNCTIONS: dict[str, tuple[str, ...]] = {
    "train_nn": ("mse_training", "student_admissions"),
    "train_epoch": ("mse_training", "backprop"),
    "sigmoid_exercise": ("sigmoid_exercise",),
    "backprop_exercise": ("backprop_exercise",),
    "error_term_formula": ("error_term_formula",),
    "update_weights": ("update_weights",),
}


#: check()'s own options, passed to every step function's check
_CHECK_OPTIONS = frozenset({"dtype", "rtol", "atol", "time_limit", "second_point"})


@dataclass(frozen=True)
class FunctionReport:
    """One function of a submission and its verdict (``step``/``epoch``/``batch``/``record``
    as :class:`~gd_compare.learner.check.CheckResult`: step 1-based, the others 0-based)."""

    #: the submission's path as given
    file: str
    #: the function's name in the file/notebook ('' for a row about the whole submission)
    function: str
    #: the concept it was checked against (None: a helper like sigmoid)
    concept: str | None
    #: "PASS" | "FAIL" | "MISSING"
    verdict: str
    step: int | None
    epoch: int | None
    batch: int | None
    record: int | None
    #: the catalogue mistake named, or None
    diagnosis: str | None
    #: one line a learner reads
    message: str
    seconds: float
    #: the code cell (numbered from 1 as Jupyter lists them) a row about a raising cell names
    cell: int | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready (the CLI's ``--json``)."""
        return dataclasses.asdict(self)


def course_names(concept: str | None = None) -> list[str]:
    """The function names a submission is searched for (step functions, then helpers); with
    ``concept``, the step functions that may implement it."""
    from gd_compare.learner.helpers import HELPERS

    steps = [n for n, cs in STEP_FUNCTIONS.items() if concept is None or concept in cs]
    return steps + [h for h in HELPERS if h not in steps]


def _concept_of(name: str, fn: Callable[..., Any], concept: str | None) -> str | None:
    """The concept ``fn`` is checked against: ``concept`` when given, else the first of its
    name's concepts whose forms its parameters fit (the first one when none fits, so that the
    check names the misfit)."""
    from gd_compare.learner import whole_run
    from gd_compare.learner.exercises import get_exercise, signature_problem

    if concept is not None:
        return concept
    candidates = STEP_FUNCTIONS.get(name, ())
    if name == "train_nn":
        return loop_concept(fn)
    for c in candidates:
        ex = get_exercise(c)
        if whole_run.is_whole_run(ex, fn) or signature_problem(ex, fn) is None:
            return c
    return candidates[0] if candidates else None


def loop_concept(fn: Callable[..., Any]) -> str:
    """The concept whose loop a ``train_nn`` uses, read from its source: ``del_w +=
    error_term`` (the error term holds x; StudentAdmissions' current loop) →
    ``student_admissions``; else (``del_w += error_term * x``, the lesson's loop and the older
    notebook's) → ``mse_training``."""
    import inspect
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return "mse_training"
    return "student_admissions" if _adds_bare_error_term(tree) else "mse_training"


_PRODUCTS = (ast.Mult, ast.MatMult)
_PRODUCT_CALLS = {"dot", "outer", "multiply", "matmul", "einsum", "inner"}


def _adds_bare_error_term(tree: ast.AST) -> bool:
    """Whether an accumulation (``s += e``, ``s = s + e``) adds the error term with no product:
    the current loop's ``del_w += error_term`` in any spelling (``del_w = del_w + error_term``,
    ``delta_w += np.array(error_term, dtype=float)``), not ``del_w += error_term * x``. The
    error term is ``error_term`` or whatever name ``error_term_formula(...)`` is assigned to."""
    names = {"error_term"}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                and _call_name(node.value) == "error_term_formula"):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    for node in ast.walk(tree):
        added = None
        if isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add):
            added = node.value
        elif (isinstance(node, ast.Assign) and len(node.targets) == 1
              and isinstance(node.targets[0], ast.Name) and isinstance(node.value, ast.BinOp)
              and isinstance(node.value.op, ast.Add)):
            target = node.targets[0].id
            sides = (node.value.left, node.value.right)
            for mine, other in (sides, sides[::-1]):
                if isinstance(mine, ast.Name) and mine.id == target:
                    added = other
        if added is None:
            continue
        used = {n.id for n in ast.walk(added) if isinstance(n, ast.Name)}
        product = any((isinstance(n, ast.BinOp) and isinstance(n.op, _PRODUCTS))
                      or (isinstance(n, ast.Call) and _call_name(n) in _PRODUCT_CALLS)
                      for n in ast.walk(added))
        if used & names and not product:
            return True
    return False


def _call_name(call: ast.Call) -> str | None:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def check_function(file: str, name: str, fn: Any, concept: str | None,
                   params: dict[str, Any]) -> dict[str, Any]:
    """One row: the learner's ``fn`` (called ``name`` in ``file``) checked as a step function
    of ``concept`` (or of the concept its name decides), or as a helper."""
    from gd_compare.learner.helpers import HELPERS, check_helper

    start = time.perf_counter()
    row = {"file": file, "function": name, "concept": None, "step": None, "epoch": None,
           "batch": None, "record": None, "diagnosis": None, "cell": None}
    try:
        if not callable(fn):
            return row | {"verdict": "MISSING", "message": f"{name} is a "
                          f"{type(fn).__name__}, not a function", "seconds": 0.0}
        if name in HELPERS and (concept is None or name not in STEP_FUNCTIONS):
            h = check_helper(name, fn)
            return row | {"verdict": "PASS" if h.passed else "FAIL", "message": h.message,
                          "seconds": round(time.perf_counter() - start, 3)}
        from gd_compare.learner.check import check

        c = _concept_of(name, fn, concept)
        if c is None:
            c_name = concept or "a concept"
            return row | {"verdict": "MISSING", "seconds": 0.0,
                          "message": f"{name} is not one of the course's functions: give "
                          f"{c_name} and the function's concept"}
        from gd_compare.learner.exercises import get_exercise

        known = set(get_exercise(c).defaults) | _CHECK_OPTIONS
        r = check(fn, c, **{k: v for k, v in params.items() if k in known})
    except (ValueError, TypeError) as exc:  # parameters that do not fit this concept
        return row | {"verdict": "FAIL", "message": _one_line(f"{name}: {exc}"),
                      "seconds": round(time.perf_counter() - start, 3)}
    where = r.where()
    text = r.message if r.passed is False else str(r).splitlines()[0]
    if not r.passed:
        text = f"{where}: {text}" if where else text
        if r.diagnosis:
            text += f" — diagnosis: {r.diagnosis}"
    elif r.second_point:
        text += f"; also right {r.second_point}"
    return row | {"concept": c, "verdict": "PASS" if r.passed else "FAIL",
                  "step": r.step, "epoch": r.epoch, "batch": r.batch, "record": r.record,
                  "diagnosis": r.matches[0] if r.matches else None,
                  "message": _one_line(text), "seconds": round(time.perf_counter() - start, 3)}


def check_submission(path: str | Path, *, concept: str | None = None,
                     function: str | None = None, time_limit: float = 120.0,
                     **params: Any) -> list[FunctionReport]:
    """Every course function ``path`` defines, checked: one :class:`FunctionReport` each.

    Parameters
    ----------
    path
        A learner's ``.py`` file or ``.ipynb`` notebook.
    concept
        Check the step functions against this concept (default: the concept each function's
        name and parameters decide; ``train_nn`` → ``mse_training``).
    function
        Check only this function (any name; ``concept`` then says what it implements).
    time_limit
        Seconds the notebook's cells may take (the checks get their own limits on top).
    **params
        The concept's parameters for the checks (``lr``, ``epochs``, ...; see
        :func:`gd_compare.learner.check.check`).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        ``path`` is not ``.py``/``.ipynb``, ``concept`` is unknown, or ``time_limit`` is not a
        positive number.
    """
    from gd_compare.learner.exercises import get_exercise
    from gd_compare.learner.notebook import run_submission

    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"path: no such file {str(path)!r}")
    if file.suffix not in (".py", ".ipynb"):
        raise ValueError(f"path: expected a .py file or a .ipynb notebook, got {str(path)!r}")
    if concept is not None:
        get_exercise(concept)
    if isinstance(time_limit, bool) or not isinstance(time_limit, (int, float)) \
            or not time_limit > 0:
        raise ValueError(f"time_limit: expected a positive number of seconds, got "
                         f"{time_limit!r}")
    if function is not None and not str(function).isidentifier():
        raise ValueError(f"function: expected a function name, got {function!r}")
    rows = run_submission(file, concept=concept, function=function,
                          time_limit=float(time_limit), params=params)
    fields = {f.name for f in dataclasses.fields(FunctionReport)}
    return [FunctionReport(**{k: v for k, v in row.items() if k in fields}) for row in rows]
