"""Bias and binary cross-entropy, twinned: NumPy by hand against PyTorch autograd at every step
(neuron and network, full batch and mini-batches, with and without bias, MSE/SSE/BCE, float64
and float32, saturated outputs), the choice of nn.BCEWithLogitsLoss, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gd_compare import compare
from gd_compare.cli.run import main
from gd_compare.numpy_backend import by_hand as nb
from gd_compare.proof.gradcheck import check_backends
from gd_compare.proof.verdict import AMPLIFICATION

pytestmark = pytest.mark.torch

torch = pytest.importorskip("torch")  # the NumPy-only tests are in test_bias_bce_numpy.py
nn = torch.nn
tb = pytest.importorskip("gd_compare.torch_backend")

#: measured maxima of |Δ| over every step and quantity (README), with headroom of ~10x
FLOAT64_BOUND = 1e-14
FLOAT32_BOUND = 1e-5

CONFIGS = [
    ("mse_training", {"epochs": 300}),
    ("sgd_batching", {"epochs": 10, "batch_size": 32}),
    ("backprop", {"epochs": 300, "lr": 0.5}),
    ("backprop", {"epochs": 10, "lr": 0.5, "batch_size": 32, "hidden": (3, 2)}),
]


@pytest.mark.parametrize("concept, params", CONFIGS,
                         ids=["neuron-full", "neuron-mini", "network-full", "network-mini"])
@pytest.mark.parametrize("loss", ["mse", "sse", "bce"])
@pytest.mark.parametrize("bias", [False, True])
def test_every_step_agrees(concept, params, loss, bias):
    params = dict(params)
    if loss == "sse":
        params["lr"] = params.get("lr", 0.5) / 100
    for dtype, bound in (("float64", FLOAT64_BOUND), ("float32", FLOAT32_BOUND)):
        result = compare(concept, dtype=dtype, loss=loss, bias=bias, record=False, **params)
        assert result.passed, str(result.first_failure)
        for quantity, diff in result.max_abs_diff.items():
            # an SSE is n = 360 times an MSE, and so are its ULPs
            n = 360 if loss == "sse" and quantity in ("loss", "log", "final_loss") else 1
            assert diff <= bound * n, (quantity, diff)
        assert ("bias" in result.max_abs_diff) == bias
        assert result.numpy.test_accuracy == result.torch.test_accuracy


@given(
    n=st.integers(1, 24),
    d=st.integers(1, 4),
    scale=st.sampled_from([0.5, 5.0, 300.0]),  # 300: outputs saturate at exactly 0 or 1
    soft=st.booleans(),
    bias=st.booleans(),
    loss=st.sampled_from(["mse", "sse", "bce"]),
    batch=st.integers(1, 24),
    network=st.booleans(),
    seed=st.integers(0, 2**16),
)
# saturated 2-unit network on inputs of scale 300: the free-running weights drift 5.4e-11 apart
# (806442 ULPs) by amplified rounding, although every step from a common state agrees to 3e-16
@example(n=23, d=1, scale=300.0, soft=True, bias=False, loss="bce", batch=1, network=True,
         seed=13138)
# a saturated network's gradient cancels to a few ULPs of its terms: the common state agrees to
# 5.9e-12 of its size, inside the verdict's allowance for the rounding noise of such sums
@example(n=2, d=1, scale=300.0, soft=False, bias=True, loss="mse", batch=2, network=True,
         seed=22770)
def test_agreement_over_shapes_and_values(n, d, scale, soft, bias, loss, batch, network, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(scale=scale, size=(n, d))
    y = rng.random(n) if soft and loss == "bce" else rng.integers(0, 2, n).astype(float)
    common = {"features": X, "targets": y, "lr": 0.1, "loss": loss, "bias": bias,
              "epochs": 3, "batch_size": min(batch, n)}
    if network:
        result = compare("backprop", hidden=(2,), **common)
    else:
        result = compare("sgd_batching", weights=rng.normal(size=d), **common)
    assert result.passed, str(result.first_failure)
    figures = result.rejudge
    if figures is not None and figures.amplified_steps:
        # The trajectory amplifies rounding (saturated units: a 1-ULP nudge of NumPy's own start
        # grows as fast), so no fixed bound on the free-running |Δ| holds. What must hold: every
        # amplified step was re-taken from a common state, where the gradients agree within the
        # run's rtol (1e-12; measured 3.1e-16 in the example above, at most 3.1e-13 over 300
        # random draws of this test; a wrong update is off by O(1) relatively), and the
        # free-running gap stays within the allowed multiple of the 1-ULP witness's gap.
        # The verdict allows a common-state difference of rtol·|g| + 2 ULPs + 4× the measured
        # rounding noise of the gradient's sums (verdict.Rejudge.common_state); sums that cancel
        # (a saturated unit) measure up to 5.9e-12 of |g| — still eleven orders below the O(1)
        # relative error of a wrong update.
        assert figures.common_state_steps >= figures.amplified_steps
        assert figures.common_state_max_rel <= 1e-9, figures
        assert figures.max_ratio <= AMPLIFICATION, figures
        return
    # nothing amplified: the free-running gap is rounding of values of this size
    finite = [v for v in result.max_abs_diff.values() if np.isfinite(v)]
    scale_of = max(1.0, float(np.max(np.abs(result.numpy.losses))))
    assert max(finite) <= 1e-13 * scale_of * max(1.0, scale)


@pytest.mark.parametrize("concept", ["sigmoid_step", "sigmoid_exercise"])
def test_one_step_with_a_bias(concept):
    """The bias is a weight on an input of 1: del_b = lr·error_term, from b = 0."""
    for dtype in ("float64", "float32"):
        result = compare(concept, bias=True, dtype=dtype)
        assert result.passed and "bias" in result.max_abs_diff and "del_b" in result.max_abs_diff
        values = result.numpy.values
        assert values["del_b"][0] == pytest.approx(0.5 * values["error_term"], rel=1e-6)
        assert values["bias"][0] == values["del_b"][0]
    plain, biased = nb.sigmoid_exercise(), nb.sigmoid_exercise(bias=True)
    assert np.array_equal(plain.del_w, biased.del_w) and plain.bias is None
    np.testing.assert_allclose(biased.del_b, [-0.02031869], rtol=1e-6)  # = del_w[0], x[0] = 1
    with pytest.raises(TypeError, match="bias: expected True or False"):
        tb.sigmoid_step(bias=None)


def test_backprop_exercise_with_biases():
    """The course's 3-2-1 step with a bias per layer: delta_b = del_w without the input."""
    for dtype in ("float64", "float32"):
        result = compare("backprop_exercise", bias=True, dtype=dtype)
        assert result.passed
        assert {"delta_b_h", "delta_b_o", "bias_hidden", "bias_output"} <= set(
            result.max_abs_diff)
    step = nb.backprop_exercise(bias=True)
    np.testing.assert_allclose(step.delta_b_h, 0.5 * step.hidden_error_term, rtol=1e-15)
    np.testing.assert_allclose(step.delta_b_o, [0.5 * step.output_error_term], rtol=1e-15)
    # the course's numbers do not move: its weights' deltas are the same with b = 0
    np.testing.assert_allclose(step.delta_w_h_o, [0.00804047, 0.00555918], rtol=1e-6)
    assert nb.backprop_exercise().delta_b_h is None


