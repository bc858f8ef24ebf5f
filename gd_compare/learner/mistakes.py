"""The catalogue of classic mistakes: each one a named, documented, deliberately wrong
implementation written the way a learner writes the lesson's code.

Every entry is a :class:`Mistake`: the concept it belongs to (its signature is the one
:mod:`gd_compare.learner.check` documents for that concept), a one-line explanation, the fix, and
the
wrong code itself. :func:`gd_compare.learner.check.check` runs these entries from the learner's own
state to *compute* its diagnosis: the entries whose step reproduces the learner's step are the
diagnosis. ``caught_at`` is the first step where the mistake matters (a test holds every entry to
it, in float64 and float32).

Each wrong line is marked ``# MISTAKE``; the correct code is in :mod:`gd_compare.learner.solutions`.
A few mistakes give the very same numbers as another (``error = ŷ − y`` with ``+=`` is gradient
ascent); :attr:`Mistake.same_as` says so, and the diagnosis names both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from gd_compare.learner.solutions import sigmoid, sigmoid_prime

__all__ = ["CATALOGUE", "Mistake", "for_concept", "get_mistake"]


@dataclass(frozen=True)
class Mistake:
    """One classic mistake in one concept's learner-shaped function."""

    name: str
    concept: str
    title: str
    #: one line: what goes wrong and what it does to the numbers
    explanation: str
    #: one line: the fix
    fix: str
    #: the wrong learner function, or (``stateful``) a class whose instances are one
    implementation: Callable[..., Any]
    #: the first step (1-based update) at which the mistake changes the numbers
    caught_at: int = 1
    #: True when the wrong code keeps something between calls (a fresh one per run)
    stateful: bool = False
    #: "math" (wrong numbers), "shape" (right numbers in the wrong shape) or "return" (the
    #: right results returned in the wrong order)
    kind: str = "math"
    #: names of other entries of the same concept that give exactly the same numbers
    same_as: tuple[str, ...] = ()
    #: check() parameters under which this mistake shows (two hidden layers for W vs Wᵀ; a
    #: larger learning rate where the course's lr 0.005 hides it below float32's tolerance)
    params: Mapping[str, Any] = field(default_factory=dict)
    needs_torch: bool = False

    def learner(self) -> Callable[..., Any]:
        """A ready-to-call wrong function (a fresh instance for a stateful mistake)."""
        return self.implementation() if self.stateful else self.implementation


# =========================================================================== simple_step


def simple_step_slope_without_2(x, y, w, learnrate):
    prediction = w * x
    error = prediction - y
    slope = error * x  # MISTAKE: d(error²)/dw = 2·error·x
    return w - learnrate * slope


def simple_step_gradient_ascent(x, y, w, learnrate):
    prediction = w * x
    error = prediction - y
    slope = 2 * error * x
    return w + learnrate * slope  # MISTAKE: a step up the slope


def simple_step_lr_missing(x, y, w, learnrate):
    prediction = w * x
    error = prediction - y
    slope = 2 * error * x
    return w - slope  # MISTAKE: learnrate forgotten


# =========================================================================== one sigmoid neuron


def neuron_mse_not_half(x, y, weights, learnrate):
    h = np.dot(x, weights)
    nn_output = sigmoid(h)
    error = y - nn_output
    error_term = 2 * error * nn_output * (1 - nn_output)  # MISTAKE: derivative of (y − ŷ)²
    return learnrate * error_term * x


def neuron_error_sign(x, y, weights, learnrate):
    h = np.dot(x, weights)
    nn_output = sigmoid(h)
    error = nn_output - y  # MISTAKE: ŷ − y, then added with weights += del_w
    error_term = error * nn_output * (1 - nn_output)
    return learnrate * error_term * x


def neuron_sigmoid_prime_of_output(x, y, weights, learnrate):
    h = np.dot(x, weights)
    nn_output = sigmoid(h)
    error = y - nn_output
    error_term = error * sigmoid_prime(nn_output)  # MISTAKE: sigmoid'(ŷ), not sigmoid'(h)
    return learnrate * error_term * x


def neuron_missing_sigmoid_prime(x, y, weights, learnrate):
    h = np.dot(x, weights)
    nn_output = sigmoid(h)
    error = y - nn_output
    error_term = error  # MISTAKE: the output gradient sigmoid'(h) left out
    return learnrate * error_term * x


def neuron_lr_twice(x, y, weights, learnrate):
    h = np.dot(x, weights)
    nn_output = sigmoid(h)
    error = y - nn_output
    error_term = learnrate * error * nn_output * (1 - nn_output)  # MISTAKE: learnrate here...
    return learnrate * error_term * x  # ... and again here


def neuron_lr_missing(x, y, weights, learnrate):
    h = np.dot(x, weights)
    nn_output = sigmoid(h)
    error = y - nn_output
    error_term = error * nn_output * (1 - nn_output)
    return error_term * x  # MISTAKE: learnrate forgotten


def neuron_integer_target(x, y, weights, learnrate):
    h = np.dot(x, weights)
    nn_output = sigmoid(h)
    error = int(y) - nn_output  # MISTAKE: int(0.5) is 0
    error_term = error * nn_output * (1 - nn_output)
    return learnrate * error_term * x


# ========================================================================= one epoch (mse_training)


