"""The lesson's concepts: their names, their lesson defaults and the inputs both backends get.

A :class:`Concept` says which function the two backends share (``simple_step``, ...), whether it
is one step or a training run, and how to build its keyword arguments from the lesson's defaults,
the user's overrides and a dtype. Building the inputs *once* and handing the same arrays to both
backends is what makes "identical starting weights and data order" true by construction.

Adding a concept: write the function (and, for training, its ``iter_`` twin) in both backends,
then add a :class:`Concept` here; the harness, the CLI and the JSON pick it up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from gd_compare.lesson.core import (
    as_float_array,
    check_binary,
    check_dataset,
    check_flag,
    check_hidden,
    check_seed,
)
from gd_compare.lesson.course import (
    LOGISTIC_SEED,
    STUDENT_SPLIT_SEED,
    STUDENT_WEIGHT_SEED,
    check_logistic_loss,
    load_student_admissions,
    read_gradient_descent_csv,
)
from gd_compare.lesson.data import (
    BACKPROP_SEED,
    LESSON_SEED,
    admissions_arrays,
    initial_network_weights,
    initial_weights,
)

__all__ = [
    "CONCEPTS",
    "DTYPES",
    "LESSON_CONCEPTS",
    "OPTIMIZER_DEFAULTS",
    "Concept",
    "Inputs",
    "check_dtype",
    "get_concept",
]

DTYPES: dict[str, np.dtype] = {"float64": np.dtype(np.float64), "float32": np.dtype(np.float32)}


def check_dtype(dtype: str | np.dtype | type) -> np.dtype:
    """``"float64"`` (default everywhere) or ``"float32"``."""
    if dtype is None:  # np.dtype(None) is float64: None would quietly mean float64
        raise TypeError("dtype: expected 'float64' or 'float32', got None")
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype: expected 'float64' or 'float32', got {dtype!r}") from exc
    if dt.name not in DTYPES:
        raise ValueError(f"dtype: expected 'float64' or 'float32', got {dtype!r}")
    return dt


@lru_cache(maxsize=8)
def _admissions(dtype_name: str, split_seed: int = LESSON_SEED) -> tuple[np.ndarray, ...]:
    # load_admissions(seed=split_seed).arrays(dtype), bit for bit, without importing pandas
    arrays = admissions_arrays(split_seed, DTYPES[dtype_name])
    for a in arrays:
        a.flags.writeable = False  # shared by every comparison in the process
    return arrays


@lru_cache(maxsize=8)
def _student(dtype_name: str, split_seed: int = STUDENT_SPLIT_SEED) -> tuple[np.ndarray, ...]:
    """The admissions data prepared the student-admissions notebook's way (read-only)."""
    arrays = load_student_admissions(split_seed=split_seed).arrays(DTYPES[dtype_name])
    for a in arrays:
        a.flags.writeable = False
    return arrays


@dataclass(frozen=True)
class Inputs:
    """What both backends are given: ``kwargs`` for the concept's function, and for training
    concepts the held-out ``features_test, targets_test`` (or ``None``) for the accuracy."""

    kwargs: dict[str, Any]
    test: tuple[Any, Any] | None = None


