"""The optimizer and learning-rate scheduler of a training run, checked once for both backends.

A training function takes ``optimizer="sgd" | "adam" | "adamw" | "rmsprop" | "adagrad"`` with
``optimizer_kwargs`` (torch's keyword names; ``lr`` stays the function's own ``lr``) and
``scheduler=None | "steplr" | "exponentiallr" | "cosineannealinglr" | "reducelronplateau"``
with ``scheduler_kwargs`` (names: torch's class names in lower case). :func:`check_optimizer`
and :func:`check_scheduler` reject an unknown name or keyword (listing the valid ones) and any
invalid value — with torch's own ``ValueError`` message, since they build the hand-written
twin (:mod:`gd_compare.optim`, :mod:`gd_compare.optim.lr_scheduler`) once — before any step.

Each backend then builds its own from the same choice: ``choice.build(module, params, lr)``
with ``gd_compare.optim`` (NumPy) or ``torch.optim`` (PyTorch). This module never imports torch.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from gd_compare import optim
from gd_compare.optim import lr_scheduler

__all__ = [
    "LESSON_SGD",
    "OPTIMIZERS",
    "SCHEDULERS",
    "OptimizerChoice",
    "PlateauReplay",
    "ScheduleTie",
    "SchedulerChoice",
    "check_optimizer",
    "check_scheduler",
    "parse_option",
]

#: name → the class of that name in ``torch.optim`` and in :mod:`gd_compare.optim`
OPTIMIZERS: dict[str, str] = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW",
                              "rmsprop": "RMSprop", "adagrad": "Adagrad"}
#: name → the class in ``torch.optim.lr_scheduler`` and in :mod:`gd_compare.optim.lr_scheduler`
SCHEDULERS: dict[str, str] = {"steplr": "StepLR", "exponentiallr": "ExponentialLR",
                              "cosineannealinglr": "CosineAnnealingLR",
                              "reducelronplateau": "ReduceLROnPlateau"}


@dataclass(frozen=True)
class OptimizerChoice:
    """An optimizer by name and its options (torch's keywords, without ``lr``)."""

    name: str = "sgd"
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def class_name(self) -> str:
        return OPTIMIZERS[self.name]

    @property
    def lesson(self) -> bool:
        """The lesson's plain SGD (no option): the NumPy backend writes its update out."""
        return self.name == "sgd" and not self.kwargs

    def build(self, module: ModuleType, params: Any, lr: float) -> Any:
        """``module.<Class>(params, lr=lr, **kwargs)``: ``torch.optim`` or
        :mod:`gd_compare.optim`."""
        return getattr(module, self.class_name)(params, lr=lr, **self.kwargs)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "options": _jsonable(self.kwargs)}


@dataclass(frozen=True)
class SchedulerChoice:
    """A learning-rate scheduler by name and its options; it steps once per epoch."""

    name: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def class_name(self) -> str:
        return SCHEDULERS[self.name]

    def build(self, module: ModuleType, optimizer: Any) -> Any:
        """``module.<Class>(optimizer, **kwargs)``: ``torch.optim.lr_scheduler`` or
        :mod:`gd_compare.optim.lr_scheduler`."""
        return getattr(module, self.class_name)(optimizer, **self.kwargs)

    def step(self, scheduler: Any, epoch_loss: float) -> None:
        """The end of an epoch: ReduceLROnPlateau steps on the epoch's train loss (the mean of
        its updates' losses), the others on the epoch count."""
        if self.name == "reducelronplateau":
            scheduler.step(epoch_loss)
        else:
            scheduler.step()

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "options": _jsonable(self.kwargs)}


LESSON_SGD = OptimizerChoice()


@dataclass(frozen=True)
class ScheduleTie:
    """ReduceLROnPlateau decided differently on the two backends' epoch losses although they
    agree within the tolerance: a tie at its threshold, not different math."""

    epoch: int  # 0-based: the epoch whose loss the two schedulers decided on
    metrics: tuple[float, float]  # each backend's epoch loss (the metric it stepped on)
    bests: tuple[float, float]  # each scheduler's best metric before that step
    lrs: tuple[float, float]  # each backend's learning rate for the next epoch
    labels: tuple[str, str] = ("numpy", "torch")

    def __str__(self) -> str:
        (la, lb), (ma, mb), (ba, bb) = self.labels, self.metrics, self.bests
        return (f"the schedulers' learning rates part at the end of epoch {self.epoch} "
                f"({la} goes on with lr {self.lrs[0]!r}, {lb} with {self.lrs[1]!r}): "
                f"ReduceLROnPlateau compared epoch losses that agree within the tolerance "
                f"({la}: {ma!r} against its best {ba!r}; {lb}: {mb!r} against {bb!r}) and they "
                f"fall on opposite sides of its threshold — a tie, not different math; the "
                f"later epochs (two different schedules) are not compared. A threshold > 0 "
                f"(torch's default 1e-4) avoids such ties")

    def to_json(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "metrics": list(self.metrics), "bests": list(self.bests),
                "lrs": list(self.lrs),
                "message": str(self)}