def epoch_mse_not_half(features, targets, weights, learnrate):
    n_records = features.shape[0]
    del_w = np.zeros(weights.shape)
    for x, y in zip(features, targets):
        output = sigmoid(np.dot(x, weights))
        error = y - output
        error_term = error * output * (1 - output)
        del_w += error_term * x
    weights += 2 * learnrate * del_w / n_records  # MISTAKE: the gradient of MSE, not ½·MSE
    return weights


def epoch_gradient_ascent(features, targets, weights, learnrate):
    n_records = features.shape[0]
    del_w = np.zeros(weights.shape)
    for x, y in zip(features, targets):
        output = sigmoid(np.dot(x, weights))
        error = y - output
        error_term = error * output * (1 - output)
        del_w += error_term * x
    weights -= learnrate * del_w / n_records  # MISTAKE: del_w already points downhill
    return weights


def epoch_error_sign(features, targets, weights, learnrate):
    n_records = features.shape[0]
    del_w = np.zeros(weights.shape)
    for x, y in zip(features, targets):
        output = sigmoid(np.dot(x, weights))
        error = output - y  # MISTAKE: ŷ − y, then weights +=
        error_term = error * output * (1 - output)
        del_w += error_term * x
    weights += learnrate * del_w / n_records
    return weights


def epoch_no_mean(features, targets, weights, learnrate):
    del_w = np.zeros(weights.shape)
    for x, y in zip(features, targets):
        output = sigmoid(np.dot(x, weights))
        error = y - output
        error_term = error * output * (1 - output)
        del_w += error_term * x
    weights += learnrate * del_w  # MISTAKE: no / n_records, a step the size of the SSE's
    return weights


def epoch_sigmoid_prime_of_output(features, targets, weights, learnrate):
    n_records = features.shape[0]
    del_w = np.zeros(weights.shape)
    for x, y in zip(features, targets):
        output = sigmoid(np.dot(x, weights))
        error = y - output
        error_term = error * sigmoid_prime(output)  # MISTAKE: sigmoid'(ŷ), not sigmoid'(h)
        del_w += error_term * x
    weights += learnrate * del_w / n_records
    return weights


def epoch_missing_sigmoid_prime(features, targets, weights, learnrate):
    n_records = features.shape[0]
    del_w = np.zeros(weights.shape)
    for x, y in zip(features, targets):
        output = sigmoid(np.dot(x, weights))
        error = y - output
        error_term = error  # MISTAKE: output·(1 − output) left out
        del_w += error_term * x
    weights += learnrate * del_w / n_records
    return weights


def epoch_lr_twice(features, targets, weights, learnrate):
    n_records = features.shape[0]
    del_w = np.zeros(weights.shape)
    for x, y in zip(features, targets):
        output = sigmoid(np.dot(x, weights))
        error = y - output
        error_term = error * output * (1 - output)
        del_w += learnrate * error_term * x  # MISTAKE: learnrate here...
    weights += learnrate * del_w / n_records  # ... and again here
    return weights


def epoch_lr_missing(features, targets, weights, learnrate):
    n_records = features.shape[0]
    del_w = np.zeros(weights.shape)
    for x, y in zip(features, targets):
        output = sigmoid(np.dot(x, weights))
        error = y - output
        error_term = error * output * (1 - output)
        del_w += error_term * x
    weights += del_w / n_records  # MISTAKE: learnrate forgotten
    return weights


def epoch_online_updates(features, targets, weights, learnrate):
    n_records = features.shape[0]
    for x, y in zip(features, targets):
        output = sigmoid(np.dot(x, weights))
        error = y - output
        error_term = error * output * (1 - output)
        weights += learnrate * error_term * x / n_records  # MISTAKE: updated inside the loop
    return weights


class EpochDelWNotReset:
    """``del_w = np.zeros(weights.shape)`` written once, above the epoch loop."""

    def __init__(self) -> None:
        self.del_w = None

    def __call__(self, features, targets, weights, learnrate):
        n_records = features.shape[0]
        if self.del_w is None:  # MISTAKE: del_w is not reset at the start of each epoch
            self.del_w = np.zeros(weights.shape)
        for x, y in zip(features, targets):
            output = sigmoid(np.dot(x, weights))
            error = y - output
            error_term = error * output * (1 - output)
            self.del_w += error_term * x
        weights += learnrate * self.del_w / n_records
        return weights


def epoch_loss_after_update(features, targets, weights, learnrate):
    n_records = features.shape[0]
    del_w = np.zeros(weights.shape)
    for x, y in zip(features, targets):
        output = sigmoid(np.dot(x, weights))
        error = y - output
        error_term = error * output * (1 - output)
        del_w += error_term * x
    weights += learnrate * del_w / n_records
    out = sigmoid(np.dot(features, weights))
    loss = np.mean((out - targets) ** 2)  # MISTAKE: the loss of the weights after the update
    return weights, loss


def epoch_integer_division(features, targets, weights, learnrate):
    n_records = features.shape[0]
    del_w = np.zeros(weights.shape)
    for x, y in zip(features, targets):
        output = sigmoid(np.dot(x, weights))
        error = y - output
        error_term = error * output * (1 - output)
        del_w += error_term * x
    weights += del_w * learnrate // n_records  # MISTAKE: // floors the step to a whole number
    return weights


