"""Settle the student-admissions notebook's error term: which loss does a learner's
``error_term_formula(x, y, output)`` descend, run in the notebook's own loop?

The notebook's prompt gives (y − ŷ)·x "for binary cross entropy" and (y − ŷ)·σ′(x)·x "for mean
square error"; earlier versions gave (y − ŷ)·σ′(x) and (y − ŷ)·ŷ(1 − ŷ). Autograd settles it: one
epoch of the loop with the learner's formula in it is compared, step by step, with autograd's
step on each loss the loop can descend (:data:`~gd_compare.learner.exercises.LOOP_LOSSES`):

- the current loop (``del_w += error_term``; ``weights += learnrate * del_w``, no
  ``/ n_records``) descends a *summed* loss: ``"bce"`` Σ cross-entropy, whose error term is
  (y − ŷ)·x, or ``"sse"`` ½·Σ(y − ŷ)², whose error term is (y − ŷ)·σ′(h)·x = (y − ŷ)·ŷ(1 − ŷ)·x;
- the older loop (``del_w += error_term * x``; ``/ n_records``, lr 0.5) descends a *mean*:
  ``"mse"`` ½·MSE (error term (y − ŷ)·ŷ(1 − ŷ)) or ``"bce"`` the mean cross-entropy ((y − ŷ)).

:func:`classify` is a PASS naming the loss whose gradient the update is, or a FAIL — the gradient
of neither — with the numbers: the learner's first update beside autograd's for each loss, at
the same weights, and how far the learner's run ends from each correct run.
(y − ŷ)·σ′(x)·x takes σ′ of the *inputs*; the chain rule puts σ′(h), h = x·w, there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gd_compare.learner.check import CheckResult, check
from gd_compare.learner.exercises import LOOP_LOSSES, get_exercise

__all__ = ["LOSS_NAMES", "WHOLE_RUNS", "FormulaResult", "classify", "classify_whole_run"]

#: (loop, loss) → how the report names the loss
LOSS_NAMES: dict[tuple[str, str], str] = {
    ("current", "bce"): "Σ cross-entropy (summed over the records)",
    ("current", "sse"): "½·SSE = ½·Σ(y − ŷ)²",
    ("older", "mse"): "½·MSE (the lesson's mean squared error)",
    ("older", "bce"): "the mean cross-entropy",
}


@dataclass(frozen=True)
class FormulaResult(CheckResult):
    """:class:`~gd_compare.learner.check.CheckResult` of an ``error_term_formula`` checked
    against every loss its loop can descend. ``loss``: the loss it descends (``None``: neither);
    ``updates``: rows (weight, the learner's Δw, autograd's Δw for each loss) of the first epoch
    from the start; ``distances``: loss → max |w − w_loss| at the end of the run."""

    loop: str = "current"
    #: a whole run (``train_nn``) classified by :func:`classify_whole_run`
    whole: bool = False
    loss: str | None = None
    losses: tuple[str, ...] = ()
    updates: tuple[tuple[str, float, tuple[float, ...]], ...] = ()
    distances: dict[str, float] = field(default_factory=dict)

    def __str__(self) -> str:
        names = [LOSS_NAMES[(self.loop, k)] for k in self.losses]
        head = f"{self.concept}: {self.function} ({self.loop} loop)"
        if self.whole:
            return self._whole_text()
        if self.passed:
            text = (f"{head} — PASS: its update descends {LOSS_NAMES[(self.loop, self.loss)]} "
                    f"(loss={self.loss!r}): it agrees with PyTorch autograd at all {self.steps} "
                    f"epoch(s), {self.dtype}, max |Δ| "
                    f"{max(self.max_abs_diff.values(), default=0.0):.2g}")
        else:
            text = (f"{head} — FAIL: its update is the gradient of neither "
                    f"{' nor '.join(names)} — {self.where()}: {self.message}")
            if self.diagnosis:
                text += f"\n  diagnosis: {self.diagnosis}"
        return text + "\n" + "\n".join(self.table_lines())

    def _whole_text(self) -> str:
        head = f"{self.concept}: {self.function} (the whole run)"
        if self.passed:
            return (f"{head} — PASS: its run is PyTorch autograd's run of "
                    f"{LOSS_NAMES[(self.loop, self.loss)]} in the notebook's {self.loop} loop "
                    f"(loss={self.loss!r}, loop={self.loop!r}) at all {self.steps} epoch(s), "
                    f"{self.dtype}, max |Δ| {max(self.max_abs_diff.values(), default=0.0):.2g}")
        runs = ", ".join(f"{LOSS_NAMES[k]} ({k[0]} loop)" for k in WHOLE_RUNS)
        text = (f"{head} — FAIL: its run is none of the correct runs ({runs}); against the "
                f"{self.loop} loop's {LOSS_NAMES[(self.loop, self.losses[0])]}, the "
                f"closest: {self.where()}: {self.message}")
        return text + (f"\n  diagnosis: {self.diagnosis}" if self.diagnosis else "")

    def table_lines(self) -> list[str]:
        """The numbers: the first update beside autograd's, and where the runs end."""
        cols = [f"autograd, loss={k!r}" for k in self.losses]
        lines = [f"  first epoch's update Δw from the start (the notebook's weights): "
                 f"yours | {' | '.join(cols)}"]
        for name, mine, theirs in self.updates:
            lines.append(f"    {name:<6} {mine: .12g} | "
                         + " | ".join(f"{t: .12g}" for t in theirs))
        if self.distances:
            lines.append("  after the run, max |w_yours − w_autograd|: "
                         + ", ".join(f"loss={k!r} {v:.3g}" for k, v in self.distances.items()))
        return lines


