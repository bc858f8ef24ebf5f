"""Pictures of the proof: NumPy by hand and PyTorch autograd, drawn on top of each other.

Every function takes what the harness returns (a :class:`~gd_compare.proof.harness.Comparison`, or a
mapping of them for the teacher's comparisons) and returns a :class:`matplotlib.figure.Figure`.
Figures are built with the object-oriented API (``Figure()``, no ``pyplot``), so nothing here
needs a display, opens a window or touches global pyplot state: it works headless, in a
notebook and in the CLI alike. The notebooks and ``gd-compare plot`` call the same functions,
so they show the same pictures.

- :func:`comparison_figure` — one concept: both loss curves overlaid, the per-update |Δ| on a log
  axis (with the harness tolerance and machine ε), and the weight trajectories;
- :func:`sse_vs_mse_figure`, :func:`lr_sweep_figure`, :func:`batch_size_figure` — what a
  teacher asks next;
- :func:`optimizers_figure` — several optimizers on one problem, both backends overlaid;
- :func:`repeat_step` — a one-step concept (``simple_step``, ``sigmoid_step``, ...) repeated, each
  backend from its own previous weights, so it has curves to draw too;
- :func:`save_all` — every picture as a PNG (the CLI's ``gd-compare plot``).

Parameters may be one weight vector or a tuple of several arrays (one per layer of a network):
the trajectories are drawn for every entry of every array.

``import gd_compare`` does not import this module (nor matplotlib); import it explicitly.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.lines import Line2D

from gd_compare.lesson.concepts import CONCEPTS, LESSON_CONCEPTS, check_dtype, get_concept
from gd_compare.lesson.core import DivergenceError, check_reduction
from gd_compare.proof.harness import (
    DEFAULT_TOLERANCE,
    BackendRun,
    Comparison,
    Mismatch,
    compare,
    ulp_distance,
)

NUMPY_LABEL = "NumPy (by hand)"
TORCH_LABEL = "PyTorch (autograd)"
NUMPY_STYLE: dict[str, Any] = {"linestyle": "-", "linewidth": 3.0, "alpha": 0.45}
TORCH_STYLE: dict[str, Any] = {"linestyle": "--", "linewidth": 1.3}
NUMPY_COLOR, TORCH_COLOR = "tab:blue", "black"
#: |Δ| = 0 cannot be drawn on a log axis; exact agreement is drawn at this height instead.
ZERO_FLOOR = 1e-20
#: at most this many weight trajectories get a legend entry (the rest are drawn unlabelled)
MAX_LABELLED_WEIGHTS = 8
#: inches kept free to the right of a figure for the weights' legend
LEGEND_MARGIN = 1.8

__all__ = [
    "NUMPY_LABEL",
    "TORCH_LABEL",
    "ZERO_FLOOR",
    "SavedPlots",
    "batch_size_figure",
    "comparison_figure",
    "diff_series",
    "display_png",
    "epoch_losses",
    "flat_history",
    "lr_sweep_figure",
    "optimizers_figure",
    "param_names",
    "plot_differences",
    "plot_losses",
    "plot_weights",
    "repeat_step",
    "running_mean",
    "save_all",
    "sse_vs_mse_figure",
    "to_png",
]


# --------------------------------------------------------------------------- the data drawn


def flat_history(run: BackendRun) -> np.ndarray:
    """The parameters after every recorded update, one row per update, every entry of every
    parameter array as a column: shape (recorded, total number of parameters)."""
    if not run.history:
        return np.empty((0, sum(np.size(w) for w in run.final_weights)))
    return np.concatenate([h.reshape(h.shape[0], -1) for h in run.history], axis=1)


def param_names(run: BackendRun, bias: bool = False) -> list[str]:
    """``w[0]``, ``w[1]``, ... for one weight vector (then ``b`` for a neuron's ``bias``);
    ``W0[i,j]``, ``W1[k]``, ... for several arrays (one per layer), in the column order of
    :func:`flat_history`."""
    shapes = [np.shape(w) for w in run.final_weights]
    if bias and len(shapes) == 2 and len(shapes[0]) == 1 and shapes[1] == (1,):
        return [f"w[{i}]" for i in range(shapes[0][0])] + ["b"]
    names = []
    for k, shape in enumerate(shapes):
        prefix = "w" if len(shapes) == 1 else f"W{k}"
        for index in np.ndindex(*shape) if shape else [()]:
            names.append(prefix + ("[" + ",".join(map(str, index)) + "]" if index else ""))
    return names


def _updates(n: int) -> np.ndarray:
    return np.arange(1, n + 1)


def _history_steps(result: Comparison, recorded: int) -> np.ndarray:
    """The update numbers of the recorded parameter vectors (every update, or every k-th)."""
    if recorded == 0:
        return np.empty(0, dtype=int)
    steps = result.numpy.history_steps
    if len(steps) == recorded:
        return steps
    every = max(1, result.steps // recorded)  # a one-step concept repeated: every update
    return every * _updates(recorded)


def diff_series(result: Comparison) -> dict[str, np.ndarray]:
    """Per update: ``|Δ loss|`` and ``max |Δ weights|`` (over every parameter entry) between the
    two backends, as float64 arrays — exactly the differences the harness checked."""
    out: dict[str, np.ndarray] = {}
    if result.numpy.losses is not None and result.torch.losses is not None:
        a = np.asarray(result.numpy.losses, dtype=np.float64)
        b = np.asarray(result.torch.losses, dtype=np.float64)
        out["loss"] = np.abs(a - b)
    ha, hb = flat_history(result.numpy), flat_history(result.torch)
    if ha.size:
        out["weights"] = np.max(np.abs(ha.astype(np.float64) - hb.astype(np.float64)), axis=1)
    return out


def epoch_losses(
    result: Comparison, features: np.ndarray, targets: np.ndarray, steps_per_epoch: int,
    backend: str = "numpy", loss: str = "mse",
) -> np.ndarray:
    """The train loss over all of ``features``/``targets`` at the end of every epoch — the NumPy
    neuron's ``mse``, ``sse`` or ``bce``, as ``loss`` names (the loss the run descended) —
    computed from the parameters ``backend`` had after the epoch's last update: the weights, and
    the bias when the run has one."""
    from gd_compare import numpy_backend

    function = getattr(numpy_backend, check_reduction(loss))
    run = getattr(result, backend)
    if not run.history:
        raise ValueError("epoch_losses: the comparison recorded no parameter history "
                         "(record=False)")
    recorded = len(run.history[0])
    steps = run.history_steps if len(run.history_steps) == recorded else _updates(recorded)
    rows = np.flatnonzero(np.asarray(steps) % steps_per_epoch == 0)
    if len(rows) != result.steps // steps_per_epoch:
        raise ValueError("epoch_losses: needs the parameters after every epoch's last update "
                         "(record=True)")
    return np.array([function(features, targets, _neuron_params(run, row)) for row in rows])


def running_mean(values: np.ndarray, window: int) -> np.ndarray:
    """The mean of the last ``window`` values at each point (fewer at the start):
    ``m[i] = mean(values[max(0, i − window + 1) : i + 1])``."""
    if window < 1:
        raise ValueError(f"running_mean: window must be a positive integer, got {window!r}")
    v = np.asarray(values, dtype=float)
    if window == 1:  # each value itself, exactly (no cumulative-sum rounding)
        return v.copy()
    total = np.concatenate([[0.0], np.cumsum(v)])
    i = np.arange(1, len(v) + 1)
    start = np.maximum(i - window, 0)
    return (total[i] - total[start]) / (i - start)


def _neuron_params(run: BackendRun, row: int) -> np.ndarray | tuple[np.ndarray, ...]:
    """The neuron's parameters after recorded update ``row``: w, or the pair (w, b)."""
    params = tuple(h[row] for h in run.history)
    return params[0] if len(params) == 1 else params


# --------------------------------------------------------------------------- one concept


def _new_axes(ax: Axes | None, figsize: tuple[float, float] = (6.0, 4.0)) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax  # type: ignore[return-value]
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _style_legend() -> list[Line2D]:
    return [Line2D([], [], color="grey", label=NUMPY_LABEL, **NUMPY_STYLE),
            Line2D([], [], color="grey", label=TORCH_LABEL, **TORCH_STYLE)]


def plot_losses(result: Comparison, ax: Axes | None = None) -> Figure:
    """Both backends' loss of every update, overlaid: the autograd curve (dashed) lies on the
    hand-written one (wide, translucent)."""
    fig, ax = _new_axes(ax)
    a, b = result.numpy.losses, result.torch.losses
    if a is None or b is None:
        raise ValueError("plot_losses: the comparison recorded no losses (record=False)")
    ax.plot(_updates(len(a)), a, color=NUMPY_COLOR, label=NUMPY_LABEL, **NUMPY_STYLE)
    ax.plot(_updates(len(b)), b, color=TORCH_COLOR, label=TORCH_LABEL, **TORCH_STYLE)
    ax.set_xlabel("update")
    ax.set_ylabel("loss of the update (before the step)")
    ax.set_title(f"{result.concept}: loss, both backends")
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def plot_differences(result: Comparison, ax: Axes | None = None) -> Figure:
    """|Δ| between the backends at every update, on a log axis, with the harness's tolerance
    and the dtype's machine ε for scale. Exact agreement (|Δ| = 0) is drawn at ``ZERO_FLOOR``."""
    fig, ax = _new_axes(ax)
    series = diff_series(result)
    hist_steps = _history_steps(result, len(series.get("weights", ())))
    colors = {"loss": "tab:orange", "weights": "tab:green"}
    for name, values in series.items():
        x = _updates(len(values)) if name == "loss" else hist_steps
        label = "|Δ loss|" if name == "loss" else "max |Δ weights|"
        dense = len(values) > 60
        ax.plot(x, np.maximum(values, ZERO_FLOOR), marker=".", markersize=2 if dense else 6,
                linestyle="none" if dense and name == "loss" else "-", linewidth=1.0,
                color=colors[name], label=label)
    eps = float(np.finfo(check_dtype(result.dtype)).eps)
    ax.axhline(result.atol, color="tab:red", linestyle="--", linewidth=1.2,
               label=f"harness tolerance (atol {result.atol:g})")
    ax.axhline(eps, color="grey", linestyle=":", linewidth=1.2,
               label=f"{result.dtype} machine ε ({eps:.1e})")
    ax.axhline(ZERO_FLOOR, color="lightgrey", linewidth=0.8)
    ax.text(0.01, ZERO_FLOOR * 2, "|Δ| = 0: bit-for-bit equal", transform=ax.get_yaxis_transform(),
            fontsize="small", color="dimgrey", va="bottom")
    ax.set_yscale("log")
    ax.set_ylim(ZERO_FLOOR / 10, max(result.atol * 1e3, 1e-6))
    ax.set_xlabel("update")
    ax.set_ylabel("|NumPy − PyTorch|  (0 drawn at 1e-20)")
    verdict = "PASS" if result.passed else "FAIL"
    ax.set_title(f"{result.concept}: difference per update ({verdict})")
    ax.legend(fontsize="small", loc="upper right")
    ax.grid(alpha=0.3, which="major")
    return fig


def plot_weights(result: Comparison, ax: Axes | None = None) -> Figure:
    """Every weight after every update: one colour per weight, NumPy wide and translucent,
    PyTorch dashed on top."""
    fig, ax = _new_axes(ax)
    ha, hb = flat_history(result.numpy), flat_history(result.torch)
    if not ha.size:
        raise ValueError("plot_weights: the comparison recorded no parameter history")
    steps = _history_steps(result, ha.shape[0])
    names = param_names(result.numpy, result.bias)
    cmap = colormaps["tab10"]
    for j, name in enumerate(names):
        color = cmap(j % 10)
        ax.plot(steps, ha[:, j], color=color, label=name, **NUMPY_STYLE)
        ax.plot(steps, hb[:, j], color="black", **TORCH_STYLE)
    handles, _ = ax.get_legend_handles_labels()
    extra = len(handles) - MAX_LABELLED_WEIGHTS
    handles = handles[:MAX_LABELLED_WEIGHTS]
    if extra > 0:
        handles.append(Line2D([], [], linestyle="none", label=f"(+{extra} more)"))
    _legend_beside(fig, ax, [*_style_legend(), *handles])
    ax.set_xlabel("update")
    ax.set_ylabel("weight value after the update")
    ax.set_title(f"{result.concept}: weight trajectories")
    ax.grid(alpha=0.3)
    return fig


def _legend_beside(fig: Figure, ax: Axes, handles: list) -> None:
    """The legend to the right of ``ax``, not over its curves (inside, it covered the last
    weights). A constrained layout keeps a fixed margin of ``LEGEND_MARGIN`` inches free for it
    (the legend itself stays out of the layout, so every rendering is the same); without one,
    the legend goes where it covers the fewest points."""
    engine = fig.get_layout_engine()
    if not isinstance(engine, ConstrainedLayoutEngine):
        ax.legend(handles=handles, fontsize="small", loc="best")
        return
    legend = ax.legend(handles=handles, fontsize="small", loc="upper left",
                       bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    legend.set_in_layout(False)
    engine.set(rect=(0.0, 0.0, 1.0 - LEGEND_MARGIN / fig.get_figwidth(), 1.0))


def comparison_figure(result: Comparison) -> Figure:
    """The lesson's proof in one picture: loss curves overlaid | |Δ| on a log axis | weights."""
    fig = Figure(figsize=(16.0, 4.4), layout="constrained")
    axes = fig.subplots(1, 3)
    plot_losses(result, axes[0])
    plot_differences(result, axes[1])
    plot_weights(result, axes[2])
    worst = max(result.max_abs_diff.values(), default=0.0)
    fig.suptitle(f"{result.concept} ({result.dtype}): {result.steps} updates, max |Δ| = "
                 f"{worst:.2g} — {'PASS' if result.passed else 'FAIL'}")
    return fig


# --------------------------------------------------------------------------- repeated one-step


def repeat_step(
    concept: str,
    steps: int = 30,
    *,
    dtype: str = "float64",
    backends: tuple[Any, Any] | None = None,
    **params: Any,
) -> Comparison:
    """Apply a one-step concept ``steps`` times, each backend from *its own* previous weights
    (so differences could grow, as in training), and compare the two trajectories.

    Returns a :class:`Comparison` with ``losses`` (the loss before each step) and ``history``
    (the weights after each step), ready for :func:`comparison_figure`; ``values`` hold the last
    step's quantities. The tolerance is the harness's for ``dtype``.
    """
    spec = get_concept(concept)
    if spec.kind != "step":
        raise ValueError(f"repeat_step: {concept!r} is a training concept; use compare()")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps: expected an int >= 1, got {steps!r}")
    dt = check_dtype(dtype)
    rtol, atol = DEFAULT_TOLERANCE[dt.name]
    kwargs = spec.inputs(dt, **params).kwargs
    keys = [k for k in ("w", "weights", "weights_input_hidden", "weights_hidden_output")
            if k in kwargs]
    if backends is None:
        from gd_compare import numpy_backend, torch_backend

        backends = (numpy_backend, torch_backend)
    runs = []
    for mod in backends:
        state = {k: kwargs[k] for k in keys}
        losses, history, last = [], [], None
        for _ in range(steps):
            last = getattr(mod, concept)(**{**kwargs, **state})
            for k in keys:
                value = np.asarray(getattr(last, k), dtype=dt)
                state[k] = dt.type(value) if value.ndim == 0 else value
            losses.append(float(last.loss))
            # every weight of the step, layer after layer, as one vector
            history.append(np.concatenate([np.ravel(np.array(state[k], dtype=dt))
                                           for k in keys]))
        runs.append(BackendRun(final_weights=(history[-1],), losses=np.asarray(losses),
                               history=(np.stack(history),), values=dict(vars(last))))
    max_abs: dict[str, float] = {}
    max_rel: dict[str, float] = {}
    max_ulps: dict[str, int] = {}
    first: Mismatch | None = None
    quantities = {"weights": (runs[0].history[0], runs[1].history[0]),
                  "loss": (runs[0].losses[:, None], runs[1].losses[:, None])}
    for name, (a, b) in quantities.items():
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        diff = np.abs(a64 - b64)
        scale = np.maximum(np.abs(a64), np.abs(b64))
        ulps = ulp_distance(a.astype(dt), b.astype(dt), dt)
        max_abs[name] = float(diff.max())
        with np.errstate(invalid="ignore", divide="ignore"):
            max_rel[name] = float(np.where(scale > 0, diff / scale, 0.0).max())
        max_ulps[name] = int(ulps.max())
        bad = ~(diff <= atol + rtol * scale)
        if bad.any():
            step, i = (int(v) for v in np.argwhere(bad)[0])
            candidate = Mismatch(spec.name, step + 1, name, (i,) if name == "weights" else (),
                                 float(a[step, i]), float(b[step, i]), float(diff[step, i]),
                                 int(ulps[step, i]), rtol, atol)
            if first is None or candidate.step < first.step:
                first = candidate
    return Comparison(spec.name, dt.name, steps, rtol, atol, max_abs, max_rel, max_ulps, first,
                      runs[0], runs[1], spec.headline)


# --------------------------------------------------------------------------- teacher's comparisons


def _overlay(ax: Axes, x: np.ndarray, a: np.ndarray, b: np.ndarray, color: Any, label: str,
             width: float = 1.0) -> None:
    """NumPy wide and translucent, PyTorch dashed in black on top of it."""
    style = {**NUMPY_STYLE, "linewidth": NUMPY_STYLE["linewidth"] * width}
    ax.plot(x, a, color=color, label=label, **style)
    ax.plot(x, b, color=TORCH_COLOR, **{**TORCH_STYLE, "linewidth": 0.8})


def sse_vs_mse_figure(
    mse: Comparison,
    sse: Comparison | BaseException,
    *,
    n_records: int,
    lr: float,
    sse_small_lr: tuple[float, Comparison] | None = None,
) -> Figure:
    """The same learning rate, two losses. Left: the train loss per epoch on one scale (an SSE
    is divided by ``n_records`` to read as an MSE). Right: the size of each update ‖Δw‖ on a
    log axis — the SSE step is ``n_records`` times the MSE step. ``sse`` may be the exception
    the SSE run raised (e.g. :class:`~gd_compare.DivergenceError`); it is shown as text.
    ``sse_small_lr``: an SSE run with lr/n_records, which is the MSE run again."""
    fig = Figure(figsize=(13.0, 4.6), layout="constrained")
    left, right = fig.subplots(1, 2)
    runs: list[tuple[str, Comparison, float, Any, float]] = [
        (f"MSE, lr={lr:g}", mse, 1.0, "tab:blue", 2.5)]
    if isinstance(sse, Comparison):
        runs.append((f"SSE, lr={lr:g}", sse, float(n_records), "tab:red", 1.0))
    else:
        left.text(0.5, 0.5, f"SSE, lr={lr:g}:\n{type(sse).__name__}: {sse}", wrap=True,
                  transform=left.transAxes, ha="center", va="center", color="tab:red",
                  fontsize="small")
    if sse_small_lr is not None:
        small_lr, small = sse_small_lr
        runs.append((f"SSE, lr={small_lr:.3g} (= {lr:g}/{n_records}): lies on MSE", small,
                     float(n_records), "tab:green", 0.5))
    for label, run, scale, color, width in runs:
        a, b = run.numpy.losses / scale, run.torch.losses / scale
        _overlay(left, _updates(len(a)), a, b, color, label, width)
        steps = [np.linalg.norm(np.diff(flat_history(r), axis=0), axis=1)
                 for r in (run.numpy, run.torch)]
        _overlay(right, _updates(len(steps[0])) + 1, steps[0], steps[1], color, label, width)
    for ax in (left, right):
        handles, _ = ax.get_legend_handles_labels()
        ax.legend(handles=[*handles, *_style_legend()], fontsize="small")
        ax.set_xlabel("epoch (one full-batch update each)")
        ax.grid(alpha=0.3)
    left.set_ylabel("train loss as MSE (SSE / n_records)")
    left.set_title("Same learning rate: the SSE run bounces, the MSE run descends")
    right.set_yscale("log")
    right.set_ylabel("step size ‖w_t − w_(t−1)‖")
    right.set_title(f"SSE steps are n_records = {n_records} times larger")
    return fig


def _final_loss(run: BackendRun) -> float:
    if run.final_loss is not None:
        return float(run.final_loss)
    return float(run.losses[-1])  # a repeated one-step concept: the loss before the last step


def lr_sweep_figure(runs: Mapping[float, Comparison | BaseException], *, logy: bool = False
                    ) -> Figure:
    """Left: the loss of every update for each learning rate (both backends overlaid; ``logy``
    for a log axis, e.g. when a run diverges). Right: the final train loss against the learning
    rate (log axis), both backends' markers. A run that raised is listed on the right."""
    fig = Figure(figsize=(13.0, 4.6), layout="constrained")
    left, right = fig.subplots(1, 2)
    cmap = colormaps["viridis"]
    ok = {lr: r for lr, r in runs.items() if isinstance(r, Comparison)}
    failed = {lr: r for lr, r in runs.items() if not isinstance(r, Comparison)}
    for i, (lr, r) in enumerate(sorted(ok.items())):
        color = cmap(i / max(1, len(ok) - 1) * 0.9)
        _overlay(left, _updates(len(r.numpy.losses)), r.numpy.losses, r.torch.losses, color,
                 f"lr={lr:g}")
    handles, _ = left.get_legend_handles_labels()
    left.legend(handles=[*handles, *_style_legend()], fontsize="small")
    if logy:
        left.set_yscale("log")
    left.set_xlabel("update")
    left.set_ylabel("loss of the update")
    left.set_title("Learning-rate sweep: loss per update")
    left.grid(alpha=0.3)
    lrs = sorted(ok)
    right.plot(lrs, [_final_loss(ok[lr].numpy) for lr in lrs], "o", markersize=11, alpha=0.45,
               color=NUMPY_COLOR, label=NUMPY_LABEL)
    right.plot(lrs, [_final_loss(ok[lr].torch) for lr in lrs], "x", markersize=8,
               color=TORCH_COLOR, label=TORCH_LABEL)
    right.set_xscale("log")
    if logy:
        right.set_yscale("log")
    right.set_xlabel("learning rate")
    right.set_ylabel("final train loss")
    title = "Final train loss vs learning rate"
    if failed:
        title += "\n(raised: " + ", ".join(f"lr={lr:g}" for lr in sorted(failed)) + ")"
    right.set_title(title)
    right.legend(fontsize="small")
    right.grid(alpha=0.3, which="both")
    return fig


def batch_size_figure(
    runs: Mapping[int, Comparison], features: np.ndarray, targets: np.ndarray, *,
    loss: str = "mse",
) -> Figure:
    """Mini-batch SGD at several batch sizes, same epochs. Left: the batch loss of every update
    (log x axis: batch size 1 makes n updates per epoch, full batch one) — the noise of small
    batches. Right: the train loss over all records at the end of every epoch — per epoch the
    small batches are ahead, because they made more (noisier) updates. ``loss``: the loss the
    runs descended (``mse``, ``sse`` or ``bce``), drawn on both sides; the runs may have a bias."""
    name = check_reduction(loss).upper()
    fig = Figure(figsize=(13.0, 4.6), layout="constrained")
    left, right = fig.subplots(1, 2)
    n = len(targets)
    colors = ["tab:orange", "tab:purple", "tab:blue", "tab:green", "tab:red"]
    for i, (size, r) in enumerate(sorted(runs.items())):
        color = colors[i % len(colors)]
        label = f"batch size {size}" + (" (full batch)" if size == n else "")
        per_epoch = math.ceil(n / size)
        x = _updates(len(r.numpy.losses))
        # the raw batch losses faint (batch size 1 is a band of noise), their running mean over
        # one epoch's updates drawn as the comparison
        left.plot(x, r.numpy.losses, color=color, linewidth=0.4, alpha=0.12)
        _overlay(left, x, running_mean(r.numpy.losses, per_epoch),
                 running_mean(r.torch.losses, per_epoch), color, label)
        a = epoch_losses(r, features, targets, per_epoch, "numpy", loss)
        b = epoch_losses(r, features, targets, per_epoch, "torch", loss)
        _overlay(right, _updates(len(a)), a, b, color, label)
    for ax in (left, right):
        handles, _ = ax.get_legend_handles_labels()
        ax.legend(handles=[*handles, *_style_legend()], fontsize="small")
        ax.grid(alpha=0.3)
    left.set_xscale("log")
    left.set_xlabel("update (log scale)")
    left.set_ylabel(f"{name} of the batch (running mean over an epoch)")
    left.set_title("Per update: small batches are noisy (raw curve faint)")
    right.set_xlabel("epoch")
    right.set_ylabel(f"train {name} (all records) after the epoch")
    right.set_title("Per epoch: more updates per epoch descend faster, but noisily")
    return fig


def optimizers_figure(runs: Mapping[str, Comparison], *, logy: bool = True) -> Figure:
    """Several optimizers (or settings) on one problem. Left: each one's loss of every update,
    NumPy (wide) and PyTorch (dashed) overlaid. Right: the largest |Δ| between the two
    backends' parameters after each update, on a log axis (needs ``record=True``)."""
    fig = Figure(figsize=(13.0, 4.6), layout="constrained")
    left, right = fig.subplots(1, 2)
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]
    for i, (label, r) in enumerate(runs.items()):
        color = colors[i % len(colors)]
        _overlay(left, _updates(len(r.numpy.losses)), r.numpy.losses, r.torch.losses, color,
                 label)
        gap = np.zeros(len(r.numpy.history[0]))
        for a, b in zip(r.numpy.history, r.torch.history, strict=True):
            gap = np.maximum(gap, np.abs(a - b).reshape(len(a), -1).max(axis=1))
        right.plot(_updates(len(gap)), np.maximum(gap, ZERO_FLOOR), color=color, label=label,
                   linewidth=1.0)
    if logy:
        left.set_yscale("log")
    left.set_xlabel("update")
    left.set_ylabel("loss of the update")
    left.set_title("Loss per update: NumPy by hand and PyTorch overlaid")
    handles, _ = left.get_legend_handles_labels()
    left.legend(handles=[*handles, *_style_legend()], fontsize="small")
    right.set_yscale("log")
    right.axhline(float(np.finfo(np.float64).eps), color="grey", linestyle=":", linewidth=1.0,
                  label="machine ε (float64)")
    right.set_xlabel("update")
    right.set_ylabel("max |Δ parameter|, NumPy vs PyTorch")
    right.set_title("The two backends' parameters, update by update")
    right.legend(fontsize="small")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    return fig


# --------------------------------------------------------------------------- output


def to_png(fig: Figure, dpi: int = 80) -> bytes:
    """The figure as PNG bytes (no timestamp in the metadata: the same figure, the same bytes)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def display_png(fig: Figure, dpi: int = 80) -> None:
    """Show ``fig`` in a notebook as a PNG, whatever matplotlib backend the kernel uses."""
    from IPython.display import Image, display

    display(Image(data=to_png(fig, dpi)))


class SavedPlots(NamedTuple):
    """What :func:`save_all` wrote, and the comparisons behind the pictures."""

    paths: list[Path]
    comparisons: list[Comparison]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.comparisons)


#: the teacher's comparisons drawn by :func:`save_all`
SWEEP_LRS: tuple[float, ...] = (0.05, 0.5, 5.0, 50.0)
SWEEP_EPOCHS = 300
BATCH_SIZES: tuple[int, ...] = (1, 32, 360)
BATCH_EPOCHS = 10
REPEATED_STEPS = 30


def save_all(
    out_dir: str | Path,
    *,
    concepts: Sequence[str] | None = None,
    dtype: str = "float64",
    dpi: int = 100,
    progress: bool | Callable[..., Any] = False,
    echo: Callable[[str], Any] | None = None,
    params: Mapping[str, Any] | None = None,
) -> SavedPlots:
    """Run every concept (or ``concepts``) and write its pictures as PNGs into ``out_dir``
    (created if missing): ``<concept>.png`` for each (:func:`comparison_figure`; one-step concepts
    repeated :data:`REPEATED_STEPS` times), plus ``mse_training_sse_vs_mse.png``,
    ``mse_training_lr_sweep.png`` and ``sgd_batching_batch_sizes.png`` when those concepts are
    selected. ``progress`` is handed to :func:`~gd_compare.proof.harness.compare`; ``echo(path)`` is
    called after each file is written. ``params`` (``lr``, ``epochs``, ``seed``, ...) go to every
    run of a concept that takes them, except where a picture sets its own (the sweep's lr, the
    batch sizes, the SSE run's loss)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = list(dict.fromkeys(concepts or LESSON_CONCEPTS))
    for name in names:
        get_concept(name)
    paths: list[Path] = []
    results: list[Comparison] = []

    def save(fig: Figure, filename: str) -> None:
        path = out / filename
        fig.savefig(path, dpi=dpi, metadata={"Software": None})
        paths.append(path)
        if echo is not None:
            echo(str(path))

    given = dict(params or {})

    def options(name: str, **fixed: Any) -> dict[str, Any]:
        taken = CONCEPTS[name].defaults
        return {k: v for k, v in given.items() if k in taken and k not in fixed} | fixed

    def run(name: str, **fixed: Any) -> Comparison:
        result = compare(name, dtype=dtype, progress=progress, **options(name, **fixed))
        results.append(result)
        return result

    for name in names:
        if CONCEPTS[name].kind == "step":
            # the lesson's step, as the table shows
            results.append(compare(name, dtype=dtype, **options(name)))
            # repeated without a bias: each repetition would start its bias again at 0
            repeated = repeat_step(name, REPEATED_STEPS, dtype=dtype,
                                   **{k: v for k, v in options(name).items() if k != "bias"})
            results.append(repeated)
            save(comparison_figure(repeated), f"{name}.png")
        else:
            save(comparison_figure(run(name)), f"{name}.png")
    if "mse_training" in names:
        from gd_compare.lesson.data import load_admissions

        n = len(load_admissions().arrays()[1])
        lr = given.get("lr", CONCEPTS["mse_training"].defaults["lr"])
        mse = (results[[r.concept for r in results].index("mse_training")]
               if given.get("loss", "mse") == "mse" else run("mse_training", loss="mse"))
        sse: Comparison | BaseException
        try:
            sse = run("mse_training", loss="sse")
        except DivergenceError as exc:
            sse = exc
        small = run("mse_training", loss="sse", lr=lr / n)
        save(sse_vs_mse_figure(mse, sse, n_records=n, lr=lr, sse_small_lr=(lr / n, small)),
             "mse_training_sse_vs_mse.png")
        sweep: dict[float, Comparison | BaseException] = {}
        for value in SWEEP_LRS:
            try:
                sweep[value] = run("mse_training", lr=value, epochs=SWEEP_EPOCHS)
            except DivergenceError as exc:
                sweep[value] = exc
        save(lr_sweep_figure(sweep), "mse_training_lr_sweep.png")
    if "sgd_batching" in names:
        from gd_compare.lesson.data import load_admissions

        X, y, _, _ = load_admissions().arrays(check_dtype(dtype))
        sizes = {size: run("sgd_batching", batch_size=size, epochs=BATCH_EPOCHS)
                 for size in _valid_sizes(BATCH_SIZES, len(y))}
        save(batch_size_figure(sizes, X, y, loss=given.get("loss", "mse")),
             "sgd_batching_batch_sizes.png")
    return SavedPlots(paths, results)


def _valid_sizes(sizes: Iterable[int], n: int) -> list[int]:
    return sorted({min(s, n) for s in sizes} | {n})
