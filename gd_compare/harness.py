"""The equivalence harness: both backends, the same start, compared at every step.

:func:`compare` builds a concept's inputs once (the same weights, data and batch order for both),
then runs the two backends *in lockstep*: training is a stream of steps (``iter_<concept>``) and
NumPy's step k is checked against PyTorch's step k, so memory stays O(parameters) unless
trajectories are recorded, and a run can stop at its first divergence. Two things make this
cheap without changing a single verdict: :func:`_lockstep` advances each backend a short run of
steps at a time (at most 512 steps or ~50 ms; alternating single steps costs 15–30% in cache
misses), and :class:`_StepBuffer` checks the pairs a block at a time in one vectorised pass.
The maxima and the first mismatch are exactly those a step-by-step check finds (tested).

Two values a, b agree when ``|a − b| ≤ atol + rtol·max(|a|, |b|)``. Defaults: 1e-12/1e-12 in
float64 (measured agreement is ~1e-16, a few ULPs), 1e-5/1e-5 in float32.
"""

from __future__ import annotations

import math
import numbers
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from types import ModuleType
from typing import Any

import numpy as np

from .concepts import CONCEPTS, Concept, Inputs, check_dtype, get_concept
from .core import BatchOrder, DivergenceError, Step, log_epochs

#: (rtol, atol) per dtype; tests and the CLI may pass tighter ones, never looser ones by default.
DEFAULT_TOLERANCE: dict[str, tuple[float, float]] = {
    "float64": (1e-12, 1e-12),
    "float32": (1e-5, 1e-5),
}


def ulp_distance(a: Any, b: Any, dtype: np.dtype | str = "float64") -> np.ndarray:
    """How many representable ``dtype`` numbers lie between a and b (elementwise, uint64).

    Floats are mapped to integers in value order (the sign-magnitude bit pattern turned into
    two's complement), so the distance is the difference of the integers; +0 and −0 are 0 apart.
    """
    dt = check_dtype(dtype)
    ints = np.int64 if dt.itemsize == 8 else np.int32
    mask = np.iinfo(ints).max
    out = []
    for v in (a, b):
        bits = np.asarray(v, dtype=dt).view(ints).astype(np.int64)
        mag = (bits & mask).astype(np.uint64)
        out.append((bits < 0, mag))
    (neg_a, mag_a), (neg_b, mag_b) = out
    same = neg_a == neg_b
    return np.where(same, np.maximum(mag_a, mag_b) - np.minimum(mag_a, mag_b), mag_a + mag_b)


@dataclass(frozen=True)
class Mismatch:
    """The first place the two backends disagree beyond the tolerance."""

    concept: str
    step: int
    quantity: str
    index: tuple[int, ...]
    numpy_value: float
    torch_value: float
    abs_diff: float
    ulps: int
    rtol: float
    atol: float

    def __str__(self) -> str:
        where = self.quantity + ("[" + ", ".join(map(str, self.index)) + "]" if self.index else "")
        return (
            f"{self.concept}: step {self.step}, {where}: numpy={self.numpy_value!r} "
            f"torch={self.torch_value!r} |Δ|={self.abs_diff:.3g} ({self.ulps} ULPs) exceeds "
            f"atol={self.atol:g} + rtol={self.rtol:g}·max(|numpy|, |torch|)"
        )


