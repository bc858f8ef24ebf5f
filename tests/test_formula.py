"""The course notebooks' learner functions in ``check``, and the error term settled by autograd
(gd_compare.learner.formula, gd_compare.learner.notebook_loop, the course exercises)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gd_compare.learner import solutions as sol
from gd_compare.learner.check import check
from gd_compare.learner.formula import FormulaResult
from gd_compare.learner.mistakes import for_concept
from gd_compare.learner.notebook_loop import admissions_epoch, epoch_of, older_admissions_epoch

pytestmark = pytest.mark.torch

#: epochs of each classification (each is a step checked against autograd)
EPOCHS = 5


def ce(x, y, output):  # (y − ŷ)·x: the notebook's solution
    return (y - output) * x


def se(x, y, output):  # (y − ŷ)·ŷ(1 − ŷ)·x: the squared error done right
    return (y - output) * output * (1 - output) * x


def hint(x, y, output):  # (y − ŷ)·σ′(x)·x: the notebook's prompt
    return (y - output) * sol.sigmoid_prime(x) * x


def older_hint(x, y, output):  # (y − ŷ)·σ′(x): the older prompt
    return (y - output) * sol.sigmoid_prime(x)


def older_solution(x, y, output):  # (y − ŷ)·ŷ(1 − ŷ): the older solution
    return (y - output) * output * (1 - output)


def error_only(x, y, output):  # (y − ŷ): the cross-entropy's error term in the older loop
    return y - output


def older_notebook(y, output):  # the older notebook's own signature: no x at all
    return (y - output) * output * (1 - output)


#: formula → (loss it descends in the current loop, in the older loop); None: neither
CLASSIFICATION = {
    ce: ("bce", None),
    se: ("sse", None),
    hint: (None, None),
    older_hint: (None, None),
    older_solution: (None, "mse"),
    error_only: (None, "bce"),
    older_notebook: (None, "mse"),  # called as error_term_formula(y, output)
}


@pytest.mark.parametrize("loop", ["current", "older"])
@pytest.mark.parametrize("formula", list(CLASSIFICATION), ids=lambda f: f.__name__)
def test_every_historical_formula_is_classified(formula, loop):
    r = check(formula, "error_term_formula", loop=loop, epochs=EPOCHS)
    expected = CLASSIFICATION[formula][loop == "older"]
    assert isinstance(r, FormulaResult) and r.loop == loop
    assert r.loss == expected and r.passed == (expected is not None), str(r)
    text = str(r)
    if expected is None:
        assert "FAIL: its update is the gradient of neither" in text and r.step == 1
    else:
        assert "PASS: its update descends" in text and f"loss={expected!r}" in text
        assert r.steps == EPOCHS
    assert len(r.updates) == 6 and len(r.distances) == 2
    if expected is not None:  # its first update is autograd's for its loss, and its run too
        k = r.losses.index(expected)
        for _, mine, theirs in r.updates:
            assert mine == pytest.approx(theirs[k], rel=1e-12, abs=1e-18)
        assert r.distances[expected] < 1e-14
        assert max(r.distances.values()) > 1e-4


def test_the_prompts_formula_is_named_with_the_chain_rule():
    r = check(hint, "error_term_formula", epochs=EPOCHS)
    assert r.matches[0] == "sigmoid_prime_of_inputs"
    assert "σ′(h) there, at h = x·w" in r.diagnosis
    # it lands near ½·SSE's run, not on it: σ′(x) of the inputs is not σ′(h)
    assert 0 < r.distances["sse"] < r.distances["bce"]


@pytest.mark.parametrize("loss, passes", [("bce", ce), ("sse", se)])
def test_with_loss_given_only_that_loss_passes(loss, passes):
    other = se if passes is ce else ce
    assert check(passes, "error_term_formula", loss=loss, epochs=EPOCHS).passed
    r = check(other, "error_term_formula", loss=loss, epochs=EPOCHS)
    assert not r.passed and r.step == 1 and not isinstance(r, FormulaResult)


def test_a_loss_the_loop_cannot_descend_is_a_clear_error():
    with pytest.raises(ValueError, match="the current loop descends bce or sse"):
        check(ce, "error_term_formula", loss="mse")
    with pytest.raises(ValueError, match="loop: expected 'current'"):
        check(ce, "error_term_formula", loop="newest")


@settings(max_examples=8)
@given(scale=st.floats(0.25, 4.0).filter(lambda c: abs(c - 1) > 1e-3))
def test_a_scaled_error_term_is_the_gradient_of_neither(scale):
    def scaled(x, y, output):
        return scale * (y - output) * x

    r = check(scaled, "error_term_formula", epochs=2)
    assert not r.passed and r.loss is None and r.step == 1


def test_a_failing_formula_is_reported_not_raised():
    def broken(x, y, output):
        return x @ np.ones(3)  # wrong shapes: raises

    r = check(broken, "error_term_formula", epochs=2)
    assert not r.passed and r.problem == "raised" and "broken raised" in r.message


def test_the_loops_are_the_notebooks():
    X = np.array([[0.5, 1.0], [0.25, 0.0], [1.0, 1.0]])
    y = np.array([1.0, 0.0, 1.0])
    w0 = np.array([0.1, -0.2])
    out = 1 / (1 + np.exp(-(X @ w0)))
    current = admissions_epoch(ce)(X, y, w0.copy(), 0.1)
    np.testing.assert_allclose(current, w0 + 0.1 * ((y - out) @ X), rtol=1e-15)
    older = older_admissions_epoch(older_solution)(X, y, w0.copy(), 0.5)
    np.testing.assert_allclose(older, w0 + 0.5 * (((y - out) * out * (1 - out)) @ X) / 3,
                               rtol=1e-15)
    with pytest.raises(ValueError, match="loop"):
        epoch_of(ce, "newest")


# --------------------------------------------------------------------------- the other functions


@pytest.fixture
def blobs_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    rows = [f"{a:.4f},{b:.4f},{int(k)}" for k in (0, 1)
            for a, b in rng.normal(0.3 + 0.4 * k, 0.1, size=(20, 2))]
    path = tmp_path / "data.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("concept, fn", [
    ("update_weights", sol.update_weights),
    ("student_admissions", admissions_epoch(sol.error_term_formula)),
    ("error_term_formula", sol.error_term_formula),
])
def test_the_course_solutions_pass(concept, fn, dtype):
    params = {"epochs": 3} if concept == "student_admissions" else {}
    r = check(fn, concept, dtype=dtype, **params)
    assert r.passed, str(r)


def test_update_weights_runs_on_the_courses_csv_format(blobs_csv):
    r = check(sol.update_weights, "update_weights", data=str(blobs_csv), epochs=2)
    assert r.passed and r.steps == 80


@pytest.mark.parametrize("m", for_concept("update_weights"), ids=lambda m: m.name)
def test_update_weights_mistakes_on_the_csv(m, blobs_csv):
    r = check(m.learner(), "update_weights", data=str(blobs_csv))
    assert (r.passed, r.step) == (False, 1) and r.matches[0] == m.name


# --------------------------------------------------------------------------- the whole train_nn


def _train_nn(formula, older=False):
    """The notebook's train_nn (current loop, or the older one) around ``formula``."""

    def train_nn(features, targets, epochs, learnrate):
        np.random.seed(42)
        n_records, n_features = features.shape
        weights = np.random.normal(scale=1 / n_features**.5, size=n_features)
        for _ in range(epochs):
            del_w = np.zeros(weights.shape)
            for x, y in zip(features.values, targets, strict=True):
                output = sol.sigmoid(np.dot(x, weights))
                error_term = formula(x, y, output)
                del_w += error_term * x if older else error_term
            weights += learnrate * del_w / (n_records if older else 1)
        return weights

    return train_nn


