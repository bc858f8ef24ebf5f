"""The course notebooks' loops around a learner's small functions, so that
:func:`gd_compare.learner.check.check` can run them step by step against PyTorch autograd.

"Predicting Student Admissions" asks the learner for ``error_term_formula(x, y, output)`` and
runs it inside its own loop; that loop changed over the course's history:

- the current loop (:func:`admissions_epoch`): ``del_w += error_term`` — the error term holds
  x — and ``weights += learnrate * del_w`` (no ``/ n_records``; lr 0.0001): the *summed* loss;
- the older loop (:func:`older_admissions_epoch`): ``del_w += error_term * x`` and
  ``weights += learnrate * del_w / n_records`` (lr 0.5): the *mean* loss.

One epoch of either loop, with the learner's formula in it, is a learner-shaped epoch function
``epoch(features, targets, weights, learnrate) -> weights``: what the ``student_admissions``
exercise checks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["LOOPS", "admissions_epoch", "epoch_of", "older_admissions_epoch"]

#: the two loops of the notebook's history
LOOPS: tuple[str, ...] = ("current", "older")


def _sigmoid(h: Any) -> Any:
    return 1 / (1 + np.exp(-h))


def admissions_epoch(error_term_formula: Callable[..., Any]) -> Callable[..., np.ndarray]:
    """One epoch of the notebook's current loop around ``error_term_formula``::

        del_w = np.zeros(weights.shape)
        for x, y in zip(features.values, targets):
            output = sigmoid(np.dot(x, weights))
            error_term = error_term_formula(x, y, output)
            del_w += error_term
        weights += learnrate * del_w
    """

    def epoch(features: Any, targets: Any, weights: np.ndarray, learnrate: float) -> np.ndarray:
        del_w = np.zeros(weights.shape, dtype=weights.dtype)
        for x, y in zip(np.asarray(features), np.asarray(targets), strict=True):
            output = _sigmoid(np.dot(x, weights))
            error_term = error_term_formula(x, y, output)
            del_w += error_term
        weights += learnrate * del_w
        return weights

    epoch.__name__ = getattr(error_term_formula, "__name__", "error_term_formula")
    return epoch


def older_admissions_epoch(error_term_formula: Callable[..., Any]
                           ) -> Callable[..., np.ndarray]:
    """One epoch of the notebook's older loop around ``error_term_formula``::

        for x, y in zip(features.values, targets):
            output = sigmoid(np.dot(x, weights))
            error_term = error_term_formula(x, y, output)
            del_w += error_term * x
        weights += learnrate * del_w / n_records
    """

    def epoch(features: Any, targets: Any, weights: np.ndarray, learnrate: float) -> np.ndarray:
        X = np.asarray(features)
        del_w = np.zeros(weights.shape, dtype=weights.dtype)
        for x, y in zip(X, np.asarray(targets), strict=True):
            output = _sigmoid(np.dot(x, weights))
            error_term = error_term_formula(x, y, output)
            del_w += error_term * x
        weights += learnrate * del_w / len(X)
        return weights

    epoch.__name__ = getattr(error_term_formula, "__name__", "error_term_formula")
    return epoch


def epoch_of(error_term_formula: Callable[..., Any], loop: str = "current"
             ) -> Callable[..., np.ndarray]:
    """The epoch function of ``loop`` ("current" or "older") around the learner's formula."""
    if loop not in LOOPS:
        raise ValueError(f"loop: expected one of {LOOPS}, got {loop!r}")
    return (admissions_epoch if loop == "current" else older_admissions_epoch)(
        error_term_formula)
