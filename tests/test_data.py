"""gd_compare.lesson.data: the lesson's data_prep, reproduced exactly (NumPy/pandas only)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gd_compare.lesson import data
from gd_compare.lesson.data import (
    FEATURE_COLUMNS,
    initial_weights,
    load_admissions,
    make_synthetic,
    read_admissions_csv,
)

ROOT = Path(__file__).resolve().parents[1]


def test_bundled_csv_is_the_canonical_copy():
    raw = read_admissions_csv()
    assert len(raw) == 400
    assert raw["admit"].sum() == 127
    assert raw["gre"].mean() == pytest.approx(587.7, abs=1e-9)
    assert raw["gpa"].mean() == pytest.approx(3.3899, abs=1e-9)
    assert raw["rank"].value_counts().sort_index().tolist() == [61, 151, 121, 67]


def test_top_level_data_and_package_copy_are_identical():
    def digest(p: Path) -> str:
        return hashlib.sha256(p.read_bytes()).hexdigest()

    assert digest(ROOT / "data" / "binary.csv") == digest(data.bundled_csv())


def lesson_data_prep(path: Path):
    """The course's data_prep.py, verbatim in spirit (global seed and all)."""
    admissions = pd.read_csv(path)
    d = pd.concat([admissions, pd.get_dummies(admissions["rank"], prefix="rank")], axis=1)
    d = d.drop("rank", axis=1)
    for field in ["gre", "gpa"]:
        mean, std = d[field].mean(), d[field].std()
        d[field] = (d[field] - mean) / std  # the course wrote d.loc[:, field] = ...
    state = np.random.get_state()
    try:
        np.random.seed(42)
        sample = np.random.choice(d.index, size=int(len(d) * 0.9), replace=False)
    finally:
        np.random.set_state(state)
    d, test_data = d.loc[sample], d.drop(sample)
    return (d.drop("admit", axis=1), d["admit"], test_data.drop("admit", axis=1),
            test_data["admit"])


def test_load_admissions_matches_the_lessons_data_prep():
    features, targets, features_test, targets_test = load_admissions()
    ref = lesson_data_prep(ROOT / "data" / "binary.csv")
    assert list(features.columns) == list(FEATURE_COLUMNS)
    assert features.shape == (360, 6) and features_test.shape == (40, 6)
    assert list(features.index) == list(ref[0].index)  # the drawn order, not sorted
    assert list(features.index[:5]) == [209, 280, 33, 210, 93]
    np.testing.assert_array_equal(features.to_numpy(float), ref[0].to_numpy(float))
    np.testing.assert_array_equal(targets.to_numpy(), ref[1].to_numpy())
    np.testing.assert_array_equal(features_test.to_numpy(float), ref[2].to_numpy(float))
    np.testing.assert_array_equal(targets_test.to_numpy(), ref[3].to_numpy())
    assert targets.sum() == 117


@pytest.mark.parametrize("seed", [42, 21, 0, 7])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_admissions_arrays_are_the_pandas_paths_bit_for_bit(seed, dtype):
    """What the concepts train on, read without pandas, is load_admissions(seed).arrays(dtype)."""
    from gd_compare.lesson.data import admissions_arrays

    mine, ref = admissions_arrays(seed, dtype), load_admissions(seed=seed).arrays(dtype)
    for a, b in zip(mine, ref, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape and a.flags.c_contiguous
        assert a.tobytes() == b.tobytes()


def test_with_bottleneck_installed_the_admissions_arrays_are_the_pandas_paths(monkeypatch):
    """pandas sums std's squares with bottleneck when it is installed (another last bit): the
    arrays then come from the pandas path itself."""
    import importlib.util

    from gd_compare.lesson import data

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: object() if name == "bottleneck" else real(name, *a))
    calls = []

    class Prepared:
        def arrays(self, dtype):
            calls.append(dtype)
            return "the pandas path's arrays"

    monkeypatch.setattr(data, "load_admissions", lambda seed: Prepared())
    assert data.admissions_arrays(7, np.float32) == "the pandas path's arrays"
    assert calls == [np.dtype(np.float32)]