def epoch_sigmoid_prime_of_x(features, targets, weights, learnrate):
    n_records = features.shape[0]
    del_w = np.zeros(weights.shape)
    for x, y in zip(features, targets):
        output = sigmoid(np.dot(x, weights))
        error = y - output
        error_term = error * sigmoid_prime(x)  # MISTAKE: sigmoid' of the inputs x, not of h
        del_w += error_term * x
    weights += learnrate * del_w / n_records
    return weights


def epoch_x_twice(features, targets, weights, learnrate):
    n_records = features.shape[0]
    del_w = np.zeros(weights.shape)
    for x, y in zip(features, targets):
        output = sigmoid(np.dot(x, weights))
        error = y - output
        error_term = error * output * (1 - output) * x  # the error term already holds x ...
        del_w += error_term * x  # MISTAKE: ... and the loop multiplies by x again
    weights += learnrate * del_w / n_records
    return weights


def epoch_forward_without_weights(features, targets, weights, learnrate):
    n_records = features.shape[0]
    del_w = np.zeros(weights.shape)
    for x, y in zip(features, targets):
        output = sigmoid(np.dot(x, y))  # MISTAKE: the target y where the weights belong
        error = y - output
        error_term = error * output * (1 - output)
        del_w += error_term * x
    weights += learnrate * del_w / n_records
    return weights


def epoch_divided_by_n_features(features, targets, weights, learnrate):
    n_features = features.shape[1]
    del_w = np.zeros(weights.shape)
    for x, y in zip(features, targets):
        output = sigmoid(np.dot(x, weights))
        error = y - output
        error_term = error * output * (1 - output)
        del_w += error_term * x
    weights += learnrate * del_w / n_features  # MISTAKE: divided by n_features, not n_records
    return weights


class TorchForgotZeroGrad:
    """The PyTorch learner who keeps the model and optimizer between epochs and forgets
    ``optimizer.zero_grad()``: ``backward()`` adds into ``.grad`` (karpathy/micrograd#102)."""

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
        # MISTAKE: no self.optimizer.zero_grad() — last epoch's gradient is still in .grad
        output = torch.sigmoid(X @ self.w)
        loss = 0.5 * torch.mean((output - y) ** 2)
        loss.backward()
        self.optimizer.step()
        return self.w.detach().numpy().copy()


# =========================================================================== mini-batches


def batch_no_mean(features, targets, weights, learnrate):
    output = sigmoid(np.dot(features, weights))
    error = targets - output
    error_term = error * output * (1 - output)
    del_w = np.dot(error_term, features)
    return weights + learnrate * del_w  # MISTAKE: not divided by the batch size


def batch_gradient_ascent(features, targets, weights, learnrate):
    n_records = features.shape[0]
    output = sigmoid(np.dot(features, weights))
    error = targets - output
    error_term = error * output * (1 - output)
    del_w = np.dot(error_term, features)
    return weights - learnrate * del_w / n_records  # MISTAKE: del_w already points downhill


class EpochReshuffleOnce:
    """``order = rng.permutation(n)`` written once, above the epoch loop."""

    def __init__(self) -> None:
        self.order = None

    def __call__(self, features, targets, weights, learnrate, batch_size, rng):
        if self.order is None:  # MISTAKE: shuffled once; every epoch sees the same batches
            self.order = rng.permutation(len(targets))
        for start in range(0, len(targets), batch_size):
            batch = self.order[start:start + batch_size]
            Xb, yb = features[batch], targets[batch]
            output = sigmoid(np.dot(Xb, weights))
            error_term = (yb - output) * output * (1 - output)
            weights = weights + learnrate * np.dot(error_term, Xb) / len(batch)
        return weights


# =========================================================================== backprop (one epoch)


def backprop_hidden_without_sigmoid_prime(features, targets, weights_input_hidden,
                                          weights_hidden_output, learnrate):
    n_records = features.shape[0]
    del_w_input_hidden = np.zeros(weights_input_hidden.shape)
    del_w_hidden_output = np.zeros(weights_hidden_output.shape)
    for x, y in zip(features, targets):
        hidden_output = sigmoid(np.dot(x, weights_input_hidden))
        output = sigmoid(np.dot(hidden_output, weights_hidden_output))
        error = y - output
        output_error_term = error * output * (1 - output)
        hidden_error = np.dot(output_error_term, weights_hidden_output)
        hidden_error_term = hidden_error  # MISTAKE: hidden_output·(1 − hidden_output) left out
        del_w_hidden_output += output_error_term * hidden_output
        del_w_input_hidden += hidden_error_term * x[:, None]
    weights_input_hidden += learnrate * del_w_input_hidden / n_records
    weights_hidden_output += learnrate * del_w_hidden_output / n_records
    return weights_input_hidden, weights_hidden_output


def backprop_updated_output_weights(features, targets, weights_input_hidden,
                                    weights_hidden_output, learnrate):
    n_records = features.shape[0]
    hidden_output = sigmoid(np.dot(features, weights_input_hidden))
    output = sigmoid(np.dot(hidden_output, weights_hidden_output))
    error = targets - output
    output_error_term = error * output * (1 - output)
    weights_hidden_output += learnrate * np.dot(output_error_term, hidden_output) / n_records
    # MISTAKE: the hidden error goes back through the weights_hidden_output just updated
    hidden_error = np.outer(output_error_term, weights_hidden_output)
    hidden_error_term = hidden_error * hidden_output * (1 - hidden_output)
    weights_input_hidden += learnrate * np.dot(features.T, hidden_error_term) / n_records
    return weights_input_hidden, weights_hidden_output