class _Tracker:
    """Running maxima of |Δ|, relative |Δ| and ULPs per quantity, and the first mismatch."""

    def __init__(self, concept: str, dtype: np.dtype, rtol: float, atol: float) -> None:
        self.concept, self.dtype, self.rtol, self.atol = concept, dtype, rtol, atol
        self.max_abs: dict[str, float] = {}
        self.max_rel: dict[str, float] = {}
        self.max_ulps: dict[str, int] = {}
        self.first: Mismatch | None = None

    def check(self, quantity: str, step: int, a: Any, b: Any, prefix: tuple[int, ...] = ()) -> bool:
        a = np.asarray(a, dtype=self.dtype)
        b = np.asarray(b, dtype=self.dtype)
        if a.shape != b.shape:
            raise AssertionError(
                f"{self.concept}: step {step}, {quantity}: shapes differ, numpy {a.shape} vs "
                f"torch {b.shape}"
            )
        found = self.check_rows(quantity, step, a[np.newaxis], b[np.newaxis], prefix)
        if found is not None and self.first is None:
            self.first = found
        return found is None

    def check_rows(
        self, quantity: str, first_step: int, a: np.ndarray, b: np.ndarray,
        prefix: tuple[int, ...] = (),
    ) -> Mismatch | None:
        """Check consecutive steps at once: row r of ``a``/``b`` (already in ``self.dtype``) is
        step ``first_step + r``. Updates the maxima; returns (does not record) the first
        mismatch in step order, then index order — what checking row by row would find."""
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        with np.errstate(invalid="ignore"):  # inf − inf is NaN: a mismatch unless a == b
            diff = np.abs(a64 - b64)
        scale = np.maximum(np.abs(a64), np.abs(b64))
        ulps = ulp_distance(a, b, self.dtype)
        # an infinite scale must not excuse an infinite |Δ| (inf vs a finite value), equal values
        # (inf and inf included) always agree, and NaN never does
        tol = self.atol + self.rtol * np.where(np.isfinite(scale), scale, 0.0)
        with np.errstate(invalid="ignore"):
            bad = ~((diff <= tol) | (a64 == b64))
        if diff.size:
            with np.errstate(invalid="ignore", divide="ignore"):
                rel = np.where(scale > 0, diff / scale, 0.0)
            self._bump(self.max_abs, quantity, float(np.max(diff)))
            self._bump(self.max_rel, quantity, float(np.max(rel)))
            self._bump(self.max_ulps, quantity, int(np.max(ulps)))
        if not bad.any():
            return None
        row, *i = np.unravel_index(int(np.argmax(bad)), bad.shape)
        at = (row, *i)
        return Mismatch(self.concept, first_step + int(row), quantity,
                        prefix + tuple(int(k) for k in i), float(a[at]), float(b[at]),
                        float(diff[at]), int(ulps[at]), self.rtol, self.atol)

    @staticmethod
    def _bump(store: dict, key: str, value: float) -> None:
        old = store.get(key)
        if old is None or value > old or math.isnan(value):
            store[key] = value


#: Steps the lockstep comparison gathers before checking them in one vectorised pass.
_BLOCK_STEPS = 512


def param_labels(n_params: int, bias: bool) -> list[tuple[str, tuple[int, ...]]]:
    """How each parameter array is named in the verdict: ``("weights", ())`` for a single
    weight vector, ``("weights", (k,))`` for layer k of a network; with ``bias`` the second half
    of the arrays are the biases: ``("bias", ())`` for a neuron's, ``("bias", (k,))`` for layer
    k's. Each name gets its own maxima (``max_abs_diff["bias"]``)."""
    if not bias or n_params < 2:
        return [("weights", (k,) if n_params > 1 else ()) for k in range(n_params)]
    half = n_params // 2
    index = (lambda k: ()) if half == 1 else (lambda k: (k,))
    return ([("weights", index(k)) for k in range(half)]
            + [("bias", index(k)) for k in range(n_params - half)])


