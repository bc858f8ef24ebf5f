"""Optimizers by hand: ``torch.optim``'s SGD, Adam, AdamW, RMSprop and Adagrad in NumPy.

One class per ``torch.optim`` class, with torch's constructor keywords and defaults, torch's
``ValueError`` messages for invalid values (raised by the constructor, before any step), the
state created when torch creates it (SGD, Adam, RMSprop: on the first step; Adagrad: in the
constructor), and torch 2.13's order of floating-point operations (``_single_tensor_<name>`` in
``torch/optim/<name>.py``), so that float64 agrees with ``torch.optim`` to a few ULPs.

NumPy has no autograd, so :meth:`Optimizer.step` takes the gradients: ``step(grads)`` updates
every array of ``params`` in place, ``grads[i]`` being ∂loss/∂params[i] (never changed).
The learning rate lives in ``param_groups[0]["lr"]``, where the schedulers of
:mod:`gd_compare.optim.lr_scheduler` (like torch's) read and set it. Every scalar stays a Python
float, so a float32 parameter is updated in float32 as torch does.

Where torch's order matters (each docstring says where the textbook form rounds differently):

- ``p.add_(g, alpha=-lr)`` is p + (−lr)·g;  ``a.addcmul_(t1, t2, value=v)`` is a + (v·t1)·t2;
  ``a.addcdiv_(t1, t2, value=v)`` is a + (v·t1)/t2.
- ``a.lerp_(b, w)`` is a + w·(b − a) for w < 0.5, else b − (b − a)·(1 − w) (:func:`lerp_`).

torch's vectorised CPU kernels may fuse a multiply and an add (FMA, one rounding instead of
two); NumPy cannot, so the two may differ in the last bit of a step (~1e-16 in float64).
This module never imports torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "lerp_"]


def lerp_(start: np.ndarray, end: np.ndarray, weight: float) -> np.ndarray:
    """``start.lerp_(end, weight)`` in place, as torch's CPU kernel computes it:
    start + weight·(end − start) if |weight| < 0.5, else end − (end − start)·(1 − weight).
    (The textbook start·(1 − w) + end·w rounds differently.)"""
    if abs(weight) < 0.5:
        start += weight * (end - start)
    else:
        np.subtract(end, (end - start) * (1 - weight), out=start)
    return start


def _is_real(x: Any) -> bool:
    return isinstance(x, float | int) and not isinstance(x, bool)


def _check_betas(betas: Any) -> None:
    """torch's checks of ``betas``, in torch's order, before any step — plus what torch leaves to
    an IndexError/KeyError (a wrong container) or to the first step (a third beta, which
    ``beta1, beta2 = group["betas"]`` rejects there)."""
    if (not isinstance(betas, Sequence) or isinstance(betas, str) or len(betas) != 2
            or not all(_is_real(b) for b in betas)):
        raise ValueError(f"betas: expected a pair of floats (beta1, beta2), got {betas!r}")
    for i, beta in enumerate(betas):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}")


def _check_lr(lr: float) -> None:
    if not lr >= 0.0:
        raise ValueError(f"Invalid learning rate: {lr}")


def _non_negative(value: float, what: str) -> None:
    """torch's check ``if not 0.0 <= value`` (a NaN fails it too) and its message."""
    if not value >= 0.0:
        raise ValueError(f"Invalid {what} value: {value}")


class Optimizer:
    """What every optimizer here shares: ``params`` (a sequence of float NumPy arrays, updated
    in place), one parameter group ``param_groups[0]`` holding the hyperparameters (``lr``
    among them), and ``state[i]``, the state of ``params[i]`` (a dict, empty until created)."""

    def __init__(self, params: Iterable[np.ndarray], defaults: dict[str, Any]) -> None:
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        for i, p in enumerate(params):
            if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
                raise TypeError(f"params[{i}]: expected a float NumPy array, "
                                f"got {type(p).__name__}")
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = [{"params": params, **defaults}]
        self.state: list[dict[str, Any]] = [{} for _ in params]

    @property
    def params(self) -> list[np.ndarray]:
        return self.param_groups[0]["params"]

    def step(self, grads: Sequence[np.ndarray]) -> None:
        """One update of every parameter from its gradient ``grads[i]`` (same shape)."""
        params = self.params
        if len(grads) != len(params):
            raise ValueError(f"grads: expected {len(params)} gradients, got {len(grads)}")
        group = self.param_groups[0]
        grads = [np.asarray(g, dtype=p.dtype) for p, g in zip(params, grads, strict=True)]
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            if g.shape != p.shape:  # NumPy would broadcast it silently
                raise ValueError(f"grads[{i}]: expected shape {p.shape} (params[{i}]), "
                                 f"got {g.shape}")
        for p, g, state in zip(params, grads, self.state, strict=True):
            self._update(p, g, state, group)

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict, group: dict) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.param_groups[0].items()
                            if k != "params")
        return f"{type(self).__name__}({options})"


