"""The course's whole run as learners write it: ``train_nn(features, targets, epochs, learnrate)
-> weights``, the weights initialised inside with the course's seed.

The StudentAdmissions notebook's training function (and the older versions of the lesson) takes
the whole run, not one epoch::

    def train_nn(features, targets, epochs, learnrate):
        np.random.seed(42)
        n_records, n_features = features.shape
        weights = np.random.normal(scale=1 / n_features**.5, size=n_features)
        for e in range(epochs):
            del_w = np.zeros(weights.shape)
            for x, y in zip(features.values, targets):
                output = sigmoid(np.dot(x, weights))
                error_term = (y - output) * output * (1 - output)
                del_w += error_term * x
            weights += learnrate * del_w / n_records
        return weights

:func:`check_whole_run` recognises it by its parameter names (an ``epochs`` parameter and no
``weights``), calls it with ``epochs=0`` (which gives the starting weights back), with 1 and with
the concept's number of epochs, and bisects — re-running with fewer epochs — for the first epoch
whose weights differ from the PyTorch twin's run of the concept's loop (``weights`` after ``E``
epochs from the same start). At that epoch the catalogue entries are run from the learner's own
weights of the epoch before, and those that reproduce its step are the diagnosis.

A concept plugs in with :func:`register` (its loop is its :class:`~.exercises.Exercise`'s
``reference``; its starting weights a function of the number of features).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from gd_compare.learner.exercises import (
    Exercise,
    ReturnError,
    Run,
    State,
    Where,
    _float_out,
    _split_loss,
    as_course_inputs,
)
from gd_compare.lesson.data import LESSON_SEED, initial_weights

__all__ = [
    "EPOCH_NAMES",
    "FUNCTION_CONCEPTS",
    "WHOLE_RUN",
    "WholeRun",
    "check_whole_run",
    "concept_for",
    "forms_of",
    "is_whole_run",
    "register",
]

#: parameter names that say "the number of epochs" (the whole-run form)
EPOCH_NAMES = frozenset({"epochs", "n_epochs", "num_epochs", "epoch", "iterations"})
#: parameter names that say "the weights to start from" (the one-epoch form)
_WEIGHT_NAMES = frozenset({"weights", "weight", "w", "W"})
#: seconds per epoch a whole-run call may take on top of ``time_limit``
_PER_EPOCH = 0.05


def _course_start(n_features: int, dtype: np.dtype) -> np.ndarray:
    """``np.random.seed(42); np.random.normal(scale=1/n_features**.5, size=n_features)``."""
    return initial_weights(n_features, seed=LESSON_SEED, dtype=dtype)


@dataclass(frozen=True)
class WholeRun:
    """One concept's whole-run form: its documented signature and its starting weights."""

    concept: str
    form: str
    start: Callable[[int, np.dtype], np.ndarray] = _course_start


#: concept → its whole-run form (the sibling notebooks' concepts register theirs)
WHOLE_RUN: dict[str, WholeRun] = {
    "mse_training": WholeRun("mse_training",
                             "train_nn(features, targets, epochs, learnrate) -> weights "
                             "(the whole run)"),
    "student_admissions": WholeRun("student_admissions",
                                   "train_nn(features, targets, epochs, learnrate) -> weights "
                                   "(the whole run of the notebook's loop)"),
}

#: the course's learner function names → the concept they are checked against by default
FUNCTION_CONCEPTS: dict[str, str] = {"train_nn": "mse_training"}  # or student_admissions: its loop


def register(form: WholeRun, names: tuple[str, ...] = ()) -> None:
    """Add a concept's whole-run form (and the function names that default to it)."""
    WHOLE_RUN[form.concept] = form
    for name in names:
        FUNCTION_CONCEPTS[name] = form.concept


def forms_of(concept: str) -> tuple[str, ...]:
    """The whole-run form of ``concept`` as documented (empty when it has none)."""
    return (WHOLE_RUN[concept].form,) if concept in WHOLE_RUN else ()


def concept_for(fn: Callable[..., Any]) -> str:
    """The concept a function's course name decides; a ``ValueError`` asks for one otherwise."""
    name = getattr(fn, "__name__", "")
    if name == "train_nn":
        from gd_compare.learner.submission import loop_concept

        return loop_concept(fn)  # the loop its source uses decides
    if name in FUNCTION_CONCEPTS:
        return FUNCTION_CONCEPTS[name]
    raise ValueError(f"concept: {name or 'the function'!r} is not one of the course's names "
                     f"({', '.join(FUNCTION_CONCEPTS)}): give the concept")


def _names(fn: Callable[..., Any]) -> list[str]:
    try:
        return list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return []


def is_whole_run(ex: Exercise, fn: Callable[..., Any]) -> bool:
    """True when ``ex`` has a whole-run form and ``fn`` takes a number of epochs, no weights."""
    names = set(_names(fn))
    return ex.name in WHOLE_RUN and bool(names & EPOCH_NAMES) and not names & _WEIGHT_NAMES