def test_saturated_outputs_the_loss_and_its_gradient():
    """ŷ rounds to 1 for a negative record: MSE's step vanishes, BCE's is error·x — and the
    losses agree to the last bits in both backends."""
    X, y = np.array([[40.0], [-40.0], [3.0]]), np.array([0.0, 1.0, 1.0])
    w = np.array([1.0])
    for mod in (nb, tb):
        assert mod.bce(X, y, w) == pytest.approx((40 + 40 + np.logaddexp(0, -3)) / 3, rel=1e-15)
    assert tb.bce(X, y, (w, np.array([0.5]))) == pytest.approx(
        nb.bce(X, y, (w, np.array([0.5]))), rel=1e-15)
    for loss in ("mse", "bce"):
        np.testing.assert_allclose(tb.gradient(X, y, w, loss=loss),
                                   nb.gradient(X, y, w, loss=loss), rtol=1e-15)
    result = compare("mse_training", features=X, targets=y, weights=w, lr=0.01, epochs=100,
                     loss="bce", bias=True)
    assert result.passed and result.max_abs_diff["loss"] <= 1e-14


def test_why_bce_with_logits_and_not_bce_loss():
    """nn.BCELoss on ŷ = sigmoid(h) clamps log at −100 and its gradient through sigmoid'
    vanishes where ŷ rounds to 1: it is not the cross-entropy there. BCEWithLogitsLoss is."""
    h = torch.tensor([40.0, 200.0], dtype=torch.float64, requires_grad=True)
    y = torch.zeros(2, dtype=torch.float64)
    clamped = nn.BCELoss(reduction="none")(torch.sigmoid(h), y)
    assert clamped.tolist() == [100.0, 100.0]
    clamped.sum().backward()
    assert h.grad.tolist() == [0.0, 0.0]
    h.grad = None
    logits = nn.BCEWithLogitsLoss(reduction="none")(h, y)
    assert logits.tolist() == [40.0, 200.0]
    logits.sum().backward()
    assert h.grad.tolist() == [1.0, 1.0]  # sigmoid(h) − y, the lesson's −error_term