def test_admissions_arrays_rejects_a_non_float_dtype():
    from gd_compare.lesson.data import admissions_arrays

    with pytest.raises(TypeError, match="dtype"):
        admissions_arrays(42, np.int64)


def test_preparation_standardizes_with_sample_std_and_one_hot_floats():
    raw = read_admissions_csv()
    prepared = data.prepare(raw)
    both = pd.concat([prepared.features, prepared.features_test])
    for col in ("gre", "gpa"):
        assert abs(both[col].mean()) < 1e-12
        assert both[col].std(ddof=1) == pytest.approx(1.0, abs=1e-12)
    ranks = both[["rank_1", "rank_2", "rank_3", "rank_4"]]
    assert all(dt == np.float64 for dt in ranks.dtypes)
    np.testing.assert_array_equal(ranks.sum(axis=1).to_numpy(), np.ones(400))
    assert ranks.sum().tolist() == [61, 151, 121, 67]


def test_load_does_not_touch_the_global_random_state():
    np.random.seed(7)
    expected = np.random.random()
    np.random.seed(7)
    load_admissions()
    initial_weights(6)
    assert np.random.random() == expected


def test_arrays_are_fresh_float_copies():
    adm = load_admissions()
    X = adm.arrays()[0]
    assert X.dtype == np.float64 and X.flags.c_contiguous and X.shape == (360, 6)
    X[:] = 0
    assert adm.features.to_numpy().any()  # the frame is untouched
    X32 = adm.arrays(np.float32)[0]
    assert X32.dtype == np.float32
    with pytest.raises(TypeError, match="dtype"):
        adm.arrays(np.int64)


def test_initial_weights_are_the_lessons_draw():
    state = np.random.get_state()
    try:
        np.random.seed(42)
        expected = np.random.normal(scale=1 / 6**0.5, size=6)
    finally:
        np.random.set_state(state)
    np.testing.assert_array_equal(initial_weights(6), expected)
    assert initial_weights(6, dtype=np.float32).dtype == np.float32


@pytest.mark.parametrize("bad, exc", [(0, ValueError), (-3, ValueError), (2.5, TypeError),
                                      (True, TypeError)])
def test_initial_weights_rejects_bad_sizes(bad, exc):
    with pytest.raises(exc, match="n_features"):
        initial_weights(bad)


def test_missing_csv_names_path_and_expected_columns(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"path: .*admit, gre, gpa, rank"):
        load_admissions(tmp_path / "nope.csv")


def test_missing_columns_are_named(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("admit,gre,gpa\n0,380,3.61\n")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['rank'\]"):
        load_admissions(p)


@pytest.mark.parametrize(
    "row, match",
    [("2,380,3.61,3", "admit"), ("0,380,3.61,5", "rank"), ("0,,3.61,3", "missing values")],
)
def test_bad_values_in_csv(tmp_path, row, match):
    raw = (ROOT / "data" / "binary.csv").read_text().splitlines()
    p = tmp_path / "bad.csv"
    p.write_text("\n".join([raw[0], row, *raw[2:]]) + "\n")
    with pytest.raises(ValueError, match=match):
        load_admissions(p)


@given(n=st.integers(1, 300), d=st.integers(1, 20), seed=st.integers(0, 2**32 - 1))
def test_make_synthetic_shapes_binary_and_seeded(n, d, seed):
    X, y = make_synthetic(n, d, seed)
    assert X.shape == (n, d) and y.shape == (n,)
    assert set(np.unique(y)) <= {0.0, 1.0}
    X2, y2 = make_synthetic(n, d, seed)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)


@pytest.mark.parametrize("n, d", [(0, 3), (3, 0), (2.0, 3)])
def test_make_synthetic_rejects_bad_sizes(n, d):
    with pytest.raises((ValueError, TypeError), match=r"^(n|d):"):
        make_synthetic(n, d)
