"""What both backends share, and nothing that differs between them.

- input checks (``ValueError``/``TypeError`` naming the argument; inputs are copied, never mutated);
- the batch order: one permutation per epoch from one seed, so both backends see the same rows;
- the records a concept returns (:class:`SimpleStep`, :class:`NeuronStep`,
  :class:`BackpropStep`, :class:`Step`, :class:`Training`) and the loop that turns a stream
  of steps into a :class:`Training`;
- the lesson's log ("Train loss: ...", "WARNING - Loss Increasing").

No derivative lives here and nothing imports torch: a learner reads the math in
``numpy_backend`` and ``torch_backend``, side by side.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "LOGS",
    "MAX_NETWORK_WEIGHTS",
    "REDUCTIONS",
    "BackpropStep",
    "Batch",
    "BatchOrder",
    "DivergenceError",
    "NeuronStep",
    "Reduction",
    "SimpleStep",
    "Step",
    "Training",
    "as_float_array",
    "batch_divisor",
    "check_backprop_inputs",
    "check_bias",
    "check_binary",
    "check_count",
    "check_dataset",
    "check_flag",
    "check_hidden",
    "check_log",
    "check_loss_targets",
    "check_lr",
    "check_network",
    "check_network_biases",
    "check_network_data",
    "check_neuron_data",
    "check_neuron_inputs",
    "check_reduction",
    "check_seed",
    "check_simple_inputs",
    "check_threshold",
    "collect",
    "common_dtype",
    "format_log",
    "hidden_of",
    "is_biased_pair",
    "is_validated",
    "layer_name",
    "log_epochs",
    "raise_if_diverged",
    "raise_if_input_overflows",
    "split_network",
    "validated",
]

#: the loss a training run descends: "mse" (the lesson's: step on ½·MSE, report MSE), "sse"
#: (½·SSE, report SSE) or "bce" (mean binary cross-entropy, stepped on and reported as it is)
Reduction = Literal["mse", "sse", "bce"]
REDUCTIONS: tuple[str, ...] = ("mse", "sse", "bce")


class DivergenceError(FloatingPointError):
    """Training produced a non-finite loss or weights (usually: the learning rate is too large)."""


# --------------------------------------------------------------------------- input checks


#: Arrays validated once for a whole run (:func:`validated`): the input checks take these very
#: objects as they are, without a copy or a scan.
_VALIDATED: ContextVar[tuple[np.ndarray, ...]] = ContextVar("gd_compare_validated", default=())


def _is_float_array(value: object) -> bool:
    # a read-only array is copied as before (torch.from_numpy warns on one)
    return (isinstance(value, np.ndarray) and value.dtype.kind == "f"
            and value.dtype.itemsize >= 4 and value.flags.c_contiguous
            and value.flags.writeable)


def _finite(arr: np.ndarray) -> bool:
    with np.errstate(over="ignore", invalid="ignore"):
        return math.isfinite(arr.sum()) or bool(np.isfinite(arr).all())


@contextmanager
def validated(*arrays: np.ndarray, check: bool = True) -> Iterator[tuple[np.ndarray, ...]]:
    """Validate ``arrays`` once for a whole run: inside the block, every public function's
    input check (:func:`as_float_array`, so :func:`check_dataset` and the rest) takes these very
    array objects as they are — no copy, no NaN/inf scan — instead of copying and scanning them
    at every call. The harness runs a comparison inside it on the data it checked once, and its
    replayed batches (rows of that data) inside a nested block with ``check=False``.

    Only writeable C-contiguous float ndarrays (float32, float64) are trusted, and with
    ``check`` only those found finite here, once; any other array is left to the usual checks
    (which copy it, scan it and name it in their errors). Nothing may write to a trusted array
    inside the block (no function here does: inputs are never mutated). Yields the arrays that
    are trusted."""
    trusted = tuple(a for a in arrays if _is_float_array(a) and (not check or _finite(a)))
    token = _VALIDATED.set(_VALIDATED.get() + trusted)
    try:
        yield trusted
    finally:
        _VALIDATED.reset(token)


def is_validated(value: object) -> bool:
    """Whether ``value`` is an array validated once for the run (:func:`validated`)."""
    return any(value is a for a in _VALIDATED.get())


def as_float_array(name: str, value: ArrayLike, *, ndim: int | None = None) -> np.ndarray:
    """A fresh float copy of ``value`` (ints and bools become float64; float32 stays float32) —
    or, for an array validated once for the whole run (:func:`validated`), that array itself.

    Raises ``TypeError`` for non-numeric input and ``ValueError`` for the wrong number of
    dimensions or a NaN/inf, naming ``name``.
    """
    if is_validated(value):
        if ndim is not None and value.ndim != ndim:  # type: ignore[union-attr]
            raise ValueError(f"{name}: expected {ndim}-D, got shape "
                             f"{value.shape}")  # type: ignore[union-attr]
        return value  # type: ignore[return-value]
    try:
        arr = np.array(value, copy=True)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name}: expected numbers, got {type(value).__name__}") from exc
    if arr.dtype == object and all(isinstance(v, (numbers.Real, np.bool_)) for v in arr.flat):
        arr = arr.astype(np.float64)  # e.g. a pandas frame mixing float and bool columns
    if arr.dtype.kind in "biu":
        arr = arr.astype(np.float64)
    elif arr.dtype.kind != "f":
        raise TypeError(f"{name}: expected real numbers, got an array of dtype {arr.dtype}")
    elif arr.dtype.itemsize < 4:
        arr = arr.astype(np.float32)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim}-D, got shape {arr.shape}")
    # arr.sum() is one pass with no n-long temporary: a NaN or inf makes it non-finite (so can an
    # overflow of finite values, hence the exact check before raising)
    if not _finite(arr):
        where = np.argwhere(~np.isfinite(arr))[0]
        at = f" at index {tuple(int(i) for i in where)}" if arr.ndim else ""
        raise ValueError(f"{name}: contains NaN or inf{at}")
    return arr


def common_dtype(*arrays: np.ndarray) -> np.dtype:
    """The float dtype all arrays are computed in: float64 if any is float64, else float32."""
    return np.result_type(*arrays)


def check_lr(lr: float) -> float:
    """``lr`` must be a finite real number > 0."""
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
        raise TypeError(f"lr: expected a positive real number, got {type(lr).__name__}")
    if not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr: expected a finite number > 0, got {lr!r}")
    return float(lr)


def check_count(name: str, value: int, *, low: int = 1, high: int | None = None) -> int:
    """An integer in ``[low, high]`` (``epochs``, ``batch_size``, layer sizes)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"between {low} and {high}"
        raise ValueError(f"{name}: expected an int {bound}, got {value}")
    return int(value)


