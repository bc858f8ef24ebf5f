"""gd_compare.proof.harness: lockstep comparison of the two backends, and that it fails loudly."""

from __future__ import annotations

import types

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gd_compare import DEFAULT_TOLERANCE, LESSON_CONCEPTS, assert_equivalent, compare, ulp_distance
from gd_compare import numpy_backend as nb

# --------------------------------------------------------------------------- ULPs (no torch)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_ulp_distance_to_the_next_float_is_one(a):
    with np.errstate(over="ignore"):
        b = np.nextafter(a, np.inf)
    if np.isfinite(b):
        assert ulp_distance(a, b) == 1
        assert ulp_distance(b, a) == 1
    assert ulp_distance(a, a) == 0


def test_ulp_distance_across_zero_and_in_float32():
    assert ulp_distance(0.0, -0.0) == 0
    tiny = np.nextafter(0.0, 1.0)
    assert ulp_distance(-tiny, tiny) == 2
    assert ulp_distance(np.float32(1), np.nextafter(np.float32(1), np.float32(2)), "float32") == 1
    assert ulp_distance(1.0, 1.0 + 2**-52 * 5) == 5


def test_unknown_concept_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown concept 'nope'; known concepts: simple_step"):
        compare("nope")


def test_unknown_parameter_is_named():
    with pytest.raises(TypeError, match=r"mse_training: unknown parameter\(s\) \['batch_size'\]"):
        compare("mse_training", batch_size=3)


def test_bad_dtype_is_named():
    with pytest.raises(ValueError, match="dtype: expected 'float64' or 'float32'"):
        compare("simple_step", dtype="float16")


def test_default_tolerances_are_tight():
    assert max(DEFAULT_TOLERANCE["float64"]) <= 1e-12
    assert max(DEFAULT_TOLERANCE["float32"]) <= 1e-5


# --------------------------------------------------------------------------- with torch

torch_only = pytest.mark.torch


@pytest.fixture(scope="module")
def default_runs():
    pytest.importorskip("torch")
    return {(c, dt): compare(c, dtype=dt) for c in LESSON_CONCEPTS for dt in ("float64", "float32")}


@torch_only
@pytest.mark.parametrize("concept", list(LESSON_CONCEPTS))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_concept_agrees(default_runs, concept, dtype):
    result = default_runs[concept, dtype]
    assert result.passed, str(result.first_failure)
    assert result.dtype == dtype
    # far inside the tolerance: float64 agrees to ~1e-16, float32 to ~1e-7
    bound = 1e-15 if dtype == "float64" else 1e-6
    assert max(result.max_abs_diff.values()) <= bound, result.max_abs_diff
    assert set(result.max_abs_diff) >= {"weights", "loss"}


@torch_only
def test_training_records_every_step(default_runs):
    r = default_runs["mse_training", "float64"]
    assert r.steps == 1000
    assert r.numpy.losses.shape == r.torch.losses.shape == (1000,)
    assert r.numpy.history[0].shape == (1000, 6)
    np.testing.assert_array_equal(r.numpy.history[0][-1], r.numpy.weights)
    assert r.numpy.test_accuracy == r.torch.test_accuracy == 0.725
    assert [e for e, _ in r.torch.log] == list(range(0, 1000, 100))
    sgd = default_runs["sgd_batching", "float64"]
    assert sgd.steps == 100 * 12  # 360 rows in batches of 32: 11 full + 1 of 8


@torch_only
def test_harness_runs_match_the_backends_run_alone(default_runs, admissions):
    X, y, _, _ = admissions
    alone = nb.mse_training(X, y)
    r = default_runs["mse_training", "float64"]
    np.testing.assert_array_equal(r.numpy.history[0], alone.history[0])
    np.testing.assert_array_equal(r.numpy.losses, alone.losses)
    assert r.numpy.log == alone.log


