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
# # Exercise · one step of backpropagation
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
# The course's exercise: a network with 3 inputs, 2 hidden sigmoid units and one sigmoid output,
# no biases. `x = [0.5, 0.1, -0.2]`, `target = 0.6`, learning rate 0.5,
# `weights_input_hidden = [[0.5, -0.6], [0.1, -0.2], [0.1, 0.7]]`,
# `weights_hidden_output = [0.1, -0.3]`. Return the changes of both weight arrays after one
# step, `delta_w_i_h` (shape (3, 2)) and `delta_w_h_o` (shape (2,)).

# %% exercise={"concept": "backprop_exercise", "function": "backprop_exercise"} tags=["todo"]
def backprop_exercise(x, target, weights_input_hidden, weights_hidden_output, learnrate):
    # TODO: Make a forward pass through the network
    hidden_layer_input = None
    hidden_layer_output = None
    output_layer_in = None
    output = None

    # TODO: Calculate output error
    error = None

    # TODO: Calculate error term for output layer
    output_error_term = None

    # TODO: Calculate error term for hidden layer
    hidden_error_term = None

    # TODO: Calculate change in weights for hidden layer to output layer
    delta_w_h_o = None

    # TODO: Calculate change in weights for input layer to hidden layer
    delta_w_i_h = None

    return delta_w_i_h, delta_w_h_o


# %% tags=["check"]
result = check(backprop_exercise, "backprop_exercise")
print(result)
