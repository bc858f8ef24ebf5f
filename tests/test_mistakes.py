"""gd_compare.learner.mistakes and gd_compare.learner.solutions, NumPy only: every catalogue entry
documented,
learner-shaped, and really wrong where the reference is right."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from gd_compare import numpy_backend as nb
from gd_compare.learner import solutions as sol
from gd_compare.learner.exercises import EXERCISES, get_exercise, takes_rng
from gd_compare.learner.mistakes import CATALOGUE, for_concept, get_mistake
from gd_compare.lesson.data import initial_weights

ENTRIES = [m for entries in CATALOGUE.values() for m in entries]
NUMPY_ENTRIES = [m for m in ENTRIES if not m.needs_torch and m.kind != "return"]

#: the reference solution of each concept (the one-epoch sgd form for the stateful shuffle)
SOLUTION = {"simple_step": sol.simple_step, "sigmoid_step": sol.sigmoid_step,
            "sigmoid_exercise": sol.sigmoid_step, "mse_training": sol.mse_training,
            "sgd_batching": sol.sgd_batching, "backprop": sol.backprop, "gradient": sol.gradient,
            "network_gradient": sol.network_gradient,
            "backprop_exercise": sol.backprop_exercise,
            "error_term_formula": sol.error_term_formula, "update_weights": sol.update_weights}

ISSUE_MISTAKES = {  # the issue's list → the entry that implements it
    "MSE instead of ½·MSE": ("mse_training", "mse_not_half"),
    "gradient ascent": ("mse_training", "gradient_ascent"),
    "no /m": ("mse_training", "no_mean"),
    "sigmoid_prime(output)": ("mse_training", "sigmoid_prime_of_output"),
    "sigmoid' missing": ("mse_training", "missing_sigmoid_prime"),
    "error = ŷ − y with +=": ("mse_training", "error_sign"),
    "lr twice": ("mse_training", "lr_twice"),
    "lr missing": ("mse_training", "lr_missing"),
    "online": ("mse_training", "online_updates"),
    "del_w not reset": ("mse_training", "del_w_not_reset"),
    "loss after update": ("mse_training", "loss_after_update"),
    "reshuffle once": ("sgd_batching", "reshuffle_once"),
    "integer division": ("mse_training", "integer_division"),
    "integer targets": ("sigmoid_exercise", "integer_target"),
    "W instead of Wᵀ": ("network_gradient", "hidden_error_through_w"),
    "hidden term without sigmoid'": ("backprop", "hidden_without_sigmoid_prime"),
    "updated W_hidden_output": ("backprop", "updated_output_weights"),
    "forgot zero_grad()": ("mse_training", "forgot_zero_grad"),
    "column-vector delta_w_h_o": ("backprop_exercise", "column_vector_delta_w_h_o"),
    # issue 15: the mistakes real learners make
    "sigmoid'(x) of the inputs": ("mse_training", "sigmoid_prime_of_x"),
    "sigmoid' of the output unit's inputs": ("backprop", "sigmoid_prime_of_inputs"),
    "no / n_records in the backprop loop": ("backprop", "no_mean"),
    "a forward pass without the weights": ("mse_training", "forward_without_weights"),
    "division by n_features": ("mse_training", "divided_by_n_features"),
    "x multiplied twice": ("mse_training", "x_twice"),
    "results in the course's print order": ("backprop_exercise", "print_order"),
}


@pytest.mark.parametrize("key", ISSUE_MISTAKES)
def test_the_issue_list_is_in_the_catalogue(key):
    concept, name = ISSUE_MISTAKES[key]
    assert get_mistake(concept, name).concept == concept


@pytest.mark.parametrize("m", ENTRIES, ids=lambda m: f"{m.concept}-{m.name}")
def test_every_entry_is_documented_and_marks_its_wrong_line(m):
    assert m.concept in EXERCISES
    for text in (m.title, m.explanation, m.fix):
        assert text.strip() and "\n" not in text
    source = inspect.getsource(m.implementation)
    assert "# MISTAKE" in source
    assert m.caught_at >= 1 and m.kind in {"math", "shape", "return"}
    names = {e.name for e in for_concept(m.concept)}
    assert set(m.same_as) <= names - {m.name}
    for other in m.same_as:  # "the same numbers" is symmetric
        assert m.name in get_mistake(m.concept, other).same_as
    if m.stateful:
        assert inspect.isclass(m.implementation)
        assert m.learner() is not m.learner()  # a fresh one per run


def test_names_are_unique_per_concept_and_lookup_names_the_known_ones():
    for concept, entries in CATALOGUE.items():
        assert len({m.name for m in entries}) == len(entries), concept
    with pytest.raises(KeyError, match="no mistake named 'nope'; known: slope_without_2"):
        get_mistake("simple_step", "nope")
    assert for_concept("no such concept") == ()


def test_learner_signatures_follow_the_exercise():
    for m in ENTRIES:
        params = list(inspect.signature(m.learner()).parameters)
        ref = SOLUTION[m.concept] if not takes_rng(m.learner()) else sol.sgd_epoch
        assert params == list(inspect.signature(ref).parameters), m.name


# --------------------------------------------------------------------------- NumPy only


def test_solutions_give_the_lessons_numbers(admissions):
    assert sol.simple_step(3.0, 10.0, 2.0, 0.01) == pytest.approx(2.24, abs=1e-15)
    del_w = sol.sigmoid_step(np.array([1.0, 2.0, 3.0, 4.0]), 0.5,
                           np.array([0.5, -0.5, 0.3, 0.1]), 0.5)
    np.testing.assert_allclose(del_w, [-0.02031869, -0.04063738, -0.06095608, -0.08127477],
                               atol=5e-9)
    X, y, _, _ = admissions
    w0 = initial_weights(6)
    w = w0.copy()
    for _ in range(5):
        w = sol.mse_training(X, y, w, 0.5)
    np.testing.assert_allclose(w, nb.mse_training(X, y, w0, epochs=5).weights, rtol=1e-13)
    np.testing.assert_allclose(sol.gradient(X, y, w0), nb.gradient(X, y, w0), rtol=1e-13)


def _states(concept, dtype="float64", **params):
    """The learner's arguments for the first steps, evolved by the reference solution."""
    ex = get_exercise(concept)
    run = ex.start({**params, **({"epoch_form": True} if "epoch_form" in params else {})},
                   dtype)
    return ex, run


