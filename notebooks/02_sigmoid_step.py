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
# # 2 · One sigmoid neuron: one gradient-descent step, and the exercise
#
# A neuron with two inputs and a sigmoid activation, one record: x = [0.1, 0.3], y = 0.2,
# weights = [−0.8, 0.5], learning rate 0.5. In the lesson's names:
#
# | quantity | formula |
# |---|---|
# | h | x·w = x₀w₀ + x₁w₁ (`np.dot(x, weights)`) |
# | output (ŷ) | sigmoid(h) = 1 / (1 + e^(−h)) |
# | error | y − output |
# | output_grad | sigmoid′(h) = sigmoid(h)·(1 − sigmoid(h)) = output·(1 − output) |
# | error_term (δ) | error · output_grad |
# | del_w | learnrate · error_term · x |
# | new weights | weights + del_w |
#
# This is gradient descent on E = ½(y − ŷ)²: −∂E/∂w = (y − ŷ)·sigmoid′(h)·x = error_term·x.
#
# *The source of this notebook is `notebooks/02_sigmoid_step.py` (jupytext, paired with the `.ipynb`); executed in CI by `python -m pytest` (`tests/test_notebooks.py`). Everything is deterministic: the starting weights and the batch order come from the lesson's seed 42.*

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
# NumPy computes every line of the table. PyTorch computes only the forward pass and the loss;
# `(0.5 * loss).backward()` finds the gradient, and the lesson's quantities are *read off*
# autograd: error_term = −`h.grad` (the gradient of E at h), del_w = −lr·`w.grad`, the change
# `optimizer.step()` makes.

# %%
side_by_side("sigmoid_step")

# %%
mine, torch_s = by_hand.sigmoid_step(), autograd.sigmoid_step()
for field in ("h", "output", "error", "error_term", "del_w", "weights"):
    print(f"{field:>10}: NumPy {getattr(mine, field)}   PyTorch {getattr(torch_s, field)}")

# %% [markdown]
# The last digit may differ (as in error_term here): the two compute the same formula in a
# different order, and a float64 rounding is about 1e-17 at this size. That is what the harness's
# tolerance (1e-12) allows — a wrong derivative would be off in the first digits.
#
# ## The exercise
#
# x = [1, 2, 3, 4], y = 0.5, w = [0.5, −0.5, 0.3, 0.1], learnrate 0.5. The lesson expects
# output 0.6899744811276125, error −0.18997448112761249 and change in weights
# [−0.02031869, −0.04063738, −0.06095608, −0.08127477].

# %%
for name, backend in (("NumPy (by hand)", by_hand), ("PyTorch (autograd)", autograd)):
    step = backend.sigmoid_exercise()
    print(name)
    print("  Neural Network output:", step.output)
    print("  Amount of Error:", step.error)
    print("  Change in Weights:", step.del_w)

# %% [markdown]
# ## The harness's verdict
#
# Every intermediate quantity — h, output, error, error_term, del_w, the new weights and the
# loss — is compared; a difference over 1e-12 raises and fails this notebook.

# %%
results = [assert_equivalent("sigmoid_step"), assert_equivalent("sigmoid_exercise")]
harness_table(results)

# %% [markdown]
# ## Many steps: the curves
#
# Repeat the step 100 times on the same record (each backend from its own weights): the output
# approaches the target 0.2 and the loss (y − ŷ)² falls. The middle panel shows the distance
# between the two backends per step on a log axis: zero or a single rounding (~1e-17), far
# below the tolerance.

# %%
repeated = assert_equivalent(plots.repeat_step("sigmoid_step", 100))
show(plots.comparison_figure(repeated))

# %%
exercise = assert_equivalent(plots.repeat_step("sigmoid_exercise", 100))
show(plots.comparison_figure(exercise))
