"""The course's backpropagation exercise (one step of a 3-2-1 network) as the one-step concept
``backprop_exercise``: the printed digits by hand, input checks, and (torch) autograd through
the same net in lockstep, float64 and float32, with a wrong hand derivative caught."""

from __future__ import annotations

import json
import types

import numpy as np
import pytest

from gd_compare import CONCEPTS, BackpropStep, check_concept
from gd_compare import numpy_backend as nb

X = (0.5, 0.1, -0.2)
W_IH = ((0.5, -0.6), (0.1, -0.2), (0.1, 0.7))
W_HO = (0.1, -0.3)
# what the course's solution prints with print(delta_w_h_o), print(delta_w_i_h)
PRINTED_H_O = "[0.00804047 0.00555918]"
PRINTED_I_H = ("[[ 1.77005547e-04 -5.11178506e-04]\n"
               " [ 3.54011093e-05 -1.02235701e-04]\n"
               " [-7.08022187e-05  2.04471402e-04]]")

#: float32 quantities of the exercise agree to this many float32 ULPs (one rounding apart)
FLOAT32_ULPS = 2


def test_the_published_changes_in_weights_to_the_printed_digit():
    step = nb.backprop_exercise()
    assert isinstance(step, BackpropStep)
    assert str(step.delta_w_h_o) == PRINTED_H_O
    assert str(step.delta_w_i_h) == PRINTED_I_H
    # the named defaults are the course's
    assert str(nb.backprop_exercise(X, 0.6, W_IH, W_HO, 0.5).delta_w_i_h) == PRINTED_I_H


def test_every_quantity_of_the_step():
    s = nb.backprop_exercise()
    hidden_input = np.array([0.24, -0.46])  # x @ W_ih
    np.testing.assert_allclose(s.hidden_input, hidden_input, rtol=1e-15)
    np.testing.assert_allclose(s.hidden_output, 1 / (1 + np.exp(-hidden_input)), rtol=1e-15)
    output = 1 / (1 + np.exp(-(s.hidden_output @ np.array(W_HO))))
    assert s.output == pytest.approx(output, rel=1e-15)
    assert s.error == pytest.approx(0.6 - output, rel=1e-15)
    assert s.loss == pytest.approx(s.error**2, rel=1e-15)
    assert s.output_error_term == pytest.approx(s.error * output * (1 - output), rel=1e-15)
    h = s.hidden_output
    np.testing.assert_allclose(s.hidden_error_term,
                               s.output_error_term * np.array(W_HO) * h * (1 - h), rtol=1e-15)
    np.testing.assert_allclose(s.delta_w_h_o, 0.5 * s.output_error_term * h, rtol=1e-15)
    np.testing.assert_allclose(s.delta_w_i_h, 0.5 * np.outer(X, s.hidden_error_term),
                               rtol=1e-15)
    np.testing.assert_array_equal(s.weights_input_hidden, np.array(W_IH) + s.delta_w_i_h)
    np.testing.assert_array_equal(s.weights_hidden_output, np.array(W_HO) + s.delta_w_h_o)
    assert s.hidden_input.shape == s.hidden_output.shape == s.hidden_error_term.shape == (2,)
    assert s.delta_w_i_h.shape == s.weights_input_hidden.shape == (3, 2)


def test_float32_in_float32_out_and_caller_arrays_untouched():
    x, w_ih, w_ho = (np.array(v, dtype=np.float32) for v in (X, W_IH, W_HO))
    copies = [a.copy() for a in (x, w_ih, w_ho)]
    s = nb.backprop_exercise(x, np.float32(0.6), w_ih, w_ho, 0.5)
    assert s.delta_w_i_h.dtype == s.weights_hidden_output.dtype == np.float32
    for a, c in zip((x, w_ih, w_ho), copies, strict=True):
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"x": (1.0, 2.0)}, ValueError, r"weights_input_hidden: expected 2 rows"),
    ({"weights_hidden_output": (0.1, 0.2, 0.3)}, ValueError,
     r"weights_hidden_output: expected 2 weights"),
    ({"weights_input_hidden": (0.1, 0.2, 0.3)}, ValueError,
     r"weights_input_hidden: expected 2-D"),
    ({"target": "a"}, TypeError, r"target: expected real numbers"),
    ({"lr": 0}, ValueError, r"lr: expected a finite number > 0"),
])
def test_bad_input_is_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        nb.backprop_exercise(**kwargs)


