"""gd_compare.optim against torch.optim: every configuration of torch's own option matrix
(``torch/testing/_internal/common_optimizers.py``) and hypothesis-drawn ones, fed the same
gradients from a common start, agree at every step — on torch's default CPU path
(single-tensor) and with ``foreach=True``. The ValueErrors are torch's, word for word."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gd_compare import optim

torch = pytest.importorskip("torch")
common_optimizers = pytest.importorskip("torch.testing._internal.common_optimizers")

pytestmark = pytest.mark.torch

NAMES = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]
SHAPES = [(6,), (3, 2), (2,)]  # a neuron's weights and a small network's layers
TOL = {np.float64: 1e-12, np.float32: 1e-5}


def _matrix(name: str):
    return [(name, i.desc, i.kwargs)
            for i in getattr(common_optimizers, f"optim_inputs_func_{name.lower()}")("cpu")]


MATRIX = [case for name in NAMES for case in _matrix(name)]


def _numpy_kwargs(kwargs: dict) -> dict:
    """torch's matrix with tensors as Python floats (a tensor lr is one number)."""
    return {k: v.item() if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}


def lockstep(name: str, kwargs: dict, *, foreach: bool | None, dtype, steps: int, seed: int = 0,
             shapes=SHAPES) -> list[float]:
    """The max |Δparam| after each of ``steps`` steps: both optimizers start from the same
    params and are fed the same random gradients."""
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    tparams = [torch.from_numpy(p.copy()).requires_grad_() for p in params]
    topt = getattr(torch.optim, name)(tparams, **kwargs, foreach=foreach)
    nopt = getattr(optim, name)(params, **_numpy_kwargs(kwargs))
    gaps = []
    for _ in range(steps):
        grads = [rng.standard_normal(s).astype(dtype) for s in shapes]
        for t, g in zip(tparams, grads, strict=True):
            t.grad = torch.from_numpy(g.copy())
        topt.step()
        nopt.step(grads)
        gaps.append(max(float(np.max(np.abs(p - t.detach().numpy())))
                        for p, t in zip(params, tparams, strict=True)))
    return gaps


@pytest.mark.parametrize("foreach", [False, True], ids=["single_tensor", "foreach"])
@pytest.mark.parametrize(("name", "desc", "kwargs"), MATRIX,
                         ids=[f"{n}-{d}" for n, d, _ in MATRIX])
def test_torch_option_matrix_float64_every_step(name, desc, kwargs, foreach):
    gaps = lockstep(name, kwargs, foreach=foreach, dtype=np.float64, steps=300)
    assert max(gaps) <= 1e-12, (name, desc, max(gaps))


@pytest.mark.parametrize(("name", "desc", "kwargs"), MATRIX,
                         ids=[f"{n}-{d}" for n, d, _ in MATRIX])
def test_torch_option_matrix_float32(name, desc, kwargs):
    gaps = lockstep(name, kwargs, foreach=None, dtype=np.float32, steps=100)
    assert max(gaps) <= 1e-5, (name, desc, max(gaps))


_unit = st.floats(0.0, 0.95)
CONFIGS = {
    "SGD": st.fixed_dictionaries({}, optional={
        "lr": st.floats(1e-4, 0.2), "momentum": _unit, "dampening": _unit,
        "weight_decay": st.floats(0, 0.5), "maximize": st.booleans()}),
    "Adam": st.fixed_dictionaries({}, optional={
        "lr": st.floats(1e-4, 0.05), "betas": st.tuples(_unit, st.floats(0.5, 0.999)),
        "eps": st.floats(1e-10, 1e-3), "weight_decay": st.floats(0, 0.5),
        "amsgrad": st.booleans(), "maximize": st.booleans()}),
    "RMSprop": st.fixed_dictionaries({}, optional={
        "lr": st.floats(1e-4, 0.05), "alpha": st.floats(0.5, 0.999), "eps": st.floats(1e-10, 1e-3),
        "weight_decay": st.floats(0, 0.5), "momentum": _unit, "centered": st.booleans(),
        "maximize": st.booleans()}),
    "Adagrad": st.fixed_dictionaries({}, optional={
        "lr": st.floats(1e-4, 0.2), "lr_decay": st.floats(0, 0.5),
        "weight_decay": st.floats(0, 0.5), "initial_accumulator_value": st.floats(0, 1),
        "eps": st.floats(1e-10, 1e-3), "maximize": st.booleans()}),
}
CONFIGS["AdamW"] = CONFIGS["Adam"]


@given(data=st.data(), name=st.sampled_from(NAMES), foreach=st.sampled_from([None, True]),
       seed=st.integers(0, 2**16))
def test_hypothesis_configurations_float64(data, name, foreach, seed):
    kwargs = data.draw(CONFIGS[name])
    if name == "SGD" and kwargs.get("dampening", 0) == 0 and kwargs.get("momentum", 0) > 0:
        kwargs["nesterov"] = data.draw(st.booleans())
    gaps = lockstep(name, kwargs, foreach=foreach, dtype=np.float64, steps=60, seed=seed)
    assert max(gaps) <= 1e-12, (name, kwargs, max(gaps))