@dataclass
class _Runner:
    """Calls of the learner's whole run, remembered by the number of epochs."""

    fn: Callable[..., Any]
    name: str
    run: Run
    limit: float | None
    pandas: bool = False
    seen: dict[int, np.ndarray] = dataclasses.field(default_factory=dict)

    def __call__(self, epochs: int, lr: float | None = None) -> np.ndarray:
        from gd_compare.learner.check import _call, _Failed

        key = epochs if lr is None else None
        if key is not None and key in self.seen:
            return self.seen[key]
        args = (self.run.X.copy(), self.run.y.copy(), epochs,
                self.run.lr if lr is None else lr)
        limit = None if not self.limit else self.limit + _PER_EPOCH * epochs
        try:
            result = _call(self.fn, as_course_inputs(args) if self.pandas else args, limit)
        except _Failed as exc:
            if self.pandas or "'numpy.ndarray' object has no attribute" not in str(exc):
                raise
            self.pandas = True  # it reads features.values: the course's DataFrame and Series
            self.seen.clear()
            return self(epochs, lr)
        try:
            result, _ = _split_loss(result, 1)
            w = _float_out("weights", result, self.run.start[0].shape, self.run.dtype)
        except ReturnError as exc:
            raise _Failed(exc.problem, f"{self.name}(..., epochs={epochs}, ...) {exc}") from None
        w = np.array(w, dtype=np.float64).reshape(self.run.start[0].shape)
        if key is not None:
            self.seen[key] = w
        return w


def _reference(ex: Exercise, run: Run, states: list[State], upto: int) -> list[State]:
    """The twin's weights after 0..``upto`` epochs (extends ``states``)."""
    while len(states) <= upto:
        e = len(states) - 1
        states.append(ex.reference(run, run.X, run.y, states[-1], Where(e + 1, e))[1])
    return states


def check_whole_run(fn: Callable[..., Any], ex: Exercise, *, dtype: str = "float64",
                    rtol: float | None = None, atol: float | None = None,
                    time_limit: float | None = 10.0, ratios: dict[float, str] | None = None,
                    **params: Any):
    """Check the whole-run ``fn`` against the concept's loop; the first wrong epoch found by
    bisection, diagnosed from the learner's own weights the epoch before.

    Parameters
    ----------
    fn
        ``train_nn(features, targets, epochs, learnrate) -> weights``.
    ex
        The concept's exercise (its ``reference`` is the loop held against).
    dtype, rtol, atol
        As :func:`gd_compare.learner.check.check`.
    time_limit
        Seconds a call may take, plus 0.05 s per epoch.
    **params
        The concept's parameters (``lr``, ``epochs``, ``features``, ``targets``, ``seed``).
    """
    from gd_compare.learner.check import CheckResult, _Failed
    from gd_compare.proof.harness import DEFAULT_TOLERANCE

    run = ex.start({k: v for k, v in params.items() if k != "epoch_form"}, dtype)
    name = getattr(fn, "__name__", type(fn).__name__)
    base = {"concept": ex.name, "function": name, "dtype": run.dtype.name}
    d_rtol, d_atol = DEFAULT_TOLERANCE[run.dtype.name]
    tol = (d_rtol if rtol is None else float(rtol), d_atol if atol is None else float(atol))
    form = WHOLE_RUN[ex.name]
    if len(_names(fn)) < 4 and not _accepts(fn, 4):
        return CheckResult(**base, passed=False, steps=0, problem="signature",
                           message=f"{name}{inspect.signature(fn)} does not fit {form.form}")
    calls = _Runner(fn, name, run, time_limit)
    notes: list[str] = []
    try:
        w0 = calls(0)
        start = form.start(run.X.shape[1], run.dtype).astype(np.float64)
        if _differ(w0, start, tol):
            if _differ(calls(0, run.lr), w0, tol):
                raise _Failed("wrong values", f"{name} starts from other weights at every call: "
                              f"seed the generator first (np.random.seed({LESSON_SEED})) as "
                              f"the course does")
            notes.append(f"{name} does not start from the course's weights (np.random.seed("
                         f"{LESSON_SEED}); np.random.normal(scale=1/n_features**.5, "
                         f"size=n_features)); checked from its own start")
        states: list[State] = [(w0.astype(run.dtype),)]
        epochs = len(run.plan)
        first = _first_wrong(calls, ex, run, states, epochs, tol)
        if calls.pandas and _differ(calls(0), w0, tol):  # switched to pandas after epochs=0
            states[:] = [(calls(0).astype(run.dtype),)]
            first = _first_wrong(calls, ex, run, states, epochs, tol)
    except _Failed as exc:
        return CheckResult(**base, passed=False, steps=0, problem=exc.problem, message=str(exc),
                           inputs="pandas" if calls.pandas else "arrays", notes=tuple(notes))
    inputs = "pandas" if calls.pandas else "arrays"
    if first is None:
        worst = float(np.max(np.abs(calls(epochs) - states[epochs][0])))
        return CheckResult(**base, passed=True, steps=epochs, max_abs_diff={"weights": worst},
                           inputs=inputs, notes=tuple(notes))
    result = _diagnose(calls, ex, run, states, first, tol, base, ratios or {})
    return dataclasses.replace(result, inputs=inputs, notes=tuple(notes))


