"""The lesson's exercises solved the way a learner writes them: the reference every mistake in
:mod:`gd_compare.learner.mistakes` deviates from, and what :func:`gd_compare.learner.check.check`
passes.

Each function has the learner-shaped signature :mod:`gd_compare.learner.check` documents for its
concept
(the lesson's names: ``learnrate``, ``del_w``, ``error_term``, ...). They are deliberately
plain — the lesson's own loops — not the fast kernels of :mod:`gd_compare.numpy_backend`.
Nothing here imports torch at module level (:func:`mse_training_torch` does, when called).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "backprop",
    "backprop_exercise",
    "error_formula",
    "error_term_formula",
    "error_term_formula_sse",
    "gradient",
    "mse_training",
    "mse_training_torch",
    "network_gradient",
    "output_formula",
    "sgd_batching",
    "sgd_epoch",
    "sigmoid",
    "sigmoid_prime",
    "sigmoid_step",
    "simple_step",
    "update_weights",
]


def sigmoid(x):
    """The lesson's activation, 1 / (1 + exp(−x))."""
    return 1 / (1 + np.exp(-x))


def sigmoid_prime(x):
    """The lesson's derivative of the sigmoid, sigmoid(x)·(1 − sigmoid(x))."""
    return sigmoid(x) * (1 - sigmoid(x))


def simple_step(x, y, w, learnrate):
    """One weight, prediction = w·x, MSE = (prediction − y)²: slope = 2·error·x, w − lr·slope."""
    prediction = w * x
    error = prediction - y
    slope = 2 * error * x
    return w - learnrate * slope


def sigmoid_step(x, y, weights, learnrate):
    """One sigmoid neuron: the change in weights ``del_w = learnrate·error_term·x``."""
    h = np.dot(x, weights)
    nn_output = sigmoid(h)
    error = y - nn_output
    error_term = error * nn_output * (1 - nn_output)
    del_w = learnrate * error_term * x
    return del_w


def mse_training(features, targets, weights, learnrate):
    """One epoch of the lesson's loop: del_w summed record by record, one update at the end."""
    n_records = features.shape[0]
    del_w = np.zeros(weights.shape)
    for x, y in zip(features, targets):
        output = sigmoid(np.dot(x, weights))
        error = y - output
        error_term = error * output * (1 - output)
        del_w += error_term * x
    weights += learnrate * del_w / n_records
    return weights


def sgd_batching(features, targets, weights, learnrate):
    """One mini-batch: the lesson's update with the batch's own size as n_records."""
    n_records = features.shape[0]
    output = sigmoid(np.dot(features, weights))
    error = targets - output
    error_term = error * output * (1 - output)
    del_w = np.dot(error_term, features)
    return weights + learnrate * del_w / n_records


def sgd_epoch(features, targets, weights, learnrate, batch_size, rng):
    """One epoch of mini-batch SGD: a fresh permutation from ``rng`` every epoch, then the
    batches in order (the last one may be shorter)."""
    order = rng.permutation(len(targets))
    for start in range(0, len(targets), batch_size):
        batch = order[start:start + batch_size]
        weights = sgd_batching(features[batch], targets[batch], weights, learnrate)
    return weights


def backprop(features, targets, weights_input_hidden, weights_hidden_output, learnrate):
    """One epoch of the course's backpropagation loop (one hidden layer), record by record."""
    n_records = features.shape[0]
    del_w_input_hidden = np.zeros(weights_input_hidden.shape)
    del_w_hidden_output = np.zeros(weights_hidden_output.shape)
    for x, y in zip(features, targets):
        hidden_input = np.dot(x, weights_input_hidden)
        hidden_output = sigmoid(hidden_input)
        output = sigmoid(np.dot(hidden_output, weights_hidden_output))
        error = y - output
        output_error_term = error * output * (1 - output)
        hidden_error = np.dot(output_error_term, weights_hidden_output)
        hidden_error_term = hidden_error * hidden_output * (1 - hidden_output)
        del_w_hidden_output += output_error_term * hidden_output
        del_w_input_hidden += hidden_error_term * x[:, None]
    weights_input_hidden += learnrate * del_w_input_hidden / n_records
    weights_hidden_output += learnrate * del_w_hidden_output / n_records
    return weights_input_hidden, weights_hidden_output