def check_flag(name: str, value: bool) -> bool:
    """A yes/no option (``shuffle``, ``drop_last``, ``per_record``): ``True`` or ``False``, not
    a value read by its truthiness (``"no"`` would mean yes)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


def raise_if_input_overflows(concept: str, loss: float, **inputs: float) -> None:
    """A loss that is not finite *before* any update: the inputs themselves overflow the dtype,
    and no learning rate helps (not a divergence)."""
    if not math.isfinite(loss):
        given = ", ".join(f"{k}={v!r}" for k, v in inputs.items())
        raise ValueError(f"{concept}: the loss is {loss} before the step — the inputs ({given}) "
                         f"are too large for the float type, whatever the learning rate")


def check_seed(seed: int | None) -> int | None:
    """A seed for NumPy's generators: ``None`` (fresh entropy) or an int in [0, 2**32)."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed: expected an int (or None), got {type(seed).__name__}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed: expected an int between 0 and 2**32 - 1, got {seed}")
    return int(seed)


def check_reduction(loss: str) -> Reduction:
    if not isinstance(loss, str) or loss not in REDUCTIONS:
        raise ValueError(f"loss: expected one of {REDUCTIONS}, got {loss!r}")
    return loss  # type: ignore[return-value]


def batch_divisor(reduction: Reduction, n: int) -> int:
    """m, what a batch's summed loss and ``del_w`` are divided by: its ``n`` records for a mean
    (MSE, BCE), 1 for a sum (SSE)."""
    return 1 if reduction == "sse" else n


def check_bias(bias: bool) -> bool:
    """``bias``: ``True`` (one bias per unit, starting at 0) or ``False`` (the lesson: none)."""
    if not isinstance(bias, (bool, np.bool_)):
        raise TypeError(f"bias: expected True or False, got {type(bias).__name__} {bias!r}")
    return bool(bias)