def _accepts(fn: Callable[..., Any], n: int) -> bool:
    try:
        inspect.signature(fn).bind(*range(n))
        return True
    except TypeError:
        return False


def _differ(a: np.ndarray, b: np.ndarray, tol: tuple[float, float]) -> bool:
    from gd_compare.learner.check import _bad

    return bool(np.shape(a) != np.shape(b) or _bad(a, b, *tol).any())


def _first_wrong(calls: _Runner, ex: Exercise, run: Run, states: list[State], epochs: int,
                 tol: tuple[float, float]) -> int | None:
    """The first epoch (1-based) whose weights differ from the twin's; None: all agree."""
    def wrong(e: int) -> bool:
        return _differ(calls(e), _reference(ex, run, states, e)[e][0], tol)

    if epochs == 0:
        return None
    if wrong(1):
        return 1
    if not wrong(epochs):
        return None
    lo, hi = 1, epochs  # lo right, hi wrong
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if wrong(mid) else (mid, hi)
    return hi


def _diagnose(calls: _Runner, ex: Exercise, run: Run, states: list[State], k: int,
              tol: tuple[float, float], base: dict[str, Any], ratios: dict[float, str]):
    """The catalogue entries that reproduce epoch ``k`` from the learner's weights at ``k-1``."""
    from gd_compare.learner.check import (
        CheckResult,
        _candidates,
        _Ctx,
        _describe,
        _first_bad,
        _mistake_step,
        _pattern,
        _same,
    )

    got = {"weights": calls(k)}
    prev = (calls(k - 1).astype(run.dtype),)
    where = run.plan[k - 1]
    want_state = ex.reference(run, run.X, run.y, prev, where)[1]
    want = {"weights": np.asarray(want_state[0])}
    ctx = _Ctx(calls.fn, calls.name, ex, run, *tol, calls.limit,
               history=[*states[:k - 1], prev], whole_run=True,
               ratios={float(run.X.shape[0]): f"n_records, {run.X.shape[0]}",
                       float(run.X.shape[1]): f"n_features, {run.X.shape[1]}"} | ratios)
    found = [m for m in _candidates(ctx) if (out := _mistake_step(ctx, m, run, where))
             is not None and _same(ctx, (got, None), out)]
    if len(found) > 1 and k == 1:
        found = _probe(calls, ctx, found) or found
    quantity, index, mine, theirs = _first_bad(got, want, None, None, *tol)
    label = quantity + (f"[{', '.join(map(str, index))}]" if index else "")
    message = (f"{label} after {k} epoch(s) = {mine:.10g} where PyTorch autograd's run of the "
               f"{ex.name} loop gives {theirs:.10g} (|Δ| {abs(mine - theirs):.3g}); the first "
               f"wrong epoch (found by re-running with fewer epochs)")
    if found:
        first, *rest = found
        diagnosis = _describe(first)
        if rest:
            diagnosis += " (the same numbers as: " + "; ".join(m.title for m in rest) + ")"
    else:
        diagnosis = _pattern(ctx, prev, got, want, None, None, True)
        if _same_step(calls, k, tol):
            diagnosis += ("; its step is the same at every epoch — it does not depend on the "
                          "weights (the forward pass does not use them)")
    return CheckResult(**base, passed=False, steps=k, problem="wrong values", message=message,
                       step=k, epoch=k - 1, quantity=quantity, index=index, learner_value=mine,
                       autograd_value=theirs, matches=tuple(m.name for m in found),
                       diagnosis=diagnosis)


def _probe(calls: _Runner, ctx: Any, found: list) -> list:
    """Several entries reproduce epoch 1: keep those that still agree at another lr."""
    from gd_compare.learner.check import _PROBE_LR_FACTOR, _Failed, _mistake_step, _same

    probe = dataclasses.replace(ctx.run, lr=ctx.run.lr * _PROBE_LR_FACTOR)
    try:
        mine = {"weights": calls(1, probe.lr)}
    except _Failed:
        return found
    return [m for m in found if (out := _mistake_step(ctx, m, probe, probe.plan[0])) is not None
            and _same(ctx, (mine, None), out)]


def _same_step(calls: _Runner, k: int, tol: tuple[float, float]) -> bool:
    """Is the learner's change at epoch ``k`` the same as at ``k + 1``?"""
    from gd_compare.learner.check import _Failed

    try:
        a, b, c = calls(k - 1), calls(k), calls(k + 1)
    except _Failed:
        return False
    return not _differ(b - a, c - b, (1e-9, 1e-15))
