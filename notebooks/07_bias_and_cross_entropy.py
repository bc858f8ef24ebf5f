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
# # 7 · Bias and cross-entropy
#
# The two questions every learner of this lesson asks next:
#
# 1. **"Where is the bias?"** The lesson's neuron computes sigmoid(x·w); the course's network has
#    no bias either. A bias b makes it sigmoid(x·w + b) — and b is nothing but *a weight on an
#    input that is always 1*, so its update is del_w's formula without the x:
#    **del_b = Σ error_term** (and b += lr·del_b / m).
# 2. **"Why does the course compute log-loss but update as if it were the squared error?"** With
#    binary cross-entropy, BCE = −[y·log ŷ + (1 − y)·log(1 − ŷ)], the derivative of the loss
#    with respect to ŷ is −error / (ŷ(1 − ŷ)) — and that cancels the sigmoid's slope ŷ(1 − ŷ):
#    **error_term = error**, the update is error·x. The squared error keeps the sigmoid's slope
#    (error_term = error·ŷ(1 − ŷ)), which vanishes where the sigmoid saturates.
#
# Both are options of every training concept here: `bias=True` (one bias per unit, starting at 0;
# the weights keep the lesson's draw, so `bias=False` — the default — is the lesson bit for bit)
# and `loss="bce"` (mean BCE, lr as given — no ½, which belongs to the squared error). PyTorch
# gets `nn.Linear(..., bias=True)` (a bias `nn.Parameter` per layer in the network) and
# `nn.BCEWithLogitsLoss` on h; the harness proves both backends take the same steps.
#
# *The source of this notebook is `notebooks/07_bias_and_cross_entropy.py` (jupytext, paired with the `.ipynb`); executed in CI
# by `python -m pytest` (`tests/test_notebooks.py`). Everything is deterministic.*

# %%
import types

import numpy as np
from matplotlib.figure import Figure

from gd_compare import assert_equivalent, compare, load_admissions
from gd_compare.lesson.core import Step
from gd_compare.numpy_backend import by_hand
from gd_compare.show import plots
from gd_compare.show.teaching import harness_table, side_by_side
from gd_compare.torch_backend import autograd

np.set_printoptions(precision=6)
show = plots.display_png
X, y, X_test, y_test = load_admissions().arrays()

# %% [markdown]
# ## The bias is a weight on a constant input of 1
#
# By hand, the bias adds one line to the lesson's step: `h = X @ w + b`, and its `del_b` is the
# error terms summed. PyTorch's twin is `nn.Linear(6, 1, bias=True)`:

# %%
side_by_side(["_neuron_del_w", "_gradient_step"], ["Neuron", "_objective"])

# %% [markdown]
# To see that the bias really is "a weight on an input of 1", here is a third implementation with
# **no bias at all**: the lesson's neuron by hand, trained on the features with a column of ones
# appended (its weight starting at 0). Handed to the harness in place of the NumPy backend, it is
# compared step by step with PyTorch's `nn.Linear(bias=True)`: weight 7 of the one is the bias.

# %%
ones_column = types.ModuleType("ones_column")
vars(ones_column).update({name: getattr(by_hand, name) for name in by_hand.__all__})


def iter_mse_training(features, targets, weights, lr, epochs, *, bias, **options):
    assert bias  # this backend has its bias as the weight of the column of ones
    with_ones = np.column_stack([features, np.ones(len(features))])
    for step in by_hand.iter_mse_training(with_ones, targets, np.append(weights, 0.0), lr,
                                          epochs, **options):
        w = step.params[0]
        yield step._replace(params=(w[:-1], w[-1:]))  # (weights, bias)


ones_column.iter_mse_training = iter_mse_training
for loss in ("mse", "bce"):
    result = assert_equivalent(compare("mse_training", bias=True, loss=loss,
                                       backends=(ones_column, autograd)))
    print(f"{loss}: a column of ones by hand = nn.Linear(bias=True) by autograd at every one of "
          f"{result.steps} updates; max |Δ| weights {result.max_abs_diff['weights']:.1e}, "
          f"bias {result.max_abs_diff['bias']:.1e}; final bias {result.numpy.final_weights[1]}")

# %% [markdown]
# And the real twins, every training concept with a bias, for both losses:

# %%
runs = {(name, loss): assert_equivalent(compare(name, bias=True, loss=loss, **extra))
        for name, extra in [("mse_training", {}), ("sgd_batching", {}),
                            ("backprop", {"lr": 0.5, "hidden": (3,)})]
        for loss in ("mse", "bce")}
harness_table(list(runs.values()), labels=[f"bias, {loss}" for _, loss in runs])

# %% [markdown]
# ## MSE vs BCE: the gradient, side by side
#
# The one line where the two losses differ by hand is the error term; in PyTorch it is which loss
# `backward()` starts from (BCE on h, the logits — see the docstring on the right for why not
# `nn.BCELoss` on ŷ):

# %%
side_by_side("_error_term", "_criterion")

# %% [markdown]
# One record, target y = 1, x = 1, weight = h: the gradient −∂E/∂h, read from each backend's
# `gradient` (by hand and by autograd), as h runs from very wrong (h = −10: ŷ ≈ 0) to right.
# The squared error's step is error·ŷ(1 − ŷ): it **vanishes at saturation**, exactly where the
# neuron is most wrong. The cross-entropy's step is the error itself, close to 1 there.

# %%
hs = np.linspace(-10, 10, 201)
steps = {(mod.__name__.split(".")[1], loss):
         np.array([-float(mod.gradient([[1.0]], [1.0], [h], loss=loss)[0]) for h in hs])
         for mod in (by_hand, autograd) for loss in ("mse", "bce")}
