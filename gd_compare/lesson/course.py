"""The course's two sibling notebooks, what both backends share: their data, their start and
their checked runs.

udacity/deep-learning-v2-pytorch (MIT licence), ``intro-neural-networks/``:

- **"Predicting Student Admissions"** (``student-admissions/StudentAdmissions.ipynb``): the
  lesson's 400 UCLA rows (its ``student_data.csv`` is the lesson's ``binary.csv``), prepared the
  notebook's way — ``rank`` one-hot as ``rank_1 .. rank_4`` after ``gre, gpa``; ``gre / 800``,
  ``gpa / 4.0`` (no standardisation); a 90/10 split by ``np.random.choice(index, size=360,
  replace=False)`` — then ``np.random.seed(42)`` and weights ``normal(scale=1/√6)`` inside its
  ``train_nn``. The notebook leaves the split unseeded; here ``split_seed`` chooses it, default
  :data:`STUDENT_SPLIT_SEED` = 42, which draws the very rows the lesson's ``data_prep`` draws.
- **"Implementing the Gradient Descent Algorithm"** (``gradient-descent/GradientDescent.ipynb``):
  100 points of ``data.csv`` (no header: ``x1, x2, y``), ``np.random.seed(44)``, weights
  ``normal(scale=1/√2, size=2)``, bias 0. Its ``data.csv`` is not shipped with this package:
  :func:`read_gradient_descent_csv` reads a copy the user fetched (:data:`GRADIENT_DESCENT_DATA`).

No derivative lives here and nothing imports torch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from gd_compare.lesson.core import (
    Step,
    Training,
    as_float_array,
    check_binary,
    check_count,
    check_dataset,
    check_lr,
    check_neuron_data,
    check_seed,
    collect,
    is_biased_pair,
    log_epochs,
)
from gd_compare.lesson.data import Admissions, initial_weights, read_admissions_csv

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ADMISSIONS_LOSSES",
    "COURSE_REPO",
    "GRADIENT_DESCENT_DATA",
    "LOGISTIC_SEED",
    "STUDENT_FEATURES",
    "STUDENT_SPLIT_SEED",
    "STUDENT_WEIGHT_SEED",
    "CourseFunctions",
    "CourseLoops",
    "CourseRun",
    "CourseTraining",
    "admissions_run",
    "check_admissions_loss",
    "check_logistic_loss",
    "course_functions",
    "format_course_log",
    "load_student_admissions",
    "logistic_run",
    "prepare_student_admissions",
    "read_gradient_descent_csv",
]

#: Where the course's notebooks and data live (MIT licence).
COURSE_REPO = "https://github.com/udacity/deep-learning-v2-pytorch"
#: The "Implementing the Gradient Descent Algorithm" notebook's 100 points (not bundled here).
GRADIENT_DESCENT_DATA = (COURSE_REPO + "/blob/master/intro-neural-networks/gradient-descent/"
                         "data.csv")
#: The seed of the 90/10 split chosen here (the notebook leaves it unseeded): 42 draws the
#: lesson's own training rows.
STUDENT_SPLIT_SEED = 42
#: ``np.random.seed(42)`` inside the notebook's ``train_nn``, before the weights.
STUDENT_WEIGHT_SEED = 42
#: ``np.random.seed(44)`` of the gradient-descent notebook, before the weights.
LOGISTIC_SEED = 44
#: The student-admissions features, in the notebook's order.
STUDENT_FEATURES: tuple[str, ...] = ("gre", "gpa", "rank_1", "rank_2", "rank_3", "rank_4")

#: The losses the student-admissions loop can descend. It sums over the records (no
#: ``/ n_records``), so each is the *summed* loss: "bce" Σ cross-entropy (error term
#: (y − ŷ)·x, the notebook's solution), "sse" ½·Σ(y − ŷ)² (error term (y − ŷ)·ŷ(1 − ŷ)·x).
AdmissionsLoss = Literal["bce", "sse"]
ADMISSIONS_LOSSES: tuple[str, ...] = ("bce", "sse")


# --------------------------------------------------------------------------- data


def prepare_student_admissions(raw: pd.DataFrame, split_seed: int = STUDENT_SPLIT_SEED
                               ) -> Admissions:
    """The notebook's preparation of a raw frame (``admit, gre, gpa, rank``); ``raw`` is kept.

    ``pd.get_dummies`` is given ``dtype=float``: under pandas ≥ 2 it returns bool columns, and
    ``features.values`` of the concatenated frame is then an *object* array on which the
    notebook's ``np.dot`` fails — the fix a learner makes (``dtype=int`` or ``.astype(float)``).
    """
    import pandas as pd

    rank = pd.Categorical(raw["rank"], categories=[1, 2, 3, 4])
    dummies = pd.get_dummies(rank, prefix="rank", dtype=float)
    dummies.index = raw.index
    data = pd.concat([raw.drop(columns="rank"), dummies], axis=1)
    data["gre"] = data["gre"] / 800
    data["gpa"] = data["gpa"] / 4.0
    seed = check_seed(split_seed)
    sample = np.random.RandomState(seed).choice(data.index, size=int(len(data) * 0.9),
                                                replace=False)
    train, test = data.iloc[sample], data.drop(sample)
    return Admissions(features=train.drop(columns="admit"), targets=train["admit"],
                      features_test=test.drop(columns="admit"), targets_test=test["admit"])


def load_student_admissions(path: str | Path | None = None,
                            split_seed: int = STUDENT_SPLIT_SEED) -> Admissions:
    """The lesson's bundled UCLA data (or the CSV at ``path``) prepared as the notebook does:
    360 training rows, 40 test rows, the features of :data:`STUDENT_FEATURES`."""
    return prepare_student_admissions(read_admissions_csv(path), split_seed)


def read_gradient_descent_csv(path: str | Path | None) -> tuple[np.ndarray, np.ndarray]:
    """The gradient-descent notebook's ``data.csv``: no header, columns ``x1, x2, y`` (y 0 or
    1). Returns ``(X (n, 2), y (n,))`` in float64.

    The file is not shipped with gd_compare: ``path=None`` raises a ``ValueError`` saying where
    to get it (:data:`GRADIENT_DESCENT_DATA`, MIT licence).
    """
    if path is None:
        raise ValueError(
            f"data: logistic_regression needs the course's 100-point data.csv, which is not "
            f"bundled; download it from {GRADIENT_DESCENT_DATA} (MIT licence) and pass its "
            f"path (--data PATH, or data=PATH)")
    if not isinstance(path, (str, Path)):
        raise TypeError(f"data: expected a path to a CSV file, got {type(path).__name__}")
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"data: no file at {str(path)!r}; download the course's data.csv from "
                         f"{GRADIENT_DESCENT_DATA} (MIT licence)")
    try:
        table = np.loadtxt(file, delimiter=",", ndmin=2, dtype=np.float64)
    except ValueError as exc:
        raise ValueError(f"data: {str(path)!r} is not a CSV of numbers without a header "
                         f"(x1, x2, y per line): {exc}") from None
    if table.shape[1] != 3 or table.shape[0] == 0:
        raise ValueError(f"data: {str(path)!r} should have 3 columns (x1, x2, y) and at least "
                         f"one row, got shape {table.shape}")
    X = as_float_array("data", table[:, :2], ndim=2)
    y = np.ascontiguousarray(table[:, 2])
    check_binary(f"data {str(path)!r}, column 3 (y)", y)
    return np.ascontiguousarray(X), y


# --------------------------------------------------------------------------- checked runs


@dataclass(frozen=True)
class CourseRun:
    """A checked run of one of the two notebooks: ``X`` (n, d), ``y`` (n,), the start
    ``params`` ((w,) or (w, b), the loop's own copies), ``lr``, ``epochs``, ``loss``."""

    X: np.ndarray
    y: np.ndarray
    params: tuple[np.ndarray, ...]
    lr: float
    epochs: int
    loss: str
    #: 1 (student admissions: one update per epoch) or n (gradient descent: one per record)
    steps_per_epoch: int = 1


def check_admissions_loss(loss: str) -> AdmissionsLoss:
    """``"bce"`` (summed cross-entropy, the notebook's solution) or ``"sse"`` (½·SSE)."""
    if not isinstance(loss, str) or loss not in ADMISSIONS_LOSSES:
        raise ValueError(f"loss: student_admissions descends 'bce' (summed cross-entropy) or "
                         f"'sse' (½·sum of squared errors), got {loss!r}")
    return loss  # type: ignore[return-value]


def admissions_run(features: ArrayLike, targets: ArrayLike, weights: ArrayLike | None,
                   lr: float, epochs: int, loss: str, seed: int = STUDENT_WEIGHT_SEED
                   ) -> CourseRun:
    """The student-admissions loop's checked inputs; ``weights=None`` is the notebook's
    ``np.random.seed(seed)`` then ``normal(scale=1/√d, size=d)``."""
    if targets is None:
        raise TypeError("targets: expected one target per record (n,), got None")
    reduction = check_admissions_loss(loss)
    X, y, w = check_dataset(features, targets, weights)
    assert y is not None
    check_binary("targets", y)
    if w is None:
        w = initial_weights(X.shape[1], seed=_seed(seed), dtype=X.dtype)
    return CourseRun(X, y, (w,), check_lr(lr), check_count("epochs", epochs), reduction)


def check_logistic_loss(loss: str) -> str:
    """``"bce"``: the gradient-descent notebook descends the cross-entropy, nothing else."""
    if loss != "bce":
        raise ValueError(f"loss: logistic_regression descends the cross-entropy only (the "
                         f"course's update w += lr·(y − ŷ)·x is its gradient), got {loss!r}")
    return loss


def logistic_run(features: ArrayLike, targets: ArrayLike,
                 weights: ArrayLike | Sequence[ArrayLike] | None, lr: float, epochs: int, *,
                 bias: bool = True, loss: str = "bce", batch_size: int = 1,
                 shuffle: bool = False, seed: int = LOGISTIC_SEED) -> CourseRun:
    """The gradient-descent notebook's checked inputs: one update per record, in file order
    (``batch_size=1``, ``shuffle=False``: nothing else is its loop), cross-entropy only.
    ``weights=None`` is ``np.random.seed(seed)`` then ``normal(scale=1/√d, size=d)``; the
    bias starts at 0 (or comes as ``weights=(w, b)``)."""
    if targets is None:
        raise TypeError("targets: expected one target per record (n,), got None")
    check_logistic_loss(loss)
    if batch_size != 1 or isinstance(batch_size, bool):
        raise ValueError(f"batch_size: logistic_regression updates once per record "
                         f"(batch_size=1), got {batch_size!r}")
    if shuffle is not False:
        raise ValueError(f"shuffle: logistic_regression takes the records in file order "
                         f"(shuffle=False), got {shuffle!r}")
    if not isinstance(bias, (bool, np.bool_)):
        raise TypeError(f"bias: expected True or False, got {bias!r}")
    if is_biased_pair(weights) and not bias:
        raise ValueError("weights: got a pair (weights, bias) but bias=False")
    if weights is None:
        X, y, _ = check_dataset(features, targets)
        params: tuple[np.ndarray, ...] = (
            initial_weights(X.shape[1], seed=_seed(seed), dtype=X.dtype),)
    else:
        X, y, params = check_neuron_data(features, targets, weights)
    assert y is not None
    check_binary("targets", y)
    if bias and len(params) == 1:
        params = (*params, np.zeros(1, dtype=X.dtype))
    return CourseRun(X, y, params, check_lr(lr), check_count("epochs", epochs), "bce", len(y))


def _seed(seed: int | None) -> int:
    checked = check_seed(seed)
    if checked is None:
        raise TypeError("seed: expected an int (the notebook seeds its weights), got None")
    return checked


# --------------------------------------------------------------------------- the log


@dataclass
class CourseTraining(Training):
    """A notebook's run (:class:`~gd_compare.lesson.core.Training`) with, for the
    gradient-descent notebook, the accuracy it prints beside each logged loss."""

    accuracy_log: list[tuple[int, float]] = field(default_factory=list)

    def log_lines(self) -> list[str]:
        return format_course_log(self.log, [a for _, a in self.accuracy_log] or None)


def format_course_log(log: Sequence[tuple[int, float]],
                      accuracies: Sequence[float] | None = None) -> list[str]:
    """The notebooks' printout, one line per logged epoch: ``Epoch 0: Train loss:  0.71...``
    (with the ``WARNING - Loss Increasing`` of a loss that rose) and ``Accuracy:  0.4``.
    Values in Python's ``repr``; the course's published output shows 12 significant digits
    (``'%.12g'``)."""
    lines, last = [], None
    for k, (epoch, loss) in enumerate(log):
        warn = "  WARNING - Loss Increasing" if last and last < loss else ""
        acc = "" if accuracies is None else f"  Accuracy:  {accuracies[k]}"
        lines.append(f"Epoch {epoch}: Train loss:  {loss}{warn}{acc}")
        last = loss
    return lines



# --------------------------------------------------------------------------- public functions


@dataclass(frozen=True)
class CourseLoops:
    """What a backend supplies to :func:`course_functions`: its two loops over checked runs
    (streams of :class:`~gd_compare.lesson.core.Step`) and the two functions of the notebooks'
    log, ``log_loss(X, y, params)`` (the mean cross-entropy both notebooks print) and
    ``accuracy(X, y, params)``."""

    admissions: Callable[[CourseRun, bool], Iterator[Step]]
    logistic: Callable[[CourseRun], Iterator[Step]]
    log_loss: Callable[..., float]
    accuracy: Callable[..., float]


class CourseFunctions(NamedTuple):
    """The four public functions of one backend, in this order."""

    iter_student_admissions: Callable[..., Iterator[Step]]
    student_admissions: Callable[..., CourseTraining]
    iter_logistic_regression: Callable[..., Iterator[Step]]
    logistic_regression: Callable[..., CourseTraining]


def course_functions(loops: CourseLoops, module: str) -> CourseFunctions:
    """The notebooks' public functions, written once, for the backend whose loops are ``loops``
    (as :func:`~gd_compare.lesson.training.training_functions` for the lesson's)."""

    def iter_student_admissions(
        features: ArrayLike,
        targets: ArrayLike,
        weights: ArrayLike | None = None,
        lr: float = 0.0001,
        epochs: int = 1000,
        *,
        loss: str = "bce",
        per_record: bool = False,
        seed: int = STUDENT_WEIGHT_SEED,
    ) -> Iterator[Step]:
        """"Predicting Student Admissions": one update per epoch, on the *summed* loss (the
        notebook's ``weights += learnrate * del_w``, no ``/ n_records``)::

            del_w = Σ_i error_term_i        error_term = (y − ŷ)·x          (loss="bce")
                                            error_term = (y − ŷ)·ŷ(1 − ŷ)·x   (loss="sse")
            weights += lr · del_w

        ``loss="bce"`` descends Σ cross-entropy, ``"sse"`` ½·Σ(y − ŷ)². ``Step.loss`` is the
        summed loss (Σ cross-entropy, or Σ(y − ŷ)²) at the weights before the update.
        ``per_record=True`` runs the notebook's record-by-record loop (PyTorch: one
        ``backward()`` per record, accumulating); the default takes the same sums at once.
        ``weights=None``: ``np.random.seed(seed)``, ``normal(scale=1/√d, size=d)``.

        Parameters
        ----------
        features, targets : array-like
            (n, d) records and (n,) targets 0 or 1.
        weights : array-like, optional
            (d,) starting weights.
        lr : float
            The learning rate (the notebook's 0.0001).
        epochs : int
            Passes over the data (1000).
        loss : {"bce", "sse"}
            The summed loss descended.
        per_record : bool
            The notebook's own loop, record by record.
        seed : int
            The seed of the starting weights (42).
        """
        run = admissions_run(features, targets, weights, lr, epochs, loss, seed)
        return loops.admissions(run, _flag("per_record", per_record))

    def student_admissions(
        features: ArrayLike,
        targets: ArrayLike,
        weights: ArrayLike | None = None,
        lr: float = 0.0001,
        epochs: int = 1000,
        *,
        loss: str = "bce",
        per_record: bool = False,
        seed: int = STUDENT_WEIGHT_SEED,
        record: bool | int = True,
    ) -> CourseTraining:
        """:func:`iter_student_admissions` run to the end; the log is the notebook's: the mean
        cross-entropy on ``features`` after every ``epochs/10``-th epoch (whatever ``loss``)."""
        run = admissions_run(features, targets, weights, lr, epochs, loss, seed)
        steps = loops.admissions(run, _flag("per_record", per_record))
        return _finish(run, steps, loops, record, accuracy=False)

    def iter_logistic_regression(
        features: ArrayLike,
        targets: ArrayLike,
        weights: ArrayLike | Sequence[ArrayLike] | None = None,
        lr: float = 0.01,
        epochs: int = 100,
        *,
        bias: bool = True,
        loss: str = "bce",
        batch_size: int = 1,
        shuffle: bool = False,
        seed: int = LOGISTIC_SEED,
    ) -> Iterator[Step]:
        """"Implementing the Gradient Descent Algorithm": one update per record, in file order
        (the notebook's ``update_weights``)::

            output  = sigmoid(x·w + b)
            d_error = y − output
            w      += lr · d_error · x
            b      += lr · d_error

        — gradient descent on one record's cross-entropy. ``Step.params`` is (w, b) (w alone
        with ``bias=False``); ``Step.loss`` the record's cross-entropy before its update.

        Parameters
        ----------
        features, targets : array-like
            (n, d) points and (n,) labels 0 or 1 (the course's ``data.csv``: d = 2, n = 100).
        weights : array-like or (w, b), optional
            Starting weights (d,), or the pair (w (d,), b (1,)). ``None``: the notebook's
            ``np.random.seed(seed)``, ``normal(scale=1/√d, size=d)``, bias 0.
        lr : float
            The learning rate (0.01).
        epochs : int
            Passes over the data (100).
        bias : bool
            Train a bias (the notebook's ``b``), starting at 0.
        loss : {"bce"}
            Cross-entropy: the only loss this loop descends.
        batch_size, shuffle : 1, False
            The notebook's order (one record per update, file order); nothing else.
        seed : int
            The seed of the starting weights (44).
        """
        run = logistic_run(features, targets, weights, lr, epochs, bias=bias, loss=loss,
                           batch_size=batch_size, shuffle=shuffle, seed=seed)
        return loops.logistic(run)

    def logistic_regression(
        features: ArrayLike,
        targets: ArrayLike,
        weights: ArrayLike | Sequence[ArrayLike] | None = None,
        lr: float = 0.01,
        epochs: int = 100,
        *,
        bias: bool = True,
        loss: str = "bce",
        batch_size: int = 1,
        shuffle: bool = False,
        seed: int = LOGISTIC_SEED,
        record: bool | int = True,
    ) -> CourseTraining:
        """:func:`iter_logistic_regression` run to the end; the log is the notebook's: every
        ``epochs/10``-th epoch the mean cross-entropy and the accuracy on ``features``."""
        run = logistic_run(features, targets, weights, lr, epochs, bias=bias, loss=loss,
                           batch_size=batch_size, shuffle=shuffle, seed=seed)
        return _finish(run, loops.logistic(run), loops, record, accuracy=True)

    functions = CourseFunctions(iter_student_admissions, student_admissions,
                                iter_logistic_regression, logistic_regression)
    for function in functions:
        function.__module__ = module
        function.__qualname__ = function.__name__
    return functions


def _flag(name: str, value: bool) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


def _finish(run: CourseRun, steps: Iterator[Step], loops: CourseLoops, record: bool | int,
            accuracy: bool) -> CourseTraining:
    """Run ``steps`` to the end; log the mean cross-entropy (and the accuracy) on the training
    records every ``epochs/10`` epochs, after that epoch's update, as both notebooks do."""
    single = len(run.params) == 1
    accuracies: list[tuple[int, float]] = []
    logged = set(log_epochs(run.epochs))
    epoch_of = iter(sorted(logged))

    def evaluate(params: tuple[np.ndarray, ...]) -> float:
        arg = params[0] if single else params
        if accuracy:
            accuracies.append((next(epoch_of), loops.accuracy(run.X, run.y, arg)))
        return loops.log_loss(run.X, run.y, arg)

    done = collect(steps, evaluate, epochs=run.epochs,
                   total_steps=run.epochs * run.steps_per_epoch, record=record)
    return CourseTraining(done.params, done.losses, done.history, done.log, accuracies)
