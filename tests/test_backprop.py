"""Backpropagation through hidden sigmoid layers: the course's numbers by hand, the per-record
loop against the vectorized pass, bad input naming the layer, and (torch) both backends in
lockstep, float64 and float32 — including a deliberately broken backward pass that the harness
and the finite-difference witness both catch."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gd_compare import CONCEPTS, DivergenceError, initial_weights
from gd_compare import numpy_backend as nb
from gd_compare.lesson.data import BACKPROP_SEED, initial_network_weights
from gd_compare.numpy_backend import by_hand

# The course's backpropagation exercise: one record, 3 inputs, 2 hidden units, lr 0.5; it prints
# "Change in weights for hidden layer to output layer" and "... input layer to hidden layer".
EX_X = np.array([[0.5, 0.1, -0.2]])
EX_Y = np.array([0.6])
EX_W_IH = np.array([[0.5, -0.6], [0.1, -0.2], [0.1, 0.7]])
EX_W_HO = np.array([0.1, -0.3])
EX_DEL_HO = np.array([0.00804047, 0.00555918])
EX_DEL_IH = np.array([[1.77005547e-04, -5.11178506e-04],
                      [3.54011093e-05, -1.02235701e-04],
                      [-7.08022187e-05, 2.04471402e-04]])


def _one_step(mod, X, y, weights, lr, **kw):
    step = next(iter(mod.iter_backprop_training(X, y, weights, lr, 1, **kw)))
    return tuple(p.copy() for p in step.params), step.loss


# --------------------------------------------------------------------------- the course's start


def test_initial_network_weights_is_the_course_draw():
    rs = np.random.RandomState(21)
    w_ih = rs.normal(scale=1 / 6**0.5, size=(6, 2))
    w_ho = rs.normal(scale=1 / 6**0.5, size=2)
    state = np.random.get_state()[1].copy()
    got = initial_network_weights(6)
    assert np.array_equal(np.random.get_state()[1], state)  # the global RNG is untouched
    assert len(got) == 2
    assert np.array_equal(got[0], w_ih) and np.array_equal(got[1], w_ho)
    assert BACKPROP_SEED == 21


def test_initial_network_weights_deeper_and_dtype():
    ws = initial_network_weights(4, (3, 5), seed=1, dtype=np.float32)
    assert [w.shape for w in ws] == [(4, 3), (3, 5), (5,)]
    assert all(w.dtype == np.float32 for w in ws)
    rs = np.random.RandomState(1)  # drawn in order from the input, scale 1/√n_features each
    np.testing.assert_allclose(ws[0], rs.normal(scale=0.5, size=(4, 3)).astype(np.float32))
    np.testing.assert_allclose(ws[1], rs.normal(scale=0.5, size=(3, 5)).astype(np.float32))


# --------------------------------------------------------------------------- NumPy by hand


@pytest.mark.parametrize("per_record", [False, True])
def test_the_course_exercise_changes_in_weights(per_record):
    (w_ih, w_ho), loss = _one_step(nb, EX_X, EX_Y, (EX_W_IH, EX_W_HO), 0.5, hidden=2,
                                   per_record=per_record)
    np.testing.assert_allclose(w_ho - EX_W_HO, EX_DEL_HO, rtol=1e-6)
    np.testing.assert_allclose(w_ih - EX_W_IH, EX_DEL_IH, rtol=1e-6)
    output = nb.network_forward(EX_X, (EX_W_IH, EX_W_HO))
    np.testing.assert_allclose(output, [0.48497343084992534], rtol=1e-14)
    assert loss == pytest.approx((0.6 - output[0]) ** 2, rel=1e-14)


def test_network_gradient_is_minus_del_w_over_m(admissions):
    X, y, _, _ = admissions
    ws = initial_network_weights(6)
    grads = nb.network_gradient(X, y, ws)
    (after_ih, after_ho), _ = _one_step(nb, X, y, ws, 0.25)
    np.testing.assert_allclose(after_ih, ws[0] - 0.25 * grads[0], rtol=1e-14, atol=1e-16)
    np.testing.assert_allclose(after_ho, ws[1] - 0.25 * grads[1], rtol=1e-14, atol=1e-16)
    sse_grads = nb.network_gradient(X, y, ws, loss="sse")
    for g, g_sse in zip(grads, sse_grads, strict=True):
        np.testing.assert_allclose(g_sse, g * len(y), rtol=1e-12)


def test_the_default_run(admissions):
    X, y, X_test, y_test = admissions
    run = nb.backprop_training(X, y)
    assert run.steps == 900 and [p.shape for p in run.params] == [(6, 2), (2,)]
    assert [e for e, _ in run.log] == list(range(0, 900, 90))
    assert run.log[0][1] == pytest.approx(0.26590108705355564, rel=1e-12)
    assert run.log[-1][1] == pytest.approx(0.2528800559083519, rel=1e-12)
    assert nb.network_mse(X, y, run.params) == pytest.approx(0.25161, abs=5e-5)
    assert nb.network_accuracy(X_test, y_test, run.params) == 0.425
    assert np.all(np.diff(run.losses) < 0)  # lr 0.005: slow, but downhill every epoch
    assert [h.shape for h in run.history] == [(900, 6, 2), (900, 2)]
    # a learning rate that trains: the hidden layer learns what the single neuron learned
    fast = nb.backprop_training(X, y, lr=0.5, epochs=2000, record=False)
    assert nb.network_accuracy(X_test, y_test, fast.params) >= 0.7


@pytest.mark.parametrize(
    ("hidden", "batch_size", "epochs"), [((2,), None, 15), ((3,), 32, 2), ((4, 3), 50, 2)]
)
def test_per_record_loop_equals_vectorized(admissions, hidden, batch_size, epochs):
    X, y, _, _ = admissions
    a = nb.backprop_training(X, y, hidden=hidden, batch_size=batch_size, epochs=epochs)
    b = nb.backprop_training(X, y, hidden=hidden, batch_size=batch_size, epochs=epochs,
                             per_record=True)
    assert a.steps == b.steps
    np.testing.assert_allclose(a.losses, b.losses, rtol=1e-13)
    for pa, pb in zip(a.params, b.params, strict=True):
        np.testing.assert_allclose(pa, pb, rtol=1e-12, atol=1e-15)


def test_batching_and_sse(admissions):
    X, y, _, _ = admissions
    run = nb.backprop_training(X, y, epochs=3, batch_size=32)
    assert run.steps == 3 * 12
    assert nb.backprop_training(X, y, epochs=3, batch_size=32, drop_last=True).steps == 3 * 11
    full = nb.backprop_training(X, y, epochs=4, record=False)
    same = nb.backprop_training(X, y, epochs=4, batch_size=360, record=False)
    for a, b in zip(full.params, same.params, strict=True):
        np.testing.assert_array_equal(a, b)  # batch_size == n is the full batch
    sse = nb.backprop_training(X, y, lr=0.005 / 360, epochs=4, loss="sse", record=False)
    for a, b in zip(full.params, sse.params, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    assert sse.log[0][1] == pytest.approx(full.log[0][1] * 360, rel=1e-12)


def test_one_hidden_layer_of_one_unit_and_float32(admissions):
    X, y, _, _ = admissions
    run = nb.backprop_training(X.astype(np.float32), y.astype(np.float32), hidden=1, epochs=5)
    assert [p.shape for p in run.params] == [(6, 1), (1,)]
    assert [p.shape for p in nb.backprop_training(X, y, hidden=np.array([3, 2]),
                                                  epochs=1).params] == [(6, 3), (3, 2), (2,)]
    assert all(p.dtype == np.float32 for p in run.params)


@given(seed=st.integers(0, 2**31 - 1), hidden=st.lists(st.integers(1, 4), min_size=1,
                                                        max_size=3))
def test_vectorized_backward_equals_per_record_for_any_network(seed, hidden):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(7, 3))
    y = rng.integers(0, 2, size=7).astype(float)
    ws = initial_network_weights(3, hidden, seed=seed % 1000)
    a, loss_a = _one_step(nb, X, y, ws, 0.5, hidden=hidden)
    b, loss_b = _one_step(nb, X, y, ws, 0.5, hidden=hidden, per_record=True)
    assert loss_a == pytest.approx(loss_b, rel=1e-13)
    for pa, pb in zip(a, b, strict=True):
        np.testing.assert_allclose(pa, pb, rtol=1e-12, atol=1e-15)


def test_caller_arrays_are_not_changed(admissions):
    X, y, _, _ = admissions
    X, y = X.copy(), y.copy()
    ws = initial_network_weights(6, (3,))
    copies = [a.copy() for a in (X, y, *ws)]
    nb.backprop_training(X, y, ws, hidden=(3,), epochs=3, batch_size=100)
    nb.backprop_training(X, y, ws, hidden=(3,), epochs=1, per_record=True)
    nb.network_gradient(X, y, ws)
    for a, c in zip((X, y, *ws), copies, strict=True):
        np.testing.assert_array_equal(a, c)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"hidden": ()}, ValueError, r"hidden: expected at least one hidden layer"),
        ({"hidden": (2, 0)}, ValueError, r"hidden\[1\] \(size of hidden layer 2\).*got 0"),
        ({"hidden": (-3,)}, ValueError, r"hidden\[0\] \(size of hidden layer 1\).*got -3"),
        ({"hidden": (2.5,)}, TypeError, r"hidden\[0\].*expected an int"),
        ({"hidden": "2"}, TypeError, r"hidden: expected a sequence"),
        ({"weights": initial_weights(6)}, TypeError, r"weights: expected a tuple of per-layer"),
        ({"weights": initial_network_weights(6)[:1]}, ValueError,
         r"weights: hidden=\(2,\) needs 2 arrays.*got 1"),
        ({"weights": initial_network_weights(5)}, ValueError,
         r"weights\[0\] \(layer 1: input → hidden layer 1\): expected shape \(6, 2\) \(6 rows "
         r"for the 6 feature columns of features \(360, 6\)"),
        ({"weights": initial_network_weights(6, (3,))}, ValueError,
         r"weights\[0\] \(layer 1: input → hidden layer 1\): expected shape \(6, 2\).*"
         r"hidden=\(2,\)\), got \(6, 3\)"),
        ({"weights": (np.zeros((6, 2)), np.zeros(3))}, ValueError,
         r"weights\[1\] \(layer 2: hidden layer 1 → output\): expected shape \(2,\)"),
        ({"weights": (np.zeros((6, 2)), np.zeros((2, 3)), np.zeros(4)), "hidden": (2, 2)},
         ValueError, r"weights\[1\] \(layer 2: hidden layer 1 → hidden layer 2\): expected "
         r"shape \(2, 2\)"),
        ({"weights": (np.zeros((6, 2)), np.array([0.1, np.nan]))}, ValueError,
         r"weights\[1\] \(layer 2: hidden layer 1 → output\): contains NaN"),
        ({"epochs": 0}, ValueError, r"epochs"),
        ({"lr": -1.0}, ValueError, r"lr"),
        ({"batch_size": 361}, ValueError, r"batch_size"),
        ({"loss": "mae"}, ValueError, r"loss"),
    ],
)
def test_bad_input_names_the_layer(admissions, kwargs, error, match):
    X, y, _, _ = admissions
    with pytest.raises(error, match=match):
        nb.backprop_training(X, y, **kwargs)


def test_bad_input_of_the_network_functions(admissions):
    X, y, _, _ = admissions
    with pytest.raises(ValueError, match=r"weights\[0\] \(layer 1: input → hidden layer 1\): "
                                         r"expected 2-D"):
        nb.network_gradient(X, y, (np.zeros(6), np.zeros(2)))
    with pytest.raises(ValueError, match=r"hidden\[0\] \(size of hidden layer 1\).*got 0"):
        nb.network_forward(X, (np.zeros((6, 0)), np.zeros(0)))
    with pytest.raises(ValueError, match=r"weights: a network needs at least 2 layers"):
        nb.network_mse(X, y, (np.zeros(6),))
    with pytest.raises(ValueError, match=r"features and targets"):
        nb.network_mse(X, y[:-1], initial_network_weights(6))
    with pytest.raises(ValueError, match=r"targets: accuracy needs binary targets"):
        nb.network_accuracy(X, y + 0.5, initial_network_weights(6))


def test_divergence_names_the_concept(admissions):
    X, y, _, _ = admissions
    with np.errstate(over="ignore"), pytest.raises(DivergenceError, match=r"backprop diverged"):
        nb.backprop_training(X, y, lr=1e308, epochs=3)


def test_backprop_is_registered():
    spec = CONCEPTS["backprop"]
    assert spec.function_name == "backprop_training"
    assert spec.defaults["lr"] == 0.005 and spec.defaults["epochs"] == 900
    assert spec.defaults["hidden"] == (2,) and spec.defaults["seed"] == 21
    assert spec.defaults["batch_size"] is None
    kw = spec.inputs("float32").kwargs
    assert [w.shape for w in kw["weights"]] == [(6, 2), (2,)]
    assert all(w.dtype == np.float32 for w in kw["weights"])


# --------------------------------------------------------------------------- both backends


@pytest.mark.torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_backprop_default_is_equivalent(dtype):
    from gd_compare import assert_equivalent

    result = assert_equivalent("backprop", dtype=dtype, stop_on_failure=False)
    assert result.steps == 900
    assert result.numpy.test_accuracy == result.torch.test_accuracy == 0.725  # the quiz's
    limit = 1e-15 if dtype == "float64" else 1e-6
    assert result.max_abs_diff["weights"] <= limit and result.max_abs_diff["loss"] <= limit
    assert [w.shape for w in result.torch.final_weights] == [(6, 2), (2,)]


@pytest.mark.torch
@pytest.mark.parametrize(
    "params",
    [
        {"batch_size": 32, "epochs": 5},
        {"batch_size": 50, "epochs": 3, "drop_last": True, "hidden": (4, 3), "lr": 0.5},
        {"hidden": (3, 3, 2), "epochs": 40, "lr": 1.0},
        {"per_record": True, "epochs": 3},
        {"per_record": True, "batch_size": 90, "epochs": 2, "hidden": (3,)},
        {"loss": "sse", "lr": 0.001, "epochs": 20},
    ],
)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_backprop_variants_are_equivalent(params, dtype):
    from gd_compare import assert_equivalent

    assert_equivalent("backprop", dtype=dtype, **params)


#: train MSE and test accuracy after 30 epochs of each training concept's defaults (float64)
FINAL_30 = {"mse_training": (0.23461408785230572, 0.575),
            "sgd_batching": (0.19810808950381573, 0.725),
            "backprop": (0.26799117210491286, 0.45),
            "data_parallel": (0.20173413702782447, 0.75)}


@pytest.mark.slow
@pytest.mark.torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_concept_still_passes_through_the_generalised_harness(dtype):
    from gd_compare import assert_equivalent

    for name, spec in CONCEPTS.items():
        if not spec.lesson:
            continue  # the course's sibling notebooks: tests/test_course_concepts.py
        params = {"epochs": 30} if spec.kind == "training" else {}
        result = assert_equivalent(name, dtype=dtype, **params)
        if spec.kind == "training":
            assert result.numpy.test_accuracy == result.torch.test_accuracy
            assert result.numpy.test_accuracy == FINAL_30[name][1]
            rel = 1e-15 if dtype == "float64" else 2e-7  # a few ULPs of the dtype
            for final in (result.numpy.final_loss, result.torch.final_loss):
                assert final == pytest.approx(FINAL_30[name][0], rel=rel)


@pytest.mark.torch
def test_torch_network_keeps_numpy_shapes_and_caller_arrays(admissions):
    from gd_compare import torch_backend as tb

    X, y, _, _ = admissions
    ws = initial_network_weights(6, (3, 2))
    copies = [w.copy() for w in ws]
    net = tb.Network(ws)
    assert [tuple(p.shape) for p in net.parameters()] == [(6, 3), (3, 2), (2,)]
    np.testing.assert_allclose(tb.network_forward(X, ws), nb.network_forward(X, ws), rtol=1e-14)
    for g_t, g_n in zip(tb.network_gradient(X, y, ws), nb.network_gradient(X, y, ws),
                        strict=True):
        np.testing.assert_allclose(g_t, g_n, rtol=1e-12, atol=1e-17)
    tb.backprop_training(X, y, ws, hidden=(3, 2), epochs=2)
    for w, c in zip(ws, copies, strict=True):
        np.testing.assert_array_equal(w, c)
    with pytest.raises(ValueError, match=r"weights\[1\] \(layer 2: hidden layer 1 → hidden "):
        tb.backprop_training(X, y, (ws[0], ws[1][:2], ws[2]), hidden=(3, 2))


@pytest.mark.torch
def test_cli_backprop_table_and_json(tmp_path, capsys):
    from gd_compare.cli.run import main

    out = tmp_path / "bp.json"
    assert main(["--concept", "backprop", "--epochs", "90", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "backprop" in text and "PASS" in text and "Prediction accuracy" in text
    record = json.loads(out.read_text())["concepts"][0]
    assert record["name"] == "backprop" and record["passed"] and record["steps"] == 90
    for side in ("numpy", "torch"):
        w_ih, w_ho = record[side]["final_weights"]
        assert np.shape(w_ih) == (6, 2) and np.shape(w_ho) == (2,)
        assert len(record[side]["losses"]) == 90
        assert record[side]["test_accuracy"] == 0.45  # the quiz's split, 90 of its 900 epochs
    assert main(["--concept", "backprop", "--epochs", "9", "--batch-size", "40", "--hidden",
                 "3,2", "--dtype", "float32", "--json", "-"]) == 0
    record = json.loads(capsys.readouterr().out)["concepts"][0]
    assert record["dtype"] == "float32" and record["passed"] and record["steps"] == 81
    assert [np.shape(w) for w in record["numpy"]["final_weights"]] == [(6, 3), (3, 2), (2,)]
    with pytest.raises(SystemExit) as exc:
        main(["--concept", "backprop", "--hidden", "3,0"])
    assert exc.value.code == 2
    assert "hidden layer 2" in capsys.readouterr().err


# --------------------------------------------------------------------------- a broken backward

BREAKS = {
    # the classic: the error flows back through W, not Wᵀ (square layers hide it from shapes)
    "missing transpose": ("hidden_error = hidden_error_term @ weights[k].T",
                          "hidden_error = hidden_error_term @ weights[k]"),
    # sigmoid'(h) = output·(1 − output): the (1 − output) of the hidden layer forgotten
    "dropped sigmoid factor": ("hidden_error_term = hidden_error * hidden_output * "
                               "(1 - hidden_output)",
                               "hidden_error_term = hidden_error * hidden_output"),
    # the average of the lesson's update (weights += del_w * lr / n_records) forgotten
    "missing /m": ("W += d * lr / m", "W += d * lr"),
}


def _broken_backend(tmp_path: Path, old: str, new: str):
    """A scratch copy of numpy_backend/by_hand.py with one line changed, imported as a module
    of the package but never registered in sys.modules."""
    source = Path(by_hand.__file__).read_text(encoding="utf-8")
    assert source.count(old) >= 1, old
    path = tmp_path / "broken_numpy_backend.py"
    path.write_text(source.replace(old, new), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("gd_compare._broken_numpy_backend", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert "gd_compare._broken_numpy_backend" not in sys.modules
    return module


@pytest.mark.parametrize("name", list(BREAKS))
def test_a_broken_backward_is_caught_by_the_witness_even_when_backends_agree(tmp_path, name):
    from gd_compare.proof.gradcheck import check_concept
    from gd_compare.proof.harness import compare

    broken = _broken_backend(tmp_path, *BREAKS[name])
    point = {"hidden": (3, 3), "epochs": 20}
    # two copies of the same mistake agree with each other to the last bit ...
    agree = compare("backprop", backends=(broken, broken), **point)
    assert agree.passed and agree.max_abs_diff["weights"] == 0
    # ... and the finite differences still see that the gradient is wrong
    check = check_concept("backprop", broken, hidden=(3, 3))
    assert not check.passed and check.max_rel_error > 1e-3, str(check)
    assert check_concept("backprop", nb, hidden=(3, 3)).passed


@pytest.mark.torch
@pytest.mark.parametrize("name", list(BREAKS))
def test_a_broken_backward_is_caught_by_the_harness_and_the_witness(tmp_path, name):
    from gd_compare import torch_backend as tb
    from gd_compare.proof.gradcheck import check_backends
    from gd_compare.proof.harness import assert_equivalent, compare

    broken = _broken_backend(tmp_path, *BREAKS[name])
    point = {"hidden": (3, 3), "epochs": 20}
    result = compare("backprop", backends=(broken, tb), stop_on_failure=True, **point)
    assert not result.passed
    assert result.first_failure.step == 1  # the very first update already differs
    assert result.first_failure.quantity == "weights"
    with pytest.raises(AssertionError, match=r"backprop: step 1, weights\[\d"):
        assert_equivalent("backprop", backends=(broken, tb), **point)
    checks = check_backends("backprop", (broken, tb), hidden=(3, 3))
    assert not checks[broken.__name__].passed
    assert checks["gd_compare.torch_backend"].passed


# --------------------------------------------------------------------------- the course's quiz

# The course's backpropagation quiz: its data_prep split with np.random.seed(21), weights drawn
# after np.random.seed(21) again, 2 hidden units, 900 epochs, lr 0.005. It printed:
COURSE_FIRST, COURSE_LAST, COURSE_ACCURACY = "0.251357252426", "0.240400679325", "0.725"


def test_the_course_quiz_to_the_printed_digit():
    from gd_compare import load_admissions

    X, y, X_test, y_test = load_admissions(seed=BACKPROP_SEED).arrays()
    run = nb.backprop_training(X, y, log="course", record=False)
    printed = [f"{loss:.12g}" for _, loss in run.log]  # the course's print: 12 digits
    assert printed[0] == COURSE_FIRST and printed[-1] == COURSE_LAST
    assert len(printed) == 10
    assert f"{nb.network_accuracy(X_test, y_test, run.params):.3f}" == COURSE_ACCURACY
    # the course's own record-by-record loop prints the same first line (one epoch of it: the
    # line is logged after epoch 0 either way; 900 epochs of it take ~10 s)
    first = nb.backprop_training(X, y, epochs=1, per_record=True, log="course", record=False)
    assert f"{first.log[0][1]:.12g}" == COURSE_FIRST
    # the course's line is one record's output against all targets; the true train MSE differs
    true = nb.backprop_training(X, y, record=False)
    assert true.log[0][1] == pytest.approx(0.268560154404101, rel=1e-12)
    assert true.log[-1][1] == pytest.approx(0.25441361543077645, rel=1e-12)


def test_the_course_log_line_is_the_last_record_against_all_targets():
    from gd_compare.lesson.data import load_admissions

    X, y, _, _ = load_admissions(seed=BACKPROP_SEED).arrays()
    ws = initial_network_weights(6, (2,), seed=BACKPROP_SEED)
    out = nb.network_forward(X[-1:], ws)[0]
    assert nb.network_course_loss(X, y, ws) == np.mean((out - y) ** 2)
    with pytest.raises(ValueError, match=r"log: expected one of \('train', 'course'\)"):
        nb.backprop_training(X, y, epochs=1, log="mse")


def test_the_backprop_concept_is_the_quiz():
    spec = CONCEPTS["backprop"]
    assert spec.defaults["split_seed"] == 21 and spec.defaults["seed"] == 21
    assert CONCEPTS["mse_training"].defaults["split_seed"] == 42
    from gd_compare.lesson.data import load_admissions

    X, *_ = load_admissions(seed=21).arrays()
    np.testing.assert_array_equal(spec.inputs().kwargs["features"], X)
    other = CONCEPTS["mse_training"].inputs(split_seed=21).kwargs["features"]
    np.testing.assert_array_equal(other, X)
    with pytest.raises(ValueError, match="split_seed: chooses the 90/10 split"):
        spec.inputs(split_seed=3, features=X, targets=np.zeros(len(X)))
    with pytest.raises(ValueError, match="seed: expected an int between 0 and 2\\*\\*32"):
        spec.inputs(split_seed=-1)


@pytest.mark.slow
@pytest.mark.torch
def test_the_course_quiz_in_both_backends_and_the_cli(capsys):
    from gd_compare import compare, load_admissions
    from gd_compare import torch_backend as tb
    from gd_compare.cli.run import main

    X, y, X_test, y_test = load_admissions(seed=BACKPROP_SEED).arrays()
    run = tb.backprop_training(X, y, log="course", record=False)
    assert [f"{v:.12g}" for _, v in run.log][::9] == [COURSE_FIRST, COURSE_LAST]
    first = tb.backprop_training(X, y, epochs=1, per_record=True, log="course", record=False)
    assert f"{first.log[0][1]:.12g}" == COURSE_FIRST
    assert f"{tb.network_accuracy(X_test, y_test, run.params):.3f}" == COURSE_ACCURACY
    result = compare("backprop", record=False)
    assert result.passed and result.numpy.test_accuracy == result.torch.test_accuracy == 0.725
    assert main(["--concept", "backprop"]) == 0
    assert "Prediction accuracy: 0.725 | Prediction accuracy: 0.725" in capsys.readouterr().out
