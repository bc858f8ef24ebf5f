"""The lesson's data: the UCLA admissions set, prepared exactly as its ``data_prep`` did.

``data_prep`` (the module the lesson imports ``features, targets, features_test, targets_test``
from) did four things, reproduced here step by step:

1. one-hot encode ``rank`` (1–4) as ``rank_1 .. rank_4`` and drop ``rank``;
2. standardize ``gre`` and ``gpa``: ``(v - mean) / std`` with pandas' *sample* std (ddof=1);
3. ``np.random.seed(42)``; training rows ``np.random.choice(data.index, size=int(len(data)*0.9),
   replace=False)`` *in that drawn order*; test rows are the rest, in file order;
4. ``features`` = every column but ``admit``, ``targets`` = ``admit``.

The global seed call is replaced by a private ``np.random.RandomState(seed)``: the same legacy
Mersenne-Twister stream, so the same rows, without touching the caller's global random state.
The course's backpropagation quiz shipped its own ``data_prep.py`` with ``np.random.seed(21)``
before the split (:data:`BACKPROP_SEED`): ``load_admissions(seed=21)`` is that split.

**pandas ≥ 3.** The course's ``data_prep.py`` no longer runs there: ``data.loc[:, field] =
(data[field] - mean) / std`` raises a dtype ``TypeError`` (writing floats into the int column
``gre`` in place), and ``pd.get_dummies`` returns bool columns, so ``features.values`` is an
*object* array that NumPy's math rejects. :func:`prepare` does the same steps without both
traps: ``data[field] = ...`` replaces the column (float), and the dummies are cast to float
(``.astype(float)``) — the same numbers the course had under pandas 0.x.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pandas is imported where the CSV is read: `gd-compare --concept
    import pandas as pd  # simple_step` and the NumPy-only paths start ~0.4 s sooner without it

from gd_compare.lesson.core import check_hidden

__all__ = [
    "BACKPROP_SEED",
    "CSV_COLUMNS",
    "FEATURE_COLUMNS",
    "LESSON_SEED",
    "Admissions",
    "admissions_arrays",
    "bundled_csv",
    "initial_network_weights",
    "initial_weights",
    "load_admissions",
    "make_synthetic",
    "prepare",
    "read_admissions_csv",
]

#: Columns ``binary.csv`` must have.
CSV_COLUMNS: tuple[str, ...] = ("admit", "gre", "gpa", "rank")
#: Feature columns after preparation, in the lesson's order.
FEATURE_COLUMNS: tuple[str, ...] = ("gre", "gpa", "rank_1", "rank_2", "rank_3", "rank_4")
#: The lesson's seed, for the split and for the initial weights.
LESSON_SEED = 42
#: The seed of the course's backpropagation quiz: for its 90/10 split (its own ``data_prep.py``)
#: and again for its network's weights.
BACKPROP_SEED = 21


@dataclass(frozen=True)
class Admissions:
    """The prepared admissions data; unpacks like the lesson's import.

    ``features, targets, features_test, targets_test = load_admissions()``
    """

    features: pd.DataFrame
    targets: pd.Series
    features_test: pd.DataFrame
    targets_test: pd.Series

    def __iter__(self) -> Iterator[pd.DataFrame | pd.Series]:
        return iter((self.features, self.targets, self.features_test, self.targets_test))

    def arrays(
        self, dtype: np.dtype | type = np.float64
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(X, y, X_test, y_test)`` as fresh C-contiguous float arrays of ``dtype``.

        Shapes: ``X`` (n, 6), ``y`` (n,), ``X_test`` (n_test, 6), ``y_test`` (n_test,).
        """
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"dtype: expected a floating dtype (float32 or float64), got {dtype}")
        return tuple(  # type: ignore[return-value]
            np.ascontiguousarray(part.to_numpy(dtype=dtype, copy=True)) for part in self
        )


def bundled_csv() -> Path:
    """Path of the ``binary.csv`` shipped inside the package."""
    return Path(str(resources.files("gd_compare.lesson") / "datasets" / "binary.csv"))