def backprop_gradient_ascent(features, targets, weights_input_hidden, weights_hidden_output,
                             learnrate):
    n_records = features.shape[0]
    hidden_output = sigmoid(np.dot(features, weights_input_hidden))
    output = sigmoid(np.dot(hidden_output, weights_hidden_output))
    error = targets - output
    output_error_term = error * output * (1 - output)
    hidden_error = np.outer(output_error_term, weights_hidden_output)
    hidden_error_term = hidden_error * hidden_output * (1 - hidden_output)
    # MISTAKE: both layers step uphill
    weights_hidden_output -= learnrate * np.dot(output_error_term, hidden_output) / n_records
    weights_input_hidden -= learnrate * np.dot(features.T, hidden_error_term) / n_records
    return weights_input_hidden, weights_hidden_output


def backprop_sigmoid_prime_of_inputs(features, targets, weights_input_hidden,
                                     weights_hidden_output, learnrate):
    n_records = features.shape[0]
    del_w_input_hidden = np.zeros(weights_input_hidden.shape)
    del_w_hidden_output = np.zeros(weights_hidden_output.shape)
    for x, y in zip(features, targets):
        hidden_output = sigmoid(np.dot(x, weights_input_hidden))
        output = sigmoid(np.dot(hidden_output, weights_hidden_output))
        error = y - output
        # MISTAKE: sigmoid' of the output unit's inputs (hidden_output), not of its h
        output_error_term = error * sigmoid_prime(hidden_output)
        hidden_error = np.dot(output_error_term, weights_hidden_output)
        hidden_error_term = hidden_error * hidden_output * (1 - hidden_output)
        del_w_hidden_output += output_error_term * hidden_output
        del_w_input_hidden += hidden_error_term * x[:, None]
    weights_input_hidden += learnrate * del_w_input_hidden / n_records
    weights_hidden_output += learnrate * del_w_hidden_output / n_records
    return weights_input_hidden, weights_hidden_output


def backprop_no_mean(features, targets, weights_input_hidden, weights_hidden_output,
                     learnrate):
    del_w_input_hidden = np.zeros(weights_input_hidden.shape)
    del_w_hidden_output = np.zeros(weights_hidden_output.shape)
    for x, y in zip(features, targets):
        hidden_output = sigmoid(np.dot(x, weights_input_hidden))
        output = sigmoid(np.dot(hidden_output, weights_hidden_output))
        error = y - output
        output_error_term = error * output * (1 - output)
        hidden_error = np.dot(output_error_term, weights_hidden_output)
        hidden_error_term = hidden_error * hidden_output * (1 - hidden_output)
        del_w_hidden_output += output_error_term * hidden_output
        del_w_input_hidden += hidden_error_term * x[:, None]
    weights_input_hidden += learnrate * del_w_input_hidden  # MISTAKE: no / n_records ...
    weights_hidden_output += learnrate * del_w_hidden_output  # ... in either layer
    return weights_input_hidden, weights_hidden_output


# =========================================================================== backprop_exercise


def exercise_print_order(x, target, weights_input_hidden, weights_hidden_output, learnrate):
    hidden_layer_output = sigmoid(np.dot(x, weights_input_hidden))
    output = sigmoid(np.dot(hidden_layer_output, weights_hidden_output))
    output_error_term = (target - output) * output * (1 - output)
    hidden_error = np.dot(output_error_term, weights_hidden_output)
    hidden_error_term = hidden_error * hidden_layer_output * (1 - hidden_layer_output)
    delta_w_h_o = learnrate * output_error_term * hidden_layer_output
    delta_w_i_h = learnrate * hidden_error_term * x[:, None]
    return delta_w_h_o, delta_w_i_h  # MISTAKE: the order the course prints them in


def exercise_column_vector(x, target, weights_input_hidden, weights_hidden_output, learnrate):
    hidden_layer_output = sigmoid(np.dot(x, weights_input_hidden))
    output = sigmoid(np.dot(hidden_layer_output, weights_hidden_output))
    output_error_term = (target - output) * output * (1 - output)
    hidden_error = np.dot(output_error_term, weights_hidden_output)
    hidden_error_term = hidden_error * hidden_layer_output * (1 - hidden_layer_output)
    # MISTAKE: a column vector (2, 1) where weights_hidden_output is (2,)
    delta_w_h_o = learnrate * output_error_term * hidden_layer_output[:, None]
    delta_w_i_h = learnrate * hidden_error_term * x[:, None]
    return delta_w_i_h, delta_w_h_o


def exercise_hidden_without_sigmoid_prime(x, target, weights_input_hidden,
                                          weights_hidden_output, learnrate):
    hidden_layer_output = sigmoid(np.dot(x, weights_input_hidden))
    output = sigmoid(np.dot(hidden_layer_output, weights_hidden_output))
    output_error_term = (target - output) * output * (1 - output)
    hidden_error = np.dot(output_error_term, weights_hidden_output)
    hidden_error_term = hidden_error  # MISTAKE: hidden_output·(1 − hidden_output) left out
    delta_w_h_o = learnrate * output_error_term * hidden_layer_output
    delta_w_i_h = learnrate * hidden_error_term * x[:, None]
    return delta_w_i_h, delta_w_h_o