class SGD(Optimizer):
    r"""Stochastic gradient descent, ``torch.optim.SGD`` by hand.

    input: γ (lr), θ₀ (params), f(θ) (objective), λ (weight_decay), μ (momentum),
           τ (dampening), nesterov, maximize
    for t = 1 to ...:
        g_t ← ∇f_t(θ_{t−1})
        if maximize: g_t ← −g_t          (torch negates first, then adds the decay)
        if λ ≠ 0:    g_t ← g_t + λθ_{t−1}
        if μ ≠ 0:
            if t > 1: b_t ← μ b_{t−1} + (1 − τ) g_t
            else:     b_t ← g_t            (the buffer starts AS the gradient: not zeros, no τ)
            if nesterov: g_t ← g_t + μ b_t
            else:        g_t ← b_t
        θ_t ← θ_{t−1} − γ g_t

    (torch's documentation writes maximize as θ_t ← θ_{t−1} + γ g_t; its code negates the
    gradient before the decay, as here.) The buffer is created on the first step
    (``state[i]["momentum_buffer"]``). A zero-initialised buffer (d2l's scratch momentum)
    makes the first step (1 − τ)γg instead of γg; the Sutskever form (v ← μv + γg, θ ← θ − v)
    equals this one only for constant γ. ``foreach`` is accepted for torch's signature; NumPy
    has one path.
    """

    def __init__(
        self,
        params: Iterable[np.ndarray],
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        _check_lr(lr)
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov,
                                  "maximize": maximize, "foreach": foreach})

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict, group: dict) -> None:
        momentum, weight_decay = group["momentum"], group["weight_decay"]
        if group["maximize"]:
            g = -g
        if weight_decay != 0:
            g = g + weight_decay * p  # grad.add(param, alpha=weight_decay)
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.copy()  # first step: the gradient itself
            else:
                buf *= momentum
                buf += (1 - group["dampening"]) * g
            g = g + momentum * buf if group["nesterov"] else buf
        p += -group["lr"] * g  # param.add_(grad, alpha=-lr)