def read_admissions_csv(path: str | Path | None = None) -> pd.DataFrame:
    """Read and check the raw CSV (``admit, gre, gpa, rank``); ``None`` means the bundled copy."""
    import pandas as pd

    path = bundled_csv() if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"path: no admissions CSV at {str(path)!r} (expected a file with columns "
            f"{', '.join(CSV_COLUMNS)}; pass path=None for the bundled copy)"
        )
    raw = pd.read_csv(path)
    missing = [c for c in CSV_COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(
            f"path: {str(path)!r} lacks column(s) {missing}; expected columns "
            f"{list(CSV_COLUMNS)}, found {list(raw.columns)}"
        )
    raw = raw.loc[:, list(CSV_COLUMNS)]
    if raw.isna().any().any():
        bad = [c for c in CSV_COLUMNS if raw[c].isna().any()]
        raise ValueError(f"path: {str(path)!r} has missing values in column(s) {bad}")
    if not raw["admit"].isin([0, 1]).all():
        raise ValueError(f"path: column 'admit' must hold only 0 and 1 in {str(path)!r}")
    if not raw["rank"].isin([1, 2, 3, 4]).all():
        raise ValueError(f"path: column 'rank' must hold only 1, 2, 3, 4 in {str(path)!r}")
    if len(raw) < 10:
        raise ValueError(f"path: {str(path)!r} has {len(raw)} rows; the 90/10 split needs >= 10")
    return raw


def prepare(raw: pd.DataFrame, seed: int = LESSON_SEED) -> Admissions:
    """The lesson's ``data_prep`` on a raw frame (see the module docstring); ``raw`` is kept."""
    import pandas as pd

    rank = pd.Categorical(raw["rank"], categories=[1, 2, 3, 4])
    dummies = pd.get_dummies(rank, prefix="rank").astype(float)
    dummies.index = raw.index
    data = pd.concat([raw.drop(columns="rank"), dummies], axis=1)
    for field in ("gre", "gpa"):
        mean, std = data[field].mean(), data[field].std()  # pandas std: ddof=1
        data[field] = (data[field] - mean) / std
    sample = np.random.RandomState(seed).choice(
        data.index, size=int(len(data) * 0.9), replace=False
    )
    train, test = data.loc[sample], data.drop(sample)
    return Admissions(
        features=train.drop(columns="admit"),
        targets=train["admit"],
        features_test=test.drop(columns="admit"),
        targets_test=test["admit"],
    )


def admissions_arrays(seed: int = LESSON_SEED, dtype: np.dtype | type = np.float64
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``load_admissions(seed=seed).arrays(dtype)`` of the bundled CSV, computed without pandas
    (the default ``gd-compare`` run does not import it: ~0.3 s): the same four steps of
    ``data_prep`` in NumPy, with pandas' own arithmetic — the mean as ``sum / n``, the sample
    std as ``sqrt(Σ(mean − v)² / (n − 1))`` (``pandas.core.nanops``), the same
    ``RandomState(seed).choice`` — so the arrays are bit for bit the pandas path's (a test
    checks every seed the concepts use, in float64 and float32)."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"dtype: expected a floating dtype (float32 or float64), got {dtype}")
    if importlib.util.find_spec("bottleneck") is not None:
        # with bottleneck installed pandas sums std's squares in its own order (another last
        # bit): then the pandas path itself, so both stay the same arrays
        return load_admissions(seed=seed).arrays(dtype)
    with open(bundled_csv(), encoding="utf-8") as f:
        header = f.readline().strip().split(",")
        table = np.loadtxt(f, delimiter=",", dtype=np.float64, ndmin=2)
    column = {name: table[:, header.index(name)] for name in CSV_COLUMNS}
    n = len(table)
    rank = column["rank"]
    fields = []
    for field in ("gre", "gpa"):
        values = column[field]
        mean = values.sum(dtype=np.float64) / n
        std = np.sqrt(((mean - values) ** 2).sum(dtype=np.float64) / (n - 1))  # ddof=1
        fields.append((values - mean) / std)
    features = np.column_stack([*fields, *((rank == r).astype(np.float64) for r in (1, 2, 3, 4))])
    targets = column["admit"]
    sample = np.random.RandomState(seed).choice(np.arange(n), size=int(n * 0.9), replace=False)
    rest = np.setdiff1d(np.arange(n), sample)  # the test rows, in file order
    return tuple(  # type: ignore[return-value]
        np.ascontiguousarray(part, dtype=dtype)
        for part in (features[sample], targets[sample], features[rest], targets[rest]))


def load_admissions(path: str | Path | None = None, seed: int = LESSON_SEED) -> Admissions:
    """Load ``binary.csv`` and prepare it as the lesson did: ``features, targets, features_test,
    targets_test`` (pandas). ``.arrays(dtype)`` gives float NumPy arrays.

    With the bundled data: 360 training rows, 40 test rows, 6 features.
    """
    return prepare(read_admissions_csv(path), seed=seed)


def initial_weights(
    n_features: int, seed: int = LESSON_SEED, dtype: np.dtype | type = np.float64
) -> np.ndarray:
    """The lesson's start: ``np.random.seed(seed); np.random.normal(scale=1/n_features**.5,
    size=n_features)``, from a private generator. Shape ``(n_features,)``."""
    if isinstance(n_features, bool) or not isinstance(n_features, (int, np.integer)):
        raise TypeError(f"n_features: expected an int, got {type(n_features).__name__}")
    if n_features < 1:
        raise ValueError(f"n_features: expected >= 1, got {n_features}")
    rs = np.random.RandomState(seed)
    return rs.normal(scale=1 / n_features**0.5, size=n_features).astype(dtype)


def initial_network_weights(
    n_features: int,
    hidden: Sequence[int] = (2,),
    seed: int = BACKPROP_SEED,
    dtype: np.dtype | type = np.float64,
) -> tuple[np.ndarray, ...]:
    """The course's start for a network with hidden sigmoid layers of sizes ``hidden``.

    The course's backpropagation exercise (one hidden layer of ``n_hidden = 2``)::

        np.random.seed(21)
        weights_input_hidden = np.random.normal(scale=1 / n_features**.5,
                                                size=(n_features, n_hidden))
        weights_hidden_output = np.random.normal(scale=1 / n_features**.5, size=n_hidden)

    reproduced from a private ``np.random.RandomState(seed)`` (the same stream, the caller's
    global random state untouched). More hidden layers follow the same rule, drawn in order from
    the input: every layer's scale is ``1/√n_features``, as the course's code has it (the lesson's
    text says "1/√n where n is the number of input units" — for the hidden→output layer the
    course nevertheless used n_features, and so do we, so that ``hidden=(2,)`` is its very draw).

    Returns ``(W_1, ..., W_L, w_out)``: ``W_1`` (n_features, hidden[0]), ``W_k``
    (hidden[k-2], hidden[k-1]), ``w_out`` (hidden[-1],).
    """
    if isinstance(n_features, bool) or not isinstance(n_features, (int, np.integer)):
        raise TypeError(f"n_features: expected an int, got {type(n_features).__name__}")
    if n_features < 1:
        raise ValueError(f"n_features: expected >= 1, got {n_features}")
    sizes = check_hidden(hidden, n_features)
    rs = np.random.RandomState(seed)
    scale = 1 / n_features**0.5
    fan_in = (n_features, *sizes[:-1])
    shapes = [(a, b) for a, b in zip(fan_in, sizes, strict=True)] + [(sizes[-1],)]
    return tuple(rs.normal(scale=scale, size=shape).astype(dtype) for shape in shapes)


def make_synthetic(
    n: int, d: int, seed: int = 0, dtype: np.dtype | type = np.float64
) -> tuple[np.ndarray, np.ndarray]:
    """A seeded logistic data set for scaling tests and benchmarks.

    ``X ~ Normal(0, 1)`` of shape (n, d); a hidden ``w* ~ Normal(0, 1/√d)``; targets
    ``y_i ~ Bernoulli(sigmoid(x_i·w*))`` as 0.0/1.0 of shape (n,).
    """
    for name, value in (("n", n), ("d", d)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
        if value < 1:
            raise ValueError(f"{name}: expected >= 1, got {value}")
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w_true = rng.normal(scale=1 / d**0.5, size=d)
    p = 1.0 / (1.0 + np.exp(-(X @ w_true)))
    y = (rng.random(n) < p).astype(np.float64)
    return X.astype(dtype, copy=False), y.astype(dtype, copy=False)
