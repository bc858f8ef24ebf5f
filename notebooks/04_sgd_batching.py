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
# # 4 · Stochastic (mini-batch) gradient descent
#
# From the lesson: *it is common to calculate slopes on only a subset of the data (a batch), use
# a different batch for the next update, and start over once all data is used; each pass is an
# epoch. When slopes are calculated on one batch at a time, this is stochastic gradient descent.*
#
# Each update is the full-batch update of notebook 3 on a batch of m records, averaged over m:
#
# **weights += learnrate · Σ_batch error_term·x / m**
#
# Every epoch draws a fresh permutation of the 360 records from one seeded generator
# (`gd_compare.lesson.core.BatchOrder`); both backends are handed *the same* batches in the same order —
# NumPy and PyTorch both index their data with them (for PyTorch that is what a `DataLoader`
# with this object as its sampler would hand over; a test checks it bit for bit). Defaults:
# batch size 32, 100 epochs, learnrate 0.5 (12 updates per epoch, the last batch has 8 records).
#
# *The source of this notebook is `notebooks/04_sgd_batching.py` (jupytext, paired with the `.ipynb`); executed in CI by `python -m pytest` (`tests/test_notebooks.py`). Everything is deterministic: the starting weights and the batch order come from the lesson's seed 42.*

# %%
import numpy as np

from gd_compare import assert_equivalent, compare
from gd_compare.show import plots
from gd_compare.show.teaching import harness_table, side_by_side

np.set_printoptions(precision=6)
show = plots.display_png  # draws a matplotlib Figure as a PNG, whatever the backend

# %% [markdown]
# ## The batch order both backends share

# %%
from gd_compare.lesson.core import BatchOrder
from gd_compare.show.teaching import source

print(source(BatchOrder.__iter__))

# %% [markdown]
# ## The code, twice
#
# `sgd_batching` itself is written once for both backends (`gd_compare/lesson/training.py`): it checks
# the arguments, builds the shared batch order and hands it to each backend's loop. The NumPy loop
# calls the same hand-written update as notebook 3 on `X[batch]`; the PyTorch loop is the same
# function as for full-batch training — only the batch order differs.

# %%
side_by_side("_train")

# %% [markdown]
# ## The harness's verdict: 1200 updates, compared one by one

# %%
result = assert_equivalent(compare("sgd_batching"))
harness_table(result)

# %% [markdown]
# Left: the MSE of each batch — noisy, because each batch is a different sample of the data; the
# PyTorch curve follows every wiggle of the NumPy one. Middle: the per-update difference on a log
# axis, ~1e-16. Right: the weights, jittering along the path the full-batch run takes smoothly.

# %%
show(plots.comparison_figure(result))

# %% [markdown]
# ## Batch size 1, 32 and the full batch
#
# Ten epochs at the same learning rate 0.5:
#
# - **batch size 1** (per-example SGD): 360 updates per epoch, each from one record — a very noisy
#   loss per update;
# - **batch size 32**: 12 updates per epoch, moderate noise;
# - **batch size 360**: the full batch, 1 update per epoch — the smooth curve of notebook 3.
#
# Left, *per update* (log x axis): the noise of stochastic gradients against the smooth full-batch
# curve. Right, *per epoch*: the train MSE over all records after each epoch — with the same
# number of passes over the data, the small batches get much further, because they made many more
# (noisier) steps; batch size 1 at this learning rate also keeps jumping around the minimum.

# %%
from gd_compare import load_admissions

X, y, X_test, y_test = load_admissions().arrays()
sizes = {size: assert_equivalent(compare("sgd_batching", batch_size=size, epochs=10))
         for size in (1, 32, 360)}
harness_table(list(sizes.values()), labels=[f"batch size {s}" for s in sizes])

# %%
show(plots.batch_size_figure(sizes, X, y))

# %% [markdown]
# The full batch *is* full-batch gradient descent: batch size 360 takes exactly the updates of
# `mse_training` — not just close, the same floating-point numbers.

# %%
full = compare("mse_training", epochs=10)
same = np.array_equal(sizes[360].numpy.losses, full.numpy.losses)
print("batch size 360 == mse_training, bit for bit:", same)
assert same