class PlateauReplay:
    """ReduceLROnPlateau (the hand-written twin, whose decisions equal torch's for the same
    metrics) replayed on each backend's epoch losses, summed as the backends sum them: the
    first epoch after which the two rates part, i.e. where the backends' own schedulers
    (each stepping on its own epoch loss) took different decisions. The other schedulers count
    epochs, never losses: nothing to replay."""

    def __init__(self, choice: SchedulerChoice, lr: float,
                 labels: tuple[str, str] = ("numpy", "torch"), rtol: float = 0.0,
                 atol: float = 0.0) -> None:
        self.schedulers = [choice.build(lr_scheduler, optim.SGD([np.zeros(1)], lr=lr))
                           for _ in range(2)]
        self.labels = labels
        self.rtol, self.atol = rtol, atol
        self.sums = [0.0, 0.0]
        self.batches = 0

    @classmethod
    def of(cls, choice: SchedulerChoice | None, lr: Any,
           labels: tuple[str, str] = ("numpy", "torch"), rtol: float = 0.0,
           atol: float = 0.0) -> PlateauReplay | None:
        if choice is None or choice.name != "reducelronplateau" or lr is None:
            return None
        return cls(choice, float(lr), labels, rtol, atol)

    def agree(self, a: float, b: float) -> bool:
        """Whether two epoch losses agree within the run's tolerance (the rounding
        yardstick): ``|a − b| ≤ atol + rtol·max(|a|, |b|)``."""
        return abs(a - b) <= self.atol + self.rtol * max(abs(a), abs(b))

    def add(self, epoch: int, losses: tuple[float, float],
            end_of_epoch: bool) -> ScheduleTie | None:
        """One update's losses (one per backend); at the end of an epoch, step both replays and
        return the :class:`ScheduleTie` if their rates part there on epoch losses that agree
        within the tolerance (a tie). Rates that part on losses that do not agree are no tie:
        ``None`` — the run goes on, each step judged (each backend's own updates against its
        own schedule, :class:`~gd_compare.proof.verdict.UpdateAudit`)."""
        self.batches += 1
        for i, loss in enumerate(losses):
            self.sums[i] += loss
        if not end_of_epoch:
            return None
        metrics = (self.sums[0] / self.batches, self.sums[1] / self.batches)
        self.sums, self.batches = [0.0, 0.0], 0
        bests = (float(self.schedulers[0].best), float(self.schedulers[1].best))
        for scheduler, metric in zip(self.schedulers, metrics, strict=True):
            scheduler.step(metric)
        lrs = tuple(s.optimizer.param_groups[0]["lr"] for s in self.schedulers)
        if lrs[0] == lrs[1] or not self.agree(*metrics):
            return None
        return ScheduleTie(epoch, metrics, bests, (lrs[0], lrs[1]), self.labels)

#: the options that are numbers (min_lr: one or a list; betas: checked by Adam)
_NUMERIC = ("momentum", "dampening", "weight_decay", "eps", "alpha", "lr_decay",
            "initial_accumulator_value", "gamma", "eta_min", "factor", "patience",
            "threshold", "cooldown", "min_lr")


