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
# # Exercise · backpropagation
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
# The course's network: the admissions data's 6 inputs, 2 hidden sigmoid units, one sigmoid
# output, no biases; weights drawn with seed 21. Write **one epoch** of backpropagation, record by
# record: the forward pass, the output error term, the hidden error term (the output error term
# sent back through `weights_hidden_output`, times the hidden units' sigmoid'), the two `del_w`
# sums, and after the loop one update of both layers with the average change. Return both weight
# arrays. The check runs 900 epochs at lr 0.005, as the course did.

# %% exercise={"concept": "backprop", "function": "train_epoch"} tags=["todo"]
def train_epoch(features, targets, weights_input_hidden, weights_hidden_output, learnrate):
    n_records = features.shape[0]
    del_w_input_hidden = np.zeros(weights_input_hidden.shape)
    del_w_hidden_output = np.zeros(weights_hidden_output.shape)
    for x, y in zip(features, targets):
        # TODO: the forward pass
        hidden_input = None
        hidden_output = None
        output = None

        # TODO: the backward pass
        error = None
        output_error_term = None
        hidden_error = None
        hidden_error_term = None

        # TODO: add this record's change to both del_w
        del_w_hidden_output += None
        del_w_input_hidden += None

    # TODO: update both layers with the learning rate and the average change
    weights_input_hidden += None
    weights_hidden_output += None
    return weights_input_hidden, weights_hidden_output


# %% tags=["check"]
result = check(train_epoch, "backprop")
print(result)