def check_loss_targets(loss: Reduction, targets: np.ndarray) -> None:
    """Binary cross-entropy needs targets in [0, 1] (probabilities; the lesson's are 0 or 1):
    outside, −[y·log ŷ + (1 − y)·log(1 − ŷ)] has no minimum and training runs away."""
    if loss != "bce":
        return
    outside = (targets < 0) | (targets > 1)
    if outside.any():
        i = int(np.argmax(outside))
        raise ValueError(f"targets: loss='bce' (binary cross-entropy) needs targets in [0, 1], "
                         f"found {targets[i].item()!r} at index {i}")


#: What a network's lesson log shows: the true train loss, or the course's own line.
LOGS: tuple[str, ...] = ("train", "course")


def check_log(log: str) -> str:
    """``"train"`` (the train loss of the whole network on all records) or ``"course"`` (the
    course's log line: the last training record's output against all targets)."""
    if not isinstance(log, str) or log not in LOGS:
        raise ValueError(f"log: expected one of {LOGS}, got {log!r}")
    return log


def check_threshold(threshold: float) -> float:
    """The decision threshold of an accuracy: a finite real number (0.5 in the lesson)."""
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise TypeError(f"threshold: expected a number, got {type(threshold).__name__}")
    if not math.isfinite(threshold):
        raise ValueError(f"threshold: expected a finite number, got {threshold!r}")
    return float(threshold)


def check_binary(name: str, targets: np.ndarray) -> None:
    """Targets where an accuracy is computed must be 0 or 1."""
    if not np.isin(targets, (0, 1)).all():
        bad = targets[~np.isin(targets, (0, 1))][0].item()
        raise ValueError(f"{name}: accuracy needs binary targets (0 or 1), found {bad!r}")


