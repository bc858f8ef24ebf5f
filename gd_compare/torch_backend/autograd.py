"""Gradient descent with PyTorch: autograd finds every derivative, ``torch.optim.SGD`` applies it.

The twin of :mod:`gd_compare.numpy_backend`: the same names, signatures and return types
(NumPy arrays and floats), the same math — and no derivative written by hand. Each step is
``loss.backward()`` then ``optimizer.step()``.

The loss convention. The lesson's update w ← w + lr·Σ error_term·x / m is gradient descent on
E = ½·MSE = (1/2m)·Σ(y − ŷ)². We hand autograd exactly that E (``(0.5 * mse).backward()``) and
give ``torch.optim.SGD`` the lesson's ``lr`` unchanged, rather than MSE with lr/2: the learning
rate a learner types is the same number in both backends, and multiplying by 0.5 is exact in
binary floating point, so the reported MSE is the very value whose half was differentiated.
With ``loss="sse"``: E = ½·SSE and ``nn.MSELoss(reduction="sum")``.

A network (``backprop_training``) is :class:`Network`: its per-layer weights are plain tensors in
the NumPy twin's shapes, so both backends' ``Step.params`` line up without a transpose.

Tensors are built with ``torch.from_numpy`` from float64 (or float32) arrays, so the dtype is the
one the NumPy twin computes in. Inputs are copied first; the caller's arrays are never touched.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cache
from itertools import islice

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import nn

from gd_compare.lesson.core import (
    BackpropStep,
    BatchOrder,
    NeuronStep,
    Reduction,
    SimpleStep,
    Step,
    batch_divisor,
    check_backprop_inputs,
    check_bias,
    check_binary,
    check_loss_targets,
    check_lr,
    check_network_data,
    check_neuron_data,
    check_neuron_inputs,
    check_reduction,
    check_simple_inputs,
    check_threshold,
    raise_if_diverged,
    raise_if_input_overflows,
    split_network,
)
from gd_compare.lesson.options import LESSON_SGD, OptimizerChoice, SchedulerChoice
from gd_compare.lesson.training import Loops, training_functions

__all__ = [
    "Network",
    "Neuron",
    "accuracy",
    "backprop_exercise",
    "backprop_training",
    "bce",
    "forward",
    "gradient",
    "iter_backprop_training",
    "iter_mse_training",
    "iter_sgd_batching",
    "log_sigmoid",
    "mse",
    "mse_training",
    "network_accuracy",
    "network_bce",
    "network_course_loss",
    "network_forward",
    "network_gradient",
    "network_mse",
    "network_sse",
    "sgd_batching",
    "sigmoid",
    "sigmoid_exercise",
    "sigmoid_prime",
    "sigmoid_step",
    "simple_step",
    "sse",
]


def _linear(weight: np.ndarray, bias: np.ndarray | None) -> nn.Linear:
    """``nn.Linear(in, out, bias=bias is not None)`` holding copies of ``weight`` (out, in) and
    ``bias`` (out,), built without its random initialisation — what ``nn.utils.skip_init``
    gives, minus its cost: skip_init initialises on the meta device and re-allocates (0.54 ms
    per layer, measured), which the verdict paid at every gradient it re-checks; this sets the
    two parameters ``nn.Linear.__init__`` would create (75 µs)."""
    layer = nn.Linear.__new__(nn.Linear)
    nn.Module.__init__(layer)
    layer.out_features, layer.in_features = weight.shape
    layer.weight = nn.Parameter(torch.from_numpy(weight.copy()))
    if bias is None:
        layer.register_parameter("bias", None)
    else:
        # as the Parameter's copy_ took it: in the weight's dtype, broadcast to (out,)
        b = np.broadcast_to(np.asarray(bias, dtype=weight.dtype), weight.shape[:1])
        layer.bias = nn.Parameter(torch.from_numpy(b.copy()))
    return layer


class Neuron(nn.Module):
    """One sigmoid unit: ŷ = sigmoid(X @ w), X (m, d) → ŷ (m,); x (d,) → ŷ scalar; with a bias
    ŷ = sigmoid(X @ w + b).

    ``nn.Linear(d, 1, bias=False)`` (``bias=True`` when a bias (1,) is given) holds w as its
    ``weight`` of shape (1, d) and b as its ``bias`` (1,), copies of the given values; it is
    created without its random initialisation (:func:`_linear`), so the caller's global torch
    RNG is not consumed.
    """

    def __init__(self, weights: np.ndarray, bias: np.ndarray | None = None) -> None:
        super().__init__()
        self.linear = _linear(np.ascontiguousarray(weights)[np.newaxis],
                              None if bias is None else np.ascontiguousarray(bias))

    @classmethod
    def of(cls, params: tuple[np.ndarray, ...]) -> Neuron:
        """The neuron of checked parameters ``(w,)`` or ``(w, b)``."""
        return cls(params[0], params[1] if len(params) > 1 else None)

    def logits(self, X: torch.Tensor) -> torch.Tensor:
        """h = X @ w (+ b), the output before the sigmoid: what ``nn.BCEWithLogitsLoss`` takes."""
        return self.linear(X).squeeze(-1)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.linear(X)).squeeze(-1)

    def weights_view(self) -> np.ndarray:
        """The live weights as a NumPy view of shape (d,) (no copy; it follows every update)."""
        return self.linear.weight.detach().numpy()[0]

    def params_view(self) -> tuple[np.ndarray, ...]:
        """The live parameters as NumPy views: (w (d,),) or (w (d,), b (1,))."""
        if self.linear.bias is None:
            return (self.weights_view(),)
        return self.weights_view(), self.linear.bias.detach().numpy()


class _BareNeuron:
    """A :class:`Neuron`'s parameters as bare leaf tensors — ``weight`` (1, d), ``bias`` (1,)
    or None, copies of the given values — and its forward pass, ``nn.Linear``'s own
    (``F.linear``): the same values, bit for bit, for one-off evaluations (the public gradient
    and losses). Building a Neuron (a module, an ``nn.Linear``, its Parameters) costs ~50 µs and
    each module call ~10 µs: the verdict evaluates thousands on a chaotic run."""

    def __init__(self, params: tuple[np.ndarray, ...], requires_grad: bool) -> None:
        w = np.ascontiguousarray(params[0])
        self.weight = torch.from_numpy(w[np.newaxis].copy()).requires_grad_(requires_grad)
        self.bias = None
        if len(params) > 1:  # in the weight's dtype, broadcast to (1,), as Neuron takes it
            b = np.broadcast_to(np.asarray(params[1], dtype=w.dtype), (1,))
            self.bias = torch.from_numpy(b.copy()).requires_grad_(requires_grad)

    def logits(self, X: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(X, self.weight, self.bias).squeeze(-1)

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(nn.functional.linear(X, self.weight, self.bias)).squeeze(-1)

    def grads(self) -> np.ndarray | tuple[np.ndarray, ...]:
        """∂E/∂w (d,), or the pair (∂E/∂w, ∂E/∂b) with a bias, after ``backward()``."""
        grad_w = self.weight.grad.numpy()[0].copy()
        if self.bias is None:
            return grad_w
        return grad_w, self.bias.grad.numpy().copy()


# --------------------------------------------------------------------------- activation


def _float_tensor(h: ArrayLike) -> torch.Tensor:
    a = np.array(h, copy=True)
    return torch.from_numpy(a if a.dtype.kind == "f" else a.astype(np.float64))


def sigmoid(h: ArrayLike) -> np.ndarray:
    """``torch.sigmoid``: 1 / (1 + exp(−h)), elementwise."""
    return torch.sigmoid(_float_tensor(h)).numpy()


def sigmoid_prime(h: ArrayLike) -> np.ndarray:
    """sigmoid'(h) from autograd: the gradient of Σ sigmoid(h_i) with respect to each h_i."""
    t = _float_tensor(h).requires_grad_()
    torch.sigmoid(t).sum().backward()
    return t.grad.numpy()


