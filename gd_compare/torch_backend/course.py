"""The course's two sibling notebooks with PyTorch: autograd finds every derivative
(``loss.backward()``), ``torch.optim.SGD`` takes every step; the twin of
:mod:`gd_compare.numpy_backend.course` (same names, signatures and return types).

"Predicting Student Admissions": the summed loss — ``nn.BCEWithLogitsLoss(reduction="sum")`` on
h = x·w (``loss="bce"``) or ½·``nn.MSELoss(reduction="sum")`` on ŷ (``loss="sse"``) —
``backward()``, and ``torch.optim.SGD(lr)``: w ← w − lr·∂E/∂w, the notebook's
``weights += learnrate * del_w``. "Implementing the Gradient Descent Algorithm": for each record
in file order, ``nn.BCEWithLogitsLoss()`` of that one record, ``backward()``, ``SGD.step()``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import nn

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
from gd_compare.torch_backend.autograd import (
    Neuron,
    _BareNeuron,
    _objective,
    accuracy,
    bce,
)

__all__ = [
    "iter_logistic_regression",
    "iter_student_admissions",
    "logistic_regression",
    "student_admissions",
    "summed_gradient",
]


def _summed_criterion(loss: str) -> nn.Module:
    """Σ cross-entropy from h (``loss="bce"``), or SSE (``"sse"``: E = ½·SSE, see
    :func:`~gd_compare.torch_backend.autograd._objective`)."""
    if loss == "bce":
        return nn.BCEWithLogitsLoss(reduction="sum")
    return nn.MSELoss(reduction="sum")


def summed_gradient(features: ArrayLike, targets: ArrayLike, weights: ArrayLike,
                    loss: str = "bce") -> np.ndarray:
    """∂E/∂w of the summed loss (Σ cross-entropy, or ½·SSE) from autograd: ``weight.grad``
    after ``E.backward()``. Shape (d,)."""
    reduction = check_admissions_loss(loss)
    X, y, w = check_dataset(features, targets, weights)
    assert y is not None and w is not None
    check_loss_targets("bce", y)
    model = _BareNeuron((w,), True)
    _, objective = _objective(model, torch.from_numpy(X), torch.from_numpy(y), reduction,
                              _summed_criterion(reduction))
    objective.backward()
    return model.grads()


def _admissions_steps(run: CourseRun, per_record: bool) -> Iterator[Step]:
    """One ``optimizer.step()`` per epoch on the summed loss; ``per_record``: one
    ``backward()`` per record, each adding its gradient into ``.grad`` (the notebook's
    ``del_w += error_term``)."""
    model = Neuron(run.params[0])
    criterion = _summed_criterion(run.loss)
    optimizer = torch.optim.SGD(model.parameters(), lr=run.lr)
    params = model.params_view()
    Xt, yt = torch.from_numpy(run.X), torch.from_numpy(run.y)
    for epoch in range(run.epochs):
        model.zero_grad(set_to_none=True)
        if per_record:
            total = torch.zeros((), dtype=Xt.dtype)
            for x, target in zip(Xt, yt, strict=True):
                reported, objective = _objective(model, x, target, run.loss, criterion)
                objective.backward()
                total += reported.detach()
        else:
            total, objective = _objective(model, Xt, yt, run.loss, criterion)
            objective.backward()
        optimizer.step()
        value = total.item()
        raise_if_diverged("student_admissions", value, run.lr, epoch=epoch, batch=0,
                          index=epoch + 1, params=params)
        yield Step(epoch + 1, epoch, True, params, value)


class _RecordStep:
    """The gradient-descent notebook's step on one record — ``zero_grad()``,
    ``nn.BCEWithLogitsLoss()`` of the record, ``backward()``, ``torch.optim.SGD.step()`` — on a
    :class:`Neuron` and an optimizer built once: :func:`_logistic_steps` takes it record after
    record, and the learners' check takes it from any parameters (:meth:`restart`) thousands of
    times per check (plain SGD keeps no state between steps).

    ``params`` are the live parameters (NumPy views of the Neuron's ``weight`` and ``bias``)."""

    def __init__(self, params: tuple[np.ndarray, ...], lr: float) -> None:
        self.model = Neuron.of(params)
        self.criterion = nn.BCEWithLogitsLoss()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=lr)
        self.params = self.model.params_view()

    def restart(self, params: tuple[np.ndarray, ...]) -> None:
        """The next step starts from ``params`` (copied into the Neuron's parameters)."""
        for live, value in zip(self.params, params, strict=True):
            live[...] = value

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """One step on the record (x, y); its loss."""
        self.model.zero_grad(set_to_none=True)
        loss = self.criterion(self.model.logits(x), y)
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def on_row(self, X: np.ndarray, y: np.ndarray, i: int = 0) -> float:
        """One step on record ``i`` of the NumPy arrays X (n, d) and y (n,); its loss."""
        return self(torch.from_numpy(X)[i], torch.from_numpy(y)[i])


def _logistic_steps(run: CourseRun) -> Iterator[Step]:
    """For each record in file order: ``nn.BCEWithLogitsLoss()`` of that record,
    ``backward()``, ``torch.optim.SGD.step()`` (:class:`_RecordStep`)."""
    step = _RecordStep(run.params, run.lr)
    Xt, yt = torch.from_numpy(run.X), torch.from_numpy(run.y)
    n = len(run.y)
    index = 0
    for epoch in range(run.epochs):
        for i, (x, y) in enumerate(zip(Xt, yt, strict=True)):
            index += 1
            value = step(x, y)
            raise_if_diverged("logistic_regression", value, run.lr, epoch=epoch, batch=i,
                              index=index, params=step.params if i == n - 1 else ())
            yield Step(index, epoch, i == n - 1, step.params, value)


(iter_student_admissions, student_admissions, iter_logistic_regression,
 logistic_regression) = course_functions(
    CourseLoops(_admissions_steps, _logistic_steps, bce, accuracy), __name__)
