"""Learning-rate schedulers by hand, twins of ``torch.optim.lr_scheduler`` (torch 2.13).

Each reads and sets ``optimizer.param_groups[0]["lr"]`` of a :mod:`gd_compare.optim`
optimizer, exactly as torch's schedulers do with a ``torch.optim`` optimizer, and computes
the new rate with torch's own formula, in torch's order:

- :class:`StepLR`, :class:`ExponentialLR`, :class:`CosineAnnealingLR` are *recursive*
  (``get_lr`` starts from the current rate, as torch's do), not the closed forms
  (torch's ``_get_closed_form_lr``, used only when an epoch is passed to ``step``). For
  CosineAnnealingLR the two differ in the last digits: :func:`cosine_closed_form` shows by
  how much.
- :class:`ReduceLROnPlateau` cuts the rate by ``factor`` when a metric stops improving.

Construction takes the scheduler's first (initial) step, as torch's constructor does.
This module never imports torch.
"""

from __future__ import annotations

import math
from typing import Literal

from gd_compare.optim.optimizer import Optimizer

__all__ = ["CosineAnnealingLR", "ExponentialLR", "LRScheduler", "ReduceLROnPlateau", "StepLR",
           "cosine_closed_form"]


class LRScheduler:
    """What the epoch-driven schedulers share (torch's ``LRScheduler``): ``base_lrs`` (the
    optimizer's ``initial_lr``), ``last_epoch`` (−1 before the constructor's initial step),
    ``step()`` once per epoch, ``get_last_lr()``."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"param 'initial_lr' is not specified in param_groups[{i}] "
                                   "when resuming scheduler with last_epoch >= 0.")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._is_initial = True
        self.step()
        self._is_initial = False

    def get_lr(self) -> list[float]:
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch and set every group's ``lr`` to :meth:`get_lr`."""
        self._step_count += 1
        self.last_epoch += 1
        values = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values, strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        return self._last_lr

    def _current(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]


class StepLR(LRScheduler):
    """lr ← lr·γ every ``step_size`` epochs (torch: multiply the current rate when
    last_epoch is a non-zero multiple of step_size; closed form base_lr·γ^⌊epoch/step_size⌋)."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current()
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]


class ExponentialLR(LRScheduler):
    """lr ← lr·γ every epoch (recursive; closed form base_lr·γ^epoch rounds differently)."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._current()
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]


class CosineAnnealingLR(LRScheduler):
    r"""Cosine annealing from the base rate η_max to ``eta_min`` over ``T_max`` epochs, computed
    recursively as torch computes it (T_cur = last_epoch):

        η_t = η_min + (η_{t−1} − η_min)·(1 + cos(π·T_cur/T_max)) / (1 + cos(π·(T_cur − 1)/T_max))
        and, when (T_cur − 1 − T_max) mod 2T_max = 0 (the bottom of a cosine):
        η_t = η_{t−1} + (η_max − η_min)·(1 − cos(π/T_max)) / 2

    The closed form η_min + ½(η_max − η_min)(1 + cos(π·T_cur/T_max)) (:func:`cosine_closed_form`)
    is the same curve; the two differ in the last digits (the recursion carries its rounding
    from epoch to epoch).
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        epoch, t_max, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._current()
        if self._step_count == 1 and epoch > 0:
            return [eta_min + (base_lr - eta_min) * (1 + math.cos(epoch * math.pi / t_max)) / 2
                    for base_lr in self.base_lrs]
        if (epoch - 1 - t_max) % (2 * t_max) == 0:
            return [group["lr"] + (base_lr - eta_min) * (1 - math.cos(math.pi / t_max)) / 2
                    for base_lr, group in zip(self.base_lrs, groups, strict=True)]
        return [(1 + math.cos(math.pi * epoch / t_max))
                / (1 + math.cos(math.pi * (epoch - 1) / t_max))
                * (group["lr"] - eta_min) + eta_min for group in groups]


def cosine_closed_form(base_lr: float, epoch: int, T_max: int,
                       eta_min: float = 0.0) -> float:
    """torch's ``CosineAnnealingLR._get_closed_form_lr``:
    η_min + (η_max − η_min)·(1 + cos(π·epoch/T_max)) / 2."""
    return eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * epoch / T_max)) / 2


class ReduceLROnPlateau:
    """lr ← max(lr·factor, min_lr) once the metric passed to ``step(metrics)`` has not improved
    for more than ``patience`` epochs (then wait ``cooldown`` epochs). "Improved", mode "min",
    threshold_mode "rel": metric < best·(1 − threshold) ("abs": < best − threshold; mode "max"
    mirrored). A cut smaller than ``eps`` is skipped. ``min_lr``: one number, or a list with one
    per parameter group (torch's). torch's ``ReduceLROnPlateau``, by hand."""

    def __init__(
        self,
        optimizer: Optimizer,
        mode: Literal["min", "max"] = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: Literal["rel", "abs"] = "rel",
        cooldown: int = 0,
        min_lr: float | list[float] | tuple[float, ...] = 0,
        eps: float = 1e-8,
    ) -> None:
        if factor >= 1.0:
            raise ValueError("Factor should be < 1.0.")
        self.factor = factor
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        if isinstance(min_lr, list | tuple):  # torch: one per parameter group
            if len(min_lr) != len(optimizer.param_groups):
                raise ValueError(f"expected {len(optimizer.param_groups)} min_lrs, "
                                 f"got {len(min_lr)}")
            self.min_lrs = list(min_lr)
        else:
            self.min_lrs = [min_lr] * len(optimizer.param_groups)
        self.patience = patience
        self.cooldown = cooldown
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]
        if mode not in {"min", "max"}:
            raise ValueError("mode " + mode + " is unknown!")
        if threshold_mode not in {"rel", "abs"}:
            raise ValueError("threshold mode " + threshold_mode + " is unknown!")
        self.mode, self.threshold, self.threshold_mode = mode, threshold, threshold_mode
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def step(self, metrics: float) -> None:
        current = float(metrics)
        self.last_epoch += 1
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # ignore any bad epochs in cooldown
        if self.num_bad_epochs > self.patience:
            for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs, strict=True):
                old_lr = float(group["lr"])
                new_lr = max(old_lr * self.factor, min_lr)
                if old_lr - new_lr > self.eps:
                    group["lr"] = new_lr
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        return self._last_lr

    def _is_better(self, a: float, best: float) -> bool:
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold
