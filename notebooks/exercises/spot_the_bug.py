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
# # Spot the bug · every classic mistake against autograd
#
# Each entry of `gd_compare.learner.mistakes` is a deliberately wrong, learner-shaped function. Below,
# every mistake in the lesson's training loop (`mse_training`: one epoch per call) runs **on its
# own** for 60 epochs from the lesson's start, next to autograd's run: its train-MSE curve is
# its signature. Most look harmless on a plot (a slightly slower or faster curve); `check` finds
# each one at the first step where it matters and names it.

# %%
import matplotlib.pyplot as plt
import numpy as np

from gd_compare import check
from gd_compare.learner.check import catalogue_table, run_catalogue
from gd_compare.learner.mistakes import for_concept
from gd_compare.lesson.data import initial_weights, load_admissions
from gd_compare.numpy_backend import by_hand
from gd_compare.show.plots import display_png
from gd_compare.torch_backend import autograd

X, y, _, _ = load_admissions().arrays()
start = initial_weights(X.shape[1])
EPOCHS = 60
reference = autograd.mse_training(X, y, start, lr=0.5, epochs=EPOCHS)


# %%
def trajectory(fn, epochs=EPOCHS, lr=0.5):
    """The train MSE before each epoch when the wrong function trains on its own."""
    weights, losses = start.copy(), []
    with np.errstate(all="ignore"):
        for _ in range(epochs):
            losses.append(by_hand.mse(X, y, weights) if np.isfinite(weights).all() else np.nan)
            out = fn(X.copy(), y.copy(), weights.copy(), lr)
            weights = np.asarray(out[0] if isinstance(out, tuple) else out, dtype=float)
    return np.array(losses)


entries = for_concept("mse_training")
fig, axes = plt.subplots(4, 4, figsize=(13, 11), sharex=True)
for ax, m in zip(axes.flat, entries):
    caught = check(m.learner(), "mse_training", epochs=5)
    ax.plot(reference.losses, color="k", lw=2, label="autograd")
    ax.plot(trajectory(m.learner()), color="tab:red", lw=1.2, ls="--", label="mistake")
    ax.axvline(caught.step - 1, color="tab:blue", lw=0.8)
    ax.set_title(f"{m.title}\ncaught at step {caught.step}", fontsize=8)
    ax.tick_params(labelsize=7)
for ax in list(axes.flat)[len(entries):]:
    ax.axis("off")
axes.flat[0].legend(fontsize=7)
fig.supxlabel("epoch (blue: the step check() stops at)")
fig.supylabel("train MSE")
fig.tight_layout()
display_png(fig)

# %% [markdown]
# The same for backpropagation (`backprop`: one epoch per call, the course's network, lr 0.5 so
# that 60 epochs move it): the hidden layer's mistakes barely change the loss curve.

# %%
from gd_compare.lesson.data import initial_network_weights

network = initial_network_weights(X.shape[1], (2,), seed=21)
net_reference = autograd.backprop_training(X, y, network, lr=0.5, epochs=EPOCHS)


def network_trajectory(fn, epochs=EPOCHS, lr=0.5):
    w_ih, w_ho, losses = network[0].copy(), network[1].copy(), []
    for _ in range(epochs):
        losses.append(by_hand.network_mse(X, y, (w_ih, w_ho)))
        w_ih, w_ho = fn(X.copy(), y.copy(), w_ih.copy(), w_ho.copy(), lr)
    return np.array(losses)


entries = for_concept("backprop")
fig, axes = plt.subplots(1, len(entries), figsize=(13, 3.4))
for ax, m in zip(axes, entries):
    caught = check(m.learner(), "backprop", epochs=5, lr=0.5)
    ax.plot(net_reference.losses, color="k", lw=2, label="autograd")
    ax.plot(network_trajectory(m.learner()), color="tab:red", lw=1.2, ls="--", label="mistake")
    ax.set_title(f"{m.title}\ncaught at step {caught.step}", fontsize=8)
    ax.tick_params(labelsize=7)
axes[0].legend(fontsize=7)
axes[0].set_ylabel("train MSE")
fig.tight_layout()
display_png(fig)

# %% [markdown]
# Which curve is which? "lr applied twice" and "the sigmoid' factor missing" both just learn
# more slowly or faster; "the loss logged after the update" has the very same weights as
# autograd (its curve lies on top) — only the loss it reports is off; "`del_w` not reset" and
# "forgot `zero_grad()`" are right for one epoch and then accelerate. The whole catalogue, each
# entry checked as a learner's function — the step it is caught at and the computed diagnosis:

# %%
from IPython.display import Markdown

Markdown(catalogue_table(run_catalogue()))