def _result_fields(r: CheckResult) -> dict[str, Any]:
    return {f.name: getattr(r, f.name) for f in dataclasses.fields(CheckResult)}


def classify(fn: Callable[..., Any], *, dtype: str = "float64", rtol: float | None = None,
             atol: float | None = None, time_limit: float | None = 10.0,
             **params: Any) -> FormulaResult:
    """Which loss the learner's ``error_term_formula(x, y, output)`` descends in the notebook's
    loop (see the module docstring); ``check(fn, "error_term_formula")`` calls this.

    Parameters
    ----------
    fn : callable
        The learner's ``error_term_formula(x, y, output)``.
    dtype : {"float64", "float32"}
        The precision of the run (tolerances as the harness's).
    rtol, atol : float, optional
        Tolerances (default: the harness's for ``dtype``).
    time_limit : float or None
        Seconds one epoch may take.
    **params
        The exercise's parameters: ``loop`` ("current" or "older"), ``epochs`` (100), ``lr``
        (0.0001 current, 0.5 older), ``features``/``targets``, ``weights``, ``seed``,
        ``split_seed``. ``loss`` must not be given (``check`` with ``loss=`` judges that loss
        only).
    """
    if params.get("loss") is not None:
        raise ValueError("loss: classify tries every loss of the loop; check(fn, "
                         "'error_term_formula', loss=...) judges one")
    params.pop("loss", None)
    loop = params.get("loop", "current")
    if loop not in LOOP_LOSSES:
        raise ValueError(f"loop: expected 'current' or 'older', got {loop!r}")
    losses = LOOP_LOSSES[loop]
    results = {k: check(fn, "error_term_formula", dtype=dtype, rtol=rtol, atol=atol,
                        time_limit=time_limit, loss=k, **params) for k in losses}
    passed = [k for k in losses if results[k].passed]
    base = results[passed[0]] if passed else _first_failure(results)
    updates, distances = _numbers(fn, losses, dtype, params, base)
    return FormulaResult(**_result_fields(base), loop=loop,
                         loss=passed[0] if passed else None, losses=losses, updates=updates,
                         distances=distances)


#: the (loop, loss) runs a whole ``train_nn`` of the notebook may be, in the order tried
WHOLE_RUNS: tuple[tuple[str, str], ...] = tuple(
    (loop, loss) for loop, losses in LOOP_LOSSES.items() for loss in losses)