def exercise_updated_output_weights(x, target, weights_input_hidden, weights_hidden_output,
                                    learnrate):
    hidden_layer_output = sigmoid(np.dot(x, weights_input_hidden))
    output = sigmoid(np.dot(hidden_layer_output, weights_hidden_output))
    output_error_term = (target - output) * output * (1 - output)
    delta_w_h_o = learnrate * output_error_term * hidden_layer_output
    weights_hidden_output = weights_hidden_output + delta_w_h_o
    # MISTAKE: the hidden error goes back through the weights_hidden_output just updated
    hidden_error = np.dot(output_error_term, weights_hidden_output)
    hidden_error_term = hidden_error * hidden_layer_output * (1 - hidden_layer_output)
    delta_w_i_h = learnrate * hidden_error_term * x[:, None]
    return delta_w_i_h, delta_w_h_o


# =========================================================================== a gradient alone


def gradient_mse_not_half(features, targets, weights):
    output = sigmoid(np.dot(features, weights))
    error = targets - output
    error_term = error * output * (1 - output)
    return -2 * np.dot(error_term, features) / len(targets)  # MISTAKE: ∂MSE/∂w, not ∂(½·MSE)/∂w


def gradient_sign(features, targets, weights):
    output = sigmoid(np.dot(features, weights))
    error = targets - output
    error_term = error * output * (1 - output)
    return np.dot(error_term, features) / len(targets)  # MISTAKE: that is −∂E/∂w (del_w / n)


def gradient_no_mean(features, targets, weights):
    output = sigmoid(np.dot(features, weights))
    error = targets - output
    error_term = error * output * (1 - output)
    return -np.dot(error_term, features)  # MISTAKE: not divided by n (the gradient of ½·SSE)


def gradient_sigmoid_prime_of_output(features, targets, weights):
    output = sigmoid(np.dot(features, weights))
    error = targets - output
    error_term = error * sigmoid_prime(output)  # MISTAKE: sigmoid'(ŷ), not sigmoid'(h)
    return -np.dot(error_term, features) / len(targets)


def gradient_missing_sigmoid_prime(features, targets, weights):
    output = sigmoid(np.dot(features, weights))
    error = targets - output
    error_term = error  # MISTAKE: output·(1 − output) left out
    return -np.dot(error_term, features) / len(targets)


def network_gradient_through_w(features, targets, weights):
    outputs = [features]
    for W in weights[:-1]:
        outputs.append(sigmoid(np.dot(outputs[-1], W)))
    output = sigmoid(np.dot(outputs[-1], weights[-1]))
    output_error_term = (targets - output) * output * (1 - output)
    grads = [None] * len(weights)
    grads[-1] = -np.dot(outputs[-1].T, output_error_term) / len(targets)
    hidden_error = np.outer(output_error_term, weights[-1])
    for k in range(len(weights) - 2, -1, -1):
        hidden_output = outputs[k + 1]
        hidden_error_term = hidden_error * hidden_output * (1 - hidden_output)
        grads[k] = -np.dot(outputs[k].T, hidden_error_term) / len(targets)
        if k:
            hidden_error = np.dot(hidden_error_term, weights[k])  # MISTAKE: W_k, not W_kᵀ
    return tuple(grads)


def network_gradient_hidden_without_sigmoid_prime(features, targets, weights):
    outputs = [features]
    for W in weights[:-1]:
        outputs.append(sigmoid(np.dot(outputs[-1], W)))
    output = sigmoid(np.dot(outputs[-1], weights[-1]))
    output_error_term = (targets - output) * output * (1 - output)
    grads = [None] * len(weights)
    grads[-1] = -np.dot(outputs[-1].T, output_error_term) / len(targets)
    hidden_error = np.outer(output_error_term, weights[-1])
    for k in range(len(weights) - 2, -1, -1):
        hidden_error_term = hidden_error  # MISTAKE: hidden_output·(1 − hidden_output) left out
        grads[k] = -np.dot(outputs[k].T, hidden_error_term) / len(targets)
        if k:
            hidden_error = np.dot(hidden_error_term, weights[k].T)
    return tuple(grads)


# =========================================================================== the catalogue

_MSE_NOT_HALF = ("MSE instead of ½·MSE",
                 "the step is the gradient of MSE = mean((y − ŷ)²): twice the lesson's step",
                 "the lesson steps on E = ½·MSE: del_w = Σ error_term·x, without the 2")
_ERROR_SIGN = ("error = ŷ − y with +=",
               "error written ŷ − y but still added (weights += ...): every step goes uphill",
               "error = y − ŷ (the target minus the output), then weights += del_w")
_ASCENT = ("gradient ascent (sign)",
           "the step is subtracted although del_w already points downhill: the loss grows",
           "weights += learnrate·del_w / n_records (del_w = Σ error_term·x is −∂E/∂w·n)")
_NO_MEAN = ("no /m (SSE-sized steps)",
            "del_w is not divided by the number of records: steps n times too large",
            "weights += learnrate·del_w / n_records")
