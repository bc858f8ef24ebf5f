"""gd_compare.learner.check: a learner's function in lockstep with autograd — the first wrong step
and
the computed diagnosis; the whole catalogue caught where it matters, in float64 and float32."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gd_compare import check
from gd_compare.learner import solutions as sol
from gd_compare.learner.check import catalogue_table, run_catalogue
from gd_compare.learner.mistakes import CATALOGUE, get_mistake

pytestmark = pytest.mark.torch

ENTRIES = [m for entries in CATALOGUE.values() for m in entries]
SHORT = {"mse_training": {"epochs": 3}, "sgd_batching": {"epochs": 2},
         "backprop": {"epochs": 3}, "gradient": {"epochs": 3}, "network_gradient": {"epochs": 3},
         "error_term_formula": {"epochs": 3}, "update_weights": {"epochs": 1}}
SOLUTIONS = [("simple_step", sol.simple_step), ("sigmoid_step", sol.sigmoid_step),
             ("sigmoid_exercise", sol.sigmoid_step), ("mse_training", sol.mse_training),
             ("sgd_batching", sol.sgd_batching), ("sgd_batching", sol.sgd_epoch),
             ("backprop", sol.backprop), ("gradient", sol.gradient),
             ("network_gradient", sol.network_gradient),
             ("backprop_exercise", sol.backprop_exercise)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("concept", "fn"), SOLUTIONS, ids=lambda v: getattr(v, "__name__", v))
def test_the_reference_solutions_pass(concept, fn, dtype):
    r = check(fn, concept, dtype=dtype, **SHORT.get(concept, {}))
    assert r.passed, str(r)
    assert r.problem is None and r.step is None and r.diagnosis is None
    worst = max(r.max_abs_diff.values())
    assert worst <= (1e-15 if dtype == "float64" else 2e-7)
    expected_steps = {"sgd_batching": 2 if fn is sol.sgd_epoch else 24}.get(
        concept, SHORT.get(concept, {}).get("epochs", 1))
    assert r.steps == expected_steps


@pytest.mark.slow
def test_the_lessons_full_run_passes_and_a_torch_learner_with_zero_grad_too():
    r = check(sol.mse_training, "mse_training")  # 1000 epochs, the lesson's loop
    assert r.passed and r.steps == 1000
    assert max(r.max_abs_diff.values()) < 1e-15
    assert check(sol.mse_training_torch(), "mse_training", epochs=5).passed


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("m", ENTRIES, ids=lambda m: f"{m.concept}-{m.name}")
def test_every_mistake_is_caught_at_its_first_step_and_diagnosed_as_itself(m, dtype):
    r = check(m.learner(), m.concept, dtype=dtype, **{**SHORT.get(m.concept, {}), **m.params})
    assert not r.passed
    assert r.step == m.caught_at, str(r)
    assert r.problem == {"shape": "wrong shape", "return": "wrong return"}.get(m.kind,
                                                                              "wrong values")
    assert r.matches[0] in {m.name, *m.same_as} and m.name in r.matches
    assert set(r.matches) <= {m.name, *m.same_as}  # nothing else claims it
    first = get_mistake(m.concept, r.matches[0])
    assert r.diagnosis.startswith(f"{first.title} — {first.explanation}. Fix: {first.fix}")
    assert r.learner_value != r.autograd_value or r.quantity is not None or m.kind == "return"


def test_the_first_wrong_step_names_quantity_index_and_both_values():
    m = get_mistake("mse_training", "mse_not_half")
    r = check(m.learner(), "mse_training", epochs=3)
    assert (r.step, r.epoch, r.batch, r.record, r.quantity, r.index) == (1, 0, None, 0,
                                                                          "weights", (0,))
    from gd_compare.lesson.data import initial_weights

    start = initial_weights(6)[0]  # the learner's step is twice autograd's
    assert r.learner_value - start == pytest.approx(2 * (r.autograd_value - start), rel=1e-9)
    assert "step 1 (epoch 0, record 0): weights[0] = " in str(r)


def test_records_where_a_mistake_first_shows():
    # no /m and online updates are right on one record alone, wrong from the second one on
    for concept, name in (("mse_training", "no_mean"), ("mse_training", "online_updates")):
        r = check(get_mistake(concept, name).learner(), concept, epochs=2)
        assert r.record == 1
    r = check(get_mistake("sgd_batching", "no_mean").learner(), "sgd_batching", epochs=1)
    from gd_compare.lesson.core import BatchOrder

    first_batch = next(iter(BatchOrder(360, 32, seed=42)))
    assert (r.epoch, r.batch, r.record) == (0, 0, int(first_batch[1]))


def test_two_mistakes_with_the_same_step_at_lr_half_are_told_apart_by_a_second_lr():
    # at lr 0.5, "lr missing" (step/lr) and "MSE instead of ½·MSE" (2·step) are the same
    a = check(get_mistake("mse_training", "lr_missing").learner(), "mse_training", epochs=1)
    b = check(get_mistake("mse_training", "mse_not_half").learner(), "mse_training", epochs=1)
    assert a.matches == ("lr_missing",) and b.matches == ("mse_not_half",)
    assert a.learner_value == b.learner_value


# --------------------------------------------------------------------------- described patterns


def test_an_unknown_mistake_is_described_by_its_ratio_sign_and_layer():
    def triple(features, targets, weights, learnrate):
        w0 = weights.copy()
        return w0 + 3 * (sol.mse_training(features, targets, weights, learnrate) - w0)

    r = check(triple, "mse_training", epochs=2)
    assert r.matches == () and "every change of weights is 3× autograd's" in r.diagnosis

    def hidden_only(features, targets, wih, who, learnrate):
        a, b = sol.backprop(features, targets, wih, who, learnrate)
        return a * 1.01, b

    r = check(hidden_only, "backprop", epochs=2)
    assert "weights_input_hidden wrong, weights_hidden_output right" in r.diagnosis

    def uphill(features, targets, weights):
        return -1.0 * sol.gradient(features, targets, weights) + 0.0

    r = check(uphill, "gradient", epochs=1)
    assert r.matches == ("gradient_sign",)


def test_forgetting_to_return_and_the_in_place_style():
    def no_return(features, targets, weights, learnrate):
        weights + 0.1  # the learner computes it and drops it

    def in_place(features, targets, weights, learnrate):
        sol.mse_training(features, targets, weights, learnrate)  # weights += ..., returns None

    r = check(no_return, "mse_training", epochs=2)
    assert "weights did not change: return the updated weights" in r.diagnosis
    assert check(in_place, "mse_training", epochs=2).passed

    def with_loss(features, targets, weights, learnrate):
        loss = np.mean((sol.sigmoid(features @ weights) - targets) ** 2)
        return sol.mse_training(features, targets, weights, learnrate), loss

    assert check(with_loss, "mse_training", epochs=3).passed


def test_a_learner_that_keeps_state_is_told_so():
    class Drift:
        calls = 0

        def __call__(self, features, targets, weights, learnrate):
            self.calls += 1
            return sol.mse_training(features, targets, weights, learnrate) + 1e-3 * self.calls

    r = check(Drift(), "mse_training", epochs=2)
    assert r.step == 1 and "keeps something between calls" in r.diagnosis


# --------------------------------------------------------------------------- one clear message


def test_what_goes_wrong_in_the_learners_function_gets_one_line():
    def boom(x, y, w, learnrate):
        return w / 0 if False else 1 // (learnrate * 0)

    r = check(boom, "simple_step")
    assert r.problem == "raised" and "\n" not in r.message
    assert re.search(r"boom raised ZeroDivisionError: .* \(line \d+ of test_check.py, in boom\)",
                     r.message)

    cases = [
        (lambda f, t, w, lr: sol.mse_training(f, t, w, lr)[:3], "wrong shape",
         "returned weights of shape (3,): expected (6,)"),
        (lambda f, t, w, lr: w.astype(int), "wrong dtype", "as int64 (whole numbers)"),
        (lambda f, t, w, lr: w.astype(np.float32), "wrong dtype",
         "as float32 in a float64 run"),
        (lambda f, t, w, lr: w * np.nan, "not finite", "returned nan in weights[0]"),
        (lambda f, t, w, lr: "weights", "wrong dtype", "dtype <U7"),
    ]
    for fn, problem, text in cases:
        r = check(fn, "mse_training", epochs=2)
        assert (r.problem, r.step) == (problem, 1) and text in r.message, r.message

    r = check(lambda f, t, a, b, lr: a, "backprop", epochs=1)
    assert r.problem == "wrong return" and "(weights_input_hidden, weights_hidden_output)" \
        in r.message


def test_a_function_past_the_time_limit_is_stopped():
    def forever(features, targets, weights, learnrate):
        while True:
            pass

    r = check(forever, "mse_training", epochs=2, time_limit=0.2)
    assert r.problem == "timeout" and r.message == "forever did not return within 0.2 s"


def test_right_values_in_a_column_vector_are_a_shape_problem_not_wrong_math():
    def column(features, targets, weights, learnrate):
        return sol.mse_training(features, targets, weights, learnrate)[:, None]

    r = check(column, "mse_training", epochs=2)
    assert r.problem == "wrong shape"
    assert r.message == "weights has shape (6, 1), expected (6,) — right values, wrong shape"


def test_the_learner_gets_fresh_copies_and_the_callers_arrays_are_untouched(admissions):
    X, y, _, _ = admissions
    X0, y0 = X.copy(), y.copy()
    w = np.array([0.1, -0.2, 0.3, 0.0, 0.05, -0.1])
    w0 = w.copy()

    def vandal(features, targets, weights, learnrate):
        new = sol.mse_training(features, targets, weights, learnrate)
        features[:] = 0
        targets[:] = 0
        return new

    assert check(vandal, "mse_training", features=X, targets=y, weights=w, epochs=3).passed
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(w, w0)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="unknown concept 'nope'; known: simple_step"):
        check(sol.simple_step, "nope")
    with pytest.raises(TypeError, match=r"mse_training: unknown parameter\(s\) \['hidden'\]"):
        check(sol.mse_training, "mse_training", hidden=3)
    with pytest.raises(TypeError, match="fn: expected the learner's function, got int"):
        check(3, "simple_step")
    with pytest.raises(ValueError, match="dtype: expected 'float64' or 'float32'"):
        check(sol.simple_step, "simple_step", dtype="float16")
    with pytest.raises(ValueError, match="batch_size: the one-epoch form shuffles"):
        check(sol.sgd_epoch, "sgd_batching", batch_size=360)


@given(x=st.lists(st.floats(-3, 3), min_size=1, max_size=5),
       y=st.floats(0, 1), lr=st.floats(0.01, 2), seed=st.integers(0, 2**16))
def test_the_reference_neuron_step_passes_for_any_inputs(x, y, lr, seed):
    weights = np.random.default_rng(seed).normal(size=len(x))
    r = check(sol.sigmoid_step, "sigmoid_step", x=x, y=y, weights=weights, lr=lr)
    assert r.passed, str(r)
    wrong = check(get_mistake("sigmoid_step", "missing_sigmoid_prime").learner(),
                  "sigmoid_step", x=x, y=y, weights=weights, lr=lr)
    # sigmoid' ≤ ¼, so leaving it out makes every del_w ≥ 4 times larger: caught whenever
    # that difference is above the tolerance (atol 1e-12)
    if np.abs(sol.sigmoid_step(np.array(x), y, weights, lr)).max() > 1e-11:
        assert not wrong.passed and wrong.matches == ("missing_sigmoid_prime",)


# --------------------------------------------------------------------------- README


@pytest.mark.slow
def test_the_docs_show_the_catalogue_table_as_check_computes_it():
    """The table is in the README or a docs page (docs/learners-code.md since issue 15)."""
    root = Path(__file__).parents[1]
    pages = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    table = catalogue_table(run_catalogue())
    assert any(table in p.read_text(encoding="utf-8") for p in pages if p.exists())


def test_a_column_vector_delta_w_h_o_is_right_values_in_the_wrong_shape():
    r = check(get_mistake("backprop_exercise", "column_vector_delta_w_h_o").learner(),
              "backprop_exercise")
    assert (r.passed, r.problem, r.step) == (False, "wrong shape", 1)
    assert r.message == "delta_w_h_o has shape (2, 1), expected (2,) — right values, wrong shape"
    assert r.matches == ("column_vector_delta_w_h_o",) and "not wrong math" in r.diagnosis


# --------------------------------------------------------------------------- issue 15


def train_nn(features, targets, epochs, learnrate):
    """The course's whole run, as the StudentAdmissions notebook writes it."""
    np.random.seed(42)
    n_records, n_features = features.shape
    weights = np.random.normal(scale=1 / n_features**.5, size=n_features)
    for _ in range(epochs):
        del_w = np.zeros(weights.shape)
        for x, y in zip(features.values, targets):
            output = sol.sigmoid(np.dot(x, weights))
            del_w += (y - output) * output * (1 - output) * x
        weights += learnrate * del_w / n_records
    return weights