class _StepBuffer:
    """The last few steps' parameters and losses of both backends, checked a block at a time.

    Checking a step costs a dozen small NumPy calls however small the parameters are. So
    :meth:`add` only keeps the step's arrays (the copies :func:`_lockstep` made), and
    :meth:`flush` (every :data:`_BLOCK_STEPS` steps, before any other check, and at the end)
    runs the tracker's vectorised check over the block. The maxima and the first mismatch are
    exactly those a step-by-step check finds; memory stays O(parameters). With ``eager`` (stop
    at the first failure) each step also gets a cheap test that can only err towards flushing
    at once: Σ(a − b)² ≤ (atol/2)² means no element can exceed the tolerance.
    """

    def __init__(
        self, tracker: _Tracker, eager: bool, rows: int | None = None, bias: bool = False
    ) -> None:
        self.tracker, self.eager, self.bias = tracker, eager, bias
        self.rows = rows or _BLOCK_STEPS
        self.quiet = (tracker.atol / 2) ** 2
        self.n_params = -1
        self.params: list[tuple[list[np.ndarray], list[np.ndarray]]] = []
        self.losses: tuple[list[float], list[float]] = ([], [])
        self.first_step = 0
        self.count = 0

    def add(self, step: int, a: Step, b: Step) -> None:
        if self.n_params != len(a.params):
            self.flush()
            self.n_params = len(a.params)
            self.params = [([], []) for _ in a.params]
        if len(b.params) != self.n_params:
            raise ValueError(f"{self.tracker.concept}: step {step}: the backends yield "
                             f"{len(a.params)} and {len(b.params)} parameter arrays")
        if self.count and step != self.first_step + self.count:
            self.flush()
        if not self.count:
            self.first_step = step
        suspect = False
        for (keep_a, keep_b), pa, pb in zip(self.params, a.params, b.params):
            ca, cb = np.asarray(pa), np.asarray(pb)  # copies already (_lockstep)
            keep_a.append(ca)
            keep_b.append(cb)
            if self.eager and not suspect:
                d = (ca - cb).ravel() if ca.shape == cb.shape else ca
                suspect = not (np.vdot(d, d) <= self.quiet) or ca.shape != cb.shape
        self.losses[0].append(a.loss)
        self.losses[1].append(b.loss)
        self.count += 1
        if self.eager and not suspect:
            suspect = not (abs(a.loss - b.loss) <= self.tracker.atol / 2)
        if suspect or self.count == self.rows:
            self.flush()

    def flush(self) -> None:
        n, tracker, first = self.count, self.tracker, self.first_step
        if not n:
            return
        self.count = 0
        dt = tracker.dtype
        found = []
        labels = param_labels(len(self.params), self.bias)
        for k, (keep_a, keep_b) in enumerate(self.params):
            quantity, prefix = labels[k]
            shape = keep_a[0].shape
            if all(p.shape == shape for p in (*keep_a, *keep_b)):
                m = tracker.check_rows(quantity, first, np.asarray(np.stack(keep_a), dtype=dt),
                                       np.asarray(np.stack(keep_b), dtype=dt), prefix)
            else:  # shapes change from step to step (or differ: check() raises) — row by row
                rows = []
                for r, (pa, pb) in enumerate(zip(keep_a, keep_b)):
                    if pa.shape != pb.shape:
                        tracker.check(quantity, first + r, pa, pb)  # raises: shapes differ
                    rows.append(tracker.check_rows(
                        quantity, first + r, np.asarray(pa, dtype=dt)[np.newaxis],
                        np.asarray(pb, dtype=dt)[np.newaxis], prefix))
                m = next((x for x in rows if x is not None), None)
            if m is not None:
                found.append((m.step, k, m))
            keep_a.clear()
            keep_b.clear()
        la, lb = (np.asarray(v, dtype=dt) for v in self.losses)
        m = tracker.check_rows("loss", first, la, lb)
        if m is not None:
            found.append((m.step, len(self.params), m))
        self.losses[0].clear()
        self.losses[1].clear()
        if found and tracker.first is None:
            tracker.first = min(found, key=lambda t: t[:2])[2]


@dataclass
class BackendRun:
    """What one backend did: final parameters, the loss of every update (when recorded), the
    parameters after every recorded update, the lesson's log, the test accuracy, and (one-step
    concepts) every intermediate quantity."""

    final_weights: tuple[np.ndarray, ...]
    losses: np.ndarray | None = None
    history: tuple[np.ndarray, ...] = ()
    log: list[tuple[int, float]] = field(default_factory=list)
    final_loss: float | None = None
    test_accuracy: float | None = None
    values: dict[str, Any] = field(default_factory=dict)
    #: the update numbers (1-based) of the rows of ``history``: every k-th update and the last
    history_steps: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    @property
    def weights(self) -> np.ndarray:
        return self.final_weights[0]


