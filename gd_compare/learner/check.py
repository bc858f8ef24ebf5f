"""Check a learner's own code: their function in lockstep with PyTorch autograd, the first wrong
step, and the classic mistake that explains it.

>>> from gd_compare.learner.check import check
>>> result = check(my_epoch, "mse_training", epochs=50)
>>> result.passed, result.step, result.diagnosis

:func:`check` calls the learner's function once per step, each time from the state the PyTorch
twin (:mod:`gd_compare.torch_backend`: ``loss.backward()``, ``torch.optim.SGD``) is in, and
compares what it returns with the twin's step from that same state (tolerances as the harness:
1e-12 in float64, 1e-5 in float32). At the first step that differs it stops and *computes* a
diagnosis: every entry of :mod:`gd_compare.learner.mistakes` for the concept is run from the same
state
(a mistake that keeps state between calls is replayed from the first step), and the entries whose
step reproduces the learner's are named. When none does, the pattern is described (the ratio to
autograd's change, its sign, which layer). The learner-shaped signatures are listed in
:mod:`gd_compare.learner.exercises`.

A learner function that raises, returns something of the wrong shape or dtype, returns NaN, or
runs past ``time_limit`` seconds gets a :class:`CheckResult` with one clear message — never a
traceback from here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import io
import signal
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gd_compare.learner._where import describe
from gd_compare.learner.exercises import (
    Exercise,
    ReturnError,
    Run,
    State,
    Where,
    as_course_inputs,
    get_exercise,
    signature_problem,
    takes_rng,
)
from gd_compare.learner.mistakes import Mistake, for_concept
from gd_compare.proof.harness import DEFAULT_TOLERANCE, thread_policy

__all__ = ["CheckResult", "check"]

#: the learning-rate factor of the probe that tells apart mistakes that coincide at one lr
_PROBE_LR_FACTOR = 0.3
#: at most this many records are tried when finding the first record where a mistake shows
_MAX_RECORDS = 400


@dataclass(frozen=True)
class CheckResult:
    """What :func:`check` found. ``step`` (1-based update), ``epoch`` and ``batch`` (0-based),
    ``record`` (the row of ``features`` at which a wrong step first shows: the step is right
    on the rows before it alone) are ``None`` where they do not apply or when it passed."""

    concept: str
    function: str
    passed: bool
    dtype: str
    #: steps compared (all of them when it passed)
    steps: int
    #: None when passed; else "wrong values", "wrong shape", "wrong dtype", "wrong return",
    #: "returned None", "wrong type", "not finite", "raised", "timeout"
    problem: str | None = None
    message: str = ""
    step: int | None = None
    epoch: int | None = None
    batch: int | None = None
    record: int | None = None
    quantity: str | None = None
    index: tuple[int, ...] | None = None
    learner_value: float | None = None
    autograd_value: float | None = None
    #: the catalogue entries that reproduce the learner's wrong step (names)
    matches: tuple[str, ...] = ()
    diagnosis: str | None = None
    #: largest |learner − autograd| per quantity over the steps compared
    max_abs_diff: dict[str, float] = field(default_factory=dict)
    #: what ``features, targets`` were given as: "arrays", or "pandas" (the course's DataFrame
    #: and Series, when the function reads a pandas attribute such as ``features.values``)
    inputs: str = "arrays"
    #: the second points also checked (another lr, other data, ...), or what they found
    second_point: str | None = None
    #: remarks that are not failures (a shape the exercise itself fixes)
    notes: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.passed

    def where(self) -> str:
        """``step 3 (epoch 0, batch 2, record 17)``."""
        if self.step is None:
            return ""
        parts = [f"{k} {v}" for k, v in (("epoch", self.epoch), ("batch", self.batch),
                                          ("record", self.record)) if v is not None]
        return f"step {self.step}" + (f" ({', '.join(parts)})" if parts else "")

    def __str__(self) -> str:
        head = f"{self.concept}: {self.function}"
        given = (" — given the course's pandas DataFrame/Series (it reads a pandas attribute)"
                 if self.inputs == "pandas" else "")
        if self.passed:
            worst = max(self.max_abs_diff.values(), default=0.0)
            text = (f"{head} agrees with PyTorch autograd at all {self.steps} step(s) "
                    f"({self.dtype}, max |Δ| {worst:.2g}){given}")
            if self.second_point:
                text += f"\n  also right {self.second_point}"
        else:
            where = self.where()
            text = f"{head}{' — ' + where if where else ''}: {self.message}{given}"
            if self.diagnosis:
                text += f"\n  diagnosis: {self.diagnosis}"
        for note in self.notes:
            text += f"\n  note: {note}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the CLI's ``--json``)."""
        d = dataclasses.asdict(self)
        d["index"] = list(self.index) if self.index is not None else None
        d["matches"] = list(self.matches)
        d["notes"] = list(self.notes)
        return d