def test_gd_compare_check_is_the_function_and_import_stays_torch_free():
    import subprocess
    import sys

    code = ("import gd_compare, sys; print(callable(gd_compare.check), "
            "callable(gd_compare.check_submission), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["True", "True", "False"]


def test_the_course_pandas_objects_are_given_when_the_code_reads_features_values():
    def epoch(features, targets, weights, learnrate):
        n_records = features.shape[0]
        del_w = np.zeros(weights.shape)
        for x, y in zip(features.values, targets):
            output = sol.sigmoid(np.dot(x, weights))
            del_w += (y - output) * output * (1 - output) * x
        weights += learnrate * del_w / n_records

    r = check(epoch, "mse_training", epochs=3, second_point=False)
    assert r.passed and r.inputs == "pandas"
    assert "given the course's pandas DataFrame/Series" in str(r)
    assert check(sol.mse_training, "mse_training", epochs=2, second_point=False).inputs == "arrays"


def test_pandas_objects_are_accepted_as_features_and_targets(admissions):
    import pandas as pd

    X, y, _, _ = admissions
    features = pd.DataFrame(X, columns=[f"c{k}" for k in range(X.shape[1])])
    r = check(sol.mse_training, "mse_training", features=features, targets=pd.Series(y),
              epochs=2, second_point=False)
    assert r.passed


def test_the_whole_run_passes_and_is_found_by_its_name():
    r = check(train_nn, epochs=6, second_point=False)
    assert r.passed and (r.concept, r.steps, r.inputs) == ("mse_training", 6, "pandas")
    assert r.max_abs_diff["weights"] <= 1e-15


def test_the_whole_run_bisects_to_the_first_wrong_epoch():
    def train_nn(features, targets, epochs, learnrate):
        np.random.seed(42)
        n_records, n_features = features.shape
        weights = np.random.normal(scale=1 / n_features**.5, size=n_features)
        for e in range(epochs):
            del_w = np.zeros(weights.shape)
            for x, y in zip(features.values, targets):
                output = sol.sigmoid(np.dot(x, weights))
                del_w += (y - output) * output * (1 - output) * x
            if e >= 6:
                del_w *= 2  # a bug that appears at the seventh epoch
            weights += learnrate * del_w / n_records
        return weights

    r = check(train_nn, "mse_training", epochs=20)
    assert (r.passed, r.step, r.epoch) == (False, 7, 6)
    assert r.matches[0] == "mse_not_half"  # 2× the step, from the learner's own epoch-6 weights


def test_a_whole_run_that_does_not_start_from_the_course_weights_is_noted():
    def train_nn(features, targets, epochs, learnrate):
        weights = np.zeros(features.shape[1])
        for _ in range(epochs):
            weights = sol.mse_training(features, targets, weights, learnrate)
        return weights

    r = check(train_nn, "mse_training", epochs=4, second_point=False)
    assert r.passed and r.notes[0].startswith("train_nn does not start from the course's")


@pytest.mark.parametrize(("fn", "words"), [
    (lambda features, targets: None, "it takes 2 parameter(s), fn(features, targets, weights, "
     "learnrate) passes 4 (weights, learnrate would have no parameter)"),
    (lambda features, targets, weights, learnrate, hidden: None,
     "its parameter 'hidden' gets no value in fn(features, targets, weights, learnrate)"),
])
def test_a_signature_that_fits_no_form_is_named_before_anything_runs(fn, words):
    r = check(fn, "mse_training")
    assert (r.passed, r.problem, r.steps) == (False, "signature", 0)
    assert "fits none of mse_training's forms (fn(features, targets, weights, learnrate); " \
           "train_nn(features, targets, epochs, learnrate) -> weights (the whole run))" \
           in r.message
    assert words in r.message


LEARNRATE = 0.5


def _global_lr(features, targets, weights, lr):
    return sol.mse_training(features, targets, weights, LEARNRATE)


def _fixed_records(features, targets, weights, learnrate):
    output = sol.sigmoid(features @ weights)
    return weights + learnrate * ((targets - output) * output * (1 - output)) @ features / 360


_F, _T, _, _ = __import__("gd_compare").load_admissions()


def _own_data(features, targets, weights, learnrate):
    return sol.mse_training(_F.to_numpy(float), _T.to_numpy(float), weights, learnrate)


def _six_features(features, targets, weights, learnrate):
    w = weights.copy()
    for k in range(6):
        w[k] += sol.mse_training(features, targets, weights.copy(), learnrate)[k] - weights[k]
    return w


@pytest.mark.parametrize(("fn", "label", "ignored"), [
    (_global_lr, "at learnrate 0.15 (not 0.5)", "it does not use its `learnrate` argument"),
    (_fixed_records, "on the first 120 of the 360 records",
     "it does not use the number of records it was given"),
    (_own_data, "on other data of the same shape",
     "it does not use the `features`/`targets` it is given"),
    (_six_features, "with 3 features (not 6)", "it assumes 6 features"),
])
def test_a_pass_at_the_lessons_point_is_checked_at_a_second_point(fn, label, ignored):
    assert check(fn, "mse_training", epochs=2, second_point=False).passed
    r = check(fn, "mse_training", epochs=2)
    assert not r.passed and r.second_point == label
    assert r.message.startswith(f"right at the lesson's point but wrong {label}: {ignored}")
    assert r.problem.startswith("ignores input")


def test_the_second_point_names_360_and_the_global_lr():
    r = check(_fixed_records, "mse_training", epochs=2)
    assert "(= 120/360: it divides by 360, not by the 120 records it was given)" in r.diagnosis
    r = check(_global_lr, "mse_training", epochs=2)
    assert "(= 0.5/0.15: it steps with learnrate 0.5 whatever it is given)" in r.diagnosis


def test_a_right_function_passes_every_second_point_and_says_so():
    r = check(sol.mse_training, "mse_training", epochs=2)
    assert r.passed and r.second_point == ("at learnrate 0.15 (not 0.5); on other data of the "
                                           "same shape; on the first 120 of the 360 records; "
                                           "with 3 features (not 6)")


def test_a_shape_the_exercise_fixes_is_a_note_not_a_fail():
    def two_inputs(x, y, weights, learnrate):
        out = sol.sigmoid(x[0] * weights[0] + x[1] * weights[1])
        return learnrate * (y - out) * out * (1 - out) * x

    r = check(two_inputs, "sigmoid_step")
    assert r.passed and r.notes[0].startswith("wrong with 3 inputs (not 2): it is written for "
                                              "2 inputs only")


def test_unlisted_ratios_are_named_and_a_step_without_the_weights_is_said():
    def by_features(features, targets, weights, learnrate):
        del_w = ((targets - sol.sigmoid(features @ weights))
                 * sol.sigmoid(features @ weights) * (1 - sol.sigmoid(features @ weights))) \
            @ features
        return weights + learnrate * del_w / (2 * features.shape[0]) * 2 * 6

    r = check(by_features, "mse_training", epochs=2)
    assert "every change of weights is 6× autograd's (= n_features, 6)" in r.diagnosis

    def no_weights(features, targets, weights, learnrate):
        output = sol.sigmoid(features @ np.ones(features.shape[1]) * 0.1)
        del_w = ((targets - output) * output * (1 - output)) @ features
        return weights + learnrate * del_w / features.shape[0]

    r = check(no_weights, "mse_training", epochs=2)
    assert r.matches == ()
    assert "the step does not depend on the weights at all" in r.diagnosis
