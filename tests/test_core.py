"""gd_compare.lesson.core: input checks, the shared batch order, the lesson's log."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gd_compare.lesson.core import (
    BatchOrder,
    as_float_array,
    check_count,
    check_dataset,
    check_lr,
    format_log,
    log_epochs,
)


def test_as_float_array_copies_and_keeps_float32():
    a = np.array([1.0, 2.0], dtype=np.float32)
    out = as_float_array("x", a)
    assert out.dtype == np.float32 and out is not a
    out[0] = 99
    assert a[0] == 1.0
    assert as_float_array("x", [1, 2]).dtype == np.float64


@pytest.mark.parametrize("bad, exc, match", [
    ([1.0, np.nan], ValueError, r"x: contains NaN or inf at index \(1,\)"),
    ([np.inf], ValueError, "x: contains NaN or inf"),
    (["a"], TypeError, "x: expected real numbers"),
    ([[1.0]], ValueError, r"x: expected 1-D, got shape \(1, 1\)"),
])
def test_as_float_array_rejects(bad, exc, match):
    with pytest.raises(exc, match=match):
        as_float_array("x", bad, ndim=1)


@pytest.mark.parametrize("lr", [0, -0.1, float("nan"), float("inf")])
def test_check_lr_rejects_non_positive_or_non_finite(lr):
    with pytest.raises(ValueError, match="lr: expected a finite number > 0"):
        check_lr(lr)


@pytest.mark.parametrize("lr", ["0.1", None, True])
def test_check_lr_rejects_non_numbers(lr):
    with pytest.raises(TypeError, match="lr"):
        check_lr(lr)


def test_check_count():
    assert check_count("epochs", np.int64(3)) == 3
    with pytest.raises(ValueError, match="epochs: expected an int >= 1, got 0"):
        check_count("epochs", 0)
    with pytest.raises(ValueError, match="batch_size: expected an int between 1 and 10, got 11"):
        check_count("batch_size", 11, high=10)
    with pytest.raises(TypeError, match="epochs"):
        check_count("epochs", 2.0)


def test_check_dataset_names_mismatches():
    with pytest.raises(ValueError, match="features and targets: need the same number"):
        check_dataset(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(ValueError, match=r"weights: expected 2 weights"):
        check_dataset(np.zeros((3, 2)), np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="features: expected 2-D"):
        check_dataset(np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="features: expected at least one record"):
        check_dataset(np.zeros((0, 2)), np.zeros(0))


def test_check_dataset_promotes_to_one_dtype():
    X, y, w = check_dataset(np.zeros((2, 2), np.float32), np.zeros(2, np.float32), [0.0, 0.0])
    assert X.dtype == y.dtype == w.dtype == np.float64
    X, y, _ = check_dataset(np.zeros((2, 2), np.float32), np.array([0, 1], np.float32))
    assert X.dtype == y.dtype == np.float32


def _rows(batch, n):
    return np.arange(n)[batch]


@given(n=st.integers(1, 60), data=st.data(), seed=st.integers(0, 10_000),
       shuffle=st.booleans(), drop_last=st.booleans())
def test_batch_order_partitions_each_epoch(n, data, seed, shuffle, drop_last):
    size = data.draw(st.integers(1, n))
    order = BatchOrder(n, size, seed=seed, shuffle=shuffle, drop_last=drop_last)
    for _ in range(3):
        batches = [_rows(b, n) for b in order]
        assert len(batches) == len(order)
        sizes = [len(b) for b in batches]
        assert all(s == size for s in sizes[:-1])
        seen = np.concatenate(batches)
        assert len(np.unique(seen)) == len(seen)  # no row twice in an epoch
        if drop_last:
            assert len(seen) == (n // size) * size
        else:
            np.testing.assert_array_equal(np.sort(seen), np.arange(n))
        for b in batches:
            assert np.all(np.diff(b) > 0)  # sorted within a batch


def test_batch_order_is_reproducible_and_reshuffles_each_epoch():
    a, b = BatchOrder(50, 5, seed=3), BatchOrder(50, 5, seed=3)
    epochs_a = [[_rows(x, 50).tolist() for x in a] for _ in range(2)]
    epochs_b = [[_rows(x, 50).tolist() for x in b] for _ in range(2)]
    assert epochs_a == epochs_b
    assert epochs_a[0] != epochs_a[1]
    assert [_rows(x, 50).tolist() for x in BatchOrder(50, 5, seed=4)] != epochs_a[0]


def test_full_batch_is_one_contiguous_slice():
    assert list(BatchOrder(10, 10, seed=1)) == [slice(0, 10)]
    assert list(BatchOrder(10, 4, shuffle=False)) == [slice(0, 4), slice(4, 8), slice(8, 10)]
    assert len(BatchOrder(10, 4, drop_last=True)) == 2


def test_batch_order_rejects_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size: expected an int between 1 and 10"):
        BatchOrder(10, 11)
    with pytest.raises(ValueError, match="batch_size"):
        BatchOrder(10, 0)


def test_log_epochs_follow_the_lessons_float_modulo():
    assert log_epochs(1000) == list(range(0, 1000, 100))
    assert log_epochs(5) == [0, 1, 2, 3, 4]  # epochs/10 = 0.5 divides every integer
    assert log_epochs(15) == [0, 3, 6, 9, 12]  # epochs/10 = 1.5


def test_format_log_warns_when_loss_rises():
    lines = format_log([(0, 0.3), (100, 0.2), (200, 0.25)])
    assert lines == [
        "Train loss:  0.3",
        "Train loss:  0.2",
        "Train loss:  0.25  WARNING - Loss Increasing",
    ]


def test_pandas_frames_mixing_float_and_bool_columns_are_numbers():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"gpa": [0.5, -1.0], "rank_1": [True, False]})
    np.testing.assert_array_equal(as_float_array("features", frame), [[0.5, 1.0], [-1.0, 0.0]])
    with pytest.raises(TypeError, match="features: expected real numbers"):
        as_float_array("features", np.array([1.0, "a"], dtype=object))


def test_check_threshold_and_seed():
    from gd_compare.lesson.core import check_seed, check_threshold

    assert check_threshold(0.5) == 0.5
    with pytest.raises(TypeError, match="threshold"):
        check_threshold(None)
    with pytest.raises(ValueError, match="threshold"):
        check_threshold(float("nan"))
    assert check_seed(None) is None and check_seed(np.int64(7)) == 7
    with pytest.raises(ValueError, match="seed"):
        check_seed(2**32)


# --------------------------------------------------------------------------- issue 8: API contract


@pytest.mark.parametrize("kwargs, name", [({"shuffle": "no"}, "shuffle"),
                                          ({"drop_last": None}, "drop_last")])
def test_flags_are_not_read_by_truthiness(kwargs, name):
    from gd_compare import numpy_backend as nb

    X, y = np.eye(4), np.array([0.0, 1.0, 1.0, 0.0])
    with pytest.raises(TypeError, match=rf"{name}: expected True or False, got"):
        nb.sgd_batching(X, y, batch_size=2, epochs=1, **kwargs)


def test_per_record_is_a_flag_and_zero_columns_are_named():
    from gd_compare import compare
    from gd_compare import numpy_backend as nb

    with pytest.raises(TypeError, match="per_record: expected True or False, got 'yes'"):
        nb.mse_training(np.eye(3), np.ones(3), per_record="yes", epochs=1)
    with pytest.raises(TypeError, match="per_record: expected True or False, got 'yes'"):
        compare("mse_training", per_record="yes", epochs=1)
    with pytest.raises(ValueError, match=r"features: expected at least one feature column, "
                                         r"got shape \(5, 0\)"):
        nb.mse_training(np.zeros((5, 0)), np.zeros(5))


def test_an_input_that_overflows_is_not_blamed_on_the_learning_rate():
    from gd_compare import numpy_backend as nb

    with pytest.raises(ValueError, match=r"simple_step: the loss is inf before the step — the "
                                         r"inputs \(x=1e\+200, y=10.0, w=2.0\) are too large"):
        nb.simple_step(x=1e200)


def test_an_empty_test_split_is_named_before_training():
    from gd_compare import CONCEPTS

    X, y = np.eye(4), np.array([0.0, 1.0, 1.0, 0.0])
    with pytest.raises(ValueError, match="features_test: expected at least one record"):
        CONCEPTS["mse_training"].inputs(features=X, targets=y, features_test=np.zeros((0, 4)),
                                        targets_test=[])


def test_validated_arrays_are_taken_as_they_are_once_checked():
    from gd_compare.lesson.core import is_validated, validated

    X = np.arange(12.0).reshape(4, 3)
    y = np.ones(4)
    w = np.zeros(3)
    with validated(X, y) as trusted:
        assert trusted == (X, y) and is_validated(X) and not is_validated(w)
        Xc, yc, wc = check_dataset(X, y, w)
        assert Xc is X and yc is y  # no copy, no scan: checked once when the block began
        assert wc is not w  # anything else is copied and checked as always
        with pytest.raises(ValueError, match="features: expected 2-D"):
            as_float_array("features", y, ndim=2)
        rows = X[[0, 2]]
        with validated(rows, check=False):
            assert check_dataset(rows, None)[0] is rows
        assert not is_validated(rows)
    assert not is_validated(X)
    assert check_dataset(X, y)[0] is not X  # outside the block: a fresh copy again


def test_validated_leaves_what_it_cannot_trust_to_the_usual_checks():
    from gd_compare.lesson.core import is_validated, validated

    bad = np.array([[1.0, np.nan]])
    ints = np.ones((2, 2), dtype=np.int64)
    strided = np.ones((4, 4))[:, ::2]
    with validated(bad, ints, strided, [1.0, 2.0]) as trusted:
        assert trusted == ()
        with pytest.raises(ValueError, match=r"features: contains NaN or inf at index \(0, 1\)"):
            check_dataset(bad, None)
        assert not any(is_validated(a) for a in (bad, ints, strided))