_PRIME_OF_OUTPUT = ("sigmoid_prime(output) instead of sigmoid_prime(h)",
                    "sigmoid' is evaluated at the output ŷ = sigmoid(h) instead of at h",
                    "error_term = error·sigmoid_prime(h), or error·output·(1 − output)")
_NO_PRIME = ("the sigmoid' factor missing",
             "error_term = error: the output gradient sigmoid'(h) = output·(1 − output) is missing",
             "error_term = error·output·(1 − output)")
_LR_TWICE = ("lr applied twice", "learnrate multiplies the step twice (lr² instead of lr)",
             "multiply by learnrate once, in the update")
_LR_MISSING = ("lr missing", "the step is not multiplied by learnrate",
               "multiply the step by learnrate")


# =========================================================================== the course notebooks
# "Predicting Student Admissions": error_term_formula(x, y, output), run in the notebook's loop
# (del_w += error_term; weights += learnrate * del_w). "Implementing the Gradient Descent
# Algorithm": update_weights(x, y, weights, bias, learnrate) -> (weights, bias).


def error_term_sigmoid_prime_of_inputs(x, y, output):
    return (y - output) * sigmoid_prime(x) * x  # MISTAKE: σ′ of the inputs x, not of h = x·w


def error_term_x_twice(x, y, output):
    return (y - output) * x * x  # MISTAKE: x twice (the loop's del_w += error_term holds one x)


def error_term_older_prime_of_inputs(x, y, output):
    return (y - output) * sigmoid_prime(x)  # MISTAKE: the older hint; no x, σ′ of the inputs


def error_term_older_two_factor(x, y, output):
    return (y - output) * output * (1 - output)  # MISTAKE: the older form, without its x


def error_term_sign_flipped(x, y, output):
    return (output - y) * x  # MISTAKE: ŷ − y, added by the loop: a step uphill


def update_weights_bias_never_updated(x, y, weights, bias, learnrate):
    output = sigmoid(np.dot(x, weights) + bias)
    d_error = y - output
    weights += learnrate * d_error * x
    return weights, bias  # MISTAKE: bias += learnrate·d_error forgotten


def update_weights_sign_flipped(x, y, weights, bias, learnrate):
    output = sigmoid(np.dot(x, weights) + bias)
    d_error = output - y  # MISTAKE: ŷ − y, then added
    weights += learnrate * d_error * x
    bias += learnrate * d_error
    return weights, bias


def update_weights_without_x(x, y, weights, bias, learnrate):
    output = sigmoid(np.dot(x, weights) + bias)
    d_error = y - output
    weights += learnrate * d_error  # MISTAKE: every weight moves by the bias's step, no ·x
    bias += learnrate * d_error
    return weights, bias


_PRIME_OF_INPUTS = (
    "σ′ of the inputs x: (y − ŷ)·σ′(x)·x",
    "the notebook's own hint takes the sigmoid's derivative at the inputs x; the chain rule puts "
    "σ′(h) there, at h = x·w, the input of the output unit: σ′(h) = ŷ(1 − ŷ). The step is the "
    "gradient of neither the cross-entropy nor the squared error",
    "(y − ŷ)·x for the cross-entropy, or (y − ŷ)·ŷ·(1 − ŷ)·x for ½·(y − ŷ)²")


def _m(name: str, concept: str, texts: tuple[str, str, str], impl: Callable[..., Any],
       **kw: Any) -> Mistake:
    title, explanation, fix = texts
    return Mistake(name, concept, title, explanation, fix, impl, **kw)


def _neuron(concept: str) -> list[Mistake]:
    return [
        _m("mse_not_half", concept, _MSE_NOT_HALF, neuron_mse_not_half),
        _m("error_sign", concept, _ERROR_SIGN, neuron_error_sign),
        _m("sigmoid_prime_of_output", concept, _PRIME_OF_OUTPUT, neuron_sigmoid_prime_of_output),
        _m("missing_sigmoid_prime", concept, _NO_PRIME, neuron_missing_sigmoid_prime),
        _m("lr_twice", concept, _LR_TWICE, neuron_lr_twice),
        _m("lr_missing", concept, _LR_MISSING, neuron_lr_missing),
        _m("integer_target", concept,
           ("integer targets", "the target is made an integer (int(0.5) is 0): the error is wrong",
            "keep y a float: error = y − output"), neuron_integer_target),
    ]


