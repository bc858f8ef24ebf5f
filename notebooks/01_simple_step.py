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
# # 1 · The slope of one weight
#
# The lesson's first example: a model with **one weight** and no activation, one record.
#
# | | |
# |---|---|
# | input | x = 3 |
# | target | y = 10 |
# | weight | w = 2 |
# | prediction | w·x = 6 |
# | loss | MSE = (prediction − y)² = (6 − 10)² = 16 |
#
# To find the slope of the loss with respect to the weight, multiply (the chain rule):
#
# 1. the slope of the loss w.r.t. the prediction: **2·(prediction − y) = 2·(−4) = −8**,
# 2. the value of the node that feeds into the weight: **x = 3**,
# 3. the slope of the activation: there is none (1).
#
# **slope = 2 · (−4) · 3 = −24**, and with learning rate 0.01 the new weight is
# **w − lr·slope = 2 − 0.01·(−24) = 2.24**.
#
# *The source of this notebook is `notebooks/01_simple_step.py` (jupytext, paired with the `.ipynb`); executed in CI by `python -m pytest` (`tests/test_notebooks.py`). Everything is deterministic: the starting weights and the batch order come from the lesson's seed 42.*

# %%
import numpy as np

from gd_compare import assert_equivalent
from gd_compare.numpy_backend import by_hand
from gd_compare.show import plots
from gd_compare.show.teaching import harness_table, side_by_side
from gd_compare.torch_backend import autograd

np.set_printoptions(precision=6)
show = plots.display_png  # draws a matplotlib Figure as a PNG, whatever the backend

# %% [markdown]
# ## The code, twice
#
# On the left the slope is written out by hand, `slope = 2 * error * x_`. On the right nobody
# writes it: `loss.backward()` puts it in `w.grad`, and `torch.optim.SGD` does `w − lr·w.grad`.
# This is the source of the functions the harness runs (read with `inspect`, not copied).

# %%
side_by_side("simple_step")

# %% [markdown]
# ## Both answers

# %%
mine, torch_s = by_hand.simple_step(), autograd.simple_step()
for field in ("prediction", "error", "loss", "slope", "w"):
    print(f"{field:>10}: NumPy {getattr(mine, field):>6g}   PyTorch {getattr(torch_s, field):>6g}")

# %% [markdown]
# ## The harness's verdict
#
# `assert_equivalent` runs both backends from the same inputs, compares every quantity and raises
# (failing this notebook) if any differs by more than 1e-12.

# %%
result = assert_equivalent("simple_step")
harness_table(result)

# %% [markdown]
# ## Many steps: the curves
#
# One step has no curve, so repeat it: each backend starts from *its own* previous weight, as in
# training, and `plots.repeat_step` compares the two trajectories step by step. The weight walks
# to 10/3 (where 3·w = 10 and the loss is 0).
#
# Left: the loss before every step, NumPy (wide, light) with PyTorch (dashed) on top.
# Middle: the difference |NumPy − PyTorch| on a log axis, with the harness tolerance (red) and
# float64's machine ε (grey) for scale — here it is exactly 0 at every step, drawn at the floor.
# Right: the weight after every step.

# %%
repeated = assert_equivalent(plots.repeat_step("simple_step", 30))
show(plots.comparison_figure(repeated))

# %% [markdown]
# ## The learning rate
#
# The step is w ← w − lr·2·(3w − 10)·3 = w − 18·lr·(w − 10/3): the distance to 10/3 is multiplied
# by (1 − 18·lr) every step. It shrinks when 0 < lr < 2/18 ≈ 0.111 and **grows** beyond that —
# the loss curve for lr = 0.12 climbs (log axis). Both backends diverge identically.

# %%
sweep = {lr: assert_equivalent(plots.repeat_step("simple_step", 30, lr=lr))
         for lr in (0.01, 0.03, 0.1, 0.12)}
show(plots.lr_sweep_figure(sweep, logy=True))