@torch_only
def test_streaming_without_recording_gives_the_same_verdict(default_runs):
    recorded = default_runs["sgd_batching", "float64"]
    lean = compare("sgd_batching", record=False)
    assert lean.numpy.losses is None and lean.numpy.history == ()
    assert lean.max_abs_diff == recorded.max_abs_diff
    assert lean.max_ulps == recorded.max_ulps
    np.testing.assert_array_equal(lean.numpy.weights, recorded.numpy.weights)
    every10 = compare("mse_training", record=10, epochs=95)
    assert every10.numpy.history[0].shape == (10, 6)  # every 10th update and the last
    assert every10.numpy.losses.shape == (95,)


def _nudged_backend(factor: float) -> types.ModuleType:
    """The NumPy backend with every learning rate scaled by ``factor``: a subtle bug."""
    mod = types.ModuleType("nudged")
    for name in nb.__all__:
        setattr(mod, name, getattr(nb, name))

    def iter_sgd_batching(*args, lr=0.5, **kwargs):
        return nb.iter_sgd_batching(*args, lr=lr * factor, **kwargs)

    def sigmoid_step(x, y, weights, lr):
        return nb.sigmoid_step(x, y, weights, lr * factor)

    mod.iter_sgd_batching = iter_sgd_batching
    mod.sigmoid_step = sigmoid_step
    return mod


@torch_only
def test_a_bug_of_one_part_in_a_billion_is_caught_at_step_one():
    from gd_compare import torch_backend

    broken = _nudged_backend(1 + 1e-9)
    result = compare("sgd_batching", epochs=3, backends=(broken, torch_backend))
    assert not result.passed
    first = result.first_failure
    assert (first.step, first.quantity) == (1, "weights")
    assert first.abs_diff > 1e-12
    with pytest.raises(AssertionError) as info:
        assert_equivalent("sgd_batching", epochs=3, backends=(broken, torch_backend))
    message = str(info.value)
    # the backend is named by its module ("nudged"), not "numpy"
    for part in ("sgd_batching", "step 1", "weights[", "nudged=", "torch=", "ULPs"):
        assert part in message
    step = compare("sigmoid_step", backends=(broken, torch_backend))
    assert not step.passed and step.first_failure.quantity == "weights"


@torch_only
def test_stop_on_failure_ends_the_run_early():
    from gd_compare import torch_backend

    broken = _nudged_backend(1.01)
    result = compare("sgd_batching", epochs=5, stop_on_failure=True,
                     backends=(broken, torch_backend))
    assert result.steps == 1 and len(result.numpy.losses) == 1


@torch_only
def test_json_record_follows_the_contract(default_runs):
    record = default_runs["mse_training", "float64"].to_json()
    assert {"name", "dtype", "steps", "passed", "max_abs_diff", "numpy", "torch"} <= set(record)
    assert set(record["max_abs_diff"]) >= {"weights", "loss"}
    for side in ("numpy", "torch"):
        assert len(record[side]["final_weights"]) == 6
        assert len(record[side]["losses"]) == 1000
        assert record[side]["test_accuracy"] == 0.725
    step = default_runs["simple_step", "float64"].to_json()
    assert step["numpy"]["final_weights"] == [2.24] and step["steps"] == 1


@torch_only
@given(
    X=hnp.arrays(np.float64, st.tuples(st.integers(2, 40), st.integers(1, 6)),
                 elements=st.floats(-4, 4)),
    lr=st.floats(1e-3, 3.0),
    data=st.data(),
    seed=st.integers(0, 1000),
    loss=st.sampled_from(["mse", "sse"]),
)
def test_backends_agree_on_random_problems(X, lr, data, seed, loss):
    n, d = X.shape
    y = data.draw(hnp.arrays(np.float64, n, elements=st.sampled_from([0.0, 1.0])))
    w = data.draw(hnp.arrays(np.float64, d, elements=st.floats(-2, 2)))
    batch_size = data.draw(st.integers(1, n))
    result = compare("sgd_batching", features=X, targets=y, weights=w, lr=lr, epochs=3,
                     batch_size=batch_size, seed=seed, loss=loss,
                     drop_last=data.draw(st.booleans()))
    assert result.passed, str(result.first_failure)