def test_registered_as_a_one_step_concept_and_the_witness_agrees():
    spec = CONCEPTS["backprop_exercise"]
    assert spec.kind == "step" and spec.headline == "delta_w_h_o"
    assert spec.defaults["weights_input_hidden"] == W_IH
    check = check_concept("backprop_exercise", "numpy")
    assert check.passed and check.max_rel_error < 1e-7, str(check)


# --------------------------------------------------------------------------- with torch


@pytest.mark.torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_both_backends_agree_on_every_quantity(dtype):
    from gd_compare import assert_equivalent

    result = assert_equivalent("backprop_exercise", dtype=dtype)
    assert set(result.max_abs_diff) >= {"weights", "loss", "hidden_error_term", "delta_w_i_h",
                                        "delta_w_h_o", "output_error_term"}
    if dtype == "float64":
        assert max(result.max_abs_diff.values()) <= 1e-16, result.max_abs_diff
    else:  # float32 sums may round in another order (BLAS kernels differ by CPU): in ULPs
        from gd_compare import ulp_distance

        ulps = {k: int(np.max(ulp_distance(v, result.torch.values[k], "float32")))
                for k, v in result.numpy.values.items() if v is not None}
        assert max(ulps.values()) <= FLOAT32_ULPS, ulps  # measured: 1
    if dtype == "float64":
        assert str(result.torch.values["delta_w_i_h"]) == PRINTED_I_H
        assert str(result.torch.values["delta_w_h_o"]) == PRINTED_H_O
    assert len(result.numpy.final_weights) == 2


@pytest.mark.torch
def test_a_wrong_hidden_derivative_fails():
    from gd_compare import compare
    from gd_compare import torch_backend as tb

    def no_sigmoid_prime(*args, **kwargs):
        s = nb.backprop_exercise(*args, **kwargs)  # forgets hidden_output·(1 − hidden_output)
        h = s.hidden_output
        term = s.hidden_error_term / (h * (1 - h))
        delta = kwargs["lr"] * np.outer(kwargs["x"], term)
        return BackpropStep(**{**vars(s), "hidden_error_term": term, "delta_w_i_h": delta,
                               "weights_input_hidden": kwargs["weights_input_hidden"] + delta})

    bad = types.SimpleNamespace(backprop_exercise=no_sigmoid_prime, __name__="bad")
    for dtype in ("float64", "float32"):
        result = compare("backprop_exercise", dtype=dtype, backends=(bad, tb))
        assert not result.passed
        assert result.first_failure.quantity == "weights"
        assert result.first_failure.index[0] == 0  # weights_input_hidden


@pytest.mark.torch
def test_cli_table_and_json(capsys):
    from gd_compare.cli.run import main

    assert main(["--concept", "backprop_exercise"]) == 0
    out = capsys.readouterr().out
    assert "backprop_exercise  delta_w_h_o  [0.00804047, 0.00555918]" in out
    assert main(["--concept", "backprop_exercise", "--json", "-"]) == 0
    record = json.loads(capsys.readouterr().out)["concepts"][0]
    assert record["name"] == "backprop_exercise" and record["passed"]
    w_ih, w_ho = record["numpy"]["final_weights"]
    np.testing.assert_allclose(w_ih, np.array(W_IH) + nb.backprop_exercise().delta_w_i_h,
                               rtol=1e-15)
    assert len(w_ho) == 2
