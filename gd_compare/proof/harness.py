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
float64 (measured agreement is ~1e-16, a few ULPs), 1e-5/1e-5 in float32. Besides the weights and
the loss, every step's update Δw is compared relatively; a step that disagrees is judged again
from a common state and against the trajectory's own sensitivity, ties at the accuracy's
threshold are named rather than failed, and every step's dtype is checked
(:mod:`gd_compare.proof.verdict`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import numbers
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice, repeat
from types import ModuleType
from typing import Any

import numpy as np

from gd_compare.lesson.concepts import (
    LESSON_CONCEPTS,
    Concept,
    Inputs,
    check_dtype,
    get_concept,
)
from gd_compare.lesson.core import (
    BatchOrder,
    DivergenceError,
    Step,
    is_biased_pair,
    is_validated,
    log_epochs,
    split_network,
    validated,
)
from gd_compare.lesson.options import PlateauReplay, ScheduleTie, check_scheduler
from gd_compare.proof.tracking import (
    Judge,
    Mismatch,
    _StepBuffer,
    _Tracker,
    param_names,
    ulp_distance,
)
from gd_compare.proof.verdict import (
    MAX_TOLERANCE,
    Rejudge,
    RejudgeFigures,
    Sensitivity,
    StepBatches,
    UpdateAudit,
    arithmetic_probe,
    arithmetic_problem,
    backend_label,
    dtype_problem,
    record_dtype_problem,
    update_rows,
)

__all__ = ["DEFAULT_TOLERANCE", "TORCH_THREADS", "BackendRun", "Comparison", "Mismatch",
           "assert_equivalent", "compare", "compare_all", "thread_policy", "ulp_distance"]

#: Steps the lockstep comparison gathers before checking them in one vectorised pass.
_BLOCK_STEPS = 512

#: (rtol, atol) per dtype; tests and the CLI may pass tighter ones, never looser ones by default.
DEFAULT_TOLERANCE: dict[str, tuple[float, float]] = {
    "float64": (1e-12, 1e-12),
    "float32": (1e-5, 1e-5),
}


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
    #: concepts whose log shows it (``Concept.log_accuracy``): the accuracy on the training
    #: records at each logged epoch
    log_accuracy: list[float] = field(default_factory=list)

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
    #: the backends' names (their modules)
    labels: tuple[str, str] = ("numpy", "torch")
    #: training: steps judged from a common state, free-running gaps explained as amplified
    #: rounding (see :mod:`gd_compare.proof.verdict`)
    rejudge: RejudgeFigures | None = None
    #: test rows whose outputs agree within the tolerance but fall on opposite sides of the
    #: threshold (a tie: not a mismatch, though the accuracies differ by these rows)
    threshold_rows: tuple[int, ...] = ()
    #: ReduceLROnPlateau's decisions parted on epoch losses that agree within the tolerance
    #: (a tie at its threshold): the steps up to there are compared, the later ones not
    schedule_tie: ScheduleTie | None = None
    #: the runs' parameters end with one bias per layer (``bias=True``)
    bias: bool = False
    #: the optimizer (and schedule) and learning rate of a training run, in words
    setting: str = ""

    @property
    def passed(self) -> bool:
        return self.first_failure is None

    @property
    def trajectories(self) -> str:
        """``"amplified"``: a passing run whose free-running gap left the tolerance, every such
        step verified the same math (common state, reported losses, update audit) — rounding
        that the trajectory amplified; ``"agree"`` for every other run (one-step concepts and
        failing runs included)."""
        if self.passed and self.rejudge is not None and self.rejudge.amplified_steps:
            return "amplified"
        return "agree"

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
                for entry, acc in zip(out["log"], r.log_accuracy, strict=False):
                    entry["accuracy"] = acc
            return out

        return {
            "name": self.concept,
            "dtype": self.dtype,
            "steps": self.steps,
            "passed": self.passed,
            "trajectories": self.trajectories,
            "max_abs_diff": self.max_abs_diff,
            "max_rel_diff": self.max_rel_diff,
            "max_ulps": self.max_ulps,
            "tolerance": {"rtol": self.rtol, "atol": self.atol},
            "first_failure": None if self.first_failure is None else str(self.first_failure),
            "backends": list(self.labels),
            **({} if self.rejudge is None else self.rejudge.to_json()),
            "threshold_rows": list(self.threshold_rows),
            "schedule_tie": None if self.schedule_tie is None else self.schedule_tie.to_json(),
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
def thread_policy(load: bool = False) -> Iterator[None]:
    """PyTorch runs with :data:`TORCH_THREADS` intra-op threads inside the block (restored
    after). Only a process that uses PyTorch needs a policy: torch is imported here only with
    ``load`` (a caller that is about to use it, as ``check`` is), and where it is installed."""
    if load and "torch" not in sys.modules:
        with contextlib.suppress(ImportError):
            import torch
    torch = sys.modules.get("torch")
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
    """A tolerance in [0, :data:`~gd_compare.proof.verdict.MAX_TOLERANCE`) = [0, 1e-2): no tolerance
    may hide an error as large as a percent (with rtol = 0.9 a halved slope passed; with
    rtol >= 1 any two numbers of one sign agree). Measured agreement is ~1e-16 in float64,
    ~1e-7 in float32: 1e-2 leaves four orders of magnitude of room above float32's default."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a number >= 0, got {type(value).__name__}")
    if not (math.isfinite(value) and 0 <= value < MAX_TOLERANCE):
        raise ValueError(f"{name}: expected a number >= 0 and < {MAX_TOLERANCE:g} (a larger "
                         f"tolerance lets any mismatch pass), got {value!r}")
    return float(value)


def _check_record(record: bool | int) -> bool | int:
    if isinstance(record, bool):
        return record
    if not isinstance(record, numbers.Integral) or record < 1:
        raise ValueError(f"record: expected True, False or an int k >= 1 (every k-th update), "
                         f"got {record!r}")
    return int(record)


def _backends() -> tuple[ModuleType, ModuleType]:
    from gd_compare import (
        numpy_backend,  # torch is imported here, on first use
        torch_backend,
    )

    return numpy_backend, torch_backend


def _check_options(spec: Concept, inputs: Inputs, backends: Any, stop_on_failure: Any,
                   progress: Any) -> tuple[ModuleType, ModuleType]:
    """``stop_on_failure`` a bool, ``progress`` a bool or a callable (neither read by its
    truthiness), ``backends`` None or a pair of modules, each with every function the run of
    ``spec`` calls; returns the pair to run."""
    if not isinstance(stop_on_failure, (bool, np.bool_)):
        raise TypeError(f"stop_on_failure: expected True or False, got {stop_on_failure!r}")
    if not (isinstance(progress, (bool, np.bool_)) or callable(progress)):
        raise TypeError(f"progress: expected True, False or a callable progress(done, total), "
                        f"got {progress!r}")
    if backends is None:
        return _backends()
    if not isinstance(backends, (tuple, list)) or len(backends) != 2:
        got = f"{len(backends)} of them" if isinstance(backends, (tuple, list)) \
            else f"{type(backends).__name__} {backends!r}"
        raise TypeError(f"backends: expected a pair (yours, the reference), e.g. (my_backend, "
                        f"torch_backend), or None for (numpy_backend, torch_backend); got {got}")
    needed = [spec.function_name]
    if spec.kind == "training":
        needed = ["iter_" + spec.function_name, _loss_name(spec, inputs.kwargs)]
        if inputs.test is not None:
            needed.append(spec.accuracy_function)
    for i, mod in enumerate(backends):
        if isinstance(mod, (str, bytes)) or mod is None:
            raise TypeError(f"backends[{i}]: expected a backend module, got {mod!r}")
        missing = [f for f in needed if not callable(getattr(mod, f, None))]
        if missing:
            raise TypeError(f"backends[{i}]: {backend_label(mod, type(mod).__name__)} lacks "
                            f"{', '.join(missing)} (what {spec.name} calls; see numpy_backend)")
    return backends[0], backends[1]


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
    ``features``/``targets``, ...; see ``gd_compare.lesson.concepts.CONCEPTS[name].defaults``).
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
    np_mod, torch_mod = _check_options(spec, inputs, backends, stop_on_failure, progress)
    labels = (backend_label(np_mod, "numpy"), backend_label(torch_mod, "torch"))
    if labels[0] == labels[1]:
        labels = (labels[0] + " (1st)", labels[1] + " (2nd)")
    tracker = _Tracker(spec.name, dt, rtol, atol, labels)
    extra: dict[str, Any] = {}
    with thread_policy():
        if spec.kind == "step":
            runs, steps = _compare_step(spec, inputs, np_mod, torch_mod, tracker)
        else:
            # the data is checked once here; every function the run calls takes it as it is
            with validated(inputs.kwargs.get("features"), inputs.kwargs.get("targets"),
                           *(inputs.test or ())):
                runs, steps, extra = _compare_training(spec, inputs, np_mod, torch_mod,
                                                       tracker, record, stop_on_failure,
                                                       progress)
    headline = spec.headline
    if spec.kind == "training" and inputs.kwargs.get("loss", "mse") != "mse":
        headline = headline.replace("MSE", str(inputs.kwargs["loss"]).upper())
    return Comparison(spec.name, dt.name, steps, rtol, atol, tracker.max_abs, tracker.max_rel,
                      tracker.max_ulps, tracker.first, runs[0], runs[1], headline, labels,
                      **extra, bias=bool(inputs.kwargs.get("bias", False)),
                      setting=_setting(inputs.kwargs) if spec.kind == "training" else "")


def _setting(kwargs: dict[str, Any]) -> str:
    """"Adam at lr 0.5", "plain SGD at lr 100 with steplr", ... (for a note)."""
    name = kwargs.get("optimizer") or "sgd"
    words = "plain SGD" if name == "sgd" and not kwargs.get("optimizer_kwargs") else str(name)
    text = f"{words} at lr {kwargs.get('lr')!r}"
    return text + (f" with {kwargs['scheduler']}" if kwargs.get("scheduler") else "")


#: The fields of a one-step record that hold the weights after the step, in layer order.
_WEIGHT_FIELDS = ("w", "weights", "weights_input_hidden", "weights_hidden_output")
#: The fields of a one-step record that a step moves from 0 (biases start at 0) or that are a
#: change themselves: judged relatively, as an update, whatever their scale (issue 18 C).
_CHANGE_FIELDS = ("bias", "del_b", "del_w", "bias_hidden", "bias_output", "delta_b_h",
                  "delta_b_o", "delta_w_h_o", "delta_w_i_h")


def _compare_step(
    spec: Concept, inputs: Inputs, np_mod: ModuleType, torch_mod: ModuleType, tracker: _Tracker
) -> tuple[tuple[BackendRun, BackendRun], int]:
    """One update: compare the new weights, the loss, every intermediate quantity, and what the
    step changed, Δw = w_after − w_before, relatively (at any scale)."""
    results = [getattr(m, spec.function_name)(**inputs.kwargs) for m in (np_mod, torch_mod)]
    for label, r in zip(tracker.labels, results, strict=True):
        problem = record_dtype_problem(label, r, tracker.dtype)
        if problem and tracker.first is None:
            tracker.first = Mismatch(spec.name, 1, "dtype", (), math.nan, math.nan, math.nan, 0,
                                     tracker.rtol, tracker.atol, tracker.labels, message=problem)
    weight_fields = [f for f in _WEIGHT_FIELDS if hasattr(results[0], f)]
    # fields a record leaves None (a NeuronStep's bias and del_b without a bias) are not compared
    fields = [f for f in vars(results[0]) if f not in (*weight_fields, "loss")
              and not (getattr(results[0], f) is None and getattr(results[1], f) is None)]
    multi = len(weight_fields) > 1
    for k, f in enumerate(weight_fields):
        prefix = (k,) if multi else ()
        after_a, after_b = getattr(results[0], f), getattr(results[1], f)
        tracker.check("weights", 1, after_a, after_b, prefix)
        _check_update(tracker, inputs.kwargs[f], after_a, after_b, prefix)
    # every other quantity the step moves is judged relatively too: the biases (from 0) and the
    # changes themselves (del_w, del_b, delta_w_h_o, ...; from 0 they are their own update)
    for f in (f for f in fields if f in _CHANGE_FIELDS):
        after_a, after_b = getattr(results[0], f), getattr(results[1], f)
        if after_a is None or after_b is None:
            continue
        zero = np.zeros(np.shape(after_a))
        _check_update(tracker, zero, after_a, after_b, (), quantity=f)
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


def _check_update(tracker: _Tracker, before: Any, after_a: Any, after_b: Any,
                  prefix: tuple[int, ...], quantity: str = "update") -> None:
    """One step from a shared start: Δw of both backends agree relatively (plus 2 ULPs of w).
    A ``quantity`` other than the weights' is named in the mismatch (``"update of bias"``)."""
    dt = tracker.dtype
    start = np.asarray(before, dtype=dt).reshape(np.shape(after_a))[np.newaxis]
    a, b = (np.asarray(v, dtype=dt)[np.newaxis] for v in (after_a, after_b))
    bad, worst, where = update_rows(start, a, start, b, tracker.rtol, dt)
    tracker._bump(tracker.max_abs, "update", float(worst[0]))
    if quantity != "update":
        quantity = f"update of {quantity}"
    if bad[0] and tracker.first is None:
        i = np.unravel_index(int(where[0]), a.shape[1:])
        da = float(a[(0, *i)]) - float(start[(0, *i)])
        db = float(b[(0, *i)]) - float(start[(0, *i)])
        tracker.first = Mismatch(tracker.concept, 1, quantity, prefix + tuple(map(int, i)), da,
                                 db, float(worst[0]), 0, tracker.rtol, tracker.atol,
                                 tracker.labels)


def _compare_training(
    spec: Concept,
    inputs: Inputs,
    np_mod: ModuleType,
    torch_mod: ModuleType,
    tracker: _Tracker,
    record: bool | int,
    stop_on_failure: bool,
    progress: bool | Callable[[int, int], Any] = False,
) -> tuple[tuple[BackendRun, BackendRun], int, dict[str, Any]]:
    """Advance both step streams together; compare parameters, loss and update at every step,
    re-judge the steps that disagree (:class:`~gd_compare.proof.verdict.Rejudge`)."""
    kwargs = inputs.kwargs
    mods = (np_mod, torch_mod)
    streams = []
    for label, mod in zip(tracker.labels, mods, strict=True):
        streams.append(_labelled(label, getattr(mod, "iter_" + spec.function_name)(**kwargs)))
    if progress:
        streams[0] = _with_progress(streams[0], progress, _total_steps(kwargs), spec.name)
    X, y = kwargs["features"], kwargs["targets"]
    total = _loss_function(spec, np_mod, kwargs), _loss_function(spec, torch_mod, kwargs)
    rejudge = _rejudge(spec, mods, tracker, kwargs, _start_params(kwargs))
    whole = (slice(0, len(y)),)

    def whole_loss(i: int, params: tuple[np.ndarray, ...]) -> float:
        """Backend i's loss on all the training records at ``params`` (the log, the final
        loss): through the re-judge's kept values when there is one — at a full-batch run's
        last step its common state computed them already."""
        if rejudge is None:
            return total[i](X, y, _arg(params))
        return rejudge.loss(mods[i], whole, _arg(params))

    logged = set(log_epochs(kwargs["epochs"]))
    every = 1 if record is True else int(record)
    losses: tuple[list[float], list[float]] = ([], [])
    history = (_Trajectory(), _Trajectory())
    history_steps: list[int] = []
    planned = _total_steps(kwargs)
    logs: tuple[list, list] = ([], [])
    log_accuracy: tuple[list[float], list[float]] = ([], [])
    last: tuple[Step, Step] | None = None
    steps = 0
    start = _start_params(kwargs)
    buffer = _StepBuffer(tracker, eager=stop_on_failure, rows=_BLOCK_STEPS, start=start,
                         judge=_judge(rejudge) if rejudge is not None else None,
                         bias=bool(kwargs.get("bias", False)))
    plateau = _plateau(kwargs, tracker)
    tie = None
    for a, b in _lockstep(*streams):
        if a is None or b is None:
            short = tracker.labels[0] if a is None else tracker.labels[1]
            raise AssertionError(f"{spec.name}: the {short} backend stopped after {steps} steps "
                                 "while the other went on")
        if (a.index, a.epoch, a.end_of_epoch) != (b.index, b.epoch, b.end_of_epoch):
            la, lb = tracker.labels
            raise AssertionError(
                f"{spec.name}: the backends disagree on where they are: {la} at update "
                f"{a.index} (epoch {a.epoch}, end of epoch {a.end_of_epoch}), {lb} at update "
                f"{b.index} (epoch {b.epoch}, end of epoch {b.end_of_epoch})")
        steps = a.index
        _check_dtypes(tracker, steps, a, b)
        if rejudge is not None and rejudge.audit is not None:
            rejudge.audit.observe(steps, a, b)
        buffer.add(steps, a, b)  # parameters, loss and update, checked a block at a time
        if record is not False:
            keep_params = every and (steps % every == 0 or steps == planned)
            if keep_params:
                history_steps.append(steps)
            for s, keep, hist in zip((a, b), losses, history, strict=True):
                keep.append(s.loss)
                if keep_params:
                    hist.append(s.params)
        if a.end_of_epoch and a.epoch in logged:
            own = [whole_loss(i, s.params) for i, s in enumerate((a, b))]
            buffer.flush()
            for checked in _evaluated_at(rejudge, own, (a.params, b.params), whole_loss,
                                         (0, 1)):
                tracker.check("log", steps, checked[0], checked[1])
            for keep, v in zip(logs, own, strict=True):
                keep.append((a.epoch, v))
            if spec.log_accuracy:
                for keep, mod, s in zip(log_accuracy, mods, (a, b), strict=True):
                    keep.append(getattr(mod, spec.accuracy_function)(X, y, _arg(s.params)))
                tracker.check("log_accuracy", steps, log_accuracy[0][-1], log_accuracy[1][-1])
        last = (a, b)
        if stop_on_failure and tracker.first is not None:
            break
        if plateau is not None:
            tie = plateau.add(a.epoch, (a.loss, b.loss), a.end_of_epoch)
            if tie is not None:
                buffer.flush()  # every step so far judged: do their losses agree?
                if tracker.first is None:
                    break  # a tie: the next epochs run two different schedules
                tie = plateau = None  # parted after a mismatch: that mismatch is the verdict
    buffer.flush()
    if tracker.dtype == np.float32 and tracker.first is None:  # after the dtype checks
        _check_arithmetic(spec, mods, tracker, kwargs)
    assert last is not None
    # a run stopped at its first mismatch ends there: its weights may not even be finite, so
    # no final loss or accuracy is evaluated
    finished = not (stop_on_failure and tracker.first is not None)
    if finished and rejudge is not None:  # the gradients at the start and at the end, below any
        if start:                         # atol (first: a full-batch run's final losses reuse them)
            _common_state_check(tracker, rejudge, 1, (start, start))
        _common_state_check(tracker, rejudge, steps, (last[0].params, last[1].params))
    runs = []
    for i, s in enumerate(last):
        run = BackendRun(
            final_weights=tuple(p.copy() for p in s.params),
            losses=None if record is False else np.asarray(losses[i]),
            history=history[i].arrays(),
            history_steps=np.asarray(history_steps, dtype=np.int64),
            log=logs[i],
            log_accuracy=log_accuracy[i],
        )
        if finished:
            run.final_loss = whole_loss(i, s.params)
            if inputs.test is not None:
                run.test_accuracy = getattr(mods[i], spec.accuracy_function)(*inputs.test,
                                                                            _arg(s.params))
        runs.append(run)
    if rejudge is not None:
        rejudge.sync()
    extra: dict[str, Any] = {"rejudge": None if rejudge is None else rejudge.figures,
                             "schedule_tie": tie}
    if finished:
        for final in _evaluated_at(rejudge, [r.final_loss for r in runs],
                                   (last[0].params, last[1].params), whole_loss, (0, 1)):
            tracker.check("final_loss", steps, final[0], final[1])
        if inputs.test is not None:
            extra["threshold_rows"] = _check_accuracy(spec, mods, tracker, steps, inputs.test,
                                                      last, runs, rejudge)
    return (runs[0], runs[1]), steps, extra


def _check_arithmetic(spec: Concept, mods: tuple[ModuleType, ModuleType], tracker: _Tracker,
                      kwargs: dict[str, Any]) -> None:
    """The arithmetic witness of a float32 run (:func:`~gd_compare.proof.verdict.
    arithmetic_probe`): a step from a common state whose float32 result differs from its
    float64 result; a backend that lands on float64's computes in float64 and rounds."""
    probe = arithmetic_probe(kwargs)
    if probe is None:
        return
    for label, mod in zip(tracker.labels, mods, strict=True):
        try:
            problem = arithmetic_problem(label, getattr(mod, "iter_" + spec.function_name), probe)
        except (ValueError, TypeError, IndexError, StopIteration, DivergenceError):
            continue  # a backend that does not take the probe: no witness
        if problem and tracker.first is None:
            tracker.first = Mismatch(tracker.concept, 1, "arithmetic", (), math.nan, math.nan,
                                     math.nan, 0, tracker.rtol, tracker.atol, tracker.labels,
                                     message=problem)


def _plateau(kwargs: dict[str, Any], tracker: _Tracker) -> PlateauReplay | None:
    """ReduceLROnPlateau's replay on both backends' epoch losses, if the run has one."""
    try:
        choice = check_scheduler(kwargs.get("scheduler"), kwargs.get("scheduler_kwargs"))
    except (TypeError, ValueError):
        return None  # the backends reject it themselves, naming it
    return PlateauReplay.of(choice, kwargs.get("lr"), tracker.labels, tracker.rtol,
                            tracker.atol)


def _arg(params: tuple[np.ndarray, ...]) -> Any:
    """What the backends' functions take: one array for a neuron, the tuple for a network."""
    return params[0] if len(params) == 1 else params


def _start_params(kwargs: dict[str, Any]) -> tuple[np.ndarray, ...]:
    w = kwargs.get("weights")
    if w is None:
        return ()
    start = tuple(np.asarray(p) for p in w) if isinstance(w, (tuple, list)) else (np.asarray(w),)
    if kwargs.get("bias") is True:  # the biases a run starts from when none are given: 0
        weights, biases = split_network(start) if len(start) > 1 else (start, ())
        if len(start) == 1:
            return (*start, np.zeros(1, dtype=start[0].dtype))
        if not biases and not is_biased_pair(w):
            dtype = start[0].dtype
            return (*weights, *(np.zeros(np.shape(W)[1], dtype=dtype) for W in weights[:-1]),
                    np.zeros(1, dtype=dtype))
    return start


def _batch_order(kwargs: dict[str, Any]) -> BatchOrder:
    """A fresh replay of the run's batch order."""
    return BatchOrder(len(kwargs["targets"]), kwargs.get("batch_size") or len(kwargs["targets"]),
                      seed=kwargs.get("seed"), shuffle=kwargs.get("shuffle", True),
                      drop_last=kwargs.get("drop_last", False))


def _step_batches(kwargs: dict[str, Any]) -> StepBatches:
    """A replay of the batches the run's updates see: for ``data_parallel`` the K shards of each
    global batch in rank order (DistributedSampler's split, ``lesson.parallel``); otherwise one
    batch of the shared :class:`BatchOrder` per update. Raises what the backends would."""
    if "workers" in kwargs:
        import inspect

        from gd_compare.lesson.parallel import data_parallel_run

        names = inspect.signature(data_parallel_run).parameters
        dp = data_parallel_run(**{k: v for k, v in kwargs.items() if k in names})

        def shards() -> Iterator[tuple[Any, ...]]:
            while True:
                for steps in dp.epochs():
                    yield from (tuple(step) for step in steps)

        return StepBatches(shards, dp.steps_per_epoch)
    order = _batch_order(kwargs)
    if order.batch_size == order.n:  # the full batch, every update (no shuffle to replay)
        return StepBatches(lambda: repeat((slice(0, order.n),)), 1)
    per_epoch = len(order)

    def batches() -> Iterator[tuple[Any, ...]]:
        order = _batch_order(kwargs)
        while True:
            yield from ((rows,) for rows in order)

    return StepBatches(batches, per_epoch)


def _on_shards(function: Callable[..., Any], X: np.ndarray, y: np.ndarray, gradient: bool
               ) -> Callable[..., Any]:
    """``function(mod, Xb, yb, params)`` on a step's shards: one shard as it is; K shards
    all-reduced as DDP does (each value divided by K, summed in rank order — the loss of each
    shard in the run's dtype first, as the workers' tensors hold it)."""
    from gd_compare.numpy_backend.distributed import allreduce_mean

    recent: OrderedDict[tuple[Any, ...], Any] = OrderedDict()

    def on_shards(mod: ModuleType, shards: tuple[Any, ...], params: Any,
                  dtype: np.dtype | None = None) -> Any:
        # a re-judged step asks for the same values more than once (the common state at a
        # backend's weights, its reported loss, its update audit): computed once, kept a while
        key = (id(mod), _value_key(shards), _value_key(params), None if dtype is None
               else np.dtype(dtype).str)
        if key in recent:
            recent.move_to_end(key)
            return recent[key]
        value = recent[key] = _frozen(shard_values(mod, shards, params, dtype))
        if len(recent) > _RECENT_VALUES:
            recent.popitem(last=False)
        return value

    def shard_values(mod: ModuleType, shards: tuple[Any, ...], params: Any,
                     dtype: np.dtype | None) -> Any:
        parts = []
        for rows in shards:
            Xb, yb = X[rows], y[rows]
            if dtype is not None:
                Xb, yb = Xb.astype(dtype), yb.astype(dtype)
            parts.append(function(mod, Xb, yb, params))
        if len(parts) == 1:
            return parts[0]
        if not gradient:
            return float(allreduce_mean([X.dtype.type(v) for v in parts]))
        tuples = [tuple(g) if isinstance(g, tuple) else (g,) for g in parts]
        out = tuple(allreduce_mean([g[i] for g in tuples]) for i in range(len(tuples[0])))
        return out if len(out) > 1 else out[0]

    return on_shards


#: Values (a gradient or loss on a step's batch) the re-judge keeps for reuse: the 4 gradients of
#: a re-judged step's common states, and its audit's, with room to spare.
_RECENT_VALUES = 16


def _frozen(value: Any) -> Any:
    """A read-only copy of a gradient (an array or a tuple of them) or a loss: what a backend
    returned may be a buffer it writes again at its next call."""
    if isinstance(value, tuple):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, np.ndarray):
        value = value.copy()
        value.flags.writeable = False
    return value


def _value_key(value: Any) -> tuple[Any, ...]:
    """A hashable key of the *values* of a batch's row selections or of parameters: slices as
    they are, arrays by dtype, shape and bytes (copies with equal contents give equal keys)."""
    items = value if isinstance(value, (tuple, list)) else (value,)
    return tuple((v.start, v.stop, v.step) if isinstance(v, slice)
                 else (np.asarray(v).dtype.str, np.shape(v), np.asarray(v).tobytes())
                 for v in items)


def _rejudge(spec: Concept, mods: tuple[ModuleType, ModuleType], tracker: _Tracker,
             kwargs: dict[str, Any], start: tuple[np.ndarray, ...] = ()) -> Rejudge | None:
    """The re-judge of this run's steps; ``None`` when the run's batches cannot be replayed."""
    X, y = kwargs["features"], kwargs["targets"]
    try:
        _step_batches(kwargs)
    except (TypeError, ValueError):
        return None  # the backends reject these arguments themselves, naming them
    reduction = kwargs.get("loss", "mse")
    grads = [getattr(m, spec.gradient_function, None) for m in mods]

    # Xb, yb: rows of the run's data; checked once (``validated`` in compare), so are they
    rows_checked = is_validated(X) and is_validated(y)

    def gradient(mod: ModuleType, Xb: np.ndarray, yb: np.ndarray, params: Any) -> Any:
        with validated(Xb, yb, check=not rows_checked):
            return getattr(mod, spec.gradient_function)(Xb, yb, params, loss=reduction)

    def loss(mod: ModuleType, Xb: np.ndarray, yb: np.ndarray, params: Any) -> float:
        with validated(Xb, yb, check=not rows_checked):
            return _loss_function(spec, mod, kwargs)(Xb, yb, params)

    # the witness and the rounding yardstick are the reference NumPy backend (torch-free),
    # whichever backends are compared; its steps yield live views of its parameters: nudging
    # them changes its run (a backend of the caller's may yield copies)
    from gd_compare import numpy_backend

    fn = getattr(numpy_backend, "iter_" + spec.function_name)
    witness = Sensitivity(lambda: fn(**kwargs))
    has_gradient = all(g is not None for g in grads)
    lr = float(kwargs.get("lr") or 0.0)
    on_shards = _on_shards(gradient, X, y, gradient=True)
    audit = (_update_audit(mods, tracker, kwargs, on_shards, start, lr)
             if has_gradient else None)
    return Rejudge(mods, tracker.labels, _step_batches(kwargs),
                   on_shards if has_gradient else None, _on_shards(loss, X, y, gradient=False),
                   witness, tracker.rtol, tracker.atol, lr, audit,
                   names=tuple(param_names(len(_start_params(kwargs)),
                                           bool(kwargs.get("bias", False)))),
                   reference=numpy_backend, n_rows=len(y))


def _update_audit(mods: tuple[ModuleType, ModuleType], tracker: _Tracker,
                  kwargs: dict[str, Any], gradient: Any, start: tuple[np.ndarray, ...],
                  lr: float) -> UpdateAudit | None:
    """The audit of each backend's own updates (:class:`~gd_compare.proof.verdict.UpdateAudit`)
    for every training concept — ``data_parallel`` included, on the shards DDP used."""
    if "optimizer" not in kwargs or not start:
        return None
    from gd_compare import optim
    from gd_compare.lesson.options import check_optimizer, check_scheduler
    from gd_compare.optim import lr_scheduler

    try:
        choice = check_optimizer(kwargs["optimizer"], kwargs.get("optimizer_kwargs"))
        scheduler = check_scheduler(kwargs.get("scheduler"), kwargs.get("scheduler_kwargs"))
    except (TypeError, ValueError):
        return None  # the backends reject these arguments themselves, naming them
    return UpdateAudit(mods, tracker.labels, _step_batches(kwargs), gradient, start, lr,
                       tracker.rtol, tracker.dtype, choice, scheduler, optim, lr_scheduler)


def _judge(rejudge: Rejudge) -> Judge:
    """Whether a mismatch at a step stands. It does not when, at that step, (1) from a common
    state — each backend's weights before the step — both backends' gradients and losses agree,
    (2) each backend's reported loss is its own loss function at its own weights, and (3) each
    backend's own update is what its optimizer makes of its own gradient (the update audit):
    the step is verified, the free-running gap is amplified rounding. Without an audit (no
    gradient functions) the gap must also be within the witness's sensitivity, and step 1
    (a shared start) cannot be amplified."""
    def judge(step: int, candidates: list[Mismatch], befores: tuple[tuple[np.ndarray, ...], ...],
              gap: float, loss_gap: float, losses: tuple[float, float]) -> Mismatch | None:
        if not all(np.isfinite(p).all() for before in befores for p in before):
            return candidates[0]  # no common state to judge from
        try:
            problem = rejudge.common_states(step, befores,
                                            loss=any(m.quantity == "loss" for m in candidates))
            if problem is None:
                problem = rejudge.reported_losses(step, befores, losses)
        except (ValueError, TypeError, IndexError) as exc:
            return dataclasses.replace(candidates[0], note=f"could not re-judge the step: {exc}")
        if problem is None:
            try:
                problem = rejudge.update_problem(step)
            except (ValueError, TypeError, IndexError) as exc:
                return dataclasses.replace(candidates[0],
                                           note=f"could not check the step's update: {exc}")
        verified = rejudge.audit is not None and rejudge.audit.covers(step)
        if problem is None and step == 1 and not verified:
            problem = "step 1 starts from the same weights: nothing was amplified"
        if problem is None:
            problem = rejudge.amplified(step, gap, loss_gap, verified)
            if problem is None:
                return None  # verified step by step: the same math, rounding amplified
        return dataclasses.replace(candidates[0], note=problem)

    return judge


def _common_state_check(tracker: _Tracker, rejudge: Rejudge, step: int,
                        params: tuple[tuple[np.ndarray, ...], ...]) -> None:
    """The gradient and loss of both backends at the same weights (the start; the end: at each
    backend's final weights); skipped where a backend's functions do not take these
    parameters."""
    try:
        problem = rejudge.common_states(step, tuple(tuple(np.asarray(p) for p in ps)
                                                    for ps in params))
    except (ValueError, TypeError, IndexError):
        return
    if problem and tracker.first is None:
        tracker.first = Mismatch(tracker.concept, step, "gradient", (), math.nan, math.nan,
                                 math.nan, 0, tracker.rtol, tracker.atol, tracker.labels,
                                 message=problem)


def _evaluated_at(rejudge: Rejudge | None, own: list[Any],
                  states: tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]],
                  common: Callable[[Any, Any], Any], functions: tuple[Any, Any]
                  ) -> list[list[Any]]:
    """The pairs of values to compare: each backend's at its own weights, or — once
    free-running gaps were explained as amplified rounding — both functions at the same
    weights, at each backend's (symmetric in the two backends)."""
    if rejudge is None or not rejudge.figures.amplified_steps:
        return [own]
    return [[common(f, p) for f in functions] for p in states]