@torch_only
@given(x=hnp.arrays(np.float64, st.integers(1, 8), elements=st.floats(-10, 10)),
       data=st.data(), lr=st.floats(1e-4, 10))
def test_single_steps_agree_on_random_inputs(x, data, lr):
    w = data.draw(hnp.arrays(np.float64, x.shape, elements=st.floats(-5, 5)))
    y = data.draw(st.floats(0, 1))
    assert compare("sigmoid_step", x=x, y=y, weights=w, lr=lr).passed
    s = data.draw(st.floats(-100, 100))
    assert compare("simple_step", x=s, y=y, w=s / 3, lr=lr).passed


@torch_only
def test_float32_comparison_keeps_float32_inputs():
    result = compare("mse_training", dtype="float32", epochs=5)
    assert result.numpy.weights.dtype == np.float32
    assert result.torch.weights.dtype == np.float32
    assert result.passed


# --------------------------------------------------------------------------- what must fail


def test_an_infinite_value_against_a_finite_one_is_a_mismatch():
    from gd_compare.proof.harness import _Tracker

    tracker = _Tracker("x", np.dtype("float64"), 1e-12, 1e-12)
    assert not tracker.check("weights", 1, [np.inf], [1.0])
    assert tracker.first.quantity == "weights" and tracker.first.torch_value == 1.0
    same = _Tracker("x", np.dtype("float64"), 1e-12, 1e-12)
    assert same.check("weights", 1, [np.inf, 2.0], [np.inf, 2.0])  # equal values agree
    assert not same.check("loss", 2, np.nan, np.nan)  # NaN never does


def test_bad_harness_options_are_named():
    with pytest.raises(ValueError, match=r"rtol: expected a number >= 0 and < 0\.01"):
        compare("simple_step", rtol=-1)
    with pytest.raises(TypeError, match="atol"):
        compare("simple_step", atol="abc")
    with pytest.raises(ValueError, match="record: expected True, False or an int k >= 1"):
        compare("mse_training", record=-1, epochs=2)
    with pytest.raises(TypeError, match="seed: expected an int"):
        compare("sgd_batching", seed="a")
    with pytest.raises(ValueError, match="seed: expected an int between 0 and 2\\*\\*32 - 1"):
        compare("sgd_batching", seed=-1)


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"backends": (nb,)}, TypeError, "backends: expected a pair (yours, the reference), e.g. "
     "(my_backend, torch_backend), or None for (numpy_backend, torch_backend); got 1 of them"),
    ({"backends": (nb, nb, nb)}, TypeError, "backends: expected a pair (yours, the reference), "
     "e.g. (my_backend, torch_backend), or None for (numpy_backend, torch_backend); got 3 of "
     "them"),
    ({"backends": ()}, TypeError, "; got 0 of them"),
    ({"backends": "ab"}, TypeError, "; got str 'ab'"),
    ({"backends": ("a", nb)}, TypeError, "backends[0]: expected a backend module, got 'a'"),
    ({"backends": (nb, types.SimpleNamespace(mse=nb.mse))}, TypeError,
     "backends[1]: SimpleNamespace lacks iter_mse_training, accuracy (what mse_training calls; "
     "see numpy_backend)"),
    ({"backends": (nb, types)}, TypeError, "backends[1]: types lacks iter_mse_training, mse, "
     "accuracy"),
    ({"backends": (nb, types), "loss": "sse"}, TypeError, "types lacks iter_mse_training, sse, "
     "accuracy"),
    ({"stop_on_failure": "no"}, TypeError, "stop_on_failure: expected True or False, got 'no'"),
    ({"stop_on_failure": None}, TypeError, "stop_on_failure: expected True or False, got None"),
    ({"progress": "x"}, TypeError, "progress: expected True, False or a callable "
     "progress(done, total), got 'x'"),
    ({"progress": 5}, TypeError, "progress: expected True, False or a callable "
     "progress(done, total), got 5"),
    ({"dtype": None}, TypeError, "dtype: expected 'float64' or 'float32', got None"),
])
def test_bad_call_options_are_named_before_any_run(kwargs, error, message):
    with pytest.raises(error) as exc:
        compare("mse_training", epochs=1, **kwargs)
    assert message in str(exc.value)