def forward(features: ArrayLike, weights: ArrayLike) -> np.ndarray:
    """ŷ = sigmoid(features @ weights) through :class:`Neuron`: (n, d) → (n,); ``weights`` may
    be the pair (w, b) of a neuron with a bias."""
    X, _, params = check_neuron_data(features, None, weights)
    with torch.no_grad():
        return _BareNeuron(params, False)(torch.from_numpy(X)).numpy()


@cache
def _criterion(loss: str) -> nn.Module:
    """The reported loss of a batch: ``nn.MSELoss()`` (MSE), ``nn.MSELoss(reduction="sum")``
    (SSE), ``nn.BCEWithLogitsLoss()`` (mean BCE, from h).

    Why ``BCEWithLogitsLoss`` on h and not ``nn.BCELoss`` on ŷ = sigmoid(h): BCELoss clamps each
    log at −100, so a confident wrong answer (ŷ rounded to 0 or 1) costs 100 instead of |h|, and
    its backward divides by ŷ(1 − ŷ) (clamped at 1e-12) and multiplies by sigmoid' = ŷ(1 − ŷ),
    which is 0 there: the gradient vanishes exactly where BCE's should be ±1. BCEWithLogitsLoss
    computes (1 − y)·h − log_sigmoid(h) and differentiates to sigmoid(h) − y directly: the
    lesson's error_term = error, as the NumPy twin writes it, at every h.

    One instance per loss, kept (``functools.cache``): a loss module holds no state.
    """
    if loss == "bce":
        return nn.BCEWithLogitsLoss()
    return nn.MSELoss(reduction="sum" if loss == "sse" else "mean")


