# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 3 · Full-batch gradient descent with the mean squared error
#
# The admissions data (gre, gpa, rank → admit; 360 training and 40 test records, prepared as the
# lesson's `data_prep`), one sigmoid neuron, weights drawn from Normal(0, 1/√n_features) with
# seed 42, **1000 epochs, learnrate 0.5**. Every epoch:
#
# - for every record: output = sigmoid(x·w), error = y − output,
#   error_term = error·output·(1 − output), **del_w += error_term·x**;
# - then **weights += learnrate · del_w / n_records**.
#
# Dividing by n_records is the MSE: the update is gradient descent on
# E = ½·MSE = (1/2m)·Σ(y − ŷ)², and the loss printed is MSE = mean((ŷ − y)²).
# PyTorch is given exactly that E, `(0.5 * nn.MSELoss()(output, y)).backward()`, and
# `torch.optim.SGD(lr=0.5)` — the same learning rate a learner types in both.
#
# *The source of this notebook is `notebooks/03_mse_training.py` (jupytext, paired with the `.ipynb`); executed in CI by `python -m pytest` (`tests/test_notebooks.py`). Everything is deterministic: the starting weights and the batch order come from the lesson's seed 42.*

# %%
import numpy as np

from gd_compare import DivergenceError, assert_equivalent, compare, load_admissions
from gd_compare.show import plots
from gd_compare.show.teaching import harness_table, side_by_side

np.set_printoptions(precision=6)
show = plots.display_png  # draws a matplotlib Figure as a PNG, whatever the backend

# %% [markdown]
# ## The data, as the lesson's `data_prep` made it — and why its file fails on pandas 3
#
# `load_admissions()` does what the lesson's `data_prep.py` did: one-hot `rank` into
# `rank_1 … rank_4`, standardize `gre` and `gpa` with pandas' sample std, then
# `np.random.seed(42)` and a 90/10 `np.random.choice` split (from a private `RandomState(42)`, the
# same rows without touching your global random state).
#
# If you run the course's own `data_prep.py` on **pandas ≥ 3**, it stops with a `TypeError`:
# `data.loc[:, field] = (data[field] - mean) / std` writes floats into the *int* column `gre` in
# place, which pandas 3 refuses. Fix it as `load_admissions` does: `data[field] = ...` replaces the
# column. The second trap is silent until the math: `pd.get_dummies` returns **bool** columns now,
# so `features.values` is an *object* array and `np.dot` fails on it; `load_admissions` casts the
# dummies to float (`.astype(float)`), the numbers the course had.

# %%
import pandas as pd

from gd_compare.lesson.data import read_admissions_csv

# the course's data_prep.py, line for line, on whatever pandas is installed here
data = read_admissions_csv()
data = pd.concat([data, pd.get_dummies(data["rank"], prefix="rank")], axis=1)
data = data.drop("rank", axis=1)
print(f"pandas {pd.__version__}: get_dummies gives {data['rank_1'].dtype} columns; "
      f".values is {data.drop(columns='admit').values.dtype}")
try:
    for field in ["gre", "gpa"]:
        mean, std = data[field].mean(), data[field].std()
        data.loc[:, field] = (data[field] - mean) / std
    print("data.loc[:, field] = ... still works on this pandas")
except TypeError as exc:
    print("data.loc[:, field] = ... raises TypeError:", str(exc)[:40], "…",
          str(exc)[-22:])

# %%
features, targets, features_test, targets_test = load_admissions()
print(features.dtypes.to_dict())
print(features.shape, features_test.shape, "| training rows start:", list(features.index[:5]))
features.head(3)

# %% [markdown]
# ## The code, twice
#
# Left: one update by hand, the lesson's loop as matrix products (`del_w = error_term @ X` is
# Σ error_term·x), then the loop over epochs. Right: the PyTorch loop — forward, `backward()`,
# `optimizer.step()`; not one derivative.

# %%
side_by_side(["_neuron_del_w", "_gradient_step", "_train"], "_train")

# %% [markdown]
# The lesson's own loop goes record by record: `del_w += error_term * x` for each record, one
# update per epoch. It is kept as `per_record=True`; PyTorch does the same by calling
# `backward()` once per record, which *adds* each record's gradient into `.grad`.

