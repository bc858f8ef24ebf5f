"""gd_compare.optim.lr_scheduler against torch.optim.lr_scheduler: the same learning rate after
every
epoch (the recursive forms, as torch computes them), and the closed form's last-digit drift."""

from __future__ import annotations

import numpy as np
import pytest

from gd_compare import optim
from gd_compare.optim import lr_scheduler

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.torch

CASES = [
    ("StepLR", {"step_size": 3}), ("StepLR", {"step_size": 7, "gamma": 0.5}),
    ("ExponentialLR", {"gamma": 0.9}), ("ExponentialLR", {"gamma": 0.999}),
    ("CosineAnnealingLR", {"T_max": 10}), ("CosineAnnealingLR", {"T_max": 7, "eta_min": 0.01}),
]


def _pair(lr: float = 0.1):
    nopt = optim.SGD([np.zeros(2)], lr=lr)
    topt = torch.optim.SGD([torch.zeros(2, dtype=torch.float64, requires_grad=True)], lr=lr)
    return nopt, topt


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=[f"{n}{k}" for n, k in CASES])
def test_same_lr_every_epoch_bit_for_bit(name, kwargs):
    nopt, topt = _pair()
    ours = getattr(lr_scheduler, name)(nopt, **kwargs)
    theirs = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    for _ in range(50):  # several cosine periods
        topt.step()
        ours.step()
        theirs.step()
        assert ours.get_last_lr() == theirs.get_last_lr()
        assert nopt.param_groups[0]["lr"] == topt.param_groups[0]["lr"]


def test_cosine_recursive_differs_from_closed_form_in_the_last_digits():
    nopt, _ = _pair(0.1)
    sched = lr_scheduler.CosineAnnealingLR(nopt, T_max=100)
    gaps = []
    for epoch in range(1, 100):
        sched.step()
        gaps.append(abs(sched.get_last_lr()[0] - lr_scheduler.cosine_closed_form(0.1, epoch, 100)))
    assert 0 < max(gaps) < 1e-15  # the same curve, not the same floats


@pytest.mark.parametrize("kwargs", [
    {}, {"patience": 2}, {"patience": 1, "factor": 0.5, "cooldown": 2},
    {"mode": "max", "patience": 2, "threshold_mode": "abs", "threshold": 0.01},
    {"patience": 0, "min_lr": 0.02},
])
def test_reduce_on_plateau_same_decisions(kwargs):
    nopt, topt = _pair()
    ours = lr_scheduler.ReduceLROnPlateau(nopt, **kwargs)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    rng = np.random.default_rng(3)
    metrics = np.concatenate([np.linspace(1, 0.5, 10), 0.5 + 0.01 * rng.random(30)])
    lrs = []
    for m in metrics:
        ours.step(m)
        theirs.step(m)
        assert ours.get_last_lr() == theirs.get_last_lr() == [topt.param_groups[0]["lr"]]
        lrs.append(ours.get_last_lr()[0])
    assert len(set(lrs)) > 1  # it did cut the rate


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"factor": 1.0}, "Factor should be < 1.0."), ({"mode": "up"}, "mode up is unknown!"),
    ({"threshold_mode": "x"}, "threshold mode x is unknown!"),
])
def test_reduce_on_plateau_torchs_errors(kwargs, message):
    nopt, topt = _pair()
    with pytest.raises(ValueError, match=message):
        torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    with pytest.raises(ValueError, match=message):
        lr_scheduler.ReduceLROnPlateau(nopt, **kwargs)


def test_reduce_on_plateau_min_lr_list_as_torch():
    nopt, topt = _pair()
    ours = lr_scheduler.ReduceLROnPlateau(nopt, min_lr=[0.05], patience=0)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, min_lr=[0.05], patience=0)
    for m in [1.0, 1.0, 1.0, 1.0]:
        ours.step(m)
        theirs.step(m)
        assert ours.get_last_lr() == theirs.get_last_lr()
    assert ours.get_last_lr() == [0.05]  # 0.1 → 0.01 floored at min_lr
    for make in (torch.optim.lr_scheduler.ReduceLROnPlateau, lr_scheduler.ReduceLROnPlateau):
        with pytest.raises(ValueError, match="expected 1 min_lrs, got 2"):
            make(topt if make is torch.optim.lr_scheduler.ReduceLROnPlateau else nopt,
                 min_lr=[0.0, 0.1])


@pytest.mark.parametrize(("kwargs", "metrics", "lrs"), [
    # mode max, abs: 0.95 is not above best + 0.1 (a bad epoch → cut); best − 0.1 would pass it
    ({"mode": "max", "threshold_mode": "abs", "threshold": 0.1}, [1.0, 0.95, 1.2],
     [1.0, 0.5, 0.5]),
    # mode max, rel: 0.95 is not above best·(1 + 0.1); best·(1 − 0.1) would pass it
    ({"mode": "max", "threshold_mode": "rel", "threshold": 0.1}, [1.0, 0.95, 1.2],
     [1.0, 0.5, 0.5]),
    # mode min, abs: 1.05 is not below best − 0.1; best + 0.1 would pass it
    ({"mode": "min", "threshold_mode": "abs", "threshold": 0.1}, [1.0, 1.05, 0.8],
     [1.0, 0.5, 0.5]),
    # a cut of exactly eps (1.0 → 0.5 with eps 0.5) is skipped: old − new > eps, not >=
    ({"eps": 0.5}, [1.0, 2.0, 3.0], [1.0, 1.0, 1.0]),
    ({"eps": 0.4999}, [1.0, 2.0, 3.0], [1.0, 0.5, 0.5]),  # 0.5 → 0.25 is a cut of 0.25 < eps
])
def test_reduce_on_plateau_each_comparison_as_torch(kwargs, metrics, lrs):
    nopt = optim.SGD([np.zeros(2)], lr=1.0)
    topt = torch.optim.SGD([torch.zeros(2, dtype=torch.float64, requires_grad=True)], lr=1.0)
    kwargs = {"patience": 0, "factor": 0.5, **kwargs}
    ours = lr_scheduler.ReduceLROnPlateau(nopt, **kwargs)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    got = []
    for m in metrics:
        ours.step(m)
        theirs.step(m)
        assert ours.get_last_lr() == theirs.get_last_lr()
        got.append(ours.get_last_lr()[0])
    assert got == lrs