def _objective(
    model: nn.Module | _BareNeuron | _BareNetwork, xb: torch.Tensor, yb: torch.Tensor,
    loss: str, criterion: nn.Module, scale: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(reported, E) of a batch (or, with ``scale`` = m, one record's share of it): the loss
    reported and the one differentiated — E = ½·reported for squared error (the lesson's ½·MSE,
    see the module docstring), E = reported for BCE (no ½)."""
    # BCE takes h (the logits), the squared error ŷ = sigmoid(h)
    reported = criterion(model.logits(xb) if loss == "bce" else model(xb), yb)
    if scale is not None:
        reported = reported / scale
    return reported, (reported if loss == "bce" else 0.5 * reported)


def _loss(features: ArrayLike, targets: ArrayLike, weights: ArrayLike, reduction: str) -> float:
    X, y, params = check_neuron_data(features, targets, weights)
    if reduction == "bce":
        check_loss_targets("bce", y)
    with torch.no_grad():
        reported, _ = _objective(_BareNeuron(params, False), torch.from_numpy(X),
                                 torch.from_numpy(y), reduction, _criterion(reduction))
        return reported.item()


def mse(features: ArrayLike, targets: ArrayLike, weights: ArrayLike) -> float:
    """MSE = mean((ŷ − y)²): ``nn.MSELoss()``."""
    return _loss(features, targets, weights, "mse")


def sse(features: ArrayLike, targets: ArrayLike, weights: ArrayLike) -> float:
    """SSE = Σ(ŷ − y)²: ``nn.MSELoss(reduction="sum")``."""
    return _loss(features, targets, weights, "sse")


def bce(features: ArrayLike, targets: ArrayLike, weights: ArrayLike) -> float:
    """Mean binary cross-entropy: ``nn.BCEWithLogitsLoss()`` on h (see :func:`_criterion`)."""
    return _loss(features, targets, weights, "bce")


def log_sigmoid(h: ArrayLike) -> np.ndarray:
    """``torch.nn.functional.logsigmoid``: log(sigmoid(h)), elementwise, stable."""
    return nn.functional.logsigmoid(_float_tensor(h)).numpy()


def accuracy(
    features: ArrayLike, targets: ArrayLike, weights: ArrayLike, threshold: float = 0.5
) -> float:
    """Share of records with (ŷ > threshold) == y; targets must be 0 or 1."""
    X, y, params = check_neuron_data(features, targets, weights)
    check_binary("targets", y)
    threshold = check_threshold(threshold)
    with torch.no_grad():
        predictions = _BareNeuron(params, False)(torch.from_numpy(X)) > threshold
        return (predictions == torch.from_numpy(y)).double().mean().item()


def gradient(
    features: ArrayLike, targets: ArrayLike, weights: ArrayLike, loss: Reduction = "mse"
) -> np.ndarray | tuple[np.ndarray, ...]:
    """∂E/∂w of one sigmoid neuron on a batch from autograd: ``weight.grad`` after
    ``(0.5 * nn.MSELoss()(ŷ, y)).backward()`` (``loss="bce"``: ``nn.BCEWithLogitsLoss()(h,
    y).backward()``), the gradient the training loop's ``optimizer.step()`` uses. Shape (d,);
    ``weights`` = (w, b): the pair (∂E/∂w, ``bias.grad``)."""
    X, y, params = check_neuron_data(features, targets, weights)
    reduction = check_reduction(loss)
    check_loss_targets(reduction, y)
    model = _BareNeuron(params, True)
    _, objective = _objective(model, torch.from_numpy(X), torch.from_numpy(y), reduction,
                              _criterion(reduction))
    objective.backward()
    return model.grads()


# --------------------------------------------------------------------------- 1. one weight


def simple_step(x: float = 3.0, y: float = 10.0, w: float = 2.0, lr: float = 0.01) -> SimpleStep:
    """The one-weight example: prediction = w·x, MSE = (prediction − y)²; autograd gives the
    slope dMSE/dw (``w.grad``), ``optim.SGD`` takes w ← w − lr·slope."""
    x_, y_, w_ = check_simple_inputs(x, y, w)
    lr = check_lr(lr)
    x, y = torch.from_numpy(x_), torch.from_numpy(y_)
    w = torch.from_numpy(w_).requires_grad_()
    optimizer = torch.optim.SGD([w], lr=lr)
    prediction = w * x
    loss = nn.functional.mse_loss(prediction, y)
    raise_if_input_overflows("simple_step", loss.item(), x=float(x_), y=float(y_), w=float(w_))
    loss.backward()
    slope = w.grad.item()
    optimizer.step()
    raise_if_diverged("simple_step", loss.item(), lr, epoch=0, batch=0, index=1,
                      params=[w.detach().numpy()])
    return SimpleStep(prediction.item(), (prediction - y).item(), loss.item(), slope, w.item())


# --------------------------------------------------------------------------- 2./3. one neuron


def sigmoid_step(
    x: ArrayLike = (0.1, 0.3),
    y: ArrayLike = 0.2,
    weights: ArrayLike = (-0.8, 0.5),
    lr: float = 0.5,
    *,
    bias: bool = False,
) -> NeuronStep:
    """One step of one sigmoid neuron on E = ½(y − ŷ)², the lesson's quantities read off autograd:

    error_term = −∂E/∂h   (``h.grad``, kept with ``retain_grad``)
    del_w      = −lr·∂E/∂w = the change ``optimizer.step()`` makes
    ``bias=True``: h = x @ w + b, b a tensor starting at 0 that ``optimizer.step()`` also
    updates (del_b = −lr·``b.grad``).
    """
    x_, y_, w_ = check_neuron_inputs(x, y, weights)
    lr = check_lr(lr)
    x, y = torch.from_numpy(x_), torch.from_numpy(y_)
    w = torch.from_numpy(w_).requires_grad_()
    b = torch.zeros(1, dtype=w.dtype, requires_grad=True) if check_bias(bias) else None
    optimizer = torch.optim.SGD([w] if b is None else [w, b], lr=lr)
    h = x @ w if b is None else x @ w + b[0]
    h.retain_grad()
    output = torch.sigmoid(h)
    loss = nn.functional.mse_loss(output, y)  # (y − ŷ)², reported
    (0.5 * loss).backward()  # E = ½(y − ŷ)²
    error_term = -h.grad
    del_w = -lr * w.grad
    optimizer.step()
    new_weights = w.detach().numpy()
    raise_if_diverged("sigmoid_step", loss.item(), lr, epoch=0, batch=0, index=1,
                      params=[new_weights])
    if b is None:
        return NeuronStep(h.item(), output.item(), (y - output).item(), error_term.item(),
                          del_w.numpy(), new_weights, loss.item())
    del_b = -lr * b.grad
    return NeuronStep(h.item(), output.item(), (y - output).item(), error_term.item(),
                      del_w.numpy(), new_weights, loss.item(), b.detach().numpy(), del_b.numpy())


def sigmoid_exercise(
    x: ArrayLike = (1.0, 2.0, 3.0, 4.0),
    y: ArrayLike = 0.5,
    weights: ArrayLike = (0.5, -0.5, 0.3, 0.1),
    lr: float = 0.5,
    *,
    bias: bool = False,
) -> NeuronStep:
    """The lesson's exercise: :func:`sigmoid_step` on x=[1, 2, 3, 4], y=0.5,
    w=[0.5, −0.5, 0.3, 0.1], lr=0.5."""
    return sigmoid_step(x, y, weights, lr, bias=bias)


# --------------------------------------------------------------------------- 4./5. training


def _batches(Xt: torch.Tensor, yt: torch.Tensor, order: BatchOrder):
    """One epoch of ``(xb, yb)``: the rows ``TensorDataset(Xt, yt)[batch]`` gives for each batch
    of ``order``, in order. A slice is a view; shuffled batches are gathered a group at a time
    (one ``index_select`` for up to ~16k rows) and handed out as views of the group."""
    batches = iter(order)
    group = max(1, 16384 // order.batch_size)
    while chunk := list(islice(batches, group)):
        if isinstance(chunk[0], slice):
            for batch in chunk:
                yield Xt[batch], yt[batch]
            continue
        rows = torch.from_numpy(np.concatenate(chunk))
        Xg, yg = Xt.index_select(0, rows), yt.index_select(0, rows)
        start = 0
        for batch in chunk:
            stop = start + len(batch)
            yield Xg[start:stop], yg[start:stop]
            start = stop


def _train(
    X: np.ndarray,
    y: np.ndarray,
    params: tuple[np.ndarray, ...],
    lr: float,
    epochs: int,
    order: BatchOrder,
    reduction: Reduction,
    concept: str,
    optimizer: OptimizerChoice = LESSON_SGD,
    scheduler: SchedulerChoice | None = None,
) -> Iterator[Step]:
    """The PyTorch training loop: for each batch, forward, ``(0.5 * loss).backward()``,
    ``optimizer.step()``; ``scheduler.step()`` after each epoch. The optimizer is
    ``torch.optim.<Class>(params, lr=lr, **options)`` (default ``torch.optim.SGD(lr=lr)``), the
    scheduler ``torch.optim.lr_scheduler.<Class>(optimizer, **options)``, both unchanged.

    The batches come from the shared :class:`BatchOrder`. The loop is equivalent to the
    ``DataLoader`` form::

        loader = DataLoader(TensorDataset(X, y), sampler=order, batch_size=None)
        for xb, yb in loader: ...

    (same rows, same order; a test checks the two bit for bit), but takes the batches by
    indexing the tensors directly (:func:`_batches`), which skips the DataLoader's per-batch
    fetch-and-collate machinery (4-7x cheaper per batch, ``benchmarks/bench.py``). Gradients
    are cleared with ``model.zero_grad()`` (``set_to_none``) rather than
    ``optimizer.zero_grad()``: the same effect without the optimizer's profiler hooks. The loss
    is read with ``.item()``: on the CPU a plain read, no device round trip, and cheaper than
    copying it into a preallocated tensor (0.2 µs vs 3 µs).
    """
    model = Neuron.of(params)
    criterion = _criterion(reduction)
    torch_optimizer = optimizer.build(torch.optim, model.parameters(), lr)
    schedule = scheduler.build(torch.optim.lr_scheduler, torch_optimizer) if scheduler else None
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    params = model.params_view()
    last = len(order) - 1
    index = 0
    for epoch in range(epochs):
        epoch_loss = 0.0
        for b, (xb, yb) in enumerate(_batches(Xt, yt, order)):
            index += 1
            model.zero_grad(set_to_none=True)
            loss, objective = _objective(model, xb, yb, reduction, criterion)  # MSE, E = ½·MSE
            objective.backward()  # −lr·∂E/∂w is the lesson's step
            torch_optimizer.step()
            value = loss.item()
            epoch_loss += value
            raise_if_diverged(concept, value, lr, epoch=epoch, batch=b, index=index,
                              params=params if b == last else ())
            yield Step(index, epoch, b == last, params, value)
        if schedule is not None:
            scheduler.step(schedule, epoch_loss / len(order))


def _train_per_record(
    X: np.ndarray, y: np.ndarray, params: tuple[np.ndarray, ...], lr: float, epochs: int,
    reduction: Reduction,
) -> Iterator[Step]:
    """The lesson's per-record loop, the PyTorch way: ``backward()`` once per record *adds* that
    record's gradient into ``.grad`` (the lesson's ``del_w +=``), one ``optimizer.step()`` per
    epoch."""
    model = Neuron.of(params)
    criterion = (nn.BCEWithLogitsLoss(reduction="sum") if reduction == "bce"
                 else nn.MSELoss(reduction="sum"))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    m = batch_divisor(reduction, len(y))
    params = model.params_view()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    for epoch in range(epochs):
        optimizer.zero_grad()
        total = torch.zeros((), dtype=Xt.dtype)
        for x, target in zip(Xt, yt, strict=True):
            # this record's share of the MSE, and of E = ½·MSE (or of the mean BCE)
            loss, objective = _objective(model, x, target, reduction, criterion, scale=m)
            objective.backward()  # accumulates into weight.grad
            total += loss.detach()
        optimizer.step()
        value = total.item()
        raise_if_diverged("mse_training", value, lr, epoch=epoch, batch=0, index=epoch + 1,
                          params=params)
        yield Step(epoch + 1, epoch, True, params, value)


# --------------------------------------------------------------------------- 6. backpropagation


class Network(nn.Module):
    """Hidden sigmoid layers and a sigmoid output, no biases, built from plain tensors.

    The parameters are ``nn.Parameter`` s in the *NumPy backend's shapes* — W_1 (d, h_1), ...,
    W_L (h_{L-1}, h_L), w_out (h_L,) — and the forward pass is ``sigmoid(a @ W)`` layer after
    layer, so no transpose stands between the two backends. (``nn.Linear(bias=False)`` would
    hold each W as its transpose (out, in) and compute ``a @ weight.T``; we do not use it here.)
    A batch X (m, d) gives ŷ (m,); one record x (d,) gives a scalar.
    """

    def __init__(self, weights: Sequence[np.ndarray]) -> None:
        super().__init__()
        weights, biases = split_network(weights)  # with a bias: one per layer, after the weights
        self.layers = nn.ParameterList(
            nn.Parameter(torch.from_numpy(np.array(w, copy=True))) for w in weights
        )
        #: b_1 (h_1,), ..., b_L (h_L,), b_out (1,) — one ``nn.Parameter`` per layer (or none)
        self.biases = nn.ParameterList(
            nn.Parameter(torch.from_numpy(np.array(b, copy=True))) for b in biases
        )

    def logits(self, X: torch.Tensor) -> torch.Tensor:
        """The output's h (before its sigmoid): what ``nn.BCEWithLogitsLoss`` takes."""
        return self.logits_of(X, list(self.layers), list(self.biases))

    @staticmethod
    def logits_of(X: torch.Tensor, layers: Sequence[torch.Tensor],
                  biases: Sequence[torch.Tensor]) -> torch.Tensor:
        """The forward pass up to the output's h on the weights ``layers`` and the ``biases``
        (one per layer, or none): the module's, and the one-off evaluations' (bare tensors)."""
        *hidden, w_out = layers
        a = X
        for k, W in enumerate(hidden):
            # hidden_output_k = sigmoid(a @ W_k (+ b_k))
            a = torch.sigmoid(a @ W + biases[k] if biases else a @ W)
        return a @ w_out + biases[-1][0] if biases else a @ w_out

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(X))  # output = sigmoid(hidden_output_L @ w_out (+ b))

    def weights_view(self) -> tuple[np.ndarray, ...]:
        """The live parameters as NumPy views (no copy; they follow every update): the
        per-layer weights, then the biases if any."""
        return tuple(W.detach().numpy() for W in (*self.layers, *self.biases))