class _TimeLimit(BaseException):
    """Raised inside the learner's code when it runs past the time limit (a BaseException, so
    that a learner's ``except Exception`` does not swallow it)."""


class _Failed(Exception):  # noqa: N818 — internal: the learner's call went wrong
    def __init__(self, problem: str, message: str) -> None:
        super().__init__(message)
        self.problem = problem


def _where_in_learner(exc: BaseException, fn: Callable[..., Any]) -> str:
    """``line 12 of epoch.py, in my_epoch`` (``cell 7, line 3, in my_epoch`` in a notebook): the
    deepest frame in the learner's file."""
    code = getattr(fn, "__code__", None) or getattr(type(fn).__call__, "__code__", None)
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if code is not None and f.filename == code.co_filename]
    frame = (mine or frames[-1:] or [None])[-1]
    if frame is None:
        return ""
    return f" ({describe(frame.filename, frame.lineno, frame.name)})"


def _alarm(signum, frame):  # pragma: no cover - runs inside the learner's code
    raise _TimeLimit


def _run_limited(fn: Callable[..., Any], args: tuple, limit: float | None) -> Any:
    if not limit:
        return fn(*args)
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, limit)
        try:
            return fn(*args)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as exc:
            box["error"] = exc

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(limit)
    if worker.is_alive():
        raise _TimeLimit
    if "error" in box:
        raise box["error"]
    return box["value"]


def _call(fn: Callable[..., Any], args: tuple, limit: float | None) -> Any:
    """The learner's ``fn(*args)``: its printing swallowed, numpy's warnings off; what goes
    wrong becomes a :class:`_Failed` with one line."""
    name = getattr(fn, "__name__", type(fn).__name__)
    try:
        with contextlib.redirect_stdout(io.StringIO()), np.errstate(all="ignore"):
            return _run_limited(fn, args, limit)
    except _TimeLimit:
        raise _Failed("timeout", f"{name} did not return within {limit:g} s") from None
    except Exception as exc:
        text = str(exc).splitlines()[0] if str(exc) else ""
        raise _Failed("raised", f"{name} raised {type(exc).__name__}"
                      f"{': ' + text if text else ''}{_where_in_learner(exc, fn)}") from None


# --------------------------------------------------------------------------- comparing


def _bad(a: np.ndarray, b: np.ndarray, rtol: float, atol: float) -> np.ndarray:
    a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        diff = np.abs(a64 - b64)
        scale = np.maximum(np.abs(a64), np.abs(b64))
        return ~((diff <= atol + rtol * np.where(np.isfinite(scale), scale, 0.0)) | (a64 == b64))


def _agree(got: dict[str, np.ndarray], want: dict[str, np.ndarray], rtol: float,
           atol: float) -> bool:
    return all(np.shape(got[q]) == np.shape(want[q]) and not _bad(got[q], want[q], rtol,
                                                                   atol).any() for q in want)


