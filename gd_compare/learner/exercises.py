"""The lesson's exercises as :func:`gd_compare.learner.check.check` gives them to a learner's
function.

One :class:`Exercise` per concept says what the learner's function is given (the lesson's names
and shapes), what it returns, and how the PyTorch autograd twin (:mod:`gd_compare.torch_backend`,
which writes no derivative) takes the same step from the same state. The signatures:

===================  ==========================================================================
concept              learner's function
===================  ==========================================================================
simple_step          ``fn(x, y, w, learnrate) -> new_w``
sigmoid_step         ``fn(x, y, weights, learnrate) -> del_w``  (also ``sigmoid_exercise``)
mse_training         ``fn(features, targets, weights, learnrate) -> weights``  (one epoch)
sgd_batching         ``fn(features, targets, weights, learnrate) -> weights``  (one batch), or
                     ``fn(features, targets, weights, learnrate, batch_size, rng) -> weights``
                     (one epoch: shuffle with ``rng.permutation(n)``, then the batches in order)
backprop             ``fn(features, targets, weights_input_hidden, weights_hidden_output,
                     learnrate) -> (weights_input_hidden, weights_hidden_output)`` (one epoch)
backprop_exercise    ``fn(x, target, weights_input_hidden, weights_hidden_output, learnrate)
                     -> (delta_w_i_h, delta_w_h_o)``  (the course's one step, 3-2-1)
gradient             ``fn(features, targets, weights) -> gradient``  (∂E/∂w of E = ½·MSE)
network_gradient     ``fn(features, targets, weights) -> gradients`` (one per layer of
                     ``weights`` = (W_1, ..., W_L, w_out))
===================  ==========================================================================

Functions that return weights may instead update them in place (``weights += ...``) and return
the same array or ``None``; they may also return ``(weights, loss)`` (backprop:
``(weights_input_hidden, weights_hidden_output, loss)``), and the loss — of the batch, at the
weights the step was taken from — is checked too. Every call gets fresh copies of the arrays.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gd_compare.lesson.concepts import _admissions, check_dtype
from gd_compare.lesson.core import BatchOrder, check_count, check_lr, check_seed
from gd_compare.lesson.data import (
    BACKPROP_SEED,
    LESSON_SEED,
    initial_network_weights,
    initial_weights,
)

State = tuple[np.ndarray, ...]


class ReturnError(Exception):
    """The learner's function returned something that is not what the concept expects."""

    def __init__(self, problem: str, message: str) -> None:
        super().__init__(message)
        self.problem = problem


@dataclass(frozen=True)
class Where:
    """Which update: ``step`` (1-based), ``epoch`` (0-based) and ``batch`` (0-based in the
    epoch, when there are several), plus the rows of ``features`` the step sees (None: all)."""

    step: int
    epoch: int | None = None
    batch: int | None = None
    rows: np.ndarray | slice | None = None
    #: the one-epoch form of sgd_batching: the epoch's batches, in order
    batches: tuple = ()


@dataclass
class Run:
    """One check's fixed inputs: the data, the learning rate, the start and the step plan."""

    exercise: Exercise
    dtype: np.dtype
    lr: float
    start: State
    X: np.ndarray | None = None
    y: np.ndarray | None = None
    values: dict[str, Any] = field(default_factory=dict)
    plan: list[Where] = field(default_factory=list)
    #: one-epoch sgd_batching: the learner shuffles with an rng
    epoch_form: bool = False
    #: what a reference builds once per check and reuses (``_ref_update_weights``'s step)
    #: (not an argument: a ``dataclasses.replace`` copy starts with its own, empty)
    kept: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def session(self, at_step: int = 1) -> dict[str, Any]:
        """Per-caller extras, as they are before ``at_step``: the rng of the epoch form,
        advanced past the permutations of the earlier epochs."""
        if not self.epoch_form:
            return {}
        rng = np.random.default_rng(self.values["seed"])
        for _ in range(at_step - 1):
            rng.permutation(len(self.y))
        return {"batch_size": self.values["batch_size"], "rng": rng}


def _tb():
    from gd_compare import torch_backend

    return torch_backend


def _copy(state: State) -> State:
    return tuple(np.array(a, copy=True) for a in state)