class _BareNetwork:
    """A :class:`Network`'s parameters as bare leaf tensors (copies) and its forward pass
    (:meth:`Network.logits_of`, the module's own) for one-off evaluations: see
    :class:`_BareNeuron`."""

    def __init__(self, weights: Sequence[np.ndarray], requires_grad: bool) -> None:
        weights, biases = split_network(weights)
        self.layers = [torch.from_numpy(np.array(w, copy=True)).requires_grad_(requires_grad)
                       for w in weights]
        self.biases = [torch.from_numpy(np.array(b, copy=True)).requires_grad_(requires_grad)
                       for b in biases]

    def logits(self, X: torch.Tensor) -> torch.Tensor:
        return Network.logits_of(X, self.layers, self.biases)

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(X))

    def grads(self) -> tuple[np.ndarray, ...]:
        """Every layer's ∂E/∂W, then the biases', after ``backward()``."""
        return tuple(W.grad.numpy().copy() for W in (*self.layers, *self.biases))


def _network_loss(features, targets, weights, reduction: str) -> float:
    X, y, ws = check_network_data(features, targets, weights)
    if reduction == "bce":
        check_loss_targets("bce", y)
    with torch.no_grad():
        reported, _ = _objective(_BareNetwork(ws, False), torch.from_numpy(X),
                                 torch.from_numpy(y), reduction, _criterion(reduction))
        return reported.item()


