"""gd_compare.lesson.options and the optimizer arguments of the training functions, NumPy side only:
names and keywords checked (errors list the valid ones), torch's messages for invalid values
raised before any step, the lesson's SGD untouched."""

from __future__ import annotations

import numpy as np
import pytest

from gd_compare import numpy_backend as nb
from gd_compare import optim
from gd_compare.lesson.options import check_optimizer, check_scheduler


def test_default_is_the_lesson_sgd_bit_for_bit(admissions):
    X, y, _, _ = admissions
    plain = nb.mse_training(X, y, epochs=200)
    named = nb.mse_training(X, y, epochs=200, optimizer="sgd", optimizer_kwargs={})
    assert np.array_equal(plain.weights, named.weights)
    assert np.array_equal(plain.losses, named.losses)
    # the hand-written optim.SGD (here via momentum=0) takes the same steps to the last bits
    by_class = nb.mse_training(X, y, epochs=200, optimizer_kwargs={"momentum": 0.0})
    np.testing.assert_allclose(by_class.weights, plain.weights, rtol=0, atol=1e-15)


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda: check_optimizer("nadam"), ValueError,
     "optimizer: unknown optimizer 'nadam'; valid: sgd, adam, adamw, rmsprop, adagrad"),
    (lambda: check_optimizer("adam", {"momentum": 0.9}), TypeError,
     "unknown keyword 'momentum' for adam .*valid: betas, eps, weight_decay, amsgrad"),
    (lambda: check_optimizer("sgd", {"lr": 0.1}), TypeError, "'lr' is the training function"),
    (lambda: check_optimizer("sgd", [("momentum", 0.9)]), TypeError, "expected a dict"),
    (lambda: check_optimizer("sgd", {"momentum": -0.5}), ValueError,
     r"^Invalid momentum value: -0.5$"),
    (lambda: check_optimizer("sgd", {"nesterov": True}), ValueError,
     "^Nesterov momentum requires a momentum and zero dampening$"),
    (lambda: check_optimizer("adam", {"betas": (0.9, 1.0)}), ValueError,
     r"^Invalid beta parameter at index 1: 1.0$"),
    (lambda: check_optimizer("rmsprop", {"eps": -1e-8}), ValueError,
     "^Invalid epsilon value: -1e-08$"),
    (lambda: check_scheduler("warmup"), ValueError, "valid: steplr, exponentiallr"),
    (lambda: check_scheduler("cosineannealinglr"), TypeError, "cosineannealinglr needs T_max"),
    (lambda: check_scheduler("steplr", {"step_size": 0}), ValueError, "step_size must be"),
    (lambda: check_scheduler(None, {"gamma": 0.5}), ValueError, "without a scheduler"),
    (lambda: check_scheduler("reducelronplateau", {"factor": 2.0}), ValueError,
     "Factor should be < 1.0."),
    (lambda: check_scheduler("steplr", {"step_size": 3, "last_epoch": 5}), TypeError,
     "unknown keyword 'last_epoch'"),
])
def test_bad_choices_name_what_is_valid(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_invalid_value_raised_before_any_step(admissions, monkeypatch):
    X, y, _, _ = admissions
    monkeypatch.setattr(optim.SGD, "step", lambda *a: pytest.fail("stepped"))
    with pytest.raises(ValueError, match="Invalid weight_decay value: -1"):
        nb.iter_sgd_batching(X, y, optimizer="sgd", optimizer_kwargs={"weight_decay": -1})


def test_per_record_keeps_the_lessons_sgd(admissions):
    X, y, _, _ = admissions
    with pytest.raises(ValueError, match="per_record: the lesson's record-by-record loop"):
        nb.mse_training(X, y, per_record=True, optimizer="adam")


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop", "adagrad"])
def test_caller_arrays_unchanged_and_training_descends(admissions, name):
    X, y, _, _ = admissions
    w = np.full(6, 0.1)
    before = (X.copy(), y.copy(), w.copy())
    kwargs = {"momentum": 0.9} if name == "sgd" else None
    run = nb.backprop_training(X, y, lr=0.01, epochs=300, optimizer=name,
                               optimizer_kwargs=kwargs, scheduler="steplr",
                               scheduler_kwargs={"step_size": 100})
    neuron = nb.sgd_batching(X, y, w, lr=0.01, epochs=5, optimizer=name,
                             optimizer_kwargs=kwargs)
    assert all(np.array_equal(a, b) for a, b in zip((X, y, w), before, strict=True))
    assert run.losses[-1] < run.losses[0] and nb.mse(X, y, neuron.weights) < nb.mse(X, y, w)


@pytest.mark.parametrize(("name", "kwargs", "match"), [
    ("adam", {"betas": (0.9,)}, r"betas: expected a pair of floats \(beta1, beta2\), got"),
    ("adam", {"betas": {}}, "betas: expected a pair"),
    ("adamw", {"betas": (0.9, 0.99, 0.5)}, "betas: expected a pair"),
    ("adam", {"betas": "ab"}, "betas: expected a pair"),
    ("adam", {"betas": (0, 0.99)}, "betas must be either both floats or both Tensors"),
    ("adam", {"betas": (0.9, 1)}, "Invalid beta parameter at index 1: 1"),
    ("adagrad", {"eps": float("inf")}, "optimizer_kwargs: eps must be finite, got inf"),
    ("sgd", {"momentum": float("nan")}, "momentum must be finite"),
    ("rmsprop", {"alpha": None}, "alpha must be a real number, got None"),
])
def test_bad_optimizer_values_are_value_errors_before_any_step(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        check_optimizer(name, kwargs)


@pytest.mark.parametrize(("name", "kwargs", "match"), [
    ("exponentiallr", {"gamma": "half"}, "scheduler_kwargs: gamma must be a real number"),
    ("steplr", {"step_size": 2, "gamma": None}, "gamma must be a real number, got None"),
    ("cosineannealinglr", {"T_max": 3, "eta_min": "0"}, "eta_min must be a real number"),
    ("reducelronplateau", {"factor": float("-inf")}, "factor must be finite"),
    ("reducelronplateau", {"min_lr": [0.0, 0.1]}, "expected 1 min_lrs, got 2"),
    ("reducelronplateau", {"min_lr": ["x"]}, "min_lr must be a real number"),
    ("reducelronplateau", {"patience": True}, "patience must be a real number"),
])
def test_bad_scheduler_values_are_value_errors_before_any_step(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        check_scheduler(name, kwargs)


def test_options_json_is_strict():
    import json

    choice = check_scheduler("reducelronplateau", {"min_lr": (0.001,)})
    assert json.dumps(choice.to_json(), allow_nan=False) == (
        '{"name": "reducelronplateau", "options": {"min_lr": [0.001]}}')
    forced = type(choice)("reducelronplateau", {"threshold": float("inf")})  # past the checks
    assert forced.to_json()["options"] == {"threshold": "inf"}
    json.dumps(forced.to_json(), allow_nan=False)


def test_step_rejects_a_gradient_of_the_wrong_shape_unchanged():
    p = np.ones((3, 2))
    opt = optim.Adam([np.zeros(4), p], lr=0.1)
    with pytest.raises(ValueError, match=r"grads\[1\]: expected shape \(3, 2\) \(params\[1\]\), "
                                         r"got \(2,\)"):
        opt.step([np.zeros(4), np.ones(2)])  # NumPy would broadcast (2,) to (3, 2)
    assert (p == 1).all() and opt.state == [{}, {}]  # nothing stepped


def test_plateau_replay_finds_where_the_decisions_part():
    from gd_compare.lesson.options import PlateauReplay

    choice = check_scheduler("reducelronplateau", {"threshold": 0.0, "patience": 0,
                                                   "factor": 0.5})
    assert PlateauReplay.of(check_scheduler("steplr", {"step_size": 2}), 0.1) is None
    replay = PlateauReplay.of(choice, 0.1)
    up = 0.375 + 2**-53  # one ULP above 0.375
    assert replay.add(0, (1.0, 1.0), False) is None  # two batches per epoch: their mean
    assert replay.add(0, (0.5, 0.5), True) is None  # both: best 0.75
    assert replay.add(1, (0.375, up), True) is None  # both improved; bests 0.375 and up
    assert replay.add(2, (0.375, 0.375), False) is None
    tie = replay.add(2, (0.375, 0.375), True)  # numpy: not below its best → cut; torch: below
    assert tie is not None and tie.epoch == 2 and tie.lrs == (0.05, 0.1)
    assert tie.metrics == (0.375, 0.375) and tie.bests == (0.375, up)
    assert "a tie, not different math" in str(tie)