@dataclass(frozen=True)
class Concept:
    """One concept of the lesson, as the harness runs it."""

    name: str
    title: str
    kind: Literal["step", "training"]
    #: the lesson's values; the user may override any of them by keyword
    defaults: Mapping[str, Any]
    #: what the CLI table shows as "the" value of the concept
    headline: str
    build: Callable[[dict[str, Any], np.dtype], Inputs]
    #: training concepts: the backend functions ``f(features, targets, params)`` the harness
    #: logs and reports the loss with (``loss="mse"``, ``loss="sse"``) and scores the test
    #: split with; ``params`` is the weight vector, or the tuple of them when there are several
    loss_functions: tuple[str, str] = ("mse", "sse")
    #: ... and ``loss="bce"`` (binary cross-entropy)
    bce_function: str = "bce"
    accuracy_function: str = "accuracy"
    #: training concepts: ŷ of every record, ``f(features, params)`` (which side of the
    #: threshold a test row falls), and ∂E/∂params on a batch, ``f(features, targets, params,
    #: loss=...)`` (the common-state check of a step)
    forward_function: str = "forward"
    gradient_function: str = "gradient"
    #: the backends' function (and ``iter_`` + it) when it is not called ``name``
    function: str = ""
    #: the lesson log also shows the accuracy on the training records (the gradient-descent
    #: notebook prints it beside the loss)
    log_accuracy: bool = False
    #: one of the lesson's own concepts (run by default); ``False`` for the course's sibling
    #: notebooks (``gd-compare --concept NAME``)
    lesson: bool = True

    @property
    def function_name(self) -> str:
        """``backend.<function_name>`` runs the concept; training also has ``iter_`` + it."""
        return self.function or self.name

    def inputs(self, dtype: np.dtype | str = "float64", **overrides: Any) -> Inputs:
        """The keyword arguments for ``backend.<function_name>`` (or ``iter_`` + it), in
        ``dtype``."""
        unknown = sorted(set(overrides) - set(self.defaults))
        if unknown:
            raise TypeError(
                f"{self.name}: unknown parameter(s) {unknown}; known: {sorted(self.defaults)}"
            )
        if "split_seed" in overrides and (overrides.get("features") is not None
                                          or overrides.get("targets") is not None):
            raise ValueError("split_seed: chooses the 90/10 split of the bundled admissions data; "
                             "it does not apply to features and targets you give")
        params = {**self.defaults, **overrides}
        for flag in ("shuffle", "drop_last", "per_record"):
            if flag in params:
                params[flag] = check_flag(flag, params[flag])
        if "split_seed" in params:
            split = check_seed(params["split_seed"])
            if split is None:
                raise TypeError("split_seed: expected an int (the seed of the 90/10 split), got "
                                "None")
            params["split_seed"] = split
        dt = check_dtype(dtype)
        if "seed" in params:
            # one concrete seed for both backends: None would let each draw its own start/order
            seed = check_seed(params["seed"])
            params["seed"] = int(np.random.SeedSequence().generate_state(1)[0]) if seed is None \
                else seed
        return self.build(params, dt)


def _cast(value: Any, dtype: np.dtype) -> Any:
    """A float (or array) in ``dtype``; values that are not numbers are left for the backends'
    own checks to reject with a message naming the argument."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        return value
    if arr.dtype.kind not in "biuf":
        return value
    # no copy when the dtype already matches: every backend function copies its input anyway
    return arr.astype(dtype, copy=False) if arr.ndim else dtype.type(arr)


def _bias(p: dict[str, Any]) -> dict[str, Any]:
    """``{"bias": ...}`` unless it is the lesson's ``False``: a backend (or a learner's function)
    written without the option still runs the lesson's concepts."""
    return {} if p.get("bias") is False else {"bias": p["bias"]}


def _build_simple(p: dict[str, Any], dtype: np.dtype) -> Inputs:
    return Inputs({k: _cast(p[k], dtype) for k in ("x", "y", "w")} | {"lr": p["lr"]})


def _build_neuron(p: dict[str, Any], dtype: np.dtype) -> Inputs:
    return Inputs({k: _cast(p[k], dtype) for k in ("x", "y", "weights")} | {"lr": p["lr"]}
                  | _bias(p))


def _build_backprop_exercise(p: dict[str, Any], dtype: np.dtype) -> Inputs:
    names = ("x", "target", "weights_input_hidden", "weights_hidden_output")
    return Inputs({k: _cast(p[k], dtype) for k in names} | {"lr": p["lr"]} | _bias(p))


def _data(p: dict[str, Any], dtype: np.dtype, load: Callable[..., tuple[np.ndarray, ...]]
          = _admissions) -> tuple[Any, Any, tuple[Any, Any] | None]:
    """Features and targets (the bundled admissions data, prepared by ``load``, unless given)
    and the test split, checked here — before any training — with errors that name the
    argument."""
    if p["features"] is None and p["targets"] is None:
        if p["features_test"] is not None or p["targets_test"] is not None:
            raise ValueError("features_test and targets_test: give them with features and "
                             "targets (the bundled data brings its own test split)")
        X, y, X_test, y_test = load(dtype.name, p["split_seed"])
        return X, y, (X_test, y_test)
    if p["features"] is None or p["targets"] is None:
        raise ValueError("features and targets: give both, or neither for the bundled "
                         "admissions data")
    X, y, _ = check_dataset(p["features"], p["targets"])
    return X.astype(dtype, copy=False), y.astype(dtype, copy=False), _test_split(p, X, dtype)