def _check_dtypes(tracker: _Tracker, step: int, a: Step, b: Step) -> None:
    if tracker.first is not None:
        return
    for label, s in zip(tracker.labels, (a, b), strict=True):
        problem = dtype_problem(label, s, tracker.dtype)
        if problem:
            tracker.first = Mismatch(tracker.concept, step, "dtype", (), math.nan, math.nan,
                                     math.nan, 0, tracker.rtol, tracker.atol, tracker.labels,
                                     message=problem)
            return


def _check_accuracy(spec: Concept, mods: tuple[ModuleType, ModuleType], tracker: _Tracker,
                    step: int, test: tuple[Any, Any], last: tuple[Step, Step],
                    runs: list[BackendRun], rejudge: Rejudge | None) -> tuple[int, ...]:
    """The test accuracy: a prediction that flips counts only where the two outputs differ
    beyond the tolerance. Rows whose outputs agree but fall on opposite sides of the threshold
    are ties: returned (the accuracies may differ by exactly those rows)."""
    X_test, y_test = test
    forwards = [getattr(m, spec.forward_function, None) for m in mods]
    if any(f is None for f in forwards):  # a backend without ŷ: compare the accuracies as such
        tracker.check("test_accuracy", step, runs[0].test_accuracy, runs[1].test_accuracy)
        return ()
    common = rejudge is not None and rejudge.figures.amplified_steps > 0
    # once amplified: both functions at each backend's weights in turn (symmetric)
    states = ([(last[0].params, last[0].params), (last[1].params, last[1].params)] if common
              else [(last[0].params, last[1].params)])
    rows_found: set[int] = set()
    for params in states:
        out = [np.asarray(f(X_test, _arg(p)), dtype=np.float64)
               for f, p in zip(forwards, params, strict=True)]
        tracker.check("test_output", step, out[0], out[1])
        flips = (out[0] > 0.5) != (out[1] > 0.5)
        tie = flips & (np.abs(out[0] - out[1]) <= tracker.atol + tracker.rtol
                       * np.maximum(np.abs(out[0]), np.abs(out[1])))
        rows_found.update(int(i) for i in np.flatnonzero(tie))
    rows = tuple(sorted(rows_found))
    if common:  # both functions' accuracies at the same weights, each backend's in turn
        pairs = [[getattr(m, spec.accuracy_function)(X_test, y_test, _arg(s.params))
                  for m in mods] for s in last]
        accuracies = max(pairs, key=lambda pair: abs(pair[0] - pair[1]))
    else:
        accuracies = [runs[0].test_accuracy, runs[1].test_accuracy]
    allowed = len(rows) / len(y_test)
    diff = abs(accuracies[0] - accuracies[1])
    if diff <= allowed + 1e-12:  # the real difference, explained by ``threshold_rows``
        tracker._bump(tracker.max_abs, "test_accuracy", diff)
    elif tracker.first is None:
        tracker.check("test_accuracy", step, accuracies[0], accuracies[1])
    return rows


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
        both = min(len(a_steps), len(b_steps))
        yield from zip(a_steps[:both], b_steps[:both])
        for i in range(both, max(len(a_steps), len(b_steps)) + 1):
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
            copies = tuple([np.array(p) for p in s.params])
            # a Step is rebuilt directly (a third of _replace's cost); any other named tuple a
            # backend of the caller's yields, by _replace
            taken.append(Step(s[0], s[1], s[2], copies, s[4]) if type(s) is Step
                         else s._replace(params=copies))
    except Exception as exc:  # re-raised by _lockstep where plain lockstep would raise it
        return taken, exc
    return taken, None


def _loss_name(spec: Concept, kwargs: dict[str, Any]) -> str:
    mse, sse = spec.loss_functions
    return {"sse": sse, "bce": spec.bce_function}.get(kwargs.get("loss"), mse)


def _loss_function(spec: Concept, mod: ModuleType, kwargs: dict[str, Any]):
    return getattr(mod, _loss_name(spec, kwargs))


def _total_steps(kwargs: dict[str, Any]) -> int:
    """How many updates a training run makes (for a progress bar's total)."""
    n = len(kwargs["targets"])
    size = kwargs.get("batch_size") or n  # backprop: None means full batch
    if "workers" in kwargs:  # data_parallel: K shards of batch_size records per update
        from gd_compare.lesson.parallel import total_steps

        return total_steps(n, kwargs["workers"], size, bool(kwargs.get("drop_last")),
                           int(kwargs["epochs"]))
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
    """:func:`compare` every concept of the lesson (or ``names``), with the shared ``params``."""
    return [compare(n, **params) for n in (names or list(LESSON_CONCEPTS))]