def test_the_bias_is_nn_linears_bias(admissions):
    X, y, _, _ = admissions
    run = tb.mse_training(X, y, epochs=5, bias=True, record=False)
    model = tb.Neuron(run.params[0], run.params[1])
    assert model.linear.bias.shape == (1,)
    with torch.no_grad():
        expected = torch.sigmoid(torch.from_numpy(X) @ torch.from_numpy(run.params[0])
                                 + run.params[1][0])
    np.testing.assert_allclose(model(torch.from_numpy(X)).detach().numpy(), expected.numpy(),
                               rtol=1e-15)
    net = tb.Network((*nb.backprop_training(X, y, epochs=2, bias=True, record=False).params,))
    assert [tuple(b.shape) for b in net.biases] == [(2,), (1,)]


def test_a_wrong_bias_gradient_is_caught_at_the_first_step(monkeypatch):
    """A by-hand backend that forgets the bias's update fails at step 1, naming the bias."""
    real = nb._neuron_del_w

    def no_del_b(X, y, params, reduction="mse"):
        deltas, total = real(X, y, params, reduction)
        return ((deltas[0], np.zeros_like(deltas[1])) if len(deltas) > 1 else deltas), total

    monkeypatch.setattr(nb, "_neuron_del_w", no_del_b)
    result = compare("mse_training", bias=True, epochs=5, stop_on_failure=True)
    assert not result.passed
    assert result.first_failure.step == 1 and result.first_failure.quantity == "bias"


def test_bce_stepped_as_if_sse_is_caught_by_the_harness(monkeypatch):
    """The course notebook's confusion: log-loss reported, the squared error's error_term
    stepped. The harness against autograd on the BCE loss fails at the first step."""
    real = nb._error_term
    monkeypatch.setattr(nb, "_error_term",
                        lambda error, output, reduction: real(error, output, "mse"))
    result = compare("mse_training", loss="bce", epochs=3, stop_on_failure=True)
    assert not result.passed and result.first_failure.step == 1
    assert result.first_failure.quantity == "weights"


def test_gradcheck_covers_biases_and_bce_in_both_backends():
    checks = check_backends("backprop", loss="bce", bias=True, hidden=(3,))
    for check in checks.values():
        assert check.passed and check.names[-2:] == ("biases[0]", "biases[1]")
    for concept in ("sigmoid_step", "backprop_exercise"):  # the one-step concepts too
        checks = check_backends(concept, bias=True)
        assert all(c.passed and "bias" in c.names[-1] for c in checks.values())


def test_cli_bias_and_loss(capsys):
    code = main(["--concept", "mse_training", "--concept", "simple_step", "--bias", "--loss",
                 "bce", "--epochs", "50", "--json", "-"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    by_name = {c["name"]: c for c in out["concepts"]}
    training = by_name["mse_training"]
    assert training["passed"]
    assert len(training["numpy"]["final_weights"]) == 6
    assert len(training["numpy"]["final_bias"]) == 1
    assert training["max_abs_diff"]["bias"] <= FLOAT64_BOUND
    assert "final_bias" not in by_name["simple_step"]["numpy"]
    assert main(["--concept", "backprop", "--bias", "--loss", "sse", "--epochs", "5"]) == 0
    text = capsys.readouterr().out
    assert "train SSE" in text and "backprop with a bias, max |Δ| per quantity: weights" in text
    with pytest.raises(SystemExit) as exit_info:
        main(["--loss", "ce"])
    assert exit_info.value.code == 2
    assert "argument --loss: invalid choice: 'ce'" in capsys.readouterr().err


def test_cli_plot_bias_and_bce(tmp_path, capsys):
    code = main(["plot", "--out", str(tmp_path), "--concept", "backprop", "--bias", "--loss",
                 "bce", "--dpi", "20"])
    assert code == 0
    assert (tmp_path / "backprop.png").stat().st_size > 1000
    assert "1/1 runs pass" in capsys.readouterr().out


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "rmsprop", "adagrad"])
def test_bias_and_bce_with_every_optimizer(optimizer):
    """The hand-written torch.optim twins step the biases too (generic parameter tuples)."""
    for concept, extra in (("mse_training", {"epochs": 100}), ("sgd_batching", {"epochs": 3}),
                           ("backprop", {"epochs": 50, "hidden": (3,)})):
        result = compare(concept, optimizer=optimizer, lr=0.01, bias=True, loss="bce",
                         record=False, **extra)
        assert result.passed, str(result.first_failure)
        assert result.max_abs_diff["bias"] <= 1e-13
