"""A PASS means right, not right at the lesson's one point: every check is repeated at second
points the function must handle, and what it ignored is named.

A function that reads a global ``learnrate = 0.5`` instead of its argument, hard-codes
``n_records = 360``, or loads the lesson's data itself instead of using ``features`` and
``targets`` agrees with autograd at the lesson's point. :func:`check_second_points` checks it
again (a few steps each) at:

- another learning rate (0.3 × the lesson's) → "does not use its ``learnrate`` argument";
- other data of the same shape → "does not use the ``features``/``targets`` it is given";
- fewer records (the first third) → "does not use the number of records it was given" (and,
  when its step is 360/120 of autograd's, "divides by 360");
- another number of features (half of them, at least one) where the concept allows it →
  "assumes 6 features";
- other values of the same shape for the one-step exercises.

A shape the exercise itself fixes (the lesson's two-feature neuron, backprop_exercise's 3-2-1
network) is not varied; a neuron step written for a fixed number of inputs gets a note, not a
FAIL.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gd_compare.learner.exercises import Exercise

__all__ = ["Variation", "check_second_points", "variations"]

#: the learning-rate factor of the second point
LR_FACTOR = 0.3
#: steps checked at each second point
_EPOCHS = 2
#: the seed of the other data
_DATA_SEED = 20260


@dataclass(frozen=True)
class Variation:
    """One second point: its parameters and what a failure there means."""

    label: str
    params: dict[str, Any]
    ignored: str
    #: a failure here is a note (the exercise itself fixes this shape), not a FAIL
    note_only: bool = False
    #: ratios of the learner's change to autograd's that name the cause
    ratios: dict[float, str] = field(default_factory=dict)


def _training(ex: Exercise, params: dict[str, Any], X: np.ndarray, y: np.ndarray,
              lr: float) -> list[Variation]:
    n, m = X.shape
    short = {"epochs": 1 if ex.name == "sgd_batching" else _EPOCHS} \
        if "epochs" in ex.defaults else {}
    rng = np.random.RandomState(_DATA_SEED)
    other_X = rng.normal(size=X.shape)
    other_y = (rng.uniform(size=n) < 0.5).astype(np.float64)
    fewer = max(1, n // 3)
    by_lr = Variation(f"at learnrate {lr * LR_FACTOR:g} (not {lr:g})",
                      short | {"lr": lr * LR_FACTOR},
                      "it does not use its `learnrate` argument (a module-level learnrate?)",
                      ratios={1 / LR_FACTOR: f"{lr:g}/{lr * LR_FACTOR:g}: it steps with "
                              f"learnrate {lr:g} whatever it is given"})
    out = [by_lr] if ex.name not in ("gradient", "network_gradient") else []
    out += [
        Variation("on other data of the same shape", short | {"features": other_X,
                                                               "targets": other_y},
                  "it does not use the `features`/`targets` it is given (does it read the "
                  "lesson's data itself?)"),
        Variation(f"on the first {fewer} of the {n} records",
                  short | {"features": X[:fewer], "targets": y[:fewer]},
                  f"it does not use the number of records it was given (a hard-coded "
                  f"n_records = {n}?)",
                  ratios={fewer / n: f"{fewer}/{n}: it divides by {n}, not by the {fewer} "
                          f"records it was given"}),
    ]
    if m > 1:
        k = max(1, m // 2)
        out.append(Variation(f"with {k} features (not {m})",
                             short | {"features": X[:, :k].copy(), "targets": y},
                             f"it assumes {m} features (a hard-coded n_features?)"))
    if ex.name == "sgd_batching":
        for v in out:
            v.params.setdefault("batch_size", min(params.get("batch_size", 32), fewer))
    return out


def _one_step(ex: Exercise, params: dict[str, Any], lr: float) -> list[Variation]:
    p = {**ex.defaults, **params}
    out = [Variation(f"at learnrate {lr * LR_FACTOR:g} (not {lr:g})", {"lr": lr * LR_FACTOR},
                     "it does not use its `learnrate` argument (a module-level learnrate?)")]
    rng = np.random.RandomState(_DATA_SEED)
    other = {}
    for key in ("x", "y", "w", "weights", "target", "weights_input_hidden",
                "weights_hidden_output"):
        if key in p and key in ex.defaults:
            value = np.asarray(p[key], dtype=np.float64)
            new = np.round(rng.uniform(-1, 1, size=value.shape), 3)
            if key in ("y", "target"):
                new = np.round(rng.uniform(0.1, 0.9, size=value.shape), 3)
            other[key] = new.tolist() if new.ndim else float(new)
    out.append(Variation("at other inputs and weights of the same shape", other,
                         "it does not use the inputs/weights it is given (values written "
                         "into the function?)"))
    if ex.name in ("sigmoid_step", "sigmoid_exercise"):
        n = len(np.atleast_1d(p["x"]))
        more = {"x": np.linspace(0.1, 0.9, n + 1).tolist(),
                "weights": np.linspace(-0.5, 0.5, n + 1).tolist()}
        out.append(Variation(f"with {n + 1} inputs (not {n})", more,
                             f"it is written for {n} inputs only (the exercise's shape)",
                             note_only=True))
    return out


def variations(ex: Exercise, params: dict[str, Any], dtype: str = "float64") -> list[Variation]:
    """The second points of ``ex`` around the point ``params`` (its data and lr)."""
    run = ex.start({k: v for k, v in params.items() if k != "epoch_form"}
                   | ({"epochs": 1} if "epochs" in ex.defaults else {}), dtype)
    if run.X is not None:
        out = _training(ex, params, np.asarray(run.X, np.float64),
                        np.asarray(run.y, np.float64), run.lr)
        if params.get("weights") is not None:  # the caller's start does not fit other shapes
            for v in out:
                v.params["weights"] = None
        return out
    return _one_step(ex, params, run.lr)


def check_second_points(result: Any, fn: Callable[..., Any], ex: Exercise,
                        params: dict[str, Any], **kwargs: Any) -> Any:
    """``result`` (a pass at the lesson's point) checked again at every second point: the
    first that fails turns it into a FAIL naming what the function ignored.

    Parameters
    ----------
    result
        The :class:`~gd_compare.learner.check.CheckResult` at the lesson's point (a pass).
    fn, ex, params
        The learner's function, the concept's exercise and the parameters it was checked with.
    **kwargs
        ``dtype``, ``rtol``, ``atol``, ``time_limit`` as :func:`~gd_compare.learner.check.check`.
    """
    from gd_compare.learner.check import check

    dtype = kwargs.get("dtype", "float64")
    checked, notes = [], list(result.notes)
    for v in variations(ex, params, dtype):
        if not set(v.params) <= set(ex.defaults):
            continue  # this concept has no such parameter (no learning rate, no epochs)
        sub_params = {**params, **v.params}
        sub = check(fn, ex.name, second_point=False, _ratios=v.ratios, **kwargs, **sub_params)
        if sub.passed:
            checked.append(v.label)
            continue
        if v.note_only:
            notes.append(f"wrong {v.label}: {v.ignored} — {sub.message}")
            continue
        message = f"right at the lesson's point but wrong {v.label}: {v.ignored}"
        return dataclasses.replace(sub, problem=f"ignores input ({sub.problem})",
                                   message=f"{message}. {sub.message}",
                                   second_point=v.label, notes=tuple(notes))
    return dataclasses.replace(result, second_point="; ".join(checked) or None,
                               notes=tuple(notes))