@dataclass
class _Ctx:
    fn: Callable[..., Any]
    name: str
    ex: Exercise
    run: Run
    rtol: float
    atol: float
    limit: float | None
    history: list[State] = field(default_factory=list)
    #: give the learner's function the course's pandas objects instead of arrays
    pandas: bool = False
    #: ratios of the learner's change to autograd's that name a quantity ({360.0: "n_records"})
    ratios: dict[float, str] = field(default_factory=dict)
    #: the learner's function is a whole run (train_nn): it cannot be started from a state
    whole_run: bool = False


def _learner_step(ctx: _Ctx, fn: Callable[..., Any], run: Run, where: Where, state: State,
                  session: dict[str, Any], rows: int | None = None):
    """One call of ``fn`` from ``state`` on the step's rows (the first ``rows`` of them)."""
    X, y = ctx.ex.rows(run, where)
    if rows is not None:
        X, y = X[:rows], y[:rows]
    args = ctx.ex.args(run, X, y, state, session)
    if ctx.pandas and fn is ctx.fn and X is not None:
        args = as_course_inputs(args)
    result = _call(fn, args, ctx.limit)
    try:
        return ctx.ex.read(run, result, args)
    except ReturnError as exc:
        raise _Failed(exc.problem, f"{ctx.name} {exc}") from None


# --------------------------------------------------------------------------- the diagnosis


def _mistake_step(ctx: _Ctx, m: Mistake, run: Run, where: Where):
    """The catalogue entry's result at ``where`` from the same state (replayed from step 1
    when it keeps state between calls); None when it fails."""
    try:
        if not m.stateful:
            k = where.step
            return _learner_step(ctx, _wrapped(ctx.ex, m.implementation, run), run, where,
                                 ctx.history[k - 1], run.session(k))
        fn, session = _wrapped(ctx.ex, m.learner(), run), run.session()
        out = None
        for w in run.plan[:where.step]:
            out = _learner_step(ctx, fn, run, w, ctx.history[w.step - 1], session)
        return out
    except _Failed:
        return None


def _wrapped(ex: Exercise, fn: Callable[..., Any], run: Run) -> Callable[..., Any]:
    """The step function of ``fn``: itself, or the course's loop around it (``Exercise.wrap``)."""
    return fn if ex.wrap is None else ex.wrap(fn, run)


def _same(ctx: _Ctx, a, b) -> bool:
    (qa, la), (qb, lb) = a, b
    if not _agree(qa, qb, ctx.rtol, ctx.atol):
        return False
    if la is None or lb is None:  # a loss the learner did not report is not compared
        return la is None
    return not _bad(np.asarray(la), np.asarray(lb), ctx.rtol, ctx.atol).any()


def _candidates(ctx: _Ctx) -> list[Mistake]:
    out = []
    for m in for_concept(ctx.ex.name):
        if m.needs_torch:
            try:
                import torch  # noqa: F401
            except ImportError:  # pragma: no cover - check needs torch for the twin anyway
                continue
        if ctx.run.epoch_form != takes_rng(m.learner()):
            continue
        out.append(m)
    return out


def _matching(ctx: _Ctx, where: Where, got) -> list[Mistake]:
    """The catalogue entries whose step from the learner's state reproduces ``got``; when
    several do, a second step at another learning rate (learner and entries, same state)
    keeps those that still agree."""
    found = [m for m in _candidates(ctx) if (out := _mistake_step(ctx, m, ctx.run, where))
             is not None and _same(ctx, got, out)]
    if len(found) < 2 or not _reproducible(ctx, where, got):
        return found
    probe = dataclasses.replace(ctx.run, lr=ctx.run.lr * _PROBE_LR_FACTOR)
    try:
        mine = _learner_step(ctx, ctx.fn, probe, where, ctx.history[where.step - 1],
                             probe.session(where.step))
    except _Failed:
        return found
    kept = [m for m in found if m.stateful or ((out := _mistake_step(ctx, m, probe, where))
                                               is not None and _same(ctx, mine, out))]
    return kept or found