ERRORS = [(name, e.optimizer_error_input.kwargs, e.error_regex)
          for name in NAMES
          for e in getattr(common_optimizers, f"optim_error_inputs_func_{name.lower()}")(
              "cpu", torch.float64)
          if e.error_type is ValueError and e.optimizer_error_input.params is None
          and not any(isinstance(v, torch.Tensor) or (isinstance(v, tuple) and any(
              isinstance(b, torch.Tensor) for b in v))
                      for v in e.optimizer_error_input.kwargs.values())]


@pytest.mark.parametrize(("name", "kwargs", "regex"), ERRORS,
                         ids=[f"{n}-{r}" for n, _, r in ERRORS])
def test_torch_error_matrix_same_message(name, kwargs, regex):
    with pytest.raises(ValueError, match=regex):
        getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], **kwargs)
    with pytest.raises(ValueError, match=regex):
        getattr(optim, name)([np.zeros(2)], **kwargs)


@pytest.mark.parametrize(("name", "kwargs"), [
    ("SGD", {"lr": -0.1}), ("SGD", {"momentum": -0.5}), ("SGD", {"weight_decay": -1e-3}),
    ("SGD", {"nesterov": True}), ("SGD", {"nesterov": True, "momentum": 0.9, "dampening": 0.1}),
    ("Adam", {"betas": (0.9, 1.0)}), ("Adam", {"betas": (-0.1, 0.9)}), ("Adam", {"eps": -1.0}),
    ("AdamW", {"weight_decay": -0.1}), ("RMSprop", {"alpha": -0.5}),
    ("RMSprop", {"momentum": -1.0}), ("Adagrad", {"lr_decay": -0.5}),
    ("Adagrad", {"initial_accumulator_value": -1.0}), ("Adagrad", {"eps": -1e-10}),
])
def test_invalid_values_raise_torchs_message(name, kwargs):
    with pytest.raises(ValueError) as expected:
        getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], **kwargs)
    with pytest.raises(ValueError) as got:
        getattr(optim, name)([np.zeros(2)], **kwargs)
    assert str(got.value) == str(expected.value)


def test_state_created_when_torch_creates_it():
    p, t = np.zeros(3), torch.zeros(3, dtype=torch.float64, requires_grad=True)
    for name, kwargs in [("SGD", {"momentum": 0.9}), ("Adam", {"amsgrad": True}),
                         ("RMSprop", {"momentum": 0.5, "centered": True}), ("Adagrad", {})]:
        nopt = getattr(optim, name)([p.copy()], **kwargs)
        topt = getattr(torch.optim, name)([t], **kwargs)
        assert set(nopt.state[0]) == set(topt.state[t]), name  # before any step
        nopt.step([np.ones(3)])
        t.grad = torch.ones(3, dtype=torch.float64)
        topt.step()
        assert set(nopt.state[0]) == set(topt.state[t]), name
        for key, value in topt.state[t].items():
            if isinstance(value, torch.Tensor) and value.ndim:
                np.testing.assert_allclose(nopt.state[0][key], value.numpy(), rtol=0, atol=1e-15)


def test_same_constructor_keywords_and_defaults_as_torch():
    import inspect

    skip = {"params", "capturable", "differentiable", "fused"}  # torch-only machinery
    for name in NAMES:
        ours = inspect.signature(getattr(optim, name)).parameters
        theirs = {k: v for k, v in inspect.signature(getattr(torch.optim, name)).parameters.items()
                  if k not in skip}
        assert set(ours) - {"params"} == set(theirs), name
        for key, param in theirs.items():
            assert ours[key].default == param.default, (name, key)
            assert ours[key].kind == param.kind, (name, key)


@pytest.mark.parametrize("betas", [(0, 0.99), (0.9, 0)])
def test_integer_betas_rejected_before_any_step_as_torch_does(betas):
    """torch's constructor rejects an int beta (isinstance float); ours too, not mid-run."""
    with pytest.raises(ValueError, match="betas must be either both floats or both Tensors"):
        torch.optim.Adam([torch.zeros(2, requires_grad=True)], betas=betas)
    with pytest.raises(ValueError, match="betas must be either both floats or both Tensors"):
        optim.Adam([np.zeros(2)], betas=betas)


def test_three_betas_rejected_before_any_step():
    """torch accepts (0.9, 0.99, 0.5) in its constructor, then fails at its first step
    (``beta1, beta2 = group["betas"]``); ours refuses it up front rather than drop the third."""
    t = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    topt = torch.optim.Adam([t], betas=(0.9, 0.99, 0.5))
    t.grad = torch.ones(2, dtype=torch.float64)
    with pytest.raises(ValueError):
        topt.step()
    with pytest.raises(ValueError, match="betas: expected a pair"):
        optim.Adam([np.zeros(2)], betas=(0.9, 0.99, 0.5))