@pytest.mark.parametrize("formula, older, expected", [
    (ce, False, ("current", "bce")), (se, False, ("current", "sse")),
    (older_solution, True, ("older", "mse")), (error_only, True, ("older", "bce")),
    (hint, False, None), (older_hint, True, None),
], ids=["ce", "se", "older_solution", "older_ce", "hint", "older_hint"])
def test_a_whole_train_nn_passes_when_it_is_one_of_the_correct_runs(formula, older, expected):
    r = check(_train_nn(formula, older), "student_admissions", epochs=EPOCHS)
    assert isinstance(r, FormulaResult) and r.whole
    if expected is None:
        assert not r.passed and r.step == 1 and "none of the correct runs" in str(r)
    else:
        assert r.passed and (r.loop, r.loss) == expected and r.steps == EPOCHS
        assert f"loss={expected[1]!r}, loop={expected[0]!r}" in str(r)


def test_the_prompts_whole_run_is_nearest_the_squared_error():
    r = check(_train_nn(hint), "student_admissions", epochs=EPOCHS)
    assert (r.loop, r.losses) == ("current", ("sse",))
    with pytest.raises(ValueError, match="lr: classify_whole_run"):
        check(_train_nn(ce), "student_admissions", lr=0.1)
    assert check(_train_nn(ce), "student_admissions", loss="bce", epochs=3).passed