def network_forward(features: ArrayLike, weights: Sequence[ArrayLike]) -> np.ndarray:
    """ŷ = output of :class:`Network` for every record: (n, d) → (n,)."""
    X, _, ws = check_network_data(features, None, weights)
    with torch.no_grad():
        return _BareNetwork(ws, False)(torch.from_numpy(X)).numpy()


def network_mse(features: ArrayLike, targets: ArrayLike, weights: Sequence[ArrayLike]) -> float:
    """MSE = mean((ŷ − y)²) of the network: ``nn.MSELoss()``."""
    return _network_loss(features, targets, weights, "mse")


def network_sse(features: ArrayLike, targets: ArrayLike, weights: Sequence[ArrayLike]) -> float:
    """SSE = Σ(ŷ − y)² of the network: ``nn.MSELoss(reduction="sum")``."""
    return _network_loss(features, targets, weights, "sse")


def network_bce(features: ArrayLike, targets: ArrayLike, weights: Sequence[ArrayLike]) -> float:
    """Mean BCE of the network: ``nn.BCEWithLogitsLoss()`` on the output's h."""
    return _network_loss(features, targets, weights, "bce")


def network_accuracy(
    features: ArrayLike,
    targets: ArrayLike,
    weights: Sequence[ArrayLike],
    threshold: float = 0.5,
) -> float:
    """Share of records with (ŷ > threshold) == y; targets must be 0 or 1."""
    X, y, ws = check_network_data(features, targets, weights)
    check_binary("targets", y)
    threshold = check_threshold(threshold)
    with torch.no_grad():
        predictions = _BareNetwork(ws, False)(torch.from_numpy(X)) > threshold
        return (predictions == torch.from_numpy(y)).double().mean().item()