def _jsonable(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The options as strict JSON: a tuple as a list. The checks refuse a non-finite number;
    should one come through anyway it is written as a string ("inf"), never as ``Infinity``."""
    def plain(v: Any) -> Any:
        if isinstance(v, tuple | list):
            return [plain(x) for x in v]
        if isinstance(v, float) and not math.isfinite(v):
            return repr(v)
        return v
    return {k: plain(v) for k, v in kwargs.items()}


def _finite(kind: str, options: Mapping[str, Any], numeric: tuple[str, ...]) -> None:
    """Every number among ``options`` finite, and each ``numeric`` key a real number (or a
    list/tuple of them): what the constructors accept but a later step would trip over
    (``gamma="half"``, ``gamma=None``) or turn into inf/NaN weights (``eps=1e999``)."""
    for key, value in options.items():
        items = value if isinstance(value, list | tuple) else [value]
        for item in items:
            real = isinstance(item, int | float) and not isinstance(item, bool)
            if key in numeric and not real:
                raise ValueError(f"{kind}_kwargs: {key} must be a real number, got {value!r}")
            if real and not math.isfinite(item):
                raise ValueError(f"{kind}_kwargs: {key} must be finite, got {value!r}")


def _name(kind: str, name: Any, known: Mapping[str, str]) -> str:
    if not isinstance(name, str) or name.lower() not in known:
        raise ValueError(f"{kind}: unknown {kind} {name!r}; valid: {', '.join(known)}")
    return name.lower()


def _keywords(kind: str, name: str, kwargs: Any, cls: type, taken: tuple[str, ...]) -> dict:
    """``kwargs`` as a dict whose keys are keywords of ``cls`` (not ``taken`` ones)."""
    if kwargs is None:
        return {}
    if not isinstance(kwargs, Mapping):
        raise TypeError(f"{kind}_kwargs: expected a dict of {cls.__name__}'s keywords, got "
                        f"{type(kwargs).__name__}")
    valid = [k for k in inspect.signature(cls).parameters if k not in taken]
    for key in kwargs:
        if key == "lr" and "lr" in taken:
            raise TypeError(f"{kind}_kwargs: 'lr' is the training function's own lr argument")
        if key not in valid:
            raise TypeError(f"{kind}_kwargs: unknown keyword {key!r} for {name} "
                            f"({cls.__name__}); valid: {', '.join(valid)}")
    return dict(kwargs)


def _probe() -> optim.Optimizer:
    return optim.SGD([np.zeros(1)], lr=0.1)


def check_optimizer(name: Any = "sgd", kwargs: Any = None) -> OptimizerChoice:
    """The checked choice; torch's ``ValueError`` for an invalid value (e.g. negative
    momentum, nesterov with dampening, betas outside [0, 1), eps < 0)."""
    name = _name("optimizer", name, OPTIMIZERS)
    cls = getattr(optim, OPTIMIZERS[name])
    options = _keywords("optimizer", name, kwargs, cls, ("params", "lr"))
    _finite("optimizer", options, _NUMERIC)
    try:
        cls([np.zeros(1)], lr=0.1, **options)  # torch's checks, before any step
    except (TypeError, IndexError, KeyError) as exc:
        raise TypeError(f"optimizer_kwargs: {exc}") from None
    return OptimizerChoice(name, options)


def check_scheduler(name: Any = None, kwargs: Any = None) -> SchedulerChoice | None:
    """``None`` (no scheduler; ``scheduler_kwargs`` must then be empty) or the checked
    choice; a missing required keyword (StepLR's ``step_size``, CosineAnnealingLR's
    ``T_max``, ExponentialLR's ``gamma``) is named."""
    if name is None:
        if kwargs:
            raise ValueError("scheduler_kwargs: given without a scheduler")
        return None
    name = _name("scheduler", name, SCHEDULERS)
    cls = getattr(lr_scheduler, SCHEDULERS[name])
    options = _keywords("scheduler", name, kwargs, cls, ("optimizer", "last_epoch"))
    missing = [k for k, p in inspect.signature(cls).parameters.items()
               if p.default is inspect.Parameter.empty and k != "optimizer" and k not in options]
    if missing:
        raise TypeError(f"scheduler_kwargs: {name} needs {', '.join(missing)}")
    for key in ("step_size", "T_max"):  # torch would divide by them at a later epoch
        value = options.get(key, 1)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"scheduler_kwargs: {key} must be a whole number >= 1, got {value!r}")
    _finite("scheduler", options, _NUMERIC)
    try:
        cls(_probe(), **options)
    except (TypeError, IndexError, KeyError) as exc:
        raise TypeError(f"scheduler_kwargs: {exc}") from None
    return SchedulerChoice(name, options)


def parse_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE``, the value a Python literal (``0.9``, ``True``, ``(0.9, 0.99)``) or a bare
    word (``min``)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip().isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        parsed = ast.literal_eval(value.strip())
    except TypeError as exc:  # e.g. {[1]: 2}: an unhashable key
        raise argparse.ArgumentTypeError(f"{key.strip()}: not a valid value ({exc}), "
                                         f"got {value!r}") from None
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        if not value.strip().isidentifier():
            raise argparse.ArgumentTypeError(
                f"{key.strip()}: expected a Python literal (e.g. 0.9, True, (0.9, 0.99)), "
                f"got {value!r}") from None
        parsed = value.strip()
    return key.strip(), parsed
