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
# # Exercise · one gradient descent step
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
# One sigmoid neuron: input `x = [1, 2, 3, 4]`, target `y = 0.5`, weights
# `w = [0.5, -0.5, 0.3, 0.1]`, learning rate 0.5. Write the function that returns the change in
# weights `del_w` of one gradient descent step:
#
# h = x·w, ŷ = sigmoid(h), error = y − ŷ, error_term = error·sigmoid'(h),
# del_w = learnrate·error_term·x.

# %% exercise={"concept": "sigmoid_exercise", "function": "sigmoid_exercise"} tags=["todo"]
def sigmoid_exercise(x, y, weights, learnrate):
    # TODO: Calculate the node's linear combination of inputs and weights
    h = None

    # TODO: Calculate output of neural network
    nn_output = None

    # TODO: Calculate error of neural network
    error = None

    # TODO: Calculate the error term
    error_term = None

    # TODO: Calculate change in weights
    del_w = None

    return del_w


# %% tags=["check"]
result = check(sigmoid_exercise, "sigmoid_exercise")
print(result)