def network_course_loss(
    features: ArrayLike, targets: ArrayLike, weights: Sequence[ArrayLike]
) -> float:
    """The course's log line: :class:`Network`'s output for the *last* record of ``features``
    (the ``x`` the course's loop leaves behind) against *all* targets, ``mean((out − y)²)``
    (see ``numpy_backend.network_course_loss``)."""
    X, y, ws = check_network_data(features, targets, weights)
    with torch.no_grad():
        out = _BareNetwork(ws, False)(torch.from_numpy(X[-1]))
        return torch.mean((out - torch.from_numpy(y)) ** 2).item()


def network_gradient(
    features: ArrayLike,
    targets: ArrayLike,
    weights: Sequence[ArrayLike],
    loss: Reduction = "mse",
) -> tuple[np.ndarray, ...]:
    """∂E/∂W of every layer from autograd: each parameter's ``.grad`` after
    ``(0.5 * nn.MSELoss()(ŷ, y)).backward()`` (E = ½·MSE; ``loss="sse"``: ½·SSE; ``loss="bce"``:
    ``nn.BCEWithLogitsLoss()`` on the output's h), then the biases' if given."""
    X, y, ws = check_network_data(features, targets, weights)
    reduction = check_reduction(loss)
    check_loss_targets(reduction, y)
    model = _BareNetwork(ws, True)
    _, objective = _objective(model, torch.from_numpy(X), torch.from_numpy(y), reduction,
                              _criterion(reduction))
    objective.backward()
    return model.grads()