def _reproducible(ctx: _Ctx, where: Where, got) -> bool:
    """Does the learner's function give the same step again from the same state? (Not when
    it keeps something between calls.)"""
    try:
        again = _learner_step(ctx, ctx.fn, ctx.run, where, ctx.history[where.step - 1],
                              ctx.run.session(where.step))
    except _Failed:
        return False
    return _same(ctx, got, again)


def _describe(m: Mistake) -> str:
    return f"{m.title} — {m.explanation}. Fix: {m.fix}"


def _pattern(ctx: _Ctx, state: State, got: dict[str, np.ndarray], want: dict[str, np.ndarray],
             loss: float | None, ref_loss: float | None, reproducible: bool) -> str:
    """No catalogue entry reproduces the step: describe it — which quantities are right, and
    for the first wrong one the ratio of the learner's change to autograd's."""
    names = list(want)
    wrong = [q for q in names if np.shape(got[q]) != np.shape(want[q])
             or _bad(got[q], want[q], ctx.rtol, ctx.atol).any()]
    parts = []
    if not wrong:
        text = (f"the weights are right, the loss is not: {loss!r} where the loss at the "
                f"weights the step was taken from is {ref_loss!r}")
        return text if reproducible else text + "; the function keeps state between calls"
    if len(names) > 1:
        right = [q for q in names if q not in wrong]
        parts.append(f"{', '.join(wrong)} wrong" + (f", {', '.join(right)} right" if right
                                                     else ""))
    q = wrong[0]
    k = names.index(q)
    base = state[k] if ctx.ex.returns_weights and k < len(state) else 0.0
    g = np.reshape(np.asarray(got[q], dtype=np.float64), np.shape(want[q]))  # same size
    dl = np.ravel(g - base)
    dr = np.ravel(np.asarray(want[q], dtype=np.float64) - base)
    what = "change" if ctx.ex.returns_weights else "value"
    if np.shape(got[q]) != np.shape(want[q]) and not _bad(dl, dr, ctx.rtol, ctx.atol).any():
        parts.append(f"right values, wrong shape: {q} has shape {np.shape(got[q])}, expected "
                     f"{np.shape(want[q])}")
    elif not np.any(dl) and np.any(dr):
        parts.append(f"{q} did not change: return the updated {q} (or update it in place)")
    else:
        mask = np.abs(dr) > 1e-300
        ratios = dl[mask] / dr[mask] if mask.any() else np.array([np.inf])
        r0 = float(np.median(ratios))
        if np.all(np.abs(ratios - r0) <= 1e-6 * max(1.0, abs(r0))):
            if abs(r0 + 1) <= 1e-6:
                parts.append(f"every {what} of {q} has autograd's size and the opposite sign "
                             f"(a step uphill)")
            else:
                sign = " and the opposite sign" if r0 < 0 else ""
                parts.append(f"every {what} of {q} is {abs(r0):.6g}× autograd's{sign}"
                             + _named_ratio(ctx, abs(r0)))
        else:
            parts.append(f"the {what} of {q} differs from autograd's in direction, not only in "
                         f"size (ratios {np.min(ratios):.3g} … {np.max(ratios):.3g})")
    if not reproducible:
        parts.append("the function gives another result when called again from the same "
                     "state: it keeps something between calls")
    elif not ctx.whole_run and ctx.ex.returns_weights and _ignores_weights(ctx, state, got, q):
        parts.append("the step does not depend on the weights at all (the same change from "
                     "other weights): the forward pass does not use the weights")
    return "no catalogue mistake reproduces this step; " + "; ".join(parts)