def backprop_exercise(x, target, weights_input_hidden, weights_hidden_output, learnrate):
    """The course's backpropagation exercise: one step of the 3-2-1 network, the changes of
    both weight arrays."""
    hidden_layer_input = np.dot(x, weights_input_hidden)
    hidden_layer_output = sigmoid(hidden_layer_input)
    output_layer_in = np.dot(hidden_layer_output, weights_hidden_output)
    output = sigmoid(output_layer_in)
    error = target - output
    output_error_term = error * output * (1 - output)
    hidden_error = np.dot(output_error_term, weights_hidden_output)
    hidden_error_term = hidden_error * hidden_layer_output * (1 - hidden_layer_output)
    delta_w_h_o = learnrate * output_error_term * hidden_layer_output
    delta_w_i_h = learnrate * hidden_error_term * x[:, None]
    return delta_w_i_h, delta_w_h_o


def gradient(features, targets, weights):
    """∂E/∂w of E = ½·MSE for one sigmoid neuron: −Σ error_term·x / n."""
    output = sigmoid(np.dot(features, weights))
    error = targets - output
    error_term = error * output * (1 - output)
    return -np.dot(error_term, features) / len(targets)


def network_gradient(features, targets, weights):
    """∂E/∂W of E = ½·MSE for every layer of ``weights`` = (W_1, ..., W_L, w_out)."""
    outputs = [features]
    for W in weights[:-1]:
        outputs.append(sigmoid(np.dot(outputs[-1], W)))
    output = sigmoid(np.dot(outputs[-1], weights[-1]))
    error = targets - output
    output_error_term = error * output * (1 - output)
    n_records = len(targets)
    grads = [None] * len(weights)
    grads[-1] = -np.dot(outputs[-1].T, output_error_term) / n_records
    hidden_error = np.outer(output_error_term, weights[-1])
    for k in range(len(weights) - 2, -1, -1):
        hidden_output = outputs[k + 1]
        hidden_error_term = hidden_error * hidden_output * (1 - hidden_output)
        grads[k] = -np.dot(outputs[k].T, hidden_error_term) / n_records
        if k:
            hidden_error = np.dot(hidden_error_term, weights[k].T)
    return tuple(grads)


class TorchLearner:
    """One epoch of full-batch training written with PyTorch, as a learner keeps the model and
    the optimizer between epochs: set the weights, ``zero_grad()``, ``backward()``, ``step()``."""

    def __init__(self) -> None:
        self.w = None
        self.optimizer = None

    def __call__(self, features, targets, weights, learnrate):
        import torch

        if self.w is None:
            self.w = torch.zeros(len(weights), dtype=torch.from_numpy(weights).dtype,
                                 requires_grad=True)
            self.optimizer = torch.optim.SGD([self.w], lr=learnrate)
        with torch.no_grad():
            self.w.copy_(torch.from_numpy(weights))
        X, y = torch.from_numpy(features), torch.from_numpy(targets)
        self.optimizer.zero_grad()
        output = torch.sigmoid(X @ self.w)
        loss = 0.5 * torch.mean((output - y) ** 2)
        loss.backward()
        self.optimizer.step()
        return self.w.detach().numpy().copy()


def mse_training_torch() -> TorchLearner:
    """A fresh :class:`TorchLearner` (it keeps its model between calls, so one per run)."""
    return TorchLearner()


# --------------------------------------------------------------------------- the course notebooks


def error_term_formula(x, y, output):
    """"Predicting Student Admissions": the error term its current loop adds as it is
    (``del_w += error_term``), for the cross-entropy: (y − ŷ)·x."""
    return (y - output) * x


def error_term_formula_sse(x, y, output):
    """The same for ½·(y − ŷ)²: (y − ŷ)·σ′(h)·x with σ′(h) = ŷ(1 − ŷ), h = x·w."""
    return (y - output) * output * (1 - output) * x


def output_formula(features, weights, bias):
    """"Implementing the Gradient Descent Algorithm": ŷ = σ(x·w + b)."""
    return sigmoid(np.dot(features, weights) + bias)


def error_formula(y, output):
    """The log-loss of each record: −y·log(ŷ) − (1 − y)·log(1 − ŷ)."""
    return -y * np.log(output) - (1 - y) * np.log(1 - output)


def update_weights(x, y, weights, bias, learnrate):
    """One record's gradient-descent step on its cross-entropy: w += lr·(y − ŷ)·x,
    b += lr·(y − ŷ)."""
    output = output_formula(x, weights, bias)
    d_error = y - output
    weights += learnrate * d_error * x
    bias += learnrate * d_error
    return weights, bias