for loss in ("mse", "bce"):
    gap = np.max(np.abs(steps["numpy_backend", loss] - steps["torch_backend", loss]))
    print(f"{loss}: −∂E/∂h at h = −10: {steps['numpy_backend', loss][0]:.3e} "
          f"(by hand) | {steps['torch_backend', loss][0]:.3e} (autograd); largest gap {gap:.1e}")
fig = Figure(figsize=(7, 3.2), layout="constrained")
ax = fig.subplots()
for loss, color, name in (("mse", "tab:blue", "½·(y − ŷ)²: error·ŷ(1 − ŷ)"),
                          ("bce", "tab:red", "BCE: error")):
    ax.plot(hs, steps["numpy_backend", loss], color=color, linewidth=4, alpha=0.4,
            label=f"{name} — NumPy (by hand)")
    ax.plot(hs, steps["torch_backend", loss], "k--", linewidth=1)
ax.plot([], [], "k--", linewidth=1, label="PyTorch (autograd)")
ax.set_xlabel("h = x·w   (target y = 1)")
ax.set_ylabel("−∂E/∂h (the error term)")
ax.set_title("The step the loss gives a wrong answer")
ax.legend(fontsize=8)
show(fig)


# %% [markdown]
# ## The course's confusion, caught
#
# A course notebook prints the log-loss but keeps the squared error's update:
# `error_term = error * output * (1 - output)`. Written as a learner would, and handed to the
# harness against autograd on the BCE loss, it is caught at its **first** step — the loss it
# reports agrees (it *is* the log-loss), the weights it steps to do not:

# %%
def confused_iter_mse_training(features, targets, weights, lr, epochs, **options):
    w = np.array(weights, dtype=float)
    for epoch in range(epochs):
        output = by_hand.sigmoid(features @ w)
        error = targets - output
        error_term = error * output * (1 - output)  # the squared error's error term...
        loss = by_hand.bce(features, targets, w)    # ...while the log-loss is printed
        w += lr * (error_term @ features) / len(targets)
        yield Step(epoch + 1, epoch, True, (w,), loss)


confused = types.ModuleType("confused")
vars(confused).update({name: getattr(by_hand, name) for name in by_hand.__all__})
confused.iter_mse_training = confused_iter_mse_training
caught = compare("mse_training", loss="bce", epochs=50, backends=(confused, autograd),
                 stop_on_failure=True)
print("passed:", caught.passed)
print(caught.first_failure)

# %% [markdown]
# ## MSE vs BCE on the admissions data
#
# The lesson's neuron — its split, its weights (seed 42), lr 0.5, 1000 epochs — trained on each
# loss, with and without a bias. Each run's final train loss is shown on *both* scales (MSE and
# BCE of the final weights), and its test accuracy:

# %%
lesson = {(loss, bias): assert_equivalent(compare("mse_training", loss=loss, bias=bias))
          for loss in ("mse", "bce") for bias in (False, True)}
print(f"{'trained on':<10} {'bias':<5} {'train MSE':>10} {'train BCE':>10} {'test accuracy':>14}")
for (loss, bias), r in lesson.items():
    params = r.numpy.final_weights if bias else r.numpy.weights
    print(f"{loss:<10} {bias!s:<5} {by_hand.mse(X, y, params):>10.6f} "
          f"{by_hand.bce(X, y, params):>10.6f} {r.numpy.test_accuracy:>14.3f}")
harness_table(list(lesson.values()),
              labels=[f"{loss}, bias={bias}" for loss, bias in lesson])

# %% [markdown]
# Every run reaches the test accuracy 0.725, and the bias barely moves the final loss: the
# lesson's features already hold a constant — the four rank dummies sum to 1 for every record —
# so a bias adds no direction the neuron could not already take; it changes the *path* (the
# starting point b = 0 and the step of that direction), not the best fit.
#
# The curves: after every update, the train MSE (left) and the train BCE (right) of each run's
# weights — each run measured on both scales, NumPy's trajectory wide and PyTorch's dashed on top.

# %%
fig = Figure(figsize=(10, 3.6), layout="constrained")
axes = fig.subplots(1, 2)
colors = {("mse", False): "tab:blue", ("mse", True): "tab:cyan",
          ("bce", False): "tab:red", ("bce", True): "tab:orange"}
for ax, measure in zip(axes, (by_hand.mse, by_hand.bce), strict=True):
    for (loss, bias), r in lesson.items():
        curves = []
        for run in (r.numpy, r.torch):
            rows = zip(*run.history) if bias else run.history[0]
            curves.append([measure(X, y, tuple(p) if bias else p) for p in rows])
        epochs = np.arange(1, len(curves[0]) + 1)
        ax.plot(epochs, curves[0], color=colors[loss, bias], linewidth=4, alpha=0.45,
                label=f"trained on {loss.upper()}, {'with' if bias else 'no'} bias")
        ax.plot(epochs, curves[1], "k--", linewidth=0.7)
    ax.plot([], [], "k--", linewidth=0.7, label="PyTorch (autograd)")
    ax.set_xscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"train {measure.__name__.upper()}")
    ax.set_title(f"train {measure.__name__.upper()} after every update, lr 0.5")
    ax.legend(fontsize=7)
show(fig)

# %% [markdown]
# At lr 0.5 both losses reach the same fit (MSE 0.19697, BCE 0.57827); the cross-entropy gets
# there in fewer epochs, and so does a neuron with a bias. The two backends draw one line.