def _ignores_weights(ctx: _Ctx, state: State, got: dict[str, np.ndarray], q: str) -> bool:
    """Does the learner take the same step from other weights (where autograd does not)?"""
    where = next((w for w in ctx.run.plan if w.step == len(ctx.history)), None)
    k = list(got).index(q)
    if where is None or k >= len(state):
        return False
    other = tuple(np.asarray(a) * 0.5 + 0.25 for a in state)
    try:
        got2, _ = _learner_step(ctx, ctx.fn, ctx.run, where, other,
                                ctx.run.session(where.step))
    except _Failed:
        return False
    X, y = ctx.ex.rows(ctx.run, where)
    want2 = ctx.ex.reference(ctx.run, X, y, other, where)[0]
    d1 = np.asarray(got[q], np.float64).reshape(np.shape(state[k])) - state[k]
    d2 = np.asarray(got2[q], np.float64).reshape(np.shape(state[k])) - other[k]
    dr = np.asarray(want2[q], np.float64) - other[k]
    return (not _bad(d1, d2, 1e-9, 1e-15).any()) and _bad(d2, dr, 1e-9, 1e-15).any()


def _named_ratio(ctx: _Ctx, r: float) -> str:
    """`` (= n_records, 360)`` when the ratio ``r`` or its inverse is a quantity the lesson
    names."""
    for value, name in ctx.ratios.items():
        for v, how in ((value, ""), (1 / value, "1/")):
            if v and abs(r - v) <= 1e-6 * max(1.0, v):
                return f" (= {how}{name})"
    return ""


def _first_record(ctx: _Ctx, where: Where, state: State) -> int | None:
    """The first row r of the step's batch such that the step on rows[:r+1] alone is wrong."""
    if not ctx.ex.by_record or ctx.run.epoch_form:
        return None
    Xr, yr = ctx.ex.rows(ctx.run, where)
    rows = np.arange(len(ctx.run.y))[where.rows] if where.rows is not None else None
    for r in range(1, min(len(Xr), _MAX_RECORDS) + 1):
        try:
            got = _learner_step(ctx, ctx.fn, ctx.run, where, state, {}, rows=r)
        except _Failed:
            return None
        want, _, ref_loss = ctx.ex.reference(ctx.run, Xr[:r], yr[:r], state, where)
        if not _same(ctx, got, (want, ref_loss if got[1] is not None else None)):
            return int(r - 1 if rows is None else rows[r - 1])
    return None


# --------------------------------------------------------------------------- check


def _first_bad(got: dict[str, np.ndarray], want: dict[str, np.ndarray], loss, ref_loss,
               rtol: float, atol: float):
    """(quantity, index, learner value, autograd value, same-size-but-shape) of the first
    disagreement, or None."""
    for q, w in want.items():
        g = got[q]
        if np.shape(g) != np.shape(w):
            return q, None, None, None
        bad = _bad(g, w, rtol, atol)
        if bad.any():
            i = np.unravel_index(int(np.argmax(bad)), bad.shape) if bad.ndim else ()
            return q, tuple(int(k) for k in i), float(np.asarray(g)[i]), float(np.asarray(w)[i])
    if loss is not None and ref_loss is not None and _bad(np.asarray(loss), np.asarray(ref_loss),
                                                          rtol, atol).any():
        return "loss", (), float(loss), float(ref_loss)
    return None


def _not_finite(got: dict[str, np.ndarray], loss) -> str | None:
    for q, g in got.items():
        if not np.isfinite(g).all():
            i = np.unravel_index(int(np.argmin(np.isfinite(g))), np.shape(g)) if np.ndim(g) \
                else ()
            where = q + (f"[{', '.join(map(str, i))}]" if i else "")
            return f"returned {np.asarray(g)[i]} in {where}"
    if loss is not None and not np.isfinite(float(loss)):
        return f"returned the loss {float(loss)}"
    return None


def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.10g}"