class Adam(Optimizer):
    r"""Adam, ``torch.optim.Adam`` by hand (``decoupled_weight_decay=True`` is AdamW).

    input: γ (lr), β₁, β₂ (betas), θ₀ (params), f(θ), λ (weight_decay), ε (eps), amsgrad,
           maximize
    initialize: m₀ ← 0 (first moment), v₀ ← 0 (second moment), v₀^max ← 0
    for t = 1 to ...:
        g_t ← ∇f_t(θ_{t−1});  if maximize: g_t ← −g_t
        if λ ≠ 0: g_t ← g_t + λθ_{t−1}          (AdamW instead: θ_{t−1} ← θ_{t−1}(1 − γλ))
        m_t ← β₁m_{t−1} + (1 − β₁)g_t           torch: m.lerp_(g, 1 − β₁)
        v_t ← β₂v_{t−1} + (1 − β₂)g_t²          torch: v.mul_(β₂).addcmul_(g, g, value=1 − β₂)
        m̂_t ← m_t / (1 − β₁ᵗ)
        v̂_t ← v_t / (1 − β₂ᵗ)                   (v_t^max ← max(v_{t−1}^max, v_t) if amsgrad)
        θ_t ← θ_{t−1} − γ m̂_t / (√v̂_t + ε)

    torch's order, followed here: step_size = γ / (1 − β₁ᵗ);
    denom = √v_t / (1 − β₂ᵗ)**0.5 + ε (the square root of v_t, not of v̂_t, and ε added after the
    division); θ ← θ + (−step_size·m_t)/denom. The textbook m̂/(√v̂ + ε) rounds differently at
    every one of those places, and m ← β₁m + (1 − β₁)g differs from lerp in the last bit.
    The state (``step``, ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq`` if amsgrad) is
    created on the first step; ``step`` is a float, as torch's step tensor.
    """

    def __init__(
        self,
        params: Iterable[np.ndarray],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ) -> None:
        _check_lr(lr)
        _non_negative(eps, "epsilon")
        _check_betas(betas)
        _non_negative(weight_decay, "weight_decay")
        if not (isinstance(betas[0], float) and isinstance(betas[1], float)):
            # torch's isinstance(beta, float): an int (0, not 0.0) fails it, before any step
            raise ValueError("betas must be either both floats or both Tensors "
                             f"(write 0.0, not 0), got {tuple(betas)!r}")
        super().__init__(params, {"lr": lr, "betas": (float(betas[0]), float(betas[1])),
                                  "eps": eps, "weight_decay": weight_decay,
                                  "amsgrad": amsgrad, "maximize": maximize, "foreach": foreach,
                                  "decoupled_weight_decay": decoupled_weight_decay})

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict, group: dict) -> None:
        lr, (beta1, beta2), weight_decay = group["lr"], group["betas"], group["weight_decay"]
        if not state:
            state["step"] = 0.0
            state["exp_avg"] = np.zeros_like(p)
            state["exp_avg_sq"] = np.zeros_like(p)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(p)
        if group["maximize"]:
            g = -g
        state["step"] += 1
        step = state["step"]
        if weight_decay != 0:
            if group["decoupled_weight_decay"]:
                p *= 1 - lr * weight_decay  # AdamW: decay the weights, not the gradient
            else:
                g = g + weight_decay * p
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        lerp_(exp_avg, g, 1 - beta1)
        exp_avg_sq *= beta2
        exp_avg_sq += (1 - beta2) * g * g  # addcmul_(g, g, value=1 − β₂)
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        step_size = lr / bias_correction1
        bias_correction2_sqrt = bias_correction2**0.5
        if group["amsgrad"]:
            np.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
            denom = np.sqrt(state["max_exp_avg_sq"]) / bias_correction2_sqrt + group["eps"]
        else:
            denom = np.sqrt(exp_avg_sq) / bias_correction2_sqrt + group["eps"]
        p += -step_size * exp_avg / denom  # addcdiv_(exp_avg, denom, value=-step_size)


class AdamW(Adam):
    r"""AdamW, ``torch.optim.AdamW`` by hand: :class:`Adam` with decoupled weight decay
    (default λ = 1e-2).

    for t = 1 to ...:
        g_t ← ∇f_t(θ_{t−1});  if maximize: g_t ← −g_t
        θ_t ← θ_{t−1} − γλθ_{t−1}               torch: param.mul_(1 − γλ), before the moments
        m_t, v_t, m̂_t, v̂_t as Adam (λ never enters the gradient, nor m or v)
        θ_t ← θ_t − γ m̂_t / (√v̂_t + ε)

    Adam's ``weight_decay`` is L2 regularisation (λθ added to the gradient, then scaled by
    1/√v̂ like the rest of it); AdamW's shrinks every weight by the same factor 1 − γλ.
    """

    def __init__(
        self,
        params: Iterable[np.ndarray],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, decoupled_weight_decay=True)


