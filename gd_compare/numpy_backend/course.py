"""The course's two sibling notebooks by hand, in their own loops and names (never importing
torch); :mod:`gd_compare.torch_backend.course` is the autograd twin.

"Predicting Student Admissions" (:func:`iter_student_admissions`): every epoch, record by record,
``output = sigmoid(x·w)``, ``error_term = error_term_formula(x, y, output)`` — the error term
*holds* x — ``del_w += error_term``; then ``weights += learnrate * del_w`` (no ``/ n_records``).
Its two correct error terms are the negative gradients of one record's loss:

    cross-entropy  E = −y·log ŷ − (1 − y)·log(1 − ŷ):   −∂E/∂w = (y − ŷ)·x
    squared error  E = ½·(y − ŷ)²:                       −∂E/∂w = (y − ŷ)·σ′(h)·x,
                                                          σ′(h) = ŷ(1 − ŷ),  h = x·w

so the loop descends the *summed* loss over the records.

"Implementing the Gradient Descent Algorithm" (:func:`iter_logistic_regression`): for each
record in file order, ``output = sigmoid(x·w + b)``, ``d_error = y − output``,
``w += lr·d_error·x``, ``b += lr·d_error`` — gradient descent on one record's cross-entropy.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import ArrayLike

from gd_compare.lesson.core import (
    Step,
    check_dataset,
    check_loss_targets,
    raise_if_diverged,
)
from gd_compare.lesson.course import (
    CourseLoops,
    CourseRun,
    check_admissions_loss,
    course_functions,
)
from gd_compare.numpy_backend.by_hand import (
    _bce_terms,
    _neuron_del_w,
    accuracy,
    bce,
    sigmoid,
)

__all__ = [
    "iter_logistic_regression",
    "iter_student_admissions",
    "logistic_regression",
    "student_admissions",
    "summed_gradient",
]


def admissions_error_term(x: np.ndarray, y: float, output: float, loss: str = "bce"
                          ) -> np.ndarray:
    """The notebook's ``error_term_formula(x, y, output)``, written right for each loss:

    ``loss="bce"``:  (y − ŷ)·x               (the notebook's solution)
    ``loss="sse"``:  (y − ŷ)·ŷ·(1 − ŷ)·x     (σ′ at h = x·w, taken from the output ŷ = σ(h))
    """
    error = y - output
    if loss == "bce":
        return error * x
    return error * output * (1 - output) * x


def summed_gradient(features: ArrayLike, targets: ArrayLike, weights: ArrayLike,
                    loss: str = "bce") -> np.ndarray:
    """∂E/∂w of the summed loss the student-admissions loop descends, by hand:

    E = Σ cross-entropy:  ∂E/∂w = −Σ_i (y_i − ŷ_i)·x_i                 = −del_w
    E = ½·Σ(y − ŷ)²:      ∂E/∂w = −Σ_i (y_i − ŷ_i)·ŷ_i(1 − ŷ_i)·x_i    = −del_w

    The update is w ← w − lr·∂E/∂w (= ``weights += learnrate * del_w``). Shape (d,).
    """
    reduction = check_admissions_loss(loss)
    X, y, w = check_dataset(features, targets, weights)
    assert y is not None and w is not None
    check_loss_targets("bce", y)
    (del_w,), _ = _neuron_del_w(X, y, (w,), reduction)
    return -del_w


def _admissions_epoch(X: np.ndarray, y: np.ndarray, weights: np.ndarray, lr: float,
                      loss: str) -> float:
    """One epoch exactly as the notebook writes it; ``weights`` change in place, once, at the
    end. Returns the summed loss (Σ cross-entropy, or Σ(y − ŷ)²) before the update."""
    del_w = np.zeros(weights.shape, dtype=weights.dtype)
    total = 0.0
    for x, target in zip(X, y, strict=True):
        h = np.dot(x, weights)
        output = sigmoid(h)
        error_term = admissions_error_term(x, target, output, loss)
        del_w += error_term
        total += _bce_terms(h, target) if loss == "bce" else (target - output) ** 2
    weights += lr * del_w
    return float(total)


def _admissions_steps(run: CourseRun, per_record: bool) -> Iterator[Step]:
    """The student-admissions loop: one :class:`Step` per epoch. The default takes the epoch's
    sums at once (``del_w = error_term @ X``, :func:`_neuron_del_w`); ``per_record`` is the
    notebook's loop (:func:`_admissions_epoch`)."""
    weights = run.params[0]
    for epoch in range(run.epochs):
        if per_record:
            loss = _admissions_epoch(run.X, run.y, weights, run.lr, run.loss)
        else:
            (del_w,), total = _neuron_del_w(run.X, run.y, (weights,), run.loss)  # type: ignore
            weights += run.lr * del_w
            loss = float(total)
        raise_if_diverged("student_admissions", loss, run.lr, epoch=epoch, batch=0,
                          index=epoch + 1, params=(weights,))
        yield Step(epoch + 1, epoch, True, (weights,), loss)


def _logistic_steps(run: CourseRun) -> Iterator[Step]:
    """The gradient-descent notebook's loop: ``update_weights`` for each record in file order,
    one :class:`Step` per record (``Step.loss``: that record's cross-entropy before it)."""
    weights, *bias = run.params
    n = len(run.y)
    index = 0
    for epoch in range(run.epochs):
        for i, (x, y) in enumerate(zip(run.X, run.y, strict=True)):
            index += 1
            h = np.dot(x, weights)
            if bias:
                h = h + bias[0][0]
            output = sigmoid(h)
            d_error = y - output
            weights += run.lr * d_error * x
            if bias:
                bias[0] += run.lr * d_error
            loss = float(_bce_terms(h, y))
            raise_if_diverged("logistic_regression", loss, run.lr, epoch=epoch, batch=i,
                              index=index, params=run.params if i == n - 1 else ())
            yield Step(index, epoch, i == n - 1, run.params, loss)


(iter_student_admissions, student_admissions, iter_logistic_regression,
 logistic_regression) = course_functions(
    CourseLoops(_admissions_steps, _logistic_steps, bce, accuracy), __name__)
