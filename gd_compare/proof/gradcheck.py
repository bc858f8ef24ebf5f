"""Finite differences: a third witness for every gradient, that knows nothing but the loss.

The harness proves that the NumPy backend (derivatives by hand) and the PyTorch backend
(autograd) take the same steps. Two witnesses can agree and both be wrong — a gradient of MSE
where the lesson steps along ½·MSE is off by the same factor 2 in both. This module checks each
backend's gradient against a third, independent one: central differences of the loss,

    ∂E/∂p_i ≈ (E(p + h·e_i) − E(p − h·e_i)) / ((p_i + h) − (p_i − h))      (float64, h = 1e-6)

where E is written here from the forward pass alone (no derivative, no backend code). The
truncation error is O(h²·E''') and the rounding error about ε·|E|/h (ε = 2.2e-16), so for these
smooth losses the finite-difference gradient is good to ~1e-10 absolute.

The verdict, per parameter array p (a weight vector, or one layer of a network):

    relative error = ‖g − g_fd‖₂ / max(‖g‖₂, ‖g_fd‖₂)      (0 when both are 0)

``passed`` when it is ≤ ``rtol`` (1e-7: a correct float64 gradient measures 1e-8 … 1e-11) or
when the largest elementwise |g − g_fd| is ≤ ``atol``, by default the noise floor of the finite
differences, 10·ε·max(1, |E|)/h (2.2e-9 for E ≤ 1): near a stationary point the gradient is as
small as the noise and its relative error means nothing. A wrong chain rule — a missing
transpose, a dropped factor, the ½ or the /m — is off by O(1) relative and fails.

Use it on your own gradient::

    from gd_compare.proof.gradcheck import check_gradient
    check = check_gradient(lambda w: my_loss(X, y, w), lambda w: my_gradient(X, y, w), w0)
    print(check)              # relative error per parameter, PASS/FAIL
    assert check.passed

``params`` may be one array or a tuple of arrays (a network's layers); ``loss_fn`` and
``grad_fn`` then receive the tuple, and ``grad_fn`` returns a tuple of the same shapes.

For the lesson's concepts, :func:`check_concept` checks the gradient a backend *actually steps
with* (read off its own update) at any point, and :func:`check_backends` checks both backends.
No torch import here: the PyTorch backend is imported only when it is asked for.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from gd_compare.lesson.concepts import get_concept
from gd_compare.lesson.core import BatchOrder, as_float_array, is_biased_pair, split_network

__all__ = [
    "EPS",
    "NOISE_FACTOR",
    "RTOL",
    "GradCheck",
    "Params",
    "Problem",
    "check_backends",
    "check_concept",
    "check_gradient",
    "concept_problem",
    "noise_floor",
    "numerical_gradient",
    "relative_error",
]

Params = np.ndarray | tuple[np.ndarray, ...]

#: default step of the central differences
EPS = 1e-6
#: a correct float64 gradient is within this relative error of the finite differences
RTOL = 1e-7
#: the noise floor, in units of ε·max(1, |E|)/eps: elementwise differences below it are
#: finite-difference rounding, whatever the relative error
NOISE_FACTOR = 10.0


def noise_floor(loss: float, eps: float = EPS) -> float:
    """10·ε·max(1, |E|)/eps: how far central differences of a loss of size E may be off by
    rounding alone (ε = 2.2e-16, the float64 machine epsilon)."""
    return NOISE_FACTOR * float(np.finfo(np.float64).eps) * max(1.0, abs(loss)) / eps


@dataclass(frozen=True)
class GradCheck:
    """The verdict of one gradient against central differences at one point.

    ``analytic``/``numerical``: the gradient under test and the finite-difference one, one array
    per parameter; ``rel_error``/``abs_error``: per parameter, the relative error (norm formula
    of the module docstring) and the largest elementwise |g − g_fd|; ``loss``: E at the point.
    """

    names: tuple[str, ...]
    analytic: tuple[np.ndarray, ...]
    numerical: tuple[np.ndarray, ...]
    rel_error: tuple[float, ...]
    abs_error: tuple[float, ...]
    loss: float
    eps: float
    rtol: float
    atol: float

    @property
    def max_rel_error(self) -> float:
        return max(self.rel_error)

    @property
    def failed(self) -> tuple[str, ...]:
        """The names of the parameters whose gradient is wrong."""
        return tuple(n for n, r, a in zip(self.names, self.rel_error, self.abs_error, strict=True)
                     if not (r <= self.rtol or a <= self.atol))

    @property
    def passed(self) -> bool:
        return not self.failed

    def __repr__(self) -> str:
        """One readable line (no arrays): ``check_backends(...)`` prints a dict of these."""
        verdict = "PASS" if self.passed else f"FAIL: {', '.join(self.failed)} wrong"
        return (f"GradCheck({verdict}, max relative error {self.max_rel_error:.2e} over "
                f"{', '.join(self.names)}; str() for the details)")

    def __str__(self) -> str:
        lines = [f"gradient check (central differences, eps={self.eps:g}, E={self.loss:.6g}): "
                 f"{'PASS' if self.passed else 'FAIL'}"]
        for n, r, a in zip(self.names, self.rel_error, self.abs_error, strict=True):
            ok = r <= self.rtol or a <= self.atol
            lines.append(f"  {n}: relative error {r:.2e}, max |g − g_fd| {a:.2e}  "
                         f"{'ok' if ok else f'WRONG (> rtol {self.rtol:g})'}")
        return "\n".join(lines)


def _as_tuple(params: Any, what: str) -> tuple[tuple[np.ndarray, ...], bool]:
    """Float64 copies of ``params`` as a tuple, and whether the caller passed a single array."""
    single = not isinstance(params, (tuple, list))
    items = (params,) if single else tuple(params)
    if not items:
        raise ValueError(f"{what}: expected at least one parameter array, got none")
    names = [what] if single else [f"{what}[{k}]" for k in range(len(items))]
    arrays = tuple(as_float_array(n, p).astype(np.float64) for n, p in zip(names, items,
                                                                           strict=True))
    return arrays, single


def _finite_loss(loss_fn: Callable[[Any], float], params: Any, where: str) -> float:
    value = float(loss_fn(params))
    if not math.isfinite(value):
        raise ValueError(f"gradient check: the loss is {value} {where}; a gradient check needs a "
                         "finite loss (pick another point, or smaller weights)")
    return value


def numerical_gradient(
    loss_fn: Callable[[Any], float], params: Params, eps: float = EPS
) -> Params:
    """Central differences of ``loss_fn`` at ``params`` in float64, one entry at a time.

    ``params``: an array, or a tuple of arrays (then ``loss_fn`` receives a tuple). Returns the
    gradient in the same structure. The caller's arrays are never changed (the function works on
    float64 copies). Raises ``ValueError`` if the loss is not finite at the point or at a
    perturbed point (naming the entry).
    """
    if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps: expected a finite number > 0, got {eps!r}")
    arrays, single = _as_tuple(params, "params")

    def call(ps: tuple[np.ndarray, ...]) -> Any:
        return ps[0] if single else ps

    _finite_loss(loss_fn, call(tuple(a.copy() for a in arrays)), "at the point")
    work = [a.copy() for a in arrays]
    grads = []
    for k, p in enumerate(work):
        g = np.empty_like(p)
        for i in np.ndindex(p.shape):
            orig = p[i]
            up, down = orig + eps, orig - eps
            where = f"at params[{k}]{list(i)} ± {eps:g}"
            p[i] = up
            f_up = _finite_loss(loss_fn, call(tuple(work)), where)
            p[i] = down
            f_down = _finite_loss(loss_fn, call(tuple(work)), where)
            p[i] = orig
            g[i] = (f_up - f_down) / (up - down)
        grads.append(g)
    return grads[0] if single else tuple(grads)


def relative_error(analytic: np.ndarray, numerical: np.ndarray) -> float:
    """‖g − g_fd‖₂ / max(‖g‖₂, ‖g_fd‖₂), and 0 when both are 0."""
    a = np.asarray(analytic, dtype=np.float64)
    b = np.asarray(numerical, dtype=np.float64)
    scale = max(float(np.linalg.norm(a)), float(np.linalg.norm(b)))
    return 0.0 if scale == 0 else float(np.linalg.norm(a - b)) / scale


def check_gradient(
    loss_fn: Callable[[Any], float],
    grad_fn: Callable[[Any], Any],
    params: Params,
    *,
    eps: float = EPS,
    rtol: float = RTOL,
    atol: float | None = None,
    names: Sequence[str] | None = None,
) -> GradCheck:
    """Compare ``grad_fn(params)`` with central differences of ``loss_fn`` at ``params``.

    ``grad_fn`` must return the gradient of ``loss_fn`` — the same structure as ``params`` (an
    array, or a tuple of arrays of the same shapes). Errors: a loss that is not finite at the
    point, a gradient that is not finite or has the wrong shape (naming the parameter).
    ``atol=None``: the noise floor :func:`noise_floor` of the loss at the point.
    """
    arrays, single = _as_tuple(params, "params")
    point = arrays[0].copy() if single else tuple(a.copy() for a in arrays)
    loss = _finite_loss(loss_fn, point, "at the point")
    raw = grad_fn(arrays[0].copy() if single else tuple(a.copy() for a in arrays))
    grads = (raw,) if single else tuple(raw)
    labels = tuple(names) if names is not None else (
        ("params",) if single else tuple(f"params[{k}]" for k in range(len(arrays))))
    if len(grads) != len(arrays) or len(labels) != len(arrays):
        raise ValueError(f"grad_fn: expected {len(arrays)} gradient array(s), one per parameter, "
                         f"got {len(grads)}")
    analytic = []
    for label, g, p in zip(labels, grads, arrays, strict=True):
        g = np.asarray(g, dtype=np.float64)
        if g.shape != p.shape:
            raise ValueError(f"grad_fn: the gradient of {label} has shape {g.shape}, the "
                             f"parameter {p.shape}")
        if not np.isfinite(g).all():
            raise ValueError(f"grad_fn: the gradient of {label} is not finite at the point")
        analytic.append(g.copy())
    numeric = numerical_gradient(loss_fn, arrays[0] if single else arrays, eps)
    numerical = (numeric,) if single else tuple(numeric)
    rel = tuple(relative_error(g, n) for g, n in zip(analytic, numerical, strict=True))
    ab = tuple(float(np.max(np.abs(g - n), initial=0.0))
               for g, n in zip(analytic, numerical, strict=True))
    atol = noise_floor(loss, eps) if atol is None else float(atol)
    return GradCheck(labels, tuple(analytic), numerical, rel, ab, loss, eps, rtol, atol)


# --------------------------------------------------------------------------- the concepts' losses
# Written from the forward pass only, in float64, independent of both backends.


def _sigmoid(h: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-h))


def _half_squared_error(error: np.ndarray, reduction: str) -> float:
    """E = ½·mean(error²) (the lesson's ½·MSE) or ½·Σ error² (``"sse"``)."""
    total = float(np.sum(error**2))
    return 0.5 * (total / error.size if reduction == "mse" else total)


def _loss_of_h(h: np.ndarray, y: np.ndarray, reduction: str) -> float:
    """E of a batch from the output's h: ½·MSE / ½·SSE of y − sigmoid(h), or (``"bce"``) the
    mean binary cross-entropy written as log(1 + e^h) − y·h (``np.logaddexp``: a formula of
    its own, not the backends' (1 − y)·h − log_sigmoid(h))."""
    if reduction == "bce":
        return float(np.mean(np.logaddexp(0.0, h) - y * h))
    return _half_squared_error(y - _sigmoid(h), reduction)


def _network_h(X: np.ndarray, params: Sequence[np.ndarray]) -> np.ndarray:
    """The network's output h (before the last sigmoid); ``params`` = weights, then the biases
    (one per layer) if any."""
    weights, biases = split_network(params)
    a = X
    for k, W in enumerate(weights):
        h = np.dot(a, W) + (biases[k] if biases else 0.0)
        a = _sigmoid(h)
    return h


def _network_output(X: np.ndarray, weights: Sequence[np.ndarray]) -> np.ndarray:
    return _sigmoid(_network_h(X, weights))


@dataclass(frozen=True)
class Problem:
    """A concept's gradient problem at a point: ``loss(params)`` (the witness's own E),
    ``params`` (the point: a weight array, or the tuple of a network's layers), ``names`` of the
    parameters, and ``gradient(backend, params)``: the gradient that backend steps with."""

    concept: str
    loss: Callable[[Any], float]
    params: Params
    names: tuple[str, ...]
    gradient: Callable[[ModuleType, Any], Any]


#: lr of the probing update: a power of two, so lr·g is exact and w − w_after ≈ lr·g to ~1 ULP
_PROBE_LR = 2.0**20


def _stepped(before: Sequence[np.ndarray], after: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
    """The gradient an update w ← w − lr·g used: g = (w − w_after) / lr (lr a power of two)."""
    return tuple((b - a) / _PROBE_LR for b, a in zip(before, after, strict=True))


def concept_problem(concept: str, **point: Any) -> Problem:
    """The gradient problem of ``concept`` at its lesson defaults, or at ``point`` (any of the
    concept's parameters: ``weights=...``, ``x=...``, ``features=...``, ``hidden=...``, ...).

    Which gradient, per concept (E is what the concept's update descends):

    - ``simple_step``: E = (w·x − y)² (its MSE); g = the ``slope`` it computes.
    - ``sigmoid_step``/``sigmoid_exercise``: E = ½(y − sigmoid(x·w))²; g = −del_w at lr = 1.
      ``bias=True``: E = ½(y − sigmoid(x·w + b))² at b = 0 (where the step starts its bias);
      g = (−del_w, −del_b). ``backprop_exercise``: E = ½(target − output)², g = the −delta_w's
      and, with ``bias=True``, the −delta_b's (biases at 0).
    - ``mse_training``: E = ½·MSE over all records (``per_record`` too); ``sgd_batching``: over
      the first batch of the shared :class:`~gd_compare.lesson.core.BatchOrder`; ``backprop``: the
      network's E over the first batch (all records when full batch), every layer.
      ``loss="sse"``: ½·SSE; ``loss="bce"``: the mean binary cross-entropy. ``bias=True``:
      the biases too (from 0, or from ``weights=(w, b)`` / the layers' weights then biases).
      g is read off the backend's own first update (``iter_*`` with lr = 2²⁰, one epoch):
      g = (w − w_after)/lr — the gradient that really trains, not a separate function.
    """
    spec = get_concept(concept)
    kw = spec.inputs("float64", **point).kwargs
    if concept == "simple_step":
        x, y = float(kw["x"]), float(kw["y"])
        return Problem(
            concept, lambda w: float((w * x - y) ** 2), np.float64(kw["w"]), ("w",),
            lambda mod, w: np.float64(mod.simple_step(x, y, float(w), 1.0).slope),
        )
    bias = bool(kw.get("bias", False))
    if concept == "backprop_exercise":
        x, t = np.asarray(kw["x"], dtype=np.float64), float(kw["target"])
        weights = tuple(np.asarray(kw[k], dtype=np.float64)
                        for k in ("weights_input_hidden", "weights_hidden_output"))
        names = ("weights_input_hidden", "weights_hidden_output")
        if bias:  # the step's start: b_h (h,) and b_o (1,) at 0
            weights += (np.zeros(np.shape(weights[1])), np.zeros(1))
            names += ("bias_hidden", "bias_output")

        def exercise_gradient(mod: ModuleType, ws: Any) -> tuple[np.ndarray, ...]:
            _biases_at_zero(concept, ws[2:])
            step = mod.backprop_exercise(x, t, ws[0], ws[1], 1.0, bias=bias)
            grads = (-np.asarray(step.delta_w_i_h), -np.asarray(step.delta_w_h_o))
            if bias:
                grads += (-np.asarray(step.delta_b_h), -np.asarray(step.delta_b_o))
            return grads

        return Problem(
            concept, lambda ws: 0.5 * float(np.sum((t - _network_output(x, ws)) ** 2)),
            weights, names, exercise_gradient,
        )
    if spec.kind == "step":
        x, y = np.asarray(kw["x"], dtype=np.float64), float(kw["y"])
        w0 = np.asarray(kw["weights"], dtype=np.float64)
        step = spec.function_name

        def neuron_loss(w: np.ndarray, b: float = 0.0) -> float:
            return 0.5 * float((y - _sigmoid(np.dot(x, w) + b)) ** 2)

        if not bias:
            return Problem(
                concept, neuron_loss, w0, ("weights",),
                lambda mod, w: -np.asarray(getattr(mod, step)(x, y, w, 1.0).del_w),
            )

        def neuron_gradient(mod: ModuleType, wb: Any) -> tuple[np.ndarray, np.ndarray]:
            _biases_at_zero(concept, wb[1:])
            result = getattr(mod, step)(x, y, wb[0], 1.0, bias=True)
            return -np.asarray(result.del_w), -np.asarray(result.del_b)

        return Problem(  # the step's start: b = 0
            concept, lambda wb: neuron_loss(wb[0], float(wb[1][0])), (w0, np.zeros(1)),
            ("weights", "bias"), neuron_gradient,
        )
    X = as_float_array("features", kw["features"], ndim=2).astype(np.float64)
    y = as_float_array("targets", kw["targets"], ndim=1).astype(np.float64)
    reduction = kw["loss"]
    rows: slice | np.ndarray = slice(None)
    if kw.get("batch_size") is not None:
        order = BatchOrder(len(y), kw["batch_size"], seed=kw["seed"], shuffle=kw["shuffle"],
                           drop_last=kw["drop_last"])
        rows = next(iter(order))
    Xb, yb = X[rows], y[rows]
    probe = {**kw, "lr": _PROBE_LR, "epochs": 1}

    def first_update(mod: ModuleType, params: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        weights = params[0] if len(params) == 1 else params
        step = next(iter(getattr(mod, "iter_" + spec.function_name)(**{**probe,
                                                                        "weights": weights})))
        return _stepped(params, step.params)

    if concept == "backprop":
        weights = tuple(np.asarray(w, dtype=np.float64) for w in kw["weights"])
        layers, biases = split_network(weights)
        if bias and not biases:  # the run's start: every bias 0
            biases = (*(np.zeros(np.shape(w)[1]) for w in layers[:-1]), np.zeros(1))
        names = (tuple(f"weights[{k}]" for k in range(len(layers)))
                 + tuple(f"biases[{k}]" for k in range(len(biases))))
        return Problem(
            concept,
            lambda ws: _loss_of_h(_network_h(Xb, ws), yb, reduction),
            (*layers, *biases), names,
            lambda mod, ws: first_update(mod, tuple(ws)),
        )
    given = kw["weights"]
    if is_biased_pair(given):
        params = tuple(np.asarray(p, dtype=np.float64) for p in given)
    else:
        params = (np.asarray(given, dtype=np.float64),)
        if bias:
            params += (np.zeros(1),)  # the run's start: bias 0
    if len(params) == 1:
        return Problem(
            concept, lambda w: _loss_of_h(Xb @ w, yb, reduction), params[0], ("weights",),
            lambda mod, w: first_update(mod, (w,))[0],
        )
    return Problem(
        concept, lambda wb: _loss_of_h(Xb @ wb[0] + wb[1], yb, reduction), params,
        ("weights", "bias"), lambda mod, wb: first_update(mod, tuple(wb)),
    )


def _biases_at_zero(concept: str, biases: Sequence[np.ndarray]) -> None:
    """A one-step concept starts its biases at 0 (it takes no bias): its gradient exists only
    there."""
    if any(np.any(b != 0) for b in biases):
        raise ValueError(f"{concept}: the step starts every bias at 0; its gradient can be "
                         "checked only there")


def _backend(backend: str | ModuleType) -> ModuleType:
    if isinstance(backend, ModuleType):
        return backend
    if backend == "numpy":
        from gd_compare import numpy_backend

        return numpy_backend
    if backend == "torch":
        from gd_compare import torch_backend  # torch is imported here, on first use

        return torch_backend
    raise ValueError(f"backend: expected 'numpy', 'torch' or a module, got {backend!r}")


def check_concept(
    concept: str,
    backend: str | ModuleType = "numpy",
    *,
    eps: float = EPS,
    rtol: float = RTOL,
    atol: float | None = None,
    **point: Any,
) -> GradCheck:
    """Check the gradient ``backend`` ("numpy", "torch", or a module with the same functions)
    steps with in ``concept`` at ``point`` (see :func:`concept_problem`) against central
    differences. Always float64."""
    problem = concept_problem(concept, **point)
    mod = _backend(backend)
    return check_gradient(problem.loss, lambda p: problem.gradient(mod, p), problem.params,
                          eps=eps, rtol=rtol, atol=atol, names=problem.names)


def check_backends(
    concept: str,
    backends: Sequence[str | ModuleType] = ("numpy", "torch"),
    **kwargs: Any,
) -> dict[str, GradCheck]:
    """:func:`check_concept` for each backend, keyed by its name ("numpy", "torch" or the
    module's ``__name__``)."""
    out = {}
    for b in backends:
        key = b if isinstance(b, str) else b.__name__
        out[key] = check_concept(concept, b, **kwargs)
    return out