def check(
    fn: Callable[..., Any],
    concept: str | None = None,
    *,
    dtype: str = "float64",
    rtol: float | None = None,
    atol: float | None = None,
    time_limit: float | None = 10.0,
    second_point: bool = True,
    _ratios: dict[float, str] | None = None,
    **params: Any,
) -> CheckResult:
    """Run the learner's ``fn`` for ``concept`` in lockstep with the PyTorch twin.

    Parameters
    ----------
    fn
        The learner's function, in one of the concept's forms (see
        :mod:`gd_compare.learner.exercises`), or the course's whole run
        ``train_nn(features, targets, epochs, learnrate) -> weights`` (recognised by its
        parameter names; see :mod:`gd_compare.learner.whole_run`).
    concept
        What ``fn`` implements; None: decided by the function's name (``train_nn`` →
        ``mse_training``).
    dtype
        ``"float64"`` (tolerance 1e-12) or ``"float32"`` (1e-5).
    rtol, atol
        Override the dtype's tolerance.
    time_limit
        Seconds per call of ``fn`` (None: no limit).
    second_point
        After a pass, check again at a second point the function must handle (another
        learning rate, other data, another number of records and of features) and name what
        it ignored.
    **params
        Override the concept's lesson defaults (``lr``, ``epochs``, ``batch_size``,
        ``features``, ``targets`` — arrays or the course's DataFrame/Series —, ``weights``,
        ``seed``, ``hidden``, ``x``, ``y``, ``w``, ...).

    Notes
    -----
    Every step starts from the twin's state; the first step whose result differs beyond
    ``atol + rtol·max(|a|, |b|)`` stops the check. Arrays are given first; a function that reads
    a pandas attribute (``features.values``) is given the course's DataFrame and Series.
    """
    if not callable(fn):
        raise TypeError(f"fn: expected the learner's function, got {type(fn).__name__}")
    with thread_policy(load=True):  # as compare: one PyTorch thread while the two take turns
        return _check(fn, concept, dtype, rtol, atol, time_limit, second_point, _ratios,
                      params)


def _check(fn: Callable[..., Any], concept: str | None, dtype: str, rtol: float | None,
           atol: float | None, time_limit: float | None, second_point: bool,
           _ratios: dict[float, str] | None, params: dict[str, Any]) -> CheckResult:
    """:func:`check`'s work, under its thread policy."""
    from gd_compare.learner import whole_run

    if concept is None:
        concept = whole_run.concept_for(fn)
    ex = get_exercise(concept)
    params = _plain_inputs(params)
    name = getattr(fn, "__name__", type(fn).__name__)
    if ex.name == "error_term_formula" and params.get("loss") is None:
        from gd_compare.learner.formula import classify  # which loss it descends, if any

        return classify(fn, dtype=dtype, rtol=rtol, atol=atol, time_limit=time_limit,
                        **params)
    if ex.name == "student_admissions" and params.get("loss") is None \
            and whole_run.is_whole_run(ex, fn):
        from gd_compare.learner.formula import classify_whole_run  # which run it is, if any

        return classify_whole_run(fn, dtype=dtype, rtol=rtol, atol=atol,
                                  time_limit=time_limit, **params)
    if whole_run.is_whole_run(ex, fn):
        result = whole_run.check_whole_run(fn, ex, dtype=dtype, rtol=rtol, atol=atol,
                                           time_limit=time_limit, ratios=_ratios, **params)
    else:
        problem = signature_problem(ex, fn, whole_run.forms_of(ex.name))
        if problem:
            return CheckResult(ex.name, name, False, str(np.dtype(dtype)), 0,
                               problem="signature", message=problem)
        if ex.name == "sgd_batching":
            params.setdefault("epoch_form", takes_rng(fn))
        result = _check_run(fn, ex, params, dtype, rtol, atol, time_limit, _ratios)
    if result.passed and second_point and not inspect.isfunction(fn):
        result = dataclasses.replace(result, notes=(*result.notes, (
            "no second point checked: the function is an object that may keep state between "
            "calls (e.g. an optimizer made at the first call)")))
    elif result.passed and second_point:
        from gd_compare.learner.second_point import check_second_points

        result = check_second_points(result, fn, ex, params, dtype=dtype, rtol=rtol, atol=atol,
                                     time_limit=time_limit)
    return result