def backprop_exercise(
    x: ArrayLike = (0.5, 0.1, -0.2),
    target: ArrayLike = 0.6,
    weights_input_hidden: ArrayLike = ((0.5, -0.6), (0.1, -0.2), (0.1, 0.7)),
    weights_hidden_output: ArrayLike = (0.1, -0.3),
    lr: float = 0.5,
    *,
    bias: bool = False,
) -> BackpropStep:
    """The course's backpropagation exercise through :class:`Network` (the same 3-2-1 net),
    one ``(0.5 * loss).backward()`` and one ``optimizer.step()``; the course's quantities are
    read off autograd, none derived by hand:

    output_error_term = −∂E/∂(output's input)    (``retain_grad``)
    hidden_error_term = −∂E/∂hidden_input
    delta_w_h_o, delta_w_i_h = −lr·∂E/∂W = the change ``optimizer.step()`` makes
    ``bias=True``: :class:`Network`'s bias parameters (from 0), delta_b = −lr·``.grad``.
    """
    x_, t_, w_ih, w_ho = check_backprop_inputs(x, target, weights_input_hidden,
                                               weights_hidden_output)
    lr = check_lr(lr)
    biases = ((np.zeros(w_ho.shape, dtype=w_ho.dtype), np.zeros(1, dtype=w_ho.dtype))
              if check_bias(bias) else ())
    model = Network((w_ih, w_ho, *biases))
    W_ih, W_ho = model.layers
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    xt, yt = torch.from_numpy(x_), torch.from_numpy(t_)
    hidden_input = xt @ W_ih + model.biases[0] if biases else xt @ W_ih
    hidden_input.retain_grad()
    hidden_output = torch.sigmoid(hidden_input)
    output_input = hidden_output @ W_ho + model.biases[1][0] if biases else hidden_output @ W_ho
    output_input.retain_grad()
    output = torch.sigmoid(output_input)
    loss = nn.functional.mse_loss(output, yt)  # (target − output)², reported
    (0.5 * loss).backward()  # E = ½(target − output)²
    delta_w_i_h = -lr * W_ih.grad
    delta_w_h_o = -lr * W_ho.grad
    delta_b = [-lr * b.grad for b in model.biases]
    optimizer.step()
    new_w_ih, new_w_ho, *new_b = model.weights_view()
    raise_if_diverged("backprop_exercise", loss.item(), lr, epoch=0, batch=0, index=1,
                      params=[new_w_ih, new_w_ho])
    extra = ([d.numpy() for d in delta_b] + [b.copy() for b in new_b]) if biases else []
    return BackpropStep(hidden_input.detach().numpy(), hidden_output.detach().numpy(),
                        output.item(), (yt - output).item(), -output_input.grad.item(),
                        -hidden_input.grad.numpy(), delta_w_h_o.numpy(), delta_w_i_h.numpy(),
                        new_w_ih.copy(), new_w_ho.copy(), loss.item(), *extra)