def _float_out(name: str, value: Any, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """The learner's ``value`` as an array of ``shape``; anything else is a :class:`ReturnError`
    naming it. Right values in another shape of the same size are kept (the caller says so)."""
    if value is None:
        raise ReturnError("returned None", f"returned None for {name}: return {name}")
    try:
        arr = np.asarray(value)
    except Exception as exc:
        raise ReturnError("wrong type", f"returned {type(value).__name__} for {name}, not an "
                          f"array ({exc})") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise ReturnError("wrong dtype", f"returned {name} of dtype {arr.dtype}: expected "
                          f"{dtype.name} numbers")
    if arr.dtype.kind != "f":
        raise ReturnError("wrong dtype", f"returned {name} as {arr.dtype} (whole numbers): "
                          f"expected {dtype.name} — an integer array truncates every step")
    if arr.dtype.itemsize < dtype.itemsize:
        raise ReturnError("wrong dtype", f"returned {name} as {arr.dtype} in a {dtype.name} "
                          f"run: the precision is lost")
    if arr.shape != shape and arr.size != int(np.prod(shape)):
        raise ReturnError("wrong shape", f"returned {name} of shape {arr.shape}: expected "
                          f"{shape}")
    return arr


def _split_loss(result: Any, n: int) -> tuple[Any, Any]:
    """``(things, loss)`` when the learner appended a scalar loss to its ``n`` results."""
    if isinstance(result, tuple) and len(result) == n + 1 and np.ndim(result[-1]) == 0 \
            and result[-1] is not None:
        return (result[0] if n == 1 else result[:-1]), result[-1]
    return result, None


@dataclass(frozen=True)
class Exercise:
    """One concept as a learner's function meets it (see the module docstring)."""

    name: str
    signature: str
    #: the quantities the learner's function returns, in order
    quantities: Callable[[Run], tuple[str, ...]]
    defaults: dict[str, Any]
    setup: Callable[[Exercise, dict[str, Any], np.dtype], Run]
    #: the learner's arguments for one step, from a state (fresh copies)
    args: Callable[[Run, np.ndarray, np.ndarray, State, dict[str, Any]], tuple]
    #: the twin's step from a state on the given rows: (quantities, next state, loss or None)
    reference: Callable[[Run, np.ndarray, np.ndarray, State, Where], tuple]
    #: the learner's return value (and the arguments it was given) → quantities, loss
    read: Callable[[Run, Any, tuple], tuple[dict[str, np.ndarray], float | None]]
    #: True when the quantities are the new weights (the change is value − state)
    returns_weights: bool = True
    #: records can be localised by running the step on the first r rows
    by_record: bool = True
    #: the course's small functions run inside its own loop: ``wrap(fn, run)`` is the
    #: learner-shaped step function around the learner's ``fn`` (e.g. the notebook's epoch
    #: around ``error_term_formula``); ``None``: ``fn`` is the step itself
    wrap: Callable[[Callable[..., Any], Run], Callable[..., Any]] | None = None

    def start(self, params: dict[str, Any], dtype: np.dtype | str) -> Run:
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise TypeError(f"{self.name}: unknown parameter(s) {unknown}; known: "
                            f"{sorted(self.defaults)}")
        return self.setup(self, {**self.defaults, **params}, check_dtype(dtype))

    def rows(self, run: Run, where: Where) -> tuple[np.ndarray | None, np.ndarray | None]:
        if run.X is None:
            return None, None
        if where.rows is None:
            return run.X, run.y
        return run.X[where.rows], run.y[where.rows]


# --------------------------------------------------------------------------- one-step concepts


def _scalar(value: Any, dtype: np.dtype) -> np.ndarray:
    return np.asarray(value, dtype=dtype)[()]


def _setup_simple(ex: Exercise, p: dict[str, Any], dt: np.dtype) -> Run:
    values = {k: _scalar(p[k], dt) for k in ("x", "y")}
    return Run(ex, dt, check_lr(p["lr"]), (np.asarray(p["w"], dtype=dt),), values=values,
               plan=[Where(1)])


def _args_simple(run, X, y, state, session):
    return (run.values["x"], run.values["y"], state[0][()], run.lr)


def _ref_simple(run, X, y, state, where):
    r = _tb().simple_step(run.values["x"], run.values["y"], state[0][()], run.lr)
    w = np.asarray(r.w, dtype=run.dtype)
    return {"w": w}, (w,), None


def _read_simple(run, result, args):
    return {"w": _float_out("new_w", result, (), run.dtype)}, None


def _setup_neuron(ex: Exercise, p: dict[str, Any], dt: np.dtype) -> Run:
    values = {"x": np.asarray(p["x"], dtype=dt), "y": _scalar(p["y"], dt)}
    w = np.asarray(p["weights"], dtype=dt)
    return Run(ex, dt, check_lr(p["lr"]), (w,), values=values, plan=[Where(1)])


def _args_neuron(run, X, y, state, session):
    return (run.values["x"].copy(), run.values["y"], state[0].copy(), run.lr)


def _ref_neuron(run, X, y, state, where):
    r = _tb().sigmoid_step(run.values["x"], run.values["y"], state[0], run.lr)
    return {"del_w": np.asarray(r.del_w)}, (np.asarray(r.weights),), None


def _read_neuron(run, result, args):
    return {"del_w": _float_out("del_w", result, run.start[0].shape, run.dtype)}, None


# --------------------------------------------------------------------------- training concepts


def _data(p: dict[str, Any], dt: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    if p["features"] is None and p["targets"] is None:
        X, y, _, _ = _admissions(dt.name)
        return X, y
    if p["features"] is None or p["targets"] is None:
        raise ValueError("features and targets: give both, or neither for the bundled data")
    from gd_compare.lesson.core import check_dataset

    X, y, _ = check_dataset(p["features"], p["targets"])
    return X.astype(dt), y.astype(dt)


def _neuron_start(p: dict[str, Any], X: np.ndarray, dt: np.dtype) -> np.ndarray:
    if p["weights"] is None:
        return initial_weights(X.shape[1], seed=_seed(p, LESSON_SEED), dtype=dt)
    from gd_compare.lesson.core import check_dataset

    _, _, w = check_dataset(X, None, p["weights"])
    return w.astype(dt)


def _seed(p: dict[str, Any], default: int) -> int:
    seed = check_seed(p["seed"])
    return default if seed is None else seed


def _epochs_plan(epochs: int) -> list[Where]:
    return [Where(e + 1, e) for e in range(check_count("epochs", epochs))]


def _setup_epoch(ex: Exercise, p: dict[str, Any], dt: np.dtype) -> Run:
    X, y = _data(p, dt)
    return Run(ex, dt, check_lr(p["lr"]), (_neuron_start(p, X, dt),), X, y,
               plan=_epochs_plan(p["epochs"]))


def _args_weights(run, X, y, state, session):
    return (X.copy(), y.copy(), state[0].copy(), run.lr, *session.values())


def _ref_epoch(run, X, y, state, where):
    step = next(_tb().iter_mse_training(X, y, state[0], run.lr, epochs=1))
    w = step.params[0].copy()
    return {"weights": w}, (w,), step.loss


def _read_weights(run, result, args):
    result, loss = _split_loss(result, 1)
    if result is None:
        result = args[2]  # updated in place
    return {"weights": _float_out("weights", result, run.start[0].shape, run.dtype)}, loss


def _setup_sgd(ex: Exercise, p: dict[str, Any], dt: np.dtype) -> Run:
    X, y = _data(p, dt)
    n = len(y)
    size = check_count("batch_size", p["batch_size"], high=n)
    seed = _seed(p, LESSON_SEED)
    epoch_form = bool(p["epoch_form"])
    if epoch_form and size == n:
        raise ValueError(f"batch_size: the one-epoch form shuffles, so it needs batches "
                         f"smaller than the {n} records, got {size}")
    order = BatchOrder(n, size, seed=seed)
    plan: list[Where] = []
    for e in range(check_count("epochs", p["epochs"])):
        batches = tuple(order)
        if epoch_form:
            plan.append(Where(e + 1, e, batches=batches))
        else:
            plan.extend(Where(len(plan) + 1, e, b, rows) for b, rows in enumerate(batches))
    values = {"seed": seed, "batch_size": size}
    return Run(ex, dt, check_lr(p["lr"]), (_neuron_start(p, X, dt),), X, y, values=values,
               plan=plan, epoch_form=epoch_form)


def _ref_sgd(run, X, y, state, where):
    if not where.batches:
        return _ref_epoch(run, X, y, state, where)
    w = state[0]
    for rows in where.batches:
        w = _ref_epoch(run, X[rows], y[rows], (w,), where)[1][0]
    return {"weights": w}, (w,), None


def _setup_backprop(ex: Exercise, p: dict[str, Any], dt: np.dtype) -> Run:
    X, y = _data(p, dt)
    hidden = check_count("hidden", p["hidden"])
    if p["weights"] is None:
        start = initial_network_weights(X.shape[1], (hidden,), seed=_seed(p, BACKPROP_SEED),
                                        dtype=dt)
    else:
        from gd_compare.lesson.core import check_network

        _, _, start, _ = check_network(X, y, p["weights"], (hidden,))
    return Run(ex, dt, check_lr(p["lr"]), tuple(w.astype(dt) for w in start), X, y,
               values={"hidden": (hidden,)}, plan=_epochs_plan(p["epochs"]))


def _args_backprop(run, X, y, state, session):
    return (X.copy(), y.copy(), state[0].copy(), state[1].copy(), run.lr)


def _ref_network_step(run, X, y, state):
    step = next(_tb().iter_backprop_training(X, y, state, run.lr, epochs=1,
                                             hidden=run.values["hidden"]))
    return tuple(p.copy() for p in step.params), step.loss


_BACKPROP_NAMES = ("weights_input_hidden", "weights_hidden_output")


def _ref_backprop(run, X, y, state, where):
    new, loss = _ref_network_step(run, X, y, state)
    return dict(zip(_BACKPROP_NAMES, new)), new, loss


def _read_backprop(run, result, args):
    result, loss = _split_loss(result, 2)
    if result is None:
        result = (args[2], args[3])  # updated in place
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise ReturnError("wrong return", f"returned {type(result).__name__}: expected the "
                          f"tuple (weights_input_hidden, weights_hidden_output)")
    out = {name: _float_out(name, r, s.shape, run.dtype)
           for name, r, s in zip(_BACKPROP_NAMES, result, run.start)}
    return out, loss


# --------------------------------------------------------------------------- gradients


def _args_gradient(run, X, y, state, session):
    return (X.copy(), y.copy(), state[0].copy())


def _ref_gradient(run, X, y, state, where):
    g = _tb().gradient(X, y, state[0])
    step = next(_tb().iter_mse_training(run.X, run.y, state[0], run.lr, epochs=1))
    return {"gradient": g}, (step.params[0].copy(),), None


def _read_gradient(run, result, args):
    return {"gradient": _float_out("gradient", result, run.start[0].shape, run.dtype)}, None


def _setup_network_gradient(ex: Exercise, p: dict[str, Any], dt: np.dtype) -> Run:
    X, y = _data(p, dt)
    from gd_compare.lesson.core import check_hidden, check_network

    sizes = check_hidden(p["hidden"])
    if p["weights"] is None:
        start = initial_network_weights(X.shape[1], sizes, seed=_seed(p, BACKPROP_SEED),
                                        dtype=dt)
    else:
        _, _, start, _ = check_network(X, y, p["weights"], sizes)
    return Run(ex, dt, check_lr(p["lr"]), tuple(w.astype(dt) for w in start), X, y,
               values={"hidden": sizes}, plan=_epochs_plan(p["epochs"]))


def _grad_names(run: Run) -> tuple[str, ...]:
    return tuple(f"gradient[{k}]" for k in range(len(run.start)))


def _args_network_gradient(run, X, y, state, session):
    return (X.copy(), y.copy(), tuple(w.copy() for w in state))


def _ref_network_gradient(run, X, y, state, where):
    grads = _tb().network_gradient(X, y, state)
    new, _ = _ref_network_step(run, run.X, run.y, state)
    return dict(zip(_grad_names(run), grads)), new, None


def _read_network_gradient(run, result, args):
    names = _grad_names(run)
    if not isinstance(result, (tuple, list)) or len(result) != len(names):
        raise ReturnError("wrong return", f"returned {type(result).__name__}"
                          f"{'' if not isinstance(result, (tuple, list)) else f' of {len(result)}'}"
                          f": expected a tuple of {len(names)} gradients, one per layer")
    return {n: _float_out(n, r, s.shape, run.dtype)
            for n, r, s in zip(names, result, run.start)}, None


# --------------------------------------------------------------------------- backprop_exercise


def _setup_backprop_exercise(ex: Exercise, p: dict[str, Any], dt: np.dtype) -> Run:
    from gd_compare.lesson.core import check_backprop_inputs

    x, t, w_ih, w_ho = check_backprop_inputs(p["x"], p["target"], p["weights_input_hidden"],
                                             p["weights_hidden_output"])
    values = {"x": x.astype(dt), "target": np.asarray(t, dtype=dt)[()]}
    return Run(ex, dt, check_lr(p["lr"]), (w_ih.astype(dt), w_ho.astype(dt)), values=values,
               plan=[Where(1)])


def _args_backprop_exercise(run, X, y, state, session):
    return (run.values["x"].copy(), run.values["target"], state[0].copy(), state[1].copy(),
            run.lr)


_DELTA_NAMES = ("delta_w_i_h", "delta_w_h_o")


def _ref_backprop_exercise(run, X, y, state, where):
    r = _tb().backprop_exercise(run.values["x"], run.values["target"], state[0], state[1],
                                run.lr)
    return ({"delta_w_i_h": np.asarray(r.delta_w_i_h), "delta_w_h_o": np.asarray(r.delta_w_h_o)},
            (np.asarray(r.weights_input_hidden), np.asarray(r.weights_hidden_output)), None)


def _read_backprop_exercise(run, result, args):
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise ReturnError("wrong return", f"returned {type(result).__name__}: expected the "
                          f"tuple (delta_w_i_h, delta_w_h_o)")
    shapes = tuple(np.shape(r) for r in result)
    if shapes == (run.start[1].shape, run.start[0].shape):
        raise ReturnError("wrong return", "returned (delta_w_h_o, delta_w_i_h) — the order "
                          "the course prints them in: return (delta_w_i_h, delta_w_h_o)")
    return {name: _float_out(name, r, s.shape, run.dtype)
            for name, r, s in zip(_DELTA_NAMES, result, run.start)}, None


# --------------------------------------------------------------------------- the course notebooks
#
# "Predicting Student Admissions" (student_admissions, error_term_formula) and "Implementing the
# Gradient Descent Algorithm" (sigmoid, output_formula, error_formula, update_weights):
# gd_compare.lesson.course and the ``course`` modules of both backends.

#: the losses each loop of the student-admissions notebook descends (its "current" loop sums
#: over the records, its "older" one takes the mean): gd_compare.learner.notebook_loop
LOOP_LOSSES: dict[str, tuple[str, ...]] = {"current": ("bce", "sse"), "older": ("mse", "bce")}


def _student_data(p: dict[str, Any], dt: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    if p["features"] is None and p["targets"] is None:
        from gd_compare.lesson.concepts import _student

        X, y, _, _ = _student(dt.name, p["split_seed"])
        return X, y
    return _data(p, dt)


def _setup_student(ex: Exercise, p: dict[str, Any], dt: np.dtype) -> Run:
    loop = p["loop"]
    if loop not in LOOP_LOSSES:
        raise ValueError(f"loop: expected 'current' (del_w += error_term, no / n_records) or "
                         f"'older' (del_w += error_term * x, / n_records), got {loop!r}")
    loss = LOOP_LOSSES[loop][0] if p["loss"] is None else p["loss"]
    if loss not in LOOP_LOSSES[loop]:
        raise ValueError(f"loss: the {loop} loop descends {' or '.join(LOOP_LOSSES[loop])}, "
                         f"got {loss!r}")
    X, y = _student_data(p, dt)
    lr = (0.0001 if loop == "current" else 0.5) if p["lr"] is None else p["lr"]
    start = _neuron_start({**p, "seed": _seed(p, 42)}, X, dt)
    return Run(ex, dt, check_lr(lr), (start,), X, y, values={"loss": loss, "loop": loop},
               plan=_epochs_plan(p["epochs"]))


def _ref_student(run, X, y, state, where):
    """One epoch of the loop: autograd on the summed loss (current) or the mean (older)."""
    tb = _tb()
    if run.values["loop"] == "current":
        step = next(tb.iter_student_admissions(X, y, state[0], run.lr, epochs=1,
                                               loss=run.values["loss"]))
    else:
        step = next(tb.iter_mse_training(X, y, state[0], run.lr, epochs=1,
                                         loss=run.values["loss"]))
    w = step.params[0].copy()
    return {"weights": w}, (w,), None


def _read_epoch_weights(run, result, args):
    if result is None:
        result = args[2]  # updated in place
    return {"weights": _float_out("weights", result, run.start[0].shape, run.dtype)}, None


def _wrap_formula(fn: Callable[..., Any], run: Run) -> Callable[..., Any]:
    """The loop's epoch around the learner's formula; the older notebook's
    ``error_term_formula(y, output)`` (no x: its loop multiplies by x) is called as such."""
    from gd_compare.learner.notebook_loop import epoch_of

    try:
        inspect.signature(fn).bind("x", "y", "output")
    except TypeError:
        two = fn

        def fn(x: Any, y: Any, output: Any) -> Any:
            return two(y, output)
    except ValueError:  # no signature to read: called with (x, y, output)
        pass
    return epoch_of(fn, run.values["loop"])


def _logistic_data(p: dict[str, Any], dt: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """The course's data.csv at ``data``; else ``features``/``targets``; else (it is not
    bundled) two features of the bundled admissions data prepared the notebook's way:
    gre/800 and gpa/4."""
    if p["data"] is not None:
        from gd_compare.lesson.course import read_gradient_descent_csv

        X, y = read_gradient_descent_csv(p["data"])
        return X.astype(dt), y.astype(dt)
    if p["features"] is None and p["targets"] is None:
        from gd_compare.lesson.concepts import _student

        X, y, _, _ = _student(dt.name, 42)
        return np.ascontiguousarray(X[:, :2]), y
    return _data(p, dt)


def _setup_update_weights(ex: Exercise, p: dict[str, Any], dt: np.dtype) -> Run:
    X, y = _logistic_data(p, dt)
    start = (_neuron_start({**p, "seed": _seed(p, 44)}, X, dt), np.zeros(1, dtype=dt))
    n = len(y)
    plan = [Where(e * n + i + 1, e, i, slice(i, i + 1))
            for e in range(check_count("epochs", p["epochs"])) for i in range(n)]
    return Run(ex, dt, check_lr(p["lr"]), start, X, y, plan=plan)


def _args_update_weights(run, X, y, state, session):
    return (X[0].copy(), y[0].item(), state[0].copy(), state[1].item(), run.lr)


def _ref_update_weights(run, X, y, state, where):
    """``iter_logistic_regression``'s first step on the first record of X from ``state``: its
    step (``_RecordStep``) built once per check and restarted from each state (thousands per
    check; building the Neuron and the optimizer was 70% of the check)."""
    from gd_compare.lesson.core import check_neuron_data, raise_if_diverged
    from gd_compare.torch_backend.course import _RecordStep

    X, y, params = check_neuron_data(X, y, state)
    key = ("record_step", run.lr, params[0].dtype.str, len(params))
    step = run.kept.get(key)
    if step is None:
        step = run.kept[key] = _RecordStep(params, run.lr)
    step.restart(params)
    loss = step.on_row(X, y)
    raise_if_diverged("logistic_regression", loss, run.lr, epoch=0, batch=0, index=1,
                      params=step.params)
    w, b = (p.copy() for p in step.params)
    return {"weights": w, "bias": b}, (w, b), None


def _read_update_weights(run, result, args):
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise ReturnError("wrong return", f"returned {type(result).__name__}: expected the "
                          f"tuple (weights, bias)")
    w = _float_out("weights", result[0], run.start[0].shape, run.dtype)
    b = np.reshape(_float_out("bias", result[1], (), run.dtype), (1,))
    return {"weights": w, "bias": b}, None


# --------------------------------------------------------------------------- the exercises

_DATA = {"features": None, "targets": None, "weights": None}


def _fixed(*names: str) -> Callable[[Run], tuple[str, ...]]:
    return lambda run: names


_NEURON = {"quantities": _fixed("del_w"), "setup": _setup_neuron, "args": _args_neuron,
           "reference": _ref_neuron, "read": _read_neuron, "returns_weights": False,
           "by_record": False}

EXERCISES: dict[str, Exercise] = {e.name: e for e in (
    Exercise("simple_step", "fn(x, y, w, learnrate) -> new_w", _fixed("w"),
             {"x": 3.0, "y": 10.0, "w": 2.0, "lr": 0.01}, _setup_simple, _args_simple,
             _ref_simple, _read_simple, by_record=False),
    Exercise("sigmoid_step", "fn(x, y, weights, learnrate) -> del_w",
             defaults={"x": (0.1, 0.3), "y": 0.2, "weights": (-0.8, 0.5), "lr": 0.5},
             **_NEURON),
    Exercise("sigmoid_exercise", "fn(x, y, weights, learnrate) -> del_w",
             defaults={"x": (1.0, 2.0, 3.0, 4.0), "y": 0.5, "weights": (0.5, -0.5, 0.3, 0.1),
                       "lr": 0.5}, **_NEURON),
    Exercise("mse_training", "fn(features, targets, weights, learnrate) -> weights  (one epoch)",
             _fixed("weights"), _DATA | {"seed": LESSON_SEED, "lr": 0.5, "epochs": 1000},
             _setup_epoch, _args_weights, _ref_epoch, _read_weights),
    Exercise("sgd_batching",
             "fn(features, targets, weights, learnrate) -> weights  (one batch), or "
             "fn(features, targets, weights, learnrate, batch_size, rng) -> weights  "
             "(one epoch)", _fixed("weights"),
             _DATA | {"seed": LESSON_SEED, "lr": 0.5, "epochs": 100, "batch_size": 32,
                      "epoch_form": False},
             _setup_sgd, _args_weights, _ref_sgd, _read_weights),
    Exercise("backprop",
             "fn(features, targets, weights_input_hidden, weights_hidden_output, learnrate) "
             "-> (weights_input_hidden, weights_hidden_output)  (one epoch)",
             _fixed(*_BACKPROP_NAMES),
             _DATA | {"seed": BACKPROP_SEED, "lr": 0.005, "epochs": 900, "hidden": 2},
             _setup_backprop, _args_backprop, _ref_backprop, _read_backprop),
    Exercise("backprop_exercise",
             "fn(x, target, weights_input_hidden, weights_hidden_output, learnrate) -> "
             "(delta_w_i_h, delta_w_h_o)", _fixed(*_DELTA_NAMES),
             {"x": (0.5, 0.1, -0.2), "target": 0.6,
              "weights_input_hidden": ((0.5, -0.6), (0.1, -0.2), (0.1, 0.7)),
              "weights_hidden_output": (0.1, -0.3), "lr": 0.5},
             _setup_backprop_exercise, _args_backprop_exercise, _ref_backprop_exercise,
             _read_backprop_exercise, returns_weights=False, by_record=False),
    Exercise("gradient", "fn(features, targets, weights) -> gradient  (∂E/∂w, E = ½·MSE)",
             _fixed("gradient"), _DATA | {"seed": LESSON_SEED, "lr": 0.5, "epochs": 10},
             _setup_epoch, _args_gradient, _ref_gradient, _read_gradient,
             returns_weights=False),
    Exercise("network_gradient",
             "fn(features, targets, weights) -> (∂E/∂W_1, ..., ∂E/∂w_out)  (E = ½·MSE)",
             _grad_names, _DATA | {"seed": BACKPROP_SEED, "lr": 0.5, "epochs": 10,
                                   "hidden": (3, 3)},
             _setup_network_gradient, _args_network_gradient, _ref_network_gradient,
             _read_network_gradient, returns_weights=False),
    Exercise("student_admissions",
             "fn(features, targets, weights, learnrate) -> weights  (one epoch of the "
             "notebook's loop)", _fixed("weights"),
             _DATA | {"seed": 42, "split_seed": 42, "lr": None, "epochs": 100, "loss": None,
                      "loop": "current"},
             _setup_student, _args_weights, _ref_student, _read_epoch_weights),
    Exercise("error_term_formula",
             "fn(x, y, output) -> error_term  (inside the notebook's loop; which loss it "
             "descends), or the older notebook's fn(y, output)", _fixed("weights"),
             _DATA | {"seed": 42, "split_seed": 42, "lr": None, "epochs": 100, "loss": None,
                      "loop": "current"},
             _setup_student, _args_weights, _ref_student, _read_epoch_weights,
             wrap=_wrap_formula),
    Exercise("update_weights",
             "fn(x, y, weights, bias, learnrate) -> (weights, bias)  (one record)",
             _fixed("weights", "bias"),
             _DATA | {"data": None, "seed": 44, "lr": 0.01, "epochs": 1},
             _setup_update_weights, _args_update_weights, _ref_update_weights,
             _read_update_weights, by_record=False),
)}


def as_course_inputs(args: tuple) -> tuple:
    """The course's pandas objects in place of ``features, targets`` (the first two arguments):
    ``features`` a DataFrame (the lesson's column names ``gre, gpa, rank_1, ...`` when it has
    six columns), ``targets`` the Series ``admit`` — as ``train_data.drop('admit', axis=1)`` and
    ``train_data['admit']`` give them."""
    import pandas as pd

    from gd_compare.lesson.data import FEATURE_COLUMNS

    X, y, *rest = args
    X = np.asarray(X)
    columns = (list(FEATURE_COLUMNS) if X.ndim == 2 and X.shape[1] == len(FEATURE_COLUMNS)
               else [f"x{k}" for k in range(X.shape[-1])])
    return (pd.DataFrame(X, columns=columns), pd.Series(np.asarray(y), name="admit"), *rest)


def forms(ex: Exercise) -> list[tuple[str, ...]]:
    """The parameter lists of the forms ``ex.signature`` documents (``fn(a, b, c)`` each)."""
    return [tuple(p.strip() for p in group.split(",") if p.strip())
            for group in re.findall(r"fn\(([^)]*)\)", ex.signature)]


def signature_problem(ex: Exercise, fn: Callable[..., Any],
                      extra: tuple[str, ...] = ()) -> str | None:
    """``None`` when ``fn`` can be called with the arguments of one of the concept's forms;
    else one line: which forms the concept takes and which parameter did not fit. ``extra``:
    more documented forms (the whole-run ``train_nn``) to list."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None  # a builtin or C function: nothing to read, try it
    why = []
    for form in forms(ex):
        try:
            sig.bind(*form)
            return None
        except TypeError as exc:
            why.append(_misfit(sig, form, exc))
    listed = "; ".join([*(f"fn({', '.join(f)})" for f in forms(ex)), *extra])
    name = getattr(fn, "__name__", "fn")
    return (f"{name}{sig} fits none of {ex.name}'s forms ({listed}): {why[0]} — rename or "
            f"reorder its parameters to one of these")


def _misfit(sig: inspect.Signature, form: tuple[str, ...], exc: TypeError) -> str:
    """Which parameter did not fit ``form``, in words."""
    positional = [p.name for p in sig.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) < len(form):
        return (f"it takes {len(positional)} parameter(s), fn({', '.join(form)}) passes "
                f"{len(form)} ({', '.join(form[len(positional):])} would have no parameter)")
    missing = re.search(r"'(\w+)'", str(exc))
    if missing:
        return f"its parameter {missing.group(1)!r} gets no value in fn({', '.join(form)})"
    return str(exc)


def takes_rng(fn: Callable[..., Any]) -> bool:
    """True when ``fn`` has a parameter named ``rng`` (the one-epoch form of sgd_batching)."""
    try:
        return "rng" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def get_exercise(name: str) -> Exercise:
    """The exercise called ``name``; a ``ValueError`` lists the known ones otherwise."""
    try:
        return EXERCISES[name]
    except (KeyError, TypeError):
        raise ValueError(f"concept: unknown concept {name!r}; known: "
                         f"{', '.join(EXERCISES)}") from None


__all__ = ["EXERCISES", "LOOP_LOSSES", "Exercise", "ReturnError", "Run", "Where",
           "as_course_inputs", "forms", "get_exercise", "signature_problem", "takes_rng"]