# %%
side_by_side("_per_record_epoch", "_train_per_record")

# %% [markdown]
# The record-by-record loop is slow in PyTorch (360 `backward()` calls per epoch), so here it runs
# 5 epochs; it takes the same steps as the matrix version, up to rounding (it sums in another order).

# %%
per_record = assert_equivalent(compare("mse_training", per_record=True, epochs=5))
matrix = compare("mse_training", epochs=5)
print("largest gap to the matrix version:",
      np.max(np.abs(per_record.numpy.losses - matrix.numpy.losses)))
harness_table([per_record, matrix], labels=["per record, 5 epochs", "matrix, 5 epochs"])

# %% [markdown]
# ## The harness's verdict
#
# Both backends train in lockstep; weights and loss are compared after every one of the 1000
# updates, and the lesson's log and the test accuracy at the end.

# %%
result = assert_equivalent(compare("mse_training"))
harness_table(result)

# %%
for a, b in zip(result.numpy.log, result.torch.log, strict=True):
    print(f"epoch {a[0]:>3}   NumPy Train loss: {a[1]:.16f}   PyTorch Train loss: {b[1]:.16f}")
print("Prediction accuracy:", result.numpy.test_accuracy, "|", result.torch.test_accuracy)

# %% [markdown]
# ## The proof in one picture
#
# Left: the MSE of every epoch — the PyTorch curve (dashed) lies exactly on the hand-written one.
# Middle: |NumPy − PyTorch| per update on a log axis: single roundings around 1e-16 (float64's
# machine ε is 2.2e-16), four orders of magnitude below the harness tolerance, and not growing
# over 1000 epochs. Right: the six weights.

# %%
show(plots.comparison_figure(result))

# %% [markdown]
# ## SSE vs MSE at the same learning rate
#
# The lesson first used the **sum** of squared errors. Without the division by n_records, every
# update is 360 times larger: with lr = 0.5 the SSE run does not settle — it overshoots, and
# bounces between two sets of weights. (It does not blow up to infinity here: the sigmoid
# saturates, so the loss stays bounded; a linear model would diverge.) Divided by 360, the
# learning rate 0.5/360 makes the SSE update the MSE update again — the green curve lies on the
# blue one. This is why the lesson switches to the MSE: the learning rate no longer depends on
# how much data there is.
#
# The losses are drawn on one scale (an SSE divided by 360 reads as an MSE); the right panel
# shows the size of every update.

# %%
n_records = 360
try:
    sse = assert_equivalent(compare("mse_training", loss="sse", lr=0.5))
    print(f"SSE, lr=0.5: final SSE {sse.numpy.final_loss:.4f} = MSE {sse.numpy.final_loss / n_records:.4f}"
          f" (MSE run: {result.numpy.final_loss:.4f}); test accuracy {sse.numpy.test_accuracy}")
except DivergenceError as exc:  # shown, not hidden, should it ever diverge
    sse = exc
    print("SSE, lr=0.5 diverged:", exc)
sse_small = assert_equivalent(compare("mse_training", loss="sse", lr=0.5 / n_records))
print(f"SSE, lr=0.5/360: final MSE {sse_small.numpy.final_loss / n_records:.6f}")
runs = {"SSE, lr=0.5": sse, "SSE, lr=0.5/360": sse_small}
runs = {k: r for k, r in runs.items() if not isinstance(r, Exception)}
harness_table(list(runs.values()), labels=list(runs))

# %%
show(plots.sse_vs_mse_figure(result, sse, n_records=n_records, lr=0.5,
                             sse_small_lr=(0.5 / n_records, sse_small)))

# %% [markdown]
# ## A learning-rate sweep
#
# 300 epochs at four learning rates. Too small (0.05): slow. The lesson's 0.5: steady. 5: fast.
# 50: the steps overshoot and the loss oscillates above the minimum. At every learning rate the
# two backends agree.

# %%
sweep = {lr: assert_equivalent(compare("mse_training", lr=lr, epochs=300))
         for lr in (0.05, 0.5, 5.0, 50.0)}
harness_table(list(sweep.values()), labels=[f"lr={lr:g}" for lr in sweep])

# %%
show(plots.lr_sweep_figure(sweep))