def test_a_step_concept_needs_only_its_function():
    stub = types.SimpleNamespace(simple_step=nb.simple_step)
    assert compare("simple_step", backends=(nb, stub)).passed
    with pytest.raises(TypeError, match=r"backends\[0\]: SimpleNamespace lacks simple_step "):
        compare("simple_step", backends=(types.SimpleNamespace(), nb))


def test_bad_user_data_is_named_before_training():
    X = np.random.default_rng(0).random((10, 3))
    y = (X[:, 0] > 0.5).astype(float)
    cases = [
        ({"features": [1.0, 2.0], "targets": [0.0, 1.0]}, "features: expected 2-D"),
        ({"features": X}, "features and targets: give both"),
        ({"features": X, "targets": y, "features_test": X}, "give both .* or neither"),
        ({"features": X, "targets": y, "features_test": X[:, :2], "targets_test": y},
         "features_test: expected 3 columns"),
        ({"features": X, "targets": y, "features_test": X, "targets_test": y * 2},
         "targets_test: accuracy needs binary targets"),
        ({"features": X, "targets": y, "features_test": X, "targets_test": y[:5]},
         "features_test and targets_test: need the same number"),
        ({"features_test": X, "targets_test": y}, "give them with features and targets"),
    ]
    for params, match in cases:
        with pytest.raises(ValueError, match=match):
            compare("mse_training", epochs=2, **params)


@torch_only
def test_seed_none_draws_one_shared_seed():
    assert compare("sgd_batching", seed=None, epochs=2).passed
    assert compare("backprop", seed=None, epochs=2, batch_size=10).passed


@torch_only
def test_backends_out_of_step_are_caught():
    from gd_compare import torch_backend

    def iter_sgd_batching(*args, **kwargs):
        for s in torch_backend.iter_sgd_batching(*args, **kwargs):
            yield s._replace(end_of_epoch=False)

    shifted = types.SimpleNamespace(iter_sgd_batching=iter_sgd_batching, mse=torch_backend.mse,
                                    sse=torch_backend.sse, accuracy=torch_backend.accuracy)
    with pytest.raises(AssertionError, match="disagree on where they are"):
        compare("sgd_batching", epochs=2, backends=(nb, shifted))


@torch_only
def test_an_infinite_weight_in_one_backend_fails_the_comparison():
    from gd_compare import torch_backend

    def iter_sgd_batching(*args, **kwargs):
        for s in nb.iter_sgd_batching(*args, **kwargs):
            if s.index == 2:
                s.params[0][0] = np.inf
            yield s

    poisoned = types.SimpleNamespace(iter_sgd_batching=iter_sgd_batching, mse=nb.mse,
                                     sse=nb.sse, accuracy=nb.accuracy)
    result = compare("sgd_batching", epochs=1, stop_on_failure=True,
                     backends=(poisoned, torch_backend))
    assert not result.passed
    assert (result.first_failure.step, result.first_failure.quantity) == (2, "weights")


@torch_only
def test_recorded_history_knows_its_update_numbers():
    r = compare("mse_training", epochs=95, record=10)
    np.testing.assert_array_equal(r.numpy.history_steps, [*range(10, 100, 10), 95])
    assert r.numpy.history[0].shape == (10, 6)
    np.testing.assert_array_equal(r.numpy.history[0][-1], r.numpy.weights)


@torch_only
def test_the_torch_simple_step_names_an_overflowing_input():
    from gd_compare import torch_backend as tb

    with pytest.raises(ValueError, match=r"simple_step: the loss is inf before the step"):
        tb.simple_step(x=1e200)