def _plain_inputs(params: dict[str, Any]) -> dict[str, Any]:
    """``features``/``targets`` given as the course's pandas objects → float arrays."""
    out = dict(params)
    for key in ("features", "targets"):
        value = out.get(key)
        if value is not None and hasattr(value, "to_numpy") and hasattr(value, "dtypes"):
            try:
                out[key] = value.to_numpy(dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{key}: a pandas object whose values are not numbers "
                                 f"({exc}); use .astype(float)") from None
    return out


_PANDAS_HINT = "'numpy.ndarray' object has no attribute"


def _check_run(fn: Callable[..., Any], ex: Exercise, params: dict[str, Any], dtype: str,
               rtol: float | None, atol: float | None, time_limit: float | None,
               ratios: dict[float, str] | None = None) -> CheckResult:
    """The lockstep check with arrays, then — when the function reads a pandas attribute at
    its first call — with the course's DataFrame and Series."""
    run = ex.start(params, dtype)
    learner_fn, fn = fn, _wrapped(ex, fn, run)
    d_rtol, d_atol = DEFAULT_TOLERANCE[run.dtype.name]
    ctx = _Ctx(fn, getattr(learner_fn, "__name__", type(learner_fn).__name__), ex, run,
               d_rtol if rtol is None else float(rtol), d_atol if atol is None else float(atol),
               time_limit, ratios=_lesson_ratios(run) | (ratios or {}))
    result = _lockstep(ctx)
    if (not result.passed and result.problem == "raised" and result.step == 1
            and run.X is not None and _PANDAS_HINT in result.message):
        ctx = dataclasses.replace(ctx, history=[], pandas=True)
        result = dataclasses.replace(_lockstep(ctx), inputs="pandas")
    return result


def _lesson_ratios(run: Run) -> dict[float, str]:
    if run.X is None:
        return {}
    n, m = run.X.shape
    return {float(n): f"n_records, {n}", float(m): f"n_features, {m}"}


def _lockstep(ctx: _Ctx) -> CheckResult:
    run, ex, fn = ctx.run, ctx.ex, ctx.fn
    max_abs: dict[str, float] = {}
    state = run.start
    session = run.session()
    base = {"concept": ex.name, "function": ctx.name, "dtype": run.dtype.name}
    for where in run.plan:
        ctx.history.append(state)
        at = {"step": where.step, "epoch": where.epoch, "batch": where.batch}
        try:
            got, loss = _learner_step(ctx, fn, run, where, state, session)
        except _Failed as exc:
            matches = _matching_failure(ctx, where, exc)
            diagnosis = _describe(matches[0]) if matches else None
            return CheckResult(**base, passed=False, steps=where.step, problem=exc.problem,
                               message=str(exc), max_abs_diff=max_abs,
                               matches=tuple(m.name for m in matches), diagnosis=diagnosis,
                               **at)
        X, y = ex.rows(run, where)
        want, next_state, ref_loss = ex.reference(run, X, y, state, where)
        bad_value = _not_finite(got, loss)
        if bad_value:
            return CheckResult(**base, passed=False, steps=where.step, problem="not finite",
                               message=f"{ctx.name} {bad_value}", max_abs_diff=max_abs, **at)
        found = _first_bad(got, want, loss if ref_loss is not None else None, ref_loss,
                           ctx.rtol, ctx.atol)
        if found is None:
            for q in want:
                diff = float(np.max(np.abs(np.asarray(got[q], np.float64) - want[q]),
                                    initial=0.0))
                max_abs[q] = max(max_abs.get(q, 0.0), diff)
            state = next_state
            continue
        return _failure(ctx, base, at, where, state, got, loss, want, ref_loss, found, max_abs)
    return CheckResult(**base, passed=True, steps=len(run.plan), max_abs_diff=max_abs)