_ENTRIES: list[Mistake] = [
    _m("slope_without_2", "simple_step",
       ("slope without the 2", "d(error²)/dw = 2·error·x; without the 2 the step is half the "
        "lesson's", "slope = 2·(prediction − y)·x"), simple_step_slope_without_2),
    _m("gradient_ascent", "simple_step",
       ("gradient ascent (sign)", "w + lr·slope climbs the loss", "w ← w − learnrate·slope"),
       simple_step_gradient_ascent),
    _m("lr_missing", "simple_step", _LR_MISSING, simple_step_lr_missing),
    *_neuron("sigmoid_step"),
    *_neuron("sigmoid_exercise"),
    _m("mse_not_half", "mse_training", _MSE_NOT_HALF, epoch_mse_not_half),
    _m("gradient_ascent", "mse_training", _ASCENT, epoch_gradient_ascent,
       same_as=("error_sign",)),
    _m("error_sign", "mse_training", _ERROR_SIGN, epoch_error_sign,
       same_as=("gradient_ascent",)),
    _m("no_mean", "mse_training", _NO_MEAN, epoch_no_mean),
    _m("sigmoid_prime_of_output", "mse_training", _PRIME_OF_OUTPUT,
       epoch_sigmoid_prime_of_output),
    _m("missing_sigmoid_prime", "mse_training", _NO_PRIME, epoch_missing_sigmoid_prime),
    _m("lr_twice", "mse_training", _LR_TWICE, epoch_lr_twice),
    _m("lr_missing", "mse_training", _LR_MISSING, epoch_lr_missing),
    _m("online_updates", "mse_training",
       ("weights updated inside the record loop",
        "each record moves the weights (online SGD), so later records see other weights",
        "accumulate del_w in the loop; update the weights once, after it"),
       epoch_online_updates),
    _m("del_w_not_reset", "mse_training",
       ("del_w not reset each epoch",
        "del_w keeps every earlier epoch's sum, so from the second epoch on the steps grow",
        "del_w = np.zeros(weights.shape) at the start of every epoch"),
       EpochDelWNotReset, caught_at=2, stateful=True, same_as=("forgot_zero_grad",)),
    _m("loss_after_update", "mse_training",
       ("the loss logged after the update",
        "the loss reported for a step is that of the weights after it, not those it was taken at",
        "compute the loss from the same forward pass as the step (before weights +=)"),
       epoch_loss_after_update),
    _m("integer_division", "mse_training",
       ("integer division", "// floors the step to a whole number (0 or −1)",
        "use / : weights += learnrate·del_w / n_records"), epoch_integer_division),
    _m("sigmoid_prime_of_x", "mse_training",
       ("sigmoid_prime(x) of the inputs instead of sigmoid_prime(h)",
        "sigmoid' is taken of the record's inputs x, not of h = x·w: error_term becomes a "
        "vector and every weight gets its own wrong factor",
        "error_term = error·sigmoid_prime(h) with h = np.dot(x, weights), or "
        "error·output·(1 − output)"), epoch_sigmoid_prime_of_x),
    _m("x_twice", "mse_training",
       ("x multiplied twice",
        "the error term already holds x and the loop multiplies by x again (del_w += "
        "error_term·x): the two versions of the course's code mixed",
        "multiply by x once: error_term = error·output·(1 − output); del_w += error_term·x"),
       epoch_x_twice),
    _m("forward_without_weights", "mse_training",
       ("a forward pass without the weights",
        "the output is computed from the inputs and the target, not from the weights: the step "
        "does not depend on the weights at all",
        "output = sigmoid(np.dot(x, weights))"), epoch_forward_without_weights),
    _m("divided_by_n_features", "mse_training",
       ("divided by n_features, not n_records",
        "del_w is divided by the number of features instead of the number of records: steps "
        "n_records / n_features times too large",
        "weights += learnrate·del_w / n_records (n_records, n_features = features.shape)"),
       epoch_divided_by_n_features),
    _m("forgot_zero_grad", "mse_training",
       ("forgot zero_grad() (PyTorch)",
        ".grad is never cleared, so backward() adds each epoch's gradient to the last one's",
        "call optimizer.zero_grad() before loss.backward()"),
       TorchForgotZeroGrad, caught_at=2, stateful=True, needs_torch=True,
       same_as=("del_w_not_reset",)),
    _m("no_mean", "sgd_batching", _NO_MEAN, batch_no_mean),
    _m("gradient_ascent", "sgd_batching", _ASCENT, batch_gradient_ascent),
    _m("reshuffle_once", "sgd_batching",
       ("reshuffling once instead of every epoch",
        "the permutation is drawn once, so every epoch sees the same batches",
        "order = rng.permutation(n) at the start of every epoch"),
       EpochReshuffleOnce, caught_at=2, stateful=True),
    _m("hidden_without_sigmoid_prime", "backprop",
       ("the hidden error term without the hidden sigmoid'",
        "hidden_error_term = hidden_error: hidden_output·(1 − hidden_output) is missing",
        "hidden_error_term = hidden_error·hidden_output·(1 − hidden_output)"),
       backprop_hidden_without_sigmoid_prime),
    _m("updated_output_weights", "backprop",
       ("W_input_hidden updated with the already-updated W_hidden_output",
        "the hidden error is sent back through weights_hidden_output after its update",
        "compute every layer's error term first, then update the weights"),
       backprop_updated_output_weights, params={"lr": 0.5}),
    _m("gradient_ascent", "backprop", _ASCENT, backprop_gradient_ascent),
    _m("sigmoid_prime_of_inputs", "backprop",
       ("sigmoid_prime of the output unit's inputs instead of its h",
        "output_error_term = error·sigmoid_prime(hidden_output): sigmoid' of the inputs of the "
        "output unit, not of its h = hidden_output·w",
        "output_error_term = error·output·(1 − output)"), backprop_sigmoid_prime_of_inputs),
    _m("no_mean", "backprop", _NO_MEAN, backprop_no_mean),
    _m("column_vector_delta_w_h_o", "backprop_exercise",
       ("a column-vector delta_w_h_o",
        "delta_w_h_o has shape (2, 1): the right values in the wrong shape — not wrong math",
        "delta_w_h_o = learnrate·output_error_term·hidden_layer_output (shape (2,))"),
       exercise_column_vector, kind="shape"),
    _m("hidden_without_sigmoid_prime", "backprop_exercise",
       ("the hidden error term without the hidden sigmoid'",
        "hidden_error_term = hidden_error: hidden_output·(1 − hidden_output) is missing",
        "hidden_error_term = hidden_error·hidden_output·(1 − hidden_output)"),
       exercise_hidden_without_sigmoid_prime),
    _m("updated_output_weights", "backprop_exercise",
       ("W_input_hidden updated with the already-updated W_hidden_output",
        "the hidden error is sent back through weights_hidden_output after its update",
        "compute every layer's error term first, then update the weights"),
       exercise_updated_output_weights),
    _m("print_order", "backprop_exercise",
       ("the two results returned in the course's print order",
        "returns (delta_w_h_o, delta_w_i_h): the order the course prints them in, not the one "
        "it asks for", "return delta_w_i_h, delta_w_h_o"), exercise_print_order, kind="return"),
    _m("mse_not_half", "gradient", _MSE_NOT_HALF, gradient_mse_not_half),
    _m("gradient_sign", "gradient",
       ("gradient with the wrong sign", "returns del_w / n = −∂E/∂w, the direction of the step",
        "∂E/∂w = −Σ error_term·x / n"), gradient_sign),
    _m("no_mean", "gradient", _NO_MEAN, gradient_no_mean),
    _m("sigmoid_prime_of_output", "gradient", _PRIME_OF_OUTPUT,
       gradient_sigmoid_prime_of_output),
    _m("missing_sigmoid_prime", "gradient", _NO_PRIME, gradient_missing_sigmoid_prime),
    _m("hidden_error_through_w", "network_gradient",
       ("backprop's hidden error through W instead of Wᵀ",
        "hidden_error = hidden_error_term @ W_k: the error flows back through the untransposed "
        "weights", "hidden_error = hidden_error_term @ W_k.T"),
       network_gradient_through_w, params={"hidden": (3, 3)}),
    _m("hidden_without_sigmoid_prime", "network_gradient",
       ("the hidden error term without the hidden sigmoid'",
        "hidden_error_term = hidden_error: hidden_output·(1 − hidden_output) is missing",
        "hidden_error_term = hidden_error·hidden_output·(1 − hidden_output)"),
       network_gradient_hidden_without_sigmoid_prime),
]