@dataclass
class Comparison:
    """The verdict of one concept: maxima of the differences and the first mismatch, if any."""

    concept: str
    dtype: str
    steps: int
    rtol: float
    atol: float
    max_abs_diff: dict[str, float]
    max_rel_diff: dict[str, float]
    max_ulps: dict[str, int]
    first_failure: Mismatch | None
    numpy: BackendRun
    torch: BackendRun
    headline: str = ""
    #: the runs' parameters end with one bias per layer (``bias=True``)
    bias: bool = False

    @property
    def passed(self) -> bool:
        return self.first_failure is None

    def to_json(self) -> dict[str, Any]:
        """The JSON record of the CLI's ``--json``: name, dtype, steps, passed, max_abs_diff
        ({weights, loss, ...}), numpy/torch {final_weights, losses[, test_accuracy]}, and more."""

        def run(r: BackendRun) -> dict[str, Any]:
            params = [w.tolist() for w in r.final_weights]
            n_weights = len(params) - len(params) // 2 if self.bias else len(params)
            weights, biases = params[:n_weights], params[n_weights:]
            out: dict[str, Any] = {
                "final_weights": weights[0] if len(weights) == 1 else weights,
            }
            if self.bias:
                out["final_bias"] = biases[0] if len(biases) == 1 else biases
            out["losses"] = [] if r.losses is None else r.losses.tolist()
            if r.final_loss is not None:
                out["final_loss"] = r.final_loss
            if r.test_accuracy is not None:
                out["test_accuracy"] = r.test_accuracy
            if r.log:
                out["log"] = [{"epoch": e, "train_loss": v} for e, v in r.log]
            return out

        return {
            "name": self.concept,
            "dtype": self.dtype,
            "steps": self.steps,
            "passed": self.passed,
            "max_abs_diff": self.max_abs_diff,
            "max_rel_diff": self.max_rel_diff,
            "max_ulps": self.max_ulps,
            "tolerance": {"rtol": self.rtol, "atol": self.atol},
            "first_failure": None if self.first_failure is None else str(self.first_failure),
            "numpy": run(self.numpy),
            "torch": run(self.torch),
        }


#: PyTorch's intra-op threads while :func:`compare` runs (restored afterwards; ``None`` leaves
#: torch's own setting). NumPy and PyTorch take turns, step by step, in one process: with two
#: threads on a 2-core machine that other processes share, each PyTorch op waits for its second
#: thread to get a core, and a full-batch step at n = 1e5 took 5x longer (39.6 ms vs 7.8 ms per
#: epoch, ``benchmarks/bench.py``). This is the one place the package sets threads.
TORCH_THREADS: int | None = 1