def _matching_failure(ctx: _Ctx, where: Where, exc: _Failed) -> list[Mistake]:
    """A learner's call that returned the wrong thing (not wrong numbers): the catalogue
    entries of kind "return" that fail the same way."""
    if exc.problem not in ("wrong return", "wrong shape"):
        return []
    mine = str(exc).removeprefix(ctx.name).strip()
    out = []
    for m in _candidates(ctx):
        if m.kind != "return":
            continue
        try:
            _learner_step(ctx, m.implementation, ctx.run, where, ctx.history[where.step - 1],
                          ctx.run.session(where.step))
        except _Failed as theirs:
            if theirs.problem == exc.problem and str(theirs).removeprefix(ctx.name).strip() \
                    == mine:
                out.append(m)
    return out


def _failure(ctx, base, at, where, state, got, loss, want, ref_loss, found, max_abs):
    quantity, index, mine, theirs = found
    matches = _matching(ctx, where, (got, loss))
    reproducible = _reproducible(ctx, where, (got, loss))
    shape_only = quantity in want and np.shape(got[quantity]) != np.shape(want[quantity])
    if shape_only:
        same_values = not _bad(np.ravel(got[quantity]), np.ravel(want[quantity]), ctx.rtol,
                               ctx.atol).any()
        problem = "wrong shape"
        message = (f"{quantity} has shape {np.shape(got[quantity])}, expected "
                   f"{np.shape(want[quantity])}" + (" — right values, wrong shape" if same_values
                                                     else " (and different values)"))
    else:
        problem = "wrong values"
        label = quantity + (f"[{', '.join(map(str, index))}]" if index else "")
        message = (f"{label} = {_fmt(mine)} where PyTorch autograd gives {_fmt(theirs)} "
                   f"(|Δ| {abs(mine - theirs):.3g})")
    if matches:
        first, *rest = matches
        diagnosis = _describe(first)
        if rest:
            diagnosis += " (the same numbers as: " + "; ".join(m.title for m in rest) + ")"
    else:
        diagnosis = _pattern(ctx, state, got, want, loss, ref_loss, reproducible)
    record = _first_record(ctx, where, state) if reproducible and not shape_only else None
    return CheckResult(**base, passed=False, steps=where.step, problem=problem, message=message,
                       record=record, quantity=quantity, index=index, learner_value=mine,
                       autograd_value=theirs, matches=tuple(m.name for m in matches),
                       diagnosis=diagnosis, max_abs_diff=max_abs, **at)


# --------------------------------------------------------------------------- the catalogue run


def run_catalogue(dtype: str = "float64", **params: Any) -> list[tuple[Mistake, CheckResult]]:
    """Every catalogue entry checked as a learner's function (with its own ``params``, then
    ``params``): what the README's table shows and a test holds to ``caught_at``."""
    from gd_compare.learner.mistakes import CATALOGUE

    out = []
    for concept, entries in CATALOGUE.items():
        for m in entries:
            out.append((m, check(m.learner(), concept, dtype=dtype, **{**m.params, **params})))
    return out


def catalogue_table(rows: list[tuple[Mistake, CheckResult]]) -> str:
    """The markdown table mistake → caught at → diagnosis."""
    lines = ["| concept | mistake | caught at | diagnosis (the entries that reproduce it) |",
             "|---|---|---|---|"]
    for m, r in rows:
        titles = [next(e.title for e in for_concept(m.concept) if e.name == n)
                  for n in r.matches]
        lines.append(f"| `{m.concept}` | {m.title} | {r.where() or 'not caught'} | "
                     f"{' = '.join(titles) or r.diagnosis} |")
    return "\n".join(lines)