def check_simple_inputs(
    x: ArrayLike, y: ArrayLike, w: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The one-weight example's scalars ``x``, ``y``, ``w`` as 0-d arrays of one float dtype."""
    arrays = [as_float_array(name, v, ndim=0) for name, v in (("x", x), ("y", y), ("w", w))]
    dtype = common_dtype(*arrays)
    x_, y_, w_ = (a.astype(dtype, copy=False) for a in arrays)
    return x_, y_, w_


def check_neuron_inputs(
    x: ArrayLike, y: ArrayLike, weights: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One record ``x`` (d,), a scalar target ``y`` and ``weights`` (d,), in one float dtype."""
    x_ = as_float_array("x", x, ndim=1)
    y_ = as_float_array("y", y, ndim=0)
    w_ = as_float_array("weights", weights, ndim=1)
    if x_.shape != w_.shape:
        raise ValueError(
            f"x and weights: shapes must match, got x {x_.shape} and weights {w_.shape}"
        )
    dtype = common_dtype(x_, y_, w_)
    return x_.astype(dtype, copy=False), y_.astype(dtype, copy=False), w_.astype(dtype, copy=False)


def check_backprop_inputs(
    x: ArrayLike, target: ArrayLike, weights_input_hidden: ArrayLike,
    weights_hidden_output: ArrayLike,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One record ``x`` (d,), a scalar ``target``, ``weights_input_hidden`` (d, h) and
    ``weights_hidden_output`` (h,), as fresh arrays of one float dtype; errors name the argument
    and the shape it expected."""
    x_ = as_float_array("x", x, ndim=1)
    t_ = as_float_array("target", target, ndim=0)
    w_ih = as_float_array("weights_input_hidden", weights_input_hidden, ndim=2)
    w_ho = as_float_array("weights_hidden_output", weights_hidden_output, ndim=1)
    if w_ih.shape[0] != x_.shape[0]:
        raise ValueError(f"weights_input_hidden: expected {x_.shape[0]} rows (one per input of "
                         f"x {x_.shape}), got shape {w_ih.shape}")
    if w_ho.shape[0] != w_ih.shape[1]:
        raise ValueError(f"weights_hidden_output: expected {w_ih.shape[1]} weights (one per "
                         f"hidden unit of weights_input_hidden {w_ih.shape}), got shape "
                         f"{w_ho.shape}")
    dtype = common_dtype(x_, t_, w_ih, w_ho)
    return tuple(a.astype(dtype, copy=False) for a in (x_, t_, w_ih, w_ho))  # type: ignore


def check_dataset(
    features: ArrayLike, targets: ArrayLike | None, weights: ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``features`` (n, d), ``targets`` (n,) and ``weights`` (d,), in one float dtype.

    ``targets`` or ``weights`` may be ``None`` (not checked, returned as ``None``). The copies
    are C-contiguous; pandas frames and series are accepted.
    """
    X = as_float_array("features", features, ndim=2)
    if X.shape[0] == 0:
        raise ValueError("features: expected at least one record, got 0 rows")
    if X.shape[1] == 0:
        raise ValueError(f"features: expected at least one feature column, got shape {X.shape}")
    arrays = {"features": X}
    if targets is not None:
        y = as_float_array("targets", targets, ndim=1)
        if X.shape[0] != y.shape[0]:
            raise ValueError(
                f"features and targets: need the same number of records, got {X.shape[0]} "
                f"features rows and {y.shape[0]} targets"
            )
        arrays["targets"] = y
    if weights is not None:
        w = as_float_array("weights", weights, ndim=1)
        if w.shape[0] != X.shape[1]:
            raise ValueError(
                f"weights: expected {X.shape[1]} weights (one per feature column of features "
                f"{X.shape}), got shape {w.shape}"
            )
        arrays["weights"] = w
    dtype = common_dtype(*arrays.values())
    out = {k: np.ascontiguousarray(v, dtype=dtype) for k, v in arrays.items()}
    return out["features"], out.get("targets"), out.get("weights")


def is_biased_pair(weights: object) -> bool:
    """Whether a neuron's ``weights`` are the pair (weights (d,), bias (1,)) rather than the
    weight vector alone: a tuple or list of two whose first item is itself a vector."""
    return (isinstance(weights, (tuple, list)) and len(weights) == 2
            and np.ndim(weights[0]) == 1)


def check_neuron_data(
    features: ArrayLike, targets: ArrayLike | None, weights: ArrayLike | Sequence[ArrayLike]
) -> tuple[np.ndarray, np.ndarray | None, tuple[np.ndarray, ...]]:
    """:func:`check_dataset` for a neuron whose ``weights`` are the vector w (d,) or the pair
    (w (d,), b (1,)) of a neuron with a bias. Returns the parameters as a tuple: ``(w,)`` or
    ``(w, b)``, fresh arrays in the data's dtype."""
    if not is_biased_pair(weights):
        X, y, w = check_dataset(features, targets, weights)
        return X, y, (w,)  # type: ignore[return-value]
    X, y, w = check_dataset(features, targets, weights[0])  # type: ignore[index]
    b = as_float_array("bias", weights[1], ndim=1)  # type: ignore[index]
    if b.shape != (1,):
        raise ValueError(f"bias: expected shape (1,) (one bias for the one output unit), got "
                         f"{b.shape}")
    dtype = common_dtype(X, b)
    X = np.ascontiguousarray(X, dtype=dtype)
    y = None if y is None else np.ascontiguousarray(y, dtype=dtype)
    return X, y, (np.ascontiguousarray(w, dtype=dtype), b.astype(dtype))  # type: ignore[union-attr]


#: The most weights a network may have. The lesson's has 14 (6·2 + 2); 10 million float64 are
#: 80 MB per copy, and a comparison holds several at once (both backends' weights, gradients,
#: optimizer state, the recorded history): beyond this a typo such as ``hidden=99999999``
#: would exhaust the memory instead of being refused.
MAX_NETWORK_WEIGHTS = 10_000_000


def check_hidden(hidden: int | Sequence[int], n_features: int | None = None) -> tuple[int, ...]:
    """The sizes of a network's hidden layers: one int per layer, each >= 1 (an int alone is
    one hidden layer). Errors name the layer: ``hidden[1] (hidden layer 2)``. The network on
    ``n_features`` inputs may have at most :data:`MAX_NETWORK_WEIGHTS` weights (without
    ``n_features``, counted as if on one input: a bound on the hidden layers alone)."""
    if isinstance(hidden, numbers.Integral) and not isinstance(hidden, bool):
        hidden = (hidden,)
    elif isinstance(hidden, np.ndarray) and hidden.ndim == 1:
        hidden = hidden.tolist()
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
        raise TypeError(
            f"hidden: expected a sequence of hidden-layer sizes such as (2,), got "
            f"{type(hidden).__name__}"
        )
    if len(hidden) == 0:
        raise ValueError(
            "hidden: expected at least one hidden layer, got () (a network without hidden "
            "layers is the single neuron of mse_training)"
        )
    sizes = tuple(
        check_count(f"hidden[{k}] (size of hidden layer {k + 1})", size)
        for k, size in enumerate(hidden)
    )
    fan_in = (max(int(n_features or 1), 1), *sizes)
    count = sum(a * b for a, b in zip(fan_in, (*sizes, 1), strict=True))
    if count > MAX_NETWORK_WEIGHTS:
        raise ValueError(
            f"hidden: expected layer sizes giving at most {MAX_NETWORK_WEIGHTS:,} weights, got "
            f"hidden={sizes}: {count:,} weights"
            + (f" on {n_features} inputs" if n_features else " on one input, at least")
            + " (a network that large would not fit in memory)"
        )
    return sizes


def layer_name(k: int, n_layers: int) -> str:
    """``weights[k]``, named for messages: "layer 1 (input → hidden layer 1)", ...,
    "layer L+1 (hidden layer L → output)"."""
    source = "input" if k == 0 else f"hidden layer {k}"
    target = "output" if k == n_layers - 1 else f"hidden layer {k + 1}"
    return f"weights[{k}] (layer {k + 1}: {source} → {target})"


def split_network(
    params: Sequence[ArrayLike],
) -> tuple[Sequence[ArrayLike], Sequence[ArrayLike]]:
    """A network's parameters split into its weights (W_1, ..., W_L, w_out) and its biases
    (b_1, ..., b_L, b_out), the biases following the weights (none without ``bias``). The
    weights end at the first 1-D array (w_out); when what follows cannot be one bias per layer,
    everything counts as weights (and the shape checks name the layer that does not fit)."""
    if isinstance(params, np.ndarray) or not isinstance(params, Sequence):
        return params, ()
    for k, p in enumerate(params):
        if np.ndim(p) == 1:
            rest = params[k + 1:]
            if k and len(rest) == k + 1 and all(np.ndim(b) == 1 for b in rest):
                return params[:k + 1], rest
            break
    return params, ()


def check_network_biases(
    biases: Sequence[ArrayLike], sizes: tuple[int, ...], dtype: np.dtype
) -> tuple[np.ndarray, ...]:
    """One bias vector per layer: b_k (h_k,) for hidden layer k, b_out (1,) for the output."""
    shapes = [(h,) for h in sizes] + [(1,)]
    out = []
    for k, (b, shape) in enumerate(zip(biases, shapes, strict=True)):
        where = f"hidden layer {k + 1}" if k < len(sizes) else "the output unit"
        arr = as_float_array(f"biases[{k}] ({where})", b, ndim=1)
        if arr.shape != shape:
            raise ValueError(f"biases[{k}] ({where}): expected shape {shape} (one bias per "
                             f"unit), got {arr.shape}")
        out.append(np.ascontiguousarray(arr, dtype=dtype))
    return tuple(out)


def check_network_data(
    features: ArrayLike, targets: ArrayLike | None, params: Sequence[ArrayLike],
) -> tuple[np.ndarray, np.ndarray | None, tuple[np.ndarray, ...]]:
    """:func:`check_network` for a network's ``params``: its weights (W_1, ..., w_out),
    optionally followed by one bias per layer (b_1, ..., b_out). The sizes come from the
    weights; the result is ``weights + biases``, fresh arrays of one dtype."""
    weights, biases = split_network(params)
    X, y, ws, sizes = check_network(features, targets, weights, hidden_of(weights))
    assert ws is not None
    if not biases:
        return X, y, ws
    dtype = common_dtype(X, *ws, *(np.asarray(b) for b in biases))
    bs = check_network_biases(biases, sizes, dtype)
    cast = tuple(np.ascontiguousarray(a, dtype=dtype) for a in (X, *ws))
    y = None if y is None else np.ascontiguousarray(y, dtype=dtype)
    return cast[0], y, cast[1:] + bs


def hidden_of(weights: Sequence[ArrayLike]) -> tuple[int, ...]:
    """The hidden-layer sizes a tuple of per-layer weights (W_1, ..., W_L, w_out) implies: the
    column count of every 2-D layer before the output vector. Full checks: :func:`check_network`."""
    if isinstance(weights, np.ndarray) or not isinstance(weights, Sequence):
        raise TypeError(
            f"weights: expected a tuple of per-layer arrays (W_1, ..., w_out), got "
            f"{type(weights).__name__}"
        )
    if len(weights) < 2:
        raise ValueError(
            f"weights: a network needs at least 2 layers (input → hidden, hidden → output), got "
            f"{len(weights)} array(s)"
        )
    sizes = []
    for k, w in enumerate(weights[:-1]):
        shape = np.shape(w)
        if len(shape) != 2:
            raise ValueError(f"{layer_name(k, len(weights))}: expected 2-D, got shape {shape}")
        sizes.append(int(shape[1]))
    return tuple(sizes)


def check_network(
    features: ArrayLike,
    targets: ArrayLike | None,
    weights: Sequence[ArrayLike] | None,
    hidden: int | Sequence[int],
) -> tuple[np.ndarray, np.ndarray | None, tuple[np.ndarray, ...] | None, tuple[int, ...]]:
    """``features`` (n, d), ``targets`` (n,) and a network's per-layer ``weights``, in one
    float dtype, checked against the hidden-layer sizes ``hidden`` (h_1, ..., h_L).

    ``weights`` = (W_1 (d, h_1), W_2 (h_1, h_2), ..., W_L (h_{L-1}, h_L), w_out (h_L,)), or
    ``None`` (returned as ``None``: the caller draws the course's start). Every error names the
    layer and the shape it expected. The returned arrays are fresh C-contiguous copies.
    """
    sizes = check_hidden(hidden)
    X, y, _ = check_dataset(features, targets)
    check_hidden(sizes, X.shape[1])  # the weights of the network on these features
    if weights is None:
        return X, y, None, sizes
    if isinstance(weights, np.ndarray) or not isinstance(weights, Sequence):
        raise TypeError(
            f"weights: expected a tuple of per-layer arrays (W_1, ..., w_out), one per layer, "
            f"got {type(weights).__name__}"
        )
    n_layers = len(sizes) + 1
    if len(weights) != n_layers:
        raise ValueError(
            f"weights: hidden={sizes} needs {n_layers} arrays (one per layer, input → "
            f"{' → '.join(map(str, sizes))} → output), got {len(weights)}"
        )
    fan_in = (X.shape[1], *sizes)
    shapes = [(a, b) for a, b in zip(fan_in[:-1], sizes, strict=True)] + [(sizes[-1],)]
    ws = []
    for k, (w, shape) in enumerate(zip(weights, shapes, strict=True)):
        name = layer_name(k, n_layers)
        arr = as_float_array(name, w, ndim=len(shape))
        if arr.shape != shape:
            rows = (f"{shape[0]} rows for the {shape[0]} feature columns of features {X.shape}"
                    if k == 0 else f"{shape[0]} rows for the {shape[0]} units of hidden layer {k}")
            cols = (f", {shape[1]} columns for the {shape[1]} units of hidden layer {k + 1}"
                    if len(shape) == 2 else "")
            raise ValueError(f"{name}: expected shape {shape} ({rows}{cols}; hidden={sizes}), "
                             f"got {arr.shape}")
        ws.append(arr)
    dtype = common_dtype(X, *([] if y is None else [y]), *ws)
    X = np.ascontiguousarray(X, dtype=dtype)
    y = None if y is None else np.ascontiguousarray(y, dtype=dtype)
    return X, y, tuple(np.ascontiguousarray(w, dtype=dtype) for w in ws), sizes


# --------------------------------------------------------------------------- the batch order

Batch = slice | np.ndarray


class BatchOrder:
    """Which records each update sees: an iterable of batches, one pass = one epoch.

    Every ``iter()`` draws the next epoch's permutation from one ``np.random.default_rng(seed)``,
    so two ``BatchOrder`` objects built with the same arguments give both backends identical
    batches in identical order. A batch is a ``slice`` when it is contiguous (no shuffle, or the
    full batch) and otherwise the *sorted* int64 indices of its rows: a batch is a set, and sorting
    makes ``batch_size == n`` the very same sum as full-batch training. The last partial batch is
    kept (its gradient averaged over its own size) unless ``drop_last``.

    It works as a ``torch.utils.data.DataLoader`` sampler with ``batch_size=None``.
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        *,
        seed: int | None = 42,
        shuffle: bool = True,
        drop_last: bool = False,
    ) -> None:
        self.n = check_count("n", n)
        self.batch_size = check_count("batch_size", batch_size, high=self.n)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        if self.drop_last:
            return self.n // self.batch_size
        return -(-self.n // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        n, size = self.n, self.batch_size
        if size == n:
            yield slice(0, n)
            return
        order = self._rng.permutation(n) if self.shuffle else None
        for start in range(0, size * len(self), size):
            stop = min(start + size, n)
            if order is None:
                yield slice(start, stop)
            else:
                yield np.sort(order[start:stop])


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class SimpleStep:
    """The one-weight example: prediction = w·x, MSE = (prediction − y)².

    ``error`` follows the lesson's first section: prediction − y (= 6 − 10 = −4), so
    slope = dMSE/dw = 2·error·x (= −24) and the new weight is w − lr·slope (= 2.24).
    """

    prediction: float
    error: float
    loss: float
    slope: float
    w: float


@dataclass(frozen=True)
class NeuronStep:
    """One gradient-descent step of one sigmoid neuron (the lesson's names).

    h = x·w, output = sigmoid(h), error = y − output, error_term = error·sigmoid'(h),
    del_w = lr·error_term·x, weights = w + del_w; loss = (y − output)² before the step.
    With a bias b (``bias=True``, starting at 0): h = x·w + b, del_b = lr·error_term,
    bias = b + del_b.
    """

    h: float
    output: float
    error: float
    error_term: float
    del_w: np.ndarray
    weights: np.ndarray
    loss: float
    #: with ``bias=True``: the bias after the step (1,) and its change del_b = lr·error_term
    bias: np.ndarray | None = None
    del_b: np.ndarray | None = None


@dataclass(frozen=True)
class BackpropStep:
    """One backpropagation step of the course's exercise network (inputs → 2 hidden sigmoid
    units → 1 sigmoid output, no biases), in the course's names. For x (d,), W_ih (d, h),
    w_ho (h,):

    hidden_input      = x @ weights_input_hidden                              (h,)
    hidden_output     = sigmoid(hidden_input)                                 (h,)
    output            = sigmoid(hidden_output @ weights_hidden_output)        scalar
    error             = target − output
    output_error_term = error·output·(1 − output)
    hidden_error_term = output_error_term·w_ho·hidden_output·(1 − hidden_output)   (h,)
    delta_w_h_o       = lr·output_error_term·hidden_output                    (h,)
    delta_w_i_h       = lr·hidden_error_term·x[:, None]                       (d, h)

    ``weights_input_hidden`` and ``weights_hidden_output`` are the weights *after* the step
    (old + delta); ``loss`` = error² before the step.
    """

    hidden_input: np.ndarray
    hidden_output: np.ndarray
    output: float
    error: float
    output_error_term: float
    hidden_error_term: np.ndarray
    delta_w_h_o: np.ndarray
    delta_w_i_h: np.ndarray
    weights_input_hidden: np.ndarray
    weights_hidden_output: np.ndarray
    loss: float
    #: with ``bias=True`` (biases starting at 0; hidden_input and the output's input add them):
    #: delta_b_h = lr·hidden_error_term (h,), delta_b_o = lr·output_error_term (1,), and the
    #: biases after the step
    delta_b_h: np.ndarray | None = None
    delta_b_o: np.ndarray | None = None
    bias_hidden: np.ndarray | None = None
    bias_output: np.ndarray | None = None


class Step(NamedTuple):
    """One update of a training run, as a backend yields it.

    ``params`` are live views of the parameters *after* the update (one array for a single
    neuron; one per layer for a network): valid until the generator advances, copy to keep them.
    ``loss`` is the reported loss (MSE, or SSE) of the batch at the weights its gradient was taken
    at, i.e. the value of the forward pass of this update.
    """

    index: int  # 1-based number of the update
    epoch: int  # 0-based epoch it belongs to
    end_of_epoch: bool
    params: tuple[np.ndarray, ...]
    loss: float


@dataclass
class Training:
    """What a training run returns.

    ``params``: the final parameters (``weights`` is ``params[0]``). ``losses``: the loss of
    every update, shape (steps,). ``history``: the parameters after every recorded update, one
    array of shape (recorded, *param.shape) per parameter (empty if not recorded). ``log``: the
    lesson's log, ``(epoch, train loss after that epoch)`` every ``epochs/10`` epochs.
    """

    params: tuple[np.ndarray, ...]
    losses: np.ndarray
    history: tuple[np.ndarray, ...]
    log: list[tuple[int, float]] = field(default_factory=list)

    @property
    def weights(self) -> np.ndarray:
        return self.params[0]

    @property
    def steps(self) -> int:
        return int(self.losses.shape[0])

    def log_lines(self) -> list[str]:
        return format_log(self.log)


# --------------------------------------------------------------------------- the training loop


def log_epochs(epochs: int) -> list[int]:
    """The epochs the lesson logs: ``e % (epochs / 10) == 0`` (float modulo, as the lesson)."""
    return [e for e in range(epochs) if e % (epochs / 10) == 0]


def format_log(log: Sequence[tuple[int, float]]) -> list[str]:
    """The lesson's printout: ``Train loss:  0.25`` and the warning when the loss rose."""
    lines, last = [], None
    for _, loss in log:
        if last and last < loss:
            lines.append(f"Train loss:  {loss}  WARNING - Loss Increasing")
        else:
            lines.append(f"Train loss:  {loss}")
        last = loss
    return lines


def raise_if_diverged(
    concept: str,
    loss: float,
    lr: float,
    *,
    epoch: int,
    batch: int,
    index: int,
    params: Iterable[np.ndarray] = (),
) -> None:
    """Raise :class:`DivergenceError` when ``loss`` or any of ``params`` is not finite."""
    bad = None
    if not math.isfinite(loss):
        bad = f"the loss is {loss}"
    else:
        for p in params:
            if not np.isfinite(p).all():
                bad = "the weights are no longer finite"
                break
    if bad:
        raise DivergenceError(
            f"{concept} diverged: {bad} at epoch {epoch}, step {batch} of that epoch "
            f"(update {index}); try a smaller learning rate than lr={lr!r}"
        )


def collect(
    steps: Iterator[Step],
    evaluate: Callable[[tuple[np.ndarray, ...]], float],
    *,
    epochs: int,
    total_steps: int,
    record: bool | int = True,
) -> Training:
    """Run a stream of steps to the end and keep what :class:`Training` holds.

    ``evaluate(params)`` gives the train loss for the lesson's log (every ``epochs/10`` epochs).
    ``record``: ``True`` keeps the parameters after every update, an int ``k`` every k-th
    (and the last), ``False`` none. Memory is O(steps) for the losses plus what is recorded.
    """
    every = 1 if record is True else int(record)
    logged = set(log_epochs(epochs))
    losses = np.empty(total_steps, dtype=np.float64)
    # the trajectory goes into arrays allocated once, at the first step: no list, no final stack
    rows = total_steps // every + (total_steps % every != 0) if every else 0
    history: list[np.ndarray] | None = None
    kept = 0
    log: list[tuple[int, float]] = []
    last: Step | None = None
    for step in steps:
        losses[step.index - 1] = step.loss
        if every and (step.index % every == 0 or step.index == total_steps):
            if history is None:
                history = [np.empty((rows, *np.shape(p)), dtype=np.asarray(p).dtype)
                           for p in step.params]
            for keep, p in zip(history, step.params, strict=True):
                keep[kept] = p
            kept += 1
        if step.end_of_epoch and step.epoch in logged:
            log.append((step.epoch, evaluate(step.params)))
        last = step
    if last is None or last.index != total_steps:
        raise RuntimeError(f"training stopped after {0 if last is None else last.index} of "
                           f"{total_steps} updates")
    params = tuple(p.copy() for p in last.params)
    hist = tuple(h[:kept] for h in history) if history else ()
    return Training(params=params, losses=losses, history=hist, log=log)