def _record_objective(
    model: Network, x: torch.Tensor, target: torch.Tensor, loss: str, m: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """One record's share (1/m) of the batch's (reported, E): (ŷ − y)²/m and ½ of it, or its
    BCE/m (``binary_cross_entropy_with_logits`` on the output's h) and the same."""
    if loss == "bce":
        share = nn.functional.binary_cross_entropy_with_logits(model.logits(x), target) / m
        return share, share
    share = (model(x) - target) ** 2 / m  # this record's share of the MSE
    return share, 0.5 * share


def _train_network(
    X: np.ndarray,
    y: np.ndarray,
    weights: tuple[np.ndarray, ...],
    lr: float,
    epochs: int,
    order: BatchOrder,
    reduction: Reduction,
    per_record: bool,
    optimizer: OptimizerChoice = LESSON_SGD,
    scheduler: SchedulerChoice | None = None,
) -> Iterator[Step]:
    """For each batch: forward, ``(0.5 * loss).backward()``, ``optimizer.step()`` (the chosen
    ``torch.optim`` class; ``scheduler.step()`` after each epoch). With
    ``per_record``, ``backward()`` once per record of the batch accumulates every layer's
    ``.grad`` (the course's ``del_w +=``) and one ``optimizer.step()`` follows. Batches as in
    :func:`_train` (the shared :class:`BatchOrder`, taken by indexing)."""
    model = Network(weights)
    criterion = _criterion(reduction)
    torch_optimizer = optimizer.build(torch.optim, model.parameters(), lr)
    schedule = scheduler.build(torch.optim.lr_scheduler, torch_optimizer) if scheduler else None
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    params = model.weights_view()
    last = len(order) - 1
    index = 0
    for epoch in range(epochs):
        epoch_loss = 0.0
        for b, (xb, yb) in enumerate(_batches(Xt, yt, order)):
            index += 1
            model.zero_grad(set_to_none=True)  # as _train: without the optimizer's profiler hooks
            if per_record:
                m = batch_divisor(reduction, len(yb))
                total = torch.zeros((), dtype=xb.dtype)
                for x, target in zip(xb, yb, strict=True):
                    loss, objective = _record_objective(model, x, target, reduction, m)
                    objective.backward()  # accumulates into every layer's .grad
                    total += loss.detach()
            else:
                total, objective = _objective(model, xb, yb, reduction, criterion)  # MSE, ½·MSE
                objective.backward()  # −lr·∂E/∂W is the course's step
            torch_optimizer.step()
            value = total.item()
            epoch_loss += value
            raise_if_diverged("backprop", value, lr, epoch=epoch, batch=b, index=index,
                              params=params if b == last else ())
            yield Step(index, epoch, b == last, params, value)
        if schedule is not None:
            scheduler.step(schedule, epoch_loss / len(order))


# --------------------------------------------------------------------------- the public wrappers
# Written once for both backends (gd_compare.lesson.training), built here from this file's loops.

(iter_mse_training, mse_training, iter_sgd_batching, sgd_batching, iter_backprop_training,
 backprop_training) = training_functions(
    Loops(_train, _train_per_record, _train_network, mse, sse, network_mse, network_sse,
          network_course_loss, bce, network_bce), "gd_compare.torch_backend")