def _step_outputs(fn, ex, run, steps):
    """Outputs of ``fn`` for ``steps`` steps, each from the state the reference reached."""
    ref = SOLUTION[ex.name] if not run.epoch_form else sol.sgd_epoch
    if ex.wrap is not None:  # the course's formula inside the notebook's loop
        fn, ref = ex.wrap(fn, run), ex.wrap(ref, run)
    state, outs = run.start, []
    session_fn, session_ref = run.session(), run.session()
    for where in run.plan[:steps]:
        X, y = ex.rows(run, where)
        got, loss = ex.read(run, fn(*ex.args(run, X, y, state, session_fn)),
                            ex.args(run, X, y, state, {}))
        args = ex.args(run, X, y, state, session_ref)
        want, _ = ex.read(run, ref(*args), args)
        outs.append((got, loss, want))
        if where.step == steps:
            break
        state = tuple(want.values()) if ex.returns_weights else _advance(ex, run, state)
    return outs


def _advance(ex, run, state):
    if ex.name == "gradient":
        return (state[0] - run.lr * sol.gradient(run.X, run.y, state[0]),)
    return tuple(w - run.lr * g for w, g in zip(state, sol.network_gradient(run.X, run.y, state)))


@pytest.mark.parametrize("m", NUMPY_ENTRIES, ids=lambda m: f"{m.concept}-{m.name}")
def test_every_mistake_is_right_before_and_wrong_at_its_step_numpy_only(m):
    params = dict(m.params)
    if m.concept in {"mse_training", "backprop", "gradient", "network_gradient",
                     "error_term_formula"}:
        params["epochs"] = m.caught_at
    if m.concept == "sgd_batching":
        params |= {"epochs": m.caught_at + 1}
        if takes_rng(m.learner()):
            params["epoch_form"] = True
    ex, run = _states(m.concept, **params)
    outs = _step_outputs(m.learner(), ex, run, m.caught_at)
    for k, (got, _, want) in enumerate(outs, start=1):
        differs = any(np.shape(got[q]) != np.shape(want[q])
                      or not np.allclose(got[q], want[q], rtol=1e-9, atol=1e-12) for q in want)
        if k < m.caught_at:
            assert not differs, f"{m.name} already differs at step {k}"
        elif m.name == "loss_after_update":
            assert not differs  # the weights are right; the loss is what is wrong
            assert outs[-1][1] is not None
        else:
            assert differs, f"{m.name} gives the reference's numbers at step {k}"


def test_the_print_order_entry_returns_the_right_values_swapped():
    m = get_mistake("backprop_exercise", "print_order")
    ex = get_exercise("backprop_exercise")
    run = ex.start({}, "float64")
    args = ex.args(run, None, None, run.start, {})
    h_o, i_h = m.implementation(*args)
    want_i_h, want_h_o = sol.backprop_exercise(*ex.args(run, None, None, run.start, {}))
    np.testing.assert_array_equal(h_o, want_h_o)
    np.testing.assert_array_equal(i_h, want_i_h)
    with pytest.raises(Exception, match=r"the order the course prints them in"):
        ex.read(run, (h_o, i_h), args)