@contextmanager
def _thread_policy() -> Iterator[None]:
    torch = sys.modules.get("torch")  # only a process that uses PyTorch needs a policy
    if torch is None or TORCH_THREADS is None or torch.get_num_threads() == TORCH_THREADS:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(TORCH_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _check_tolerance(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a number >= 0, got {type(value).__name__}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
    return float(value)


def _check_record(record: bool | int) -> bool | int:
    if isinstance(record, bool):
        return record
    if not isinstance(record, numbers.Integral) or record < 1:
        raise ValueError(f"record: expected True, False or an int k >= 1 (every k-th update), "
                         f"got {record!r}")
    return int(record)


def _backends() -> tuple[ModuleType, ModuleType]:
    from . import numpy_backend, torch_backend  # torch is imported here, on first use

    return numpy_backend, torch_backend


def compare(
    concept: str,
    *,
    dtype: str = "float64",
    rtol: float | None = None,
    atol: float | None = None,
    record: bool | int = True,
    stop_on_failure: bool = False,
    backends: tuple[ModuleType, ModuleType] | None = None,
    progress: bool | Callable[[int, int], Any] = False,
    **params: Any,
) -> Comparison:
    """Run ``concept`` in both backends from identical inputs and compare every step.

    ``params`` override the lesson's defaults (``lr``, ``epochs``, ``batch_size``, ``seed``,
    ``features``/``targets``, ...; see ``gd_compare.concepts.CONCEPTS[name].defaults``).
    ``record``: ``True`` keeps every update's loss and parameters, an int ``k`` every k-th
    parameter vector (losses all), ``False`` nothing but the maxima (memory O(parameters)).
    ``stop_on_failure`` ends the run at the first mismatch. ``backends`` replaces the
    (numpy, torch) pair, e.g. to check a hand-written backend of your own against PyTorch.
    ``progress`` (training concepts): ``True`` shows a tqdm bar on stderr (only once a run has
    lasted a second), a callable is called as ``progress(done, total)`` after every update.
    """
    spec = get_concept(concept)
    dt = check_dtype(dtype)
    default_rtol, default_atol = DEFAULT_TOLERANCE[dt.name]
    rtol = default_rtol if rtol is None else _check_tolerance("rtol", rtol)
    atol = default_atol if atol is None else _check_tolerance("atol", atol)
    record = _check_record(record)
    inputs = spec.inputs(dt, **params)
    np_mod, torch_mod = backends or _backends()
    tracker = _Tracker(spec.name, dt, rtol, atol)
    with _thread_policy():
        if spec.kind == "step":
            runs, steps = _compare_step(spec, inputs, np_mod, torch_mod, tracker)
        else:
            runs, steps = _compare_training(spec, inputs, np_mod, torch_mod, tracker, record,
                                            stop_on_failure, progress)
    bias = bool(inputs.kwargs.get("bias", False))
    headline = spec.headline
    if spec.kind == "training" and inputs.kwargs.get("loss", "mse") != "mse":
        headline = headline.replace("MSE", str(inputs.kwargs["loss"]).upper())
    return Comparison(spec.name, dt.name, steps, rtol, atol, tracker.max_abs, tracker.max_rel,
                      tracker.max_ulps, tracker.first, runs[0], runs[1], headline, bias)


#: The fields of a one-step record that hold the weights after the step, in layer order.
_WEIGHT_FIELDS = ("w", "weights", "weights_input_hidden", "weights_hidden_output")


def _compare_step(
    spec: Concept, inputs: Inputs, np_mod: ModuleType, torch_mod: ModuleType, tracker: _Tracker
) -> tuple[tuple[BackendRun, BackendRun], int]:
    """One update: compare the new weights, the loss and every intermediate quantity."""
    results = [getattr(m, spec.function_name)(**inputs.kwargs) for m in (np_mod, torch_mod)]
    weight_fields = [f for f in _WEIGHT_FIELDS if hasattr(results[0], f)]
    fields = [f for f in vars(results[0]) if f not in (*weight_fields, "loss")]
    multi = len(weight_fields) > 1
    for k, f in enumerate(weight_fields):
        tracker.check("weights", 1, getattr(results[0], f), getattr(results[1], f),
                      (k,) if multi else ())
    tracker.check("loss", 1, results[0].loss, results[1].loss)
    for f in fields:
        tracker.check(f, 1, getattr(results[0], f), getattr(results[1], f))
    runs = tuple(
        BackendRun(
            final_weights=tuple(np.atleast_1d(np.asarray(getattr(r, f), dtype=float))
                                for f in weight_fields),
            losses=np.array([r.loss]),
            values=dict(vars(r)),
        )
        for r in results
    )
    return runs, 1  # type: ignore[return-value]


def _compare_training(
    spec: Concept,
    inputs: Inputs,
    np_mod: ModuleType,
    torch_mod: ModuleType,
    tracker: _Tracker,
    record: bool | int,
    stop_on_failure: bool,
    progress: bool | Callable[[int, int], Any] = False,
) -> tuple[tuple[BackendRun, BackendRun], int]:
    """Advance both step streams together; compare parameters and loss at every update."""
    kwargs = inputs.kwargs
    streams = []
    for label, mod in (("numpy", np_mod), ("torch", torch_mod)):
        streams.append(_labelled(label, getattr(mod, "iter_" + spec.function_name)(**kwargs)))
    if progress:
        streams[0] = _with_progress(streams[0], progress, _total_steps(kwargs), spec.name)
    X, y = kwargs["features"], kwargs["targets"]
    total = _loss_function(spec, np_mod, kwargs), _loss_function(spec, torch_mod, kwargs)
    logged = set(log_epochs(kwargs["epochs"]))
    every = 1 if record is True else int(record)
    losses: tuple[list[float], list[float]] = ([], [])
    history = (_Trajectory(), _Trajectory())
    history_steps: list[int] = []
    planned = _total_steps(kwargs)
    logs: tuple[list, list] = ([], [])
    last: tuple[Step, Step] | None = None
    steps = 0
    buffer = _StepBuffer(tracker, eager=stop_on_failure, bias=bool(kwargs.get("bias", False)))
    for a, b in _lockstep(*streams):
        if a is None or b is None:
            short = "numpy" if a is None else "torch"
            raise AssertionError(f"{spec.name}: the {short} backend stopped after {steps} steps "
                                 "while the other went on")
        if (a.index, a.epoch, a.end_of_epoch) != (b.index, b.epoch, b.end_of_epoch):
            raise AssertionError(
                f"{spec.name}: the backends disagree on where they are: numpy at update "
                f"{a.index} (epoch {a.epoch}, end of epoch {a.end_of_epoch}), torch at update "
                f"{b.index} (epoch {b.epoch}, end of epoch {b.end_of_epoch})")
        steps = a.index
        buffer.add(steps, a, b)  # parameters and loss, checked a block of steps at a time
        if record is not False:
            keep_params = every and (steps % every == 0 or steps == planned)
            if keep_params:
                history_steps.append(steps)
            for s, keep, hist in zip((a, b), losses, history, strict=True):
                keep.append(s.loss)
                if keep_params:
                    hist.append(s.params)
        if a.end_of_epoch and a.epoch in logged:
            values = [f(X, y, s.params[0] if len(s.params) == 1 else s.params)
                      for f, s in zip(total, (a, b), strict=True)]
            buffer.flush()
            tracker.check("log", steps, values[0], values[1])
            for keep, v in zip(logs, values, strict=True):
                keep.append((a.epoch, v))
        last = (a, b)
        if stop_on_failure and tracker.first is not None:
            break
    buffer.flush()
    assert last is not None
    # a run stopped at its first mismatch ends there: its weights may not even be finite, so
    # no final loss or accuracy is evaluated
    finished = not (stop_on_failure and tracker.first is not None)
    runs = []
    for i, (mod, s) in enumerate(zip((np_mod, torch_mod), last, strict=True)):
        params = s.params[0] if len(s.params) == 1 else s.params
        run = BackendRun(
            final_weights=tuple(p.copy() for p in s.params),
            losses=None if record is False else np.asarray(losses[i]),
            history=history[i].arrays(),
            history_steps=np.asarray(history_steps, dtype=np.int64),
            log=logs[i],
        )
        if finished:
            run.final_loss = total[i](X, y, params)
            if inputs.test is not None:
                run.test_accuracy = getattr(mod, spec.accuracy_function)(*inputs.test, params)
        runs.append(run)
    if finished:
        tracker.check("final_loss", steps, runs[0].final_loss, runs[1].final_loss)
    if runs[0].test_accuracy is not None:
        tracker.check("test_accuracy", steps, runs[0].test_accuracy, runs[1].test_accuracy)
    return (runs[0], runs[1]), steps


class _Trajectory:
    """Recorded parameters, one preallocated array per parameter that doubles when full (not a
    list of small arrays: 360,000 recorded steps of 6 weights take 17 MB, not ~150 MB)."""

    def __init__(self) -> None:
        self._rows: list[np.ndarray] = []
        self._n = 0

    def append(self, params: tuple[np.ndarray, ...]) -> None:
        if not self._rows:
            self._rows = [np.empty((64, *np.shape(p)), dtype=np.asarray(p).dtype) for p in params]
        elif self._n == len(self._rows[0]):
            self._rows = [np.concatenate([r, np.empty_like(r)]) for r in self._rows]
        for keep, p in zip(self._rows, params, strict=True):
            keep[self._n] = p
        self._n += 1

    def arrays(self) -> tuple[np.ndarray, ...]:
        return tuple(r[:self._n].copy() for r in self._rows)


#: At most this many steps of one backend run before the other catches up (see _lockstep).
_LOCKSTEP_STEPS = 512
#: ... and a turn of each backend lasts about this long, so slow steps alternate one by one.
_LOCKSTEP_SECONDS = 0.05


def _lockstep(numpy_steps: Iterator[Step], torch_steps: Iterator[Step]):
    """``zip_longest(numpy_steps, torch_steps)``, each step's parameters copied, but advancing
    each stream a run of steps at a time.

    Alternating the two backends step by step costs 15-30% over running them one after the other
    (each evicts the other's working set from the caches, benchmarks/bench.py); runs of up to
    :data:`_LOCKSTEP_STEPS` steps (sized so a run lasts ~:data:`_LOCKSTEP_SECONDS`: one step at
    a time when steps are slow) take that back. The pairs, and so every check, are the same;
    memory stays O(run · parameters). An exception a backend raises is re-raised where plain
    lockstep would have met it: after the pairs before it, NumPy's before PyTorch's at the same
    step — and not at all when the caller stops earlier (``stop_on_failure``).
    """
    size = 1
    while True:
        start = time.perf_counter()
        a_steps, a_exc = _take(numpy_steps, size)
        b_steps, b_exc = _take(torch_steps, len(a_steps) if a_exc else size)
        elapsed = time.perf_counter() - start
        for i in range(max(len(a_steps), len(b_steps)) + 1):
            if i == len(a_steps) and a_exc is not None:
                raise a_exc
            if i == len(b_steps) and b_exc is not None:
                raise b_exc
            if i == max(len(a_steps), len(b_steps)):
                break
            yield (a_steps[i] if i < len(a_steps) else None,
                   b_steps[i] if i < len(b_steps) else None)
        if len(a_steps) < size and len(b_steps) < size:
            return
        size = max(1, min(_LOCKSTEP_STEPS, int(size * _LOCKSTEP_SECONDS / max(elapsed, 1e-6))))


def _take(steps: Iterator[Step], count: int) -> tuple[list[Step], BaseException | None]:
    """Up to ``count`` steps, parameters copied (they are live views), and the exception that
    ended the run early, if any."""
    taken: list[Step] = []
    try:
        for s in islice(steps, count):
            taken.append(s._replace(params=tuple(np.array(p) for p in s.params)))
    except Exception as exc:  # re-raised by _lockstep where plain lockstep would raise it
        return taken, exc
    return taken, None


def _loss_function(spec: Concept, mod: ModuleType, kwargs: dict[str, Any]):
    mse, sse = spec.loss_functions
    name = {"sse": sse, "bce": spec.bce_function}.get(kwargs.get("loss"), mse)
    return getattr(mod, name)


def _total_steps(kwargs: dict[str, Any]) -> int:
    """How many updates a training run makes (for a progress bar's total)."""
    n = len(kwargs["targets"])
    size = kwargs.get("batch_size") or n  # backprop: None means full batch
    return int(kwargs["epochs"]) * len(BatchOrder(n, size, drop_last=bool(kwargs.get("drop_last"))))


def _with_progress(steps, progress: bool | Callable[[int, int], Any], total: int, desc: str):
    """``steps`` unchanged, reporting progress: a tqdm bar on stderr that appears only after
    a second (``progress=True``), or ``progress(done, total)`` after every step."""
    if callable(progress):
        for done, step in enumerate(steps, 1):
            yield step
            progress(done, total)
        return
    from tqdm import tqdm

    with tqdm(steps, total=total, desc=desc, unit="step", delay=1.0, leave=False,
              file=sys.stderr) as bar:
        yield from bar


def _labelled(label: str, steps):
    """Re-raise a backend's DivergenceError with the backend's name in front."""
    try:
        yield from steps
    except DivergenceError as exc:
        raise DivergenceError(f"{label} backend: {exc}") from exc


def assert_equivalent(concept: str | Comparison, **params: Any) -> Comparison:
    """Compare (stopping at the first mismatch) and raise ``AssertionError`` naming the concept,
    step, quantity, parameter index and both values if the backends disagree."""
    if isinstance(concept, Comparison):
        result = concept
    else:
        params.setdefault("stop_on_failure", True)
        result = compare(concept, **params)
    if not result.passed:
        raise AssertionError(str(result.first_failure))
    return result


def compare_all(names: list[str] | None = None, **params: Any) -> list[Comparison]:
    """:func:`compare` every concept (or ``names``), with the shared ``params``."""
    return [compare(n, **params) for n in (names or list(CONCEPTS))]