def _test_split(p: dict[str, Any], X: np.ndarray, dtype: np.dtype) -> tuple[Any, Any] | None:
    """``features_test`` (n_test, d) and binary ``targets_test`` (n_test,), or neither."""
    if p["features_test"] is None and p["targets_test"] is None:
        return None
    if p["features_test"] is None or p["targets_test"] is None:
        raise ValueError("features_test and targets_test: give both (for the test accuracy) "
                         "or neither")
    X_test = as_float_array("features_test", p["features_test"], ndim=2)
    y_test = as_float_array("targets_test", p["targets_test"], ndim=1)
    if X_test.shape[0] == 0:
        raise ValueError("features_test: expected at least one record for the test accuracy, "
                         "got 0 rows")
    if X_test.shape[1] != X.shape[1]:
        raise ValueError(f"features_test: expected {X.shape[1]} columns like features, got "
                         f"shape {X_test.shape}")
    if X_test.shape[0] != y_test.shape[0]:
        raise ValueError(f"features_test and targets_test: need the same number of records, "
                         f"got {X_test.shape[0]} and {y_test.shape[0]}")
    check_binary("targets_test", y_test)
    return X_test.astype(dtype, copy=False), y_test.astype(dtype, copy=False)


def _training_data(p: dict[str, Any], dtype: np.dtype) -> Inputs:
    """Features and targets (the bundled admissions data unless given), the test split if any,
    and the lesson's starting weights drawn with ``seed``."""
    X, y, test = _data(p, dtype)
    weights = p["weights"]
    if weights is None:
        weights = initial_weights(np.shape(X)[1], seed=p["seed"], dtype=dtype)
    else:
        weights = _cast(weights, dtype)
    kwargs = {"features": X, "targets": y, "weights": weights, "lr": p["lr"],
              "epochs": p["epochs"], "loss": p["loss"], **_bias(p)}
    return Inputs(kwargs | {k: p[k] for k in OPTIMIZER_DEFAULTS}, test)


def _build_mse(p: dict[str, Any], dtype: np.dtype) -> Inputs:
    data = _training_data(p, dtype)
    return Inputs(data.kwargs | {"per_record": p["per_record"]}, data.test)


def _build_sgd(p: dict[str, Any], dtype: np.dtype) -> Inputs:
    data = _training_data(p, dtype)
    extra = {k: p[k] for k in ("batch_size", "seed", "shuffle", "drop_last")}
    return Inputs(data.kwargs | extra, data.test)


def _build_backprop(p: dict[str, Any], dtype: np.dtype) -> Inputs:
    """The data, and the network's start: the course's draw (:func:`initial_network_weights`
    with ``seed``, the sizes ``hidden``) unless ``weights`` (one array per layer) are given.
    Layer sizes that do not fit are left for the backends' checks, which name the layer."""
    X, y, test = _data(p, dtype)
    weights = p["weights"]
    if weights is None:
        try:
            sizes = check_hidden(p["hidden"])
        except (TypeError, ValueError):
            sizes = None  # the backends raise the error, naming the layer
        if sizes is not None and np.ndim(X) == 2:
            weights = initial_network_weights(np.shape(X)[1], sizes, seed=p["seed"], dtype=dtype)
    elif isinstance(weights, (list, tuple)):
        weights = tuple(_cast(w, dtype) for w in weights)
    kwargs = {"features": X, "targets": y, "weights": weights, "hidden": p["hidden"]}
    kwargs |= {k: p[k] for k in ("lr", "epochs", "batch_size", "seed", "shuffle", "drop_last",
                                 "per_record", "loss", *OPTIMIZER_DEFAULTS)}
    kwargs |= _bias(p)
    return Inputs(kwargs, test)