_ENTRIES += [
    _m("sigmoid_prime_of_inputs", "error_term_formula", _PRIME_OF_INPUTS,
       error_term_sigmoid_prime_of_inputs),
    _m("x_twice", "error_term_formula",
       ("x multiplied twice: (y − ŷ)·x·x",
        "the error term already holds x in this loop (del_w += error_term); a second x scales "
        "each weight's step by its input again",
        "return (y − ŷ)·x — the loop adds it as it is"), error_term_x_twice),
    _m("older_prime_of_inputs", "error_term_formula",
       ("the older hint (y − ŷ)·σ′(x)",
        "σ′ is taken of the inputs x, not of h = x·w; and the current loop adds the error term "
        "as it is (the older one multiplied it by x), so there x is missing too",
        "(y − ŷ)·x, or (y − ŷ)·ŷ·(1 − ŷ)·x"), error_term_older_prime_of_inputs),
    _m("older_two_factor", "error_term_formula",
       ("the older form in the current loop: (y − ŷ)·ŷ(1 − ŷ)",
        "right for the older loop (del_w += error_term * x); the current loop adds the error "
        "term as it is, so every weight gets the same step, without its x",
        "(y − ŷ)·ŷ·(1 − ŷ)·x"), error_term_older_two_factor),
    _m("d_error_sign", "error_term_formula",
       ("the error's sign flipped: (ŷ − y)·x",
        "the loop adds the error term, so ŷ − y climbs the loss", "(y − ŷ)·x"),
       error_term_sign_flipped),
    _m("bias_never_updated", "update_weights",
       ("the bias never updated",
        "update_weights returns the bias it was given: the boundary is stuck through the origin's "
        "offset it started with", "bias += learnrate·d_error, and return it"),
       update_weights_bias_never_updated),
    _m("d_error_sign", "update_weights",
       ("d_error's sign flipped (ŷ − y)",
        "d_error = output − y, then added: every step climbs the log-loss",
        "d_error = y − output"), update_weights_sign_flipped),
    _m("without_x", "update_weights",
       ("the weights' step without x",
        "weights += learnrate·d_error: each weight moves as the bias does, not by its input",
        "weights += learnrate·d_error·x"), update_weights_without_x),
]

#: every mistake, by concept, in catalogue order
CATALOGUE: Mapping[str, tuple[Mistake, ...]] = MappingProxyType({
    c: tuple(e for e in _ENTRIES if e.concept == c)
    for c in dict.fromkeys(e.concept for e in _ENTRIES)
})


def for_concept(concept: str) -> tuple[Mistake, ...]:
    """The catalogue entries of one concept (empty when it has none)."""
    return CATALOGUE.get(concept, ())


def get_mistake(concept: str, name: str) -> Mistake:
    """One entry; a ``KeyError`` lists the concept's entries otherwise."""
    for m in for_concept(concept):
        if m.name == name:
            return m
    known = ", ".join(m.name for m in for_concept(concept)) or "none"
    raise KeyError(f"{concept}: no mistake named {name!r}; known: {known}")