class RMSprop(Optimizer):
    r"""RMSprop, ``torch.optim.RMSprop`` by hand.

    input: α (alpha), γ (lr), θ₀ (params), f(θ), λ (weight_decay), μ (momentum), centered,
           ε (eps), maximize
    initialize: v₀ ← 0 (square average), b₀ ← 0 (buffer), g₀^ave ← 0
    for t = 1 to ...:
        g_t ← ∇f_t(θ_{t−1});  if maximize: g_t ← −g_t
        if λ ≠ 0: g_t ← g_t + λθ_{t−1}
        v_t ← αv_{t−1} + (1 − α)g_t²            torch: v.mul_(α).addcmul_(g, g, value=1 − α)
        ṽ_t ← v_t
        if centered:
            g_t^ave ← g_{t−1}^ave α + (1 − α)g_t   torch: lerp_(g, 1 − α)
            ṽ_t ← ṽ_t − (g_t^ave)²                 torch: v.addcmul(g_ave, g_ave, value=-1)
        if μ > 0:
            b_t ← μb_{t−1} + g_t / (√ṽ_t + ε)
            θ_t ← θ_{t−1} − γb_t
        else:
            θ_t ← θ_{t−1} − γg_t / (√ṽ_t + ε)      torch: addcdiv_(g, avg, value=-γ)

    Unlike SGD's, this momentum buffer starts at zero. The state (``step``, ``square_avg``,
    ``momentum_buffer`` if μ > 0, ``grad_avg`` if centered) is created on the first step.
    """

    def __init__(
        self,
        params: Iterable[np.ndarray],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
    ) -> None:
        _check_lr(lr)
        _non_negative(eps, "epsilon")
        _non_negative(momentum, "momentum")
        _non_negative(weight_decay, "weight_decay")
        _non_negative(alpha, "alpha")
        super().__init__(params, {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps,
                                  "centered": centered, "weight_decay": weight_decay,
                                  "foreach": foreach, "maximize": maximize})

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict, group: dict) -> None:
        alpha, momentum = group["alpha"], group["momentum"]
        if not state:
            state["step"] = 0.0
            state["square_avg"] = np.zeros_like(p)
            if momentum > 0:
                state["momentum_buffer"] = np.zeros_like(p)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(p)
        if group["maximize"]:
            g = -g
        state["step"] += 1
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p
        square_avg = state["square_avg"]
        square_avg *= alpha
        square_avg += (1 - alpha) * g * g
        if group["centered"]:
            grad_avg = lerp_(state["grad_avg"], g, 1 - alpha)
            avg = np.sqrt(square_avg + -1 * grad_avg * grad_avg)
        else:
            avg = np.sqrt(square_avg)
        avg += group["eps"]
        if momentum > 0:
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += g / avg  # addcdiv_(grad, avg)
            p += -group["lr"] * buf
        else:
            p += -group["lr"] * g / avg


class Adagrad(Optimizer):
    r"""Adagrad, ``torch.optim.Adagrad`` by hand.

    input: γ (lr), θ₀ (params), f(θ), λ (weight_decay), τ (initial_accumulator_value),
           η (lr_decay), ε (eps), maximize
    initialize: state_sum₀ ← τ
    for t = 1 to ...:
        g_t ← ∇f_t(θ_{t−1});  if maximize: g_t ← −g_t
        γ̃ ← γ / (1 + (t − 1)η)
        if λ ≠ 0: g_t ← g_t + λθ_{t−1}
        state_sum_t ← state_sum_{t−1} + g_t²
        θ_t ← θ_{t−1} − γ̃ g_t / (√state_sum_t + ε)    torch: addcdiv_(g, std, value=-γ̃)

    Unlike the other optimizers, torch creates Adagrad's state (``step`` = 0, ``sum`` = τ)
    in the constructor, and so does this class.
    """

    def __init__(
        self,
        params: Iterable[np.ndarray],
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
    ) -> None:
        _check_lr(lr)
        _non_negative(lr_decay, "lr_decay")
        _non_negative(weight_decay, "weight_decay")
        _non_negative(initial_accumulator_value, "initial_accumulator_value")
        _non_negative(eps, "epsilon")
        super().__init__(params, {"lr": lr, "lr_decay": lr_decay, "eps": eps,
                                  "weight_decay": weight_decay,
                                  "initial_accumulator_value": initial_accumulator_value,
                                  "foreach": foreach, "maximize": maximize})
        for p, state in zip(self.params, self.state, strict=True):
            state["step"] = 0.0
            state["sum"] = np.full_like(p, initial_accumulator_value)

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict, group: dict) -> None:
        state["step"] += 1
        step = state["step"]
        if group["maximize"]:
            g = -g
        if group["weight_decay"] != 0:
            g = g + group["weight_decay"] * p
        clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        state_sum = state["sum"]
        state_sum += 1 * g * g  # addcmul_(g, g, value=1)
        std = np.sqrt(state_sum)
        std += group["eps"]
        p += -clr * g / std