def _build_student_admissions(p: dict[str, Any], dtype: np.dtype) -> Inputs:
    """The notebook's data (:func:`~gd_compare.lesson.course.load_student_admissions`, split by
    ``split_seed``) unless given, and its start: seed-42 weights normal(scale=1/√d)."""
    X, y, test = _data(p, dtype, _student)
    weights = p["weights"]
    if weights is None and np.ndim(X) == 2:
        weights = initial_weights(np.shape(X)[1], seed=p["seed"], dtype=dtype)
    kwargs = {"features": X, "targets": y, "weights": _cast(weights, dtype)}
    return Inputs(kwargs | {k: p[k] for k in ("lr", "epochs", "loss", "per_record")}, test)


def _build_logistic(p: dict[str, Any], dtype: np.dtype) -> Inputs:
    """The course's ``data.csv`` read from ``data`` (not bundled: a ``ValueError`` says where to
    get it) unless ``features`` and ``targets`` are given; the seed-44 start, bias 0."""
    check_logistic_loss(p["loss"])
    if p["features"] is None and p["targets"] is None:
        X, y = read_gradient_descent_csv(p["data"])
    elif p["data"] is not None:
        raise ValueError("data: give the path of data.csv or features and targets, not both")
    elif p["features"] is None or p["targets"] is None:
        raise ValueError("features and targets: give both, or neither and data=PATH")
    else:
        X, y, _ = check_dataset(p["features"], p["targets"])
    X, y = X.astype(dtype, copy=False), y.astype(dtype, copy=False)
    weights = p["weights"]
    if weights is None:
        weights = initial_weights(X.shape[1], seed=p["seed"], dtype=dtype)
    elif isinstance(weights, (tuple, list)) and np.ndim(weights[0]) == 1:
        weights = tuple(_cast(w, dtype) for w in weights)
    else:
        weights = _cast(weights, dtype)
    kwargs = {"features": X, "targets": y, "weights": weights, "lr": p["lr"],
              "epochs": p["epochs"], "bias": True, "loss": "bce", "batch_size": 1,
              "shuffle": False}
    return Inputs(kwargs)


#: every training concept's optimizer and learning-rate scheduler (gd_compare.lesson.options); the
#: default is the lesson's plain SGD, no scheduler
OPTIMIZER_DEFAULTS: dict[str, Any] = {
    "optimizer": "sgd", "optimizer_kwargs": None, "scheduler": None, "scheduler_kwargs": None,
}


def _build_data_parallel(p: dict[str, Any], dtype: np.dtype) -> Inputs:
    """A data-parallel run: the single neuron's start (``hidden=None``: the lesson's draw with
    ``seed``) or a network's (``initial_network_weights`` with ``seed`` and the sizes
    ``hidden``), the data, K ``workers`` and the per-worker batch size, the optimizer and
    scheduler, and ``bias`` (the biases start at 0 on both sides)."""
    if p["hidden"] is None:
        weights = _training_data(p, dtype)
    else:
        weights = _build_backprop(p | {"per_record": False}, dtype)
    kwargs = {k: weights.kwargs[k] for k in ("features", "targets", "weights")}
    kwargs |= {k: p[k] for k in ("lr", "epochs", "batch_size", "workers", "hidden", "seed",
                                 "shuffle", "drop_last", "loss", "timeout",
                                 *OPTIMIZER_DEFAULTS)}
    return Inputs(kwargs | _bias(p), weights.test)


_DATA_DEFAULTS: dict[str, Any] = {
    "features": None, "targets": None, "features_test": None, "targets_test": None,
    "weights": None, "seed": LESSON_SEED, "loss": "mse", "split_seed": LESSON_SEED,
    "bias": False, **OPTIMIZER_DEFAULTS,
}

