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
# # Exercise · gradient descent on the admissions data
#
#
# **How this works.** Fill in the TODO cell, run it, then run the `check(...)` cell under it. It
# runs *your* function in lockstep with PyTorch autograd (which writes no derivative by hand),
# from the same state at every step, and stops at the first step where your result differs: it
# shows the step, the quantity, both values — and, when your step is one of the classic mistakes,
# its name and the fix. `result.passed` is `True` when every step agrees.

# %%
import numpy as np

from gd_compare import check


def sigmoid(x):
    """Calculate sigmoid"""
    return 1 / (1 + np.exp(-x))


def sigmoid_prime(x):
    """Derivative of the sigmoid function"""
    return sigmoid(x) * (1 - sigmoid(x))


# %% [markdown]
# Write **one epoch** of the lesson's training loop: for every record, the output, the error,
# the error term and its contribution to `del_w`; after the loop, one update of the weights with
# the learning rate and the *average* change (`n_records`). The check runs your epoch 1000 times
# (the lesson's run: the admissions data, weights drawn with seed 42, learning rate 0.5), each
# time from autograd's weights. Updating `weights` in place (`weights += ...`) is fine.

# %% exercise={"concept": "mse_training", "function": "train_epoch"} tags=["todo"]
def train_epoch(features, targets, weights, learnrate):
    n_records = features.shape[0]
    del_w = np.zeros(weights.shape)
    for x, y in zip(features, targets):
        # TODO: Calculate the output
        output = None

        # TODO: Calculate the error
        error = None

        # TODO: Calculate the error term
        error_term = None

        # TODO: Calculate the change in weights for this sample
        #       and add it to the total weight change
        del_w += None

    # TODO: Update weights using the learning rate and the average change in weights
    weights += None
    return weights


# %% tags=["check"]
result = check(train_epoch, "mse_training")
print(result)