def classify_whole_run(fn: Callable[..., Any], *, dtype: str = "float64",
                       rtol: float | None = None, atol: float | None = None,
                       time_limit: float | None = 10.0, **params: Any) -> FormulaResult:
    """Which correct run the learner's whole ``train_nn(features, targets, epochs, learnrate)``
    is: each (loop, loss) of :data:`WHOLE_RUNS` in turn, at that loop's learning rate
    (:func:`gd_compare.learner.whole_run.check_whole_run`: the first wrong epoch by bisection,
    diagnosed). A PASS names the loop and the loss; a FAIL reports the run it follows longest.
    ``check(fn, "student_admissions")`` calls this for a whole run.

    Parameters
    ----------
    fn : callable
        The learner's ``train_nn``.
    dtype, rtol, atol, time_limit
        As :func:`classify`.
    **params
        ``epochs`` (100), ``features``/``targets``, ``seed``, ``split_seed``, ``loop`` (try
        only that loop); not ``lr`` (each loop has its own) nor ``loss``.
    """
    from gd_compare.learner import whole_run

    for key in ("loss", "lr"):
        if params.get(key) is not None:
            raise ValueError(f"{key}: classify_whole_run tries every loop at its own learning "
                             f"rate; check(fn, 'student_admissions', loss=..., lr=...) judges "
                             f"one run")
        params.pop(key, None)
    only = params.pop("loop", None)
    ex = get_exercise("student_admissions")
    tried = []
    for loop, loss in WHOLE_RUNS:
        if only is not None and loop != only:
            continue
        r = whole_run.check_whole_run(fn, ex, dtype=dtype, rtol=rtol, atol=atol,
                                      time_limit=time_limit, loop=loop, loss=loss, **params)
        if r.passed:
            return FormulaResult(**_result_fields(r), loop=loop, whole=True, loss=loss,
                                 losses=LOOP_LOSSES[loop])
        tried.append((loop, loss, r))
        if r.problem != "wrong values":  # it raised or returned the wrong thing: no run fits
            break
    if not tried:
        raise ValueError(f"loop: expected 'current' or 'older', got {only!r}")
    loop, loss, r = max(tried, key=lambda t: (t[2].steps, -_gap(t[2])))  # the one it follows
    # longest, and at its first wrong epoch the nearest
    return FormulaResult(**_result_fields(r), loop=loop, whole=True, loss=None,
                         losses=(loss,))


def _gap(r: CheckResult) -> float:
    if r.learner_value is None or r.autograd_value is None:
        return float("inf")
    return abs(r.learner_value - r.autograd_value)


def _first_failure(results: dict[str, CheckResult]) -> CheckResult:
    """The failure to report: one where the learner's function itself failed (raised, wrong
    shape) if any, else the one with a diagnosis, else the first."""
    values = list(results.values())
    for r in values:
        if r.problem != "wrong values":
            return r
    return next((r for r in values if r.matches), values[0])


def _numbers(fn: Callable[..., Any], losses: tuple[str, ...], dtype: str,
             params: dict[str, Any], base: CheckResult
             ) -> tuple[tuple[tuple[str, float, tuple[float, ...]], ...], dict[str, float]]:
    """The learner's first update beside autograd's for each loss (same start), and how far
    the learner's run ends from each correct run. Empty when the learner's loop fails."""
    ex = get_exercise("error_term_formula")
    runs = {k: ex.start({**params, "loss": k}, dtype) for k in losses}
    first = next(iter(runs.values()))
    epoch = ex.wrap(fn, first)  # type: ignore[misc]
    start = first.start[0]
    try:
        with np.errstate(all="ignore"):
            mine = np.asarray(epoch(first.X.copy(), first.y.copy(), start.copy(), first.lr),
                              dtype=np.float64) - start
    except Exception:  # the learner's failure is the verdict's message already
        return (), {}
    if np.shape(mine) != np.shape(start):
        return (), {}
    theirs = [ex.reference(r, r.X, r.y, r.start, r.plan[0])[1][0] - start
              for r in runs.values()]
    updates = tuple((f"w[{i}]", float(mine[i]), tuple(float(t[i]) for t in theirs))
                    for i in range(len(start)))
    if base.problem not in (None, "wrong values"):
        return updates, {}
    distances = {}
    w = start.copy()
    try:
        with np.errstate(all="ignore"):
            for _ in first.plan:
                w = np.asarray(epoch(first.X.copy(), first.y.copy(), w.copy(), first.lr))
    except Exception:
        return updates, {}
    for k, r in runs.items():
        ref = r.start
        for where in r.plan:
            ref = ex.reference(r, r.X, r.y, ref, where)[1]
        distances[k] = float(np.max(np.abs(np.asarray(w, dtype=np.float64) - ref[0])))
    return updates, distances