CONCEPTS: dict[str, Concept] = {
    c.name: c
    for c in (
        Concept("simple_step", "One weight, linear model, MSE (slope −24 → w 2.24)", "step",
                {"x": 3.0, "y": 10.0, "w": 2.0, "lr": 0.01}, "w", _build_simple),
        Concept("sigmoid_step", "One sigmoid neuron, one step (x=[0.1, 0.3])", "step",
                {"x": (0.1, 0.3), "y": 0.2, "weights": (-0.8, 0.5), "lr": 0.5, "bias": False},
                "weights", _build_neuron),
        Concept("sigmoid_exercise", "The exercise: x=[1, 2, 3, 4], change in weights", "step",
                {"x": (1.0, 2.0, 3.0, 4.0), "y": 0.5, "weights": (0.5, -0.5, 0.3, 0.1),
                 "lr": 0.5, "bias": False}, "del_w", _build_neuron),
        Concept("backprop_exercise", "The backprop exercise: one step of a 3-2-1 network",
                "step",
                {"x": (0.5, 0.1, -0.2), "target": 0.6,
                 "weights_input_hidden": ((0.5, -0.6), (0.1, -0.2), (0.1, 0.7)),
                 "weights_hidden_output": (0.1, -0.3), "lr": 0.5, "bias": False},
                "delta_w_h_o", _build_backprop_exercise),
        Concept("mse_training", "Full-batch MSE training on the admissions data", "training",
                _DATA_DEFAULTS | {"lr": 0.5, "epochs": 1000, "per_record": False},
                "train MSE", _build_mse),
        Concept("sgd_batching", "Mini-batch SGD, one shuffled permutation per epoch", "training",
                _DATA_DEFAULTS | {"lr": 0.5, "epochs": 100, "batch_size": 32, "shuffle": True,
                                  "drop_last": False}, "train MSE", _build_sgd),
        Concept("backprop", "Backpropagation through hidden sigmoid layers (course: 2 units)",
                "training",
                # the course's backprop quiz: its data_prep split with seed 21, and seed 21 again
                # for the weights
                _DATA_DEFAULTS | {"seed": BACKPROP_SEED, "split_seed": BACKPROP_SEED,
                                  "lr": 0.005, "epochs": 900,
                                  "hidden": (2,), "batch_size": None, "shuffle": True,
                                  "drop_last": False, "per_record": False},
                "train MSE", _build_backprop,
                loss_functions=("network_mse", "network_sse"), bce_function="network_bce",
                accuracy_function="network_accuracy", function="backprop_training",
                forward_function="network_forward", gradient_function="network_gradient"),
        Concept("data_parallel", "Data-parallel SGD: K workers, one all-reduce (torch.distributed)",
                "training",
                _DATA_DEFAULTS
                | {"lr": 0.5, "epochs": 20, "batch_size": 30, "workers": 2, "hidden": None,
                   "shuffle": True, "drop_last": False, "timeout": 60.0},
                "train MSE", _build_data_parallel,
                loss_functions=("data_parallel_mse", "data_parallel_sse"),
                bce_function="data_parallel_bce",
                accuracy_function="data_parallel_accuracy",
                forward_function="data_parallel_forward",
                gradient_function="data_parallel_gradient"),
        Concept("student_admissions",
                "The course's \"Predicting Student Admissions\": summed loss, lr 0.0001",
                "training",
                {"features": None, "targets": None, "features_test": None, "targets_test": None,
                 "weights": None, "seed": STUDENT_WEIGHT_SEED, "split_seed": STUDENT_SPLIT_SEED,
                 "lr": 0.0001, "epochs": 1000, "loss": "bce", "per_record": False},
                "train log-loss", _build_student_admissions,
                loss_functions=("bce", "bce"), gradient_function="summed_gradient",
                lesson=False),
        Concept("logistic_regression",
                "The course's \"Implementing the Gradient Descent Algorithm\": per record",
                "training",
                {"data": None, "features": None, "targets": None, "weights": None,
                 "seed": LOGISTIC_SEED, "lr": 0.01, "epochs": 100, "loss": "bce"},
                "train log-loss", _build_logistic, loss_functions=("bce", "bce"),
                log_accuracy=True, lesson=False),
    )
}

#: The lesson's own concepts, what ``gd-compare`` runs by default (the course's sibling
#: notebooks run when named).
LESSON_CONCEPTS: tuple[str, ...] = tuple(n for n, c in CONCEPTS.items() if c.lesson)


def get_concept(name: str) -> Concept:
    """The concept called ``name``; a ``ValueError`` lists the known ones otherwise."""
    try:
        return CONCEPTS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"concept: unknown concept {name!r}; known concepts: {', '.join(CONCEPTS)}"
        ) from None
