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
# # 5 · Backpropagation: a hidden layer, by hand and by autograd
#
# "Backpropagation is applying this to a more complex NN structure." The course's exercise: the
# admissions data (6 features after `data_prep`, 360 training and 40 test records), **one hidden
# layer of 2 sigmoid units**, a sigmoid output, no biases. The weights, in the course's names:
#
# | name | shape | drawn from |
# |---|---|---|
# | `weights_input_hidden`, W_ih | (n_features, n_hidden) = (6, 2) | Normal(0, 1/√n_features) |
# | `weights_hidden_output`, w_ho | (n_hidden,) = (2,) | Normal(0, 1/√n_features) |
#
# in that order after `np.random.seed(21)`; **900 epochs, learnrate 0.005**. The quiz shipped its
# own `data_prep.py`, which called `np.random.seed(21)` too, before its 90/10 split — so its 360
# training records are not the seed-42 ones of notebooks 3 and 4: `load_admissions(seed=21)`.
#
# **Forward pass**, one record x (6,):
#
# | quantity | formula | shape |
# |---|---|---|
# | hidden_input | x·W_ih (`np.dot(x, weights_input_hidden)`) | (2,) |
# | hidden_output | sigmoid(hidden_input) | (2,) |
# | output | sigmoid(hidden_output·w_ho) | scalar |
#
# **Backward pass**, the chain rule from the output back to every weight:
#
# | quantity | formula | shape |
# |---|---|---|
# | error | y − output | scalar |
# | output_error_term | error·output·(1 − output) | scalar |
# | hidden_error | output_error_term·w_ho — each hidden unit's share, back through the weight that carried its signal | (2,) |
# | hidden_error_term | hidden_error·hidden_output·(1 − hidden_output) | (2,) |
# | del_w_h_o | += output_error_term·hidden_output | (2,) |
# | del_w_i_h | += hidden_error_term·x[:, None] | (6, 2) |
#
# `x[:, None]` is x as a column (6, 1); times the row hidden_error_term (2,) it broadcasts to the
# outer product (6, 2), one entry per weight. After all records:
# **W_ih += learnrate·del_w_i_h / n_records**, **w_ho += learnrate·del_w_h_o / n_records**.
#
# For a batch X (m, 6) the sums over records are matrix products: del_w_h_o =
# hidden_outputᵀ @ output_error_term (2,), del_w_i_h = Xᵀ @ hidden_error_term (6, 2). With more
# hidden layers the error travels back **through the transposed weights**: forward a @ W_k,
# backward hidden_error_{k−1} = hidden_error_term_k @ W_kᵀ.
#
# **The loss convention** (as in notebooks 3 and 4): dividing by n_records makes the update
# gradient descent on E = ½·MSE = (1/2m)·Σ(y − ŷ)², since −∂E/∂w_ho = del_w_h_o / m and
# −∂E/∂W_ih = del_w_i_h / m; the loss printed is MSE = mean((ŷ − y)²). PyTorch gets exactly that E,
# `(0.5 * nn.MSELoss()(output, y)).backward()`, and `torch.optim.SGD(lr=0.005)`.
#
# *The source of this notebook is `notebooks/05_backprop.py` (jupytext, paired with the `.ipynb`); executed in CI by `python -m pytest` (`tests/test_notebooks.py`). Everything is deterministic: the starting weights come from the course's seed 21 (`np.random.seed(21)` in its backprop exercise).*

# %%
import numpy as np

from gd_compare import (
    assert_equivalent,
    check_gradient,
    compare,
    initial_network_weights,
    load_admissions,
)
from gd_compare.numpy_backend import by_hand
from gd_compare.proof.gradcheck import check_backends
from gd_compare.show import plots
from gd_compare.show.teaching import harness_table, side_by_side, source
from gd_compare.torch_backend import autograd

np.set_printoptions(precision=6)
show = plots.display_png  # draws a matplotlib Figure as a PNG, whatever the backend
# the quiz's split (its data_prep: np.random.seed(21)): (360, 6), (360,), (40, 6), (40,)
X, y, X_test, y_test = load_admissions(seed=21).arrays()

# %% [markdown]
# ## First, one step: the course's backpropagation exercise
#
# Before the quiz, the course works one step through a 3-2-1 network by hand: x = [0.5, 0.1, −0.2],
# target 0.6, learnrate 0.5, W_ih = [[0.5, −0.6], [0.1, −0.2], [0.1, 0.7]], w_ho = [0.1, −0.3]. Its
# solution prints the two changes in weights:
#
#     Change in weights for hidden layer to output layer:
#     [0.00804047 0.00555918]
#     Change in weights for input layer to hidden layer:
#     [[ 1.77005547e-04 -5.11178506e-04]
#      [ 3.54011093e-05 -1.02235701e-04]
#      [-7.08022187e-05  2.04471402e-04]]
#
# `backprop_exercise` is that step: by hand in NumPy (the table above, one record), and in PyTorch
# through the same `Network`, where `retain_grad()` reads output_error_term and hidden_error_term off
# autograd and `optimizer.step()` makes the change.

# %%
for name, backend in (("NumPy (by hand)", by_hand), ("PyTorch (autograd)", autograd)):
    step = backend.backprop_exercise()
    with np.printoptions(precision=8):  # NumPy's default, as the course printed
        print(name)
        print("Change in weights for hidden layer to output layer:")
        print(step.delta_w_h_o)
        print("Change in weights for input layer to hidden layer:")
        print(step.delta_w_i_h)
        print()
exercise = assert_equivalent("backprop_exercise")
print("every quantity:", ", ".join(f"{k} {v:.1e}" for k, v in exercise.max_abs_diff.items()))

# %% [markdown]
# ## The code, twice
#
# Left, by hand: `_network_outputs` (the forward pass, keeping every layer's output for the way
# back), `_backprop` (the table above as matrix products, for any number of hidden layers),
# `_backprop_step` (the update of every layer) and `_train_network` (the epochs). Right: PyTorch's
# `Network` holds the same weights as `nn.Parameter`s *in the same shapes* (no `nn.Linear`, which
# stores the transpose); its `forward` is the only math written. `_train_network` calls
# `(0.5 * total).backward()` and `optimizer.step()` — not one derivative.

# %%
side_by_side(["_network_outputs", "_backprop", "_backprop_step", "_train_network"],
             ["Network", "_train_network"])

# %% [markdown]
# ### The course's loop, record by record
#
# The course writes the backward pass one record at a time — the table above, line for line. It is
# kept as `per_record=True`; PyTorch's twin (the `if per_record:` branch of `_train_network` above)
# calls `backward()` once per record, and autograd *adds* each record's gradient into `.grad`: the
# course's `del_w +=`.

# %%
print(source(by_hand._backprop_per_record))

# %% [markdown]
# 360 `backward()` calls per epoch are slow in PyTorch, so this runs 5 epochs; it takes the same
# steps as the matrix version up to rounding (the sums run in another order).

# %%
per_record = assert_equivalent(compare("backprop", per_record=True, epochs=5))
matrix = compare("backprop", epochs=5)
print("largest gap to the matrix version:",
      np.max(np.abs(per_record.numpy.losses - matrix.numpy.losses)))
harness_table([per_record, matrix], labels=["per record, 5 epochs", "matrix, 5 epochs"])

# %% [markdown]
# ## The harness's verdict: the course's exercise, float64 and float32
#
# Both backends train in lockstep from the same start; both layers' weights and the loss are
# compared after every one of the 900 updates, then the lesson's log and the test accuracy.
# `assert_equivalent` raises — failing this notebook — if any value differs by more than the
# tolerance: 1e-12 in float64, 1e-5 in float32.

# %%
result = assert_equivalent("backprop")
result32 = assert_equivalent("backprop", dtype="float32")
harness_table([result, result32], labels=["float64", "float32"])

# %%
for a, b in zip(result.numpy.log, result.torch.log, strict=True):
    print(f"epoch {a[0]:>3}   NumPy Train loss: {a[1]:.16f}   PyTorch Train loss: {b[1]:.16f}")
print("Prediction accuracy:", result.numpy.test_accuracy, "|", result.torch.test_accuracy)
print()
for r in (result, result32):
    print(f"{r.dtype}: max |Δ| weights {r.max_abs_diff['weights']:.2e}, "
          f"loss {r.max_abs_diff['loss']:.2e}  (tolerance {r.atol:g}; "
          f"machine ε {np.finfo(r.dtype).eps:.1e})")

# %% [markdown]
# ## The course's printout, to the printed digit
#
# The quiz printed `Train loss:  0.251357252426` first, `0.240400679325` last and
# `Prediction accuracy: 0.725`. Those "train losses" are not the train MSE. After each epoch the
# course's code computes
#
#     hidden_output = sigmoid(np.dot(x, weights_input_hidden))
#     out = sigmoid(np.dot(hidden_output, weights_hidden_output))
#     loss = np.mean((out - targets) ** 2)
#
# with `x` left over from the training loop — the *last* training record — so it holds one
# record's output against all 360 targets. `backprop_training(..., log="course")` reproduces that
# line in both backends (`network_course_loss`); the default log, and the harness, keep the true
# train MSE (0.2686 → 0.2544 over the same epochs).

# %%
for name, backend in (("NumPy", by_hand), ("PyTorch", autograd)):
    run = backend.backprop_training(X, y, log="course", record=False)
    lines = [f"{loss:.12g}" for _, loss in run.log]  # the course's print: 12 digits
    accuracy = backend.network_accuracy(X_test, y_test, run.params)
    print(f"{name:<8} first {lines[0]}  last {lines[-1]}  Prediction accuracy: {accuracy:.3f}")
    assert (lines[0], lines[-1], f"{accuracy:.3f}") == ("0.251357252426", "0.240400679325",
                                                        "0.725")
true_log = by_hand.backprop_training(X, y, record=False).log
print(f"the true train MSE at the same epochs: {true_log[0][1]:.12g} … {true_log[-1][1]:.12g}")

# %% [markdown]
# ## The proof in one picture
#
# Left: the train MSE before every update, PyTorch (dashed) on the hand-written curve. Middle:
# |NumPy − PyTorch| per update on a log axis — single roundings around float64's machine ε, four
# orders of magnitude below the tolerance, not growing over 900 updates. Right: all 14 weights,
# `W0[i,j]` the input → hidden weights W_ih (6, 2) and `W1[k]` the hidden → output weights w_ho (2,)
# (the legend names the first eight).

# %%
show(plots.comparison_figure(result))

# %% [markdown]
# In float32 the same picture, with float32's roundings (ε = 1.2e-7) against its tolerance 1e-5:

# %%
show(plots.comparison_figure(result32))

# %% [markdown]
# ## Honest about the defaults: they barely learn
#
# Look at the scales above: at learnrate 0.005 the train MSE goes only from 0.269 to 0.253 in 900
# epochs and the weights hardly move; the test outputs stay between 0.44 and 0.58. The accuracy is
# the quiz's **0.725** — on its split, where answering "not admitted" to everybody scores 0.65 (26
# of the 40 test students). The harness does not care either way: it proves the two backends take
# the same steps, learning or not.
#
# A hundred times the learning rate and more epochs — **lr 0.5, 2000 epochs** (a few seconds) —
# and the train MSE falls to 0.197, the outputs spread out, and the test accuracy stays 0.725,
# with the two backends still in lockstep: 360 records and two hidden units are a lesson in
# gradients, not a good admissions model.

# %%
trained = assert_equivalent(compare("backprop", lr=0.5, epochs=2000))
runs = {"lr 0.005, 900 epochs": result, "lr 0.5, 2000 epochs": trained}
for label, r in runs.items():
    outputs = by_hand.network_forward(X_test, r.numpy.final_weights)
    print(f"{label}: train MSE {r.numpy.losses[0]:.4f} → {r.numpy.final_loss:.4f}, "
          f"test outputs {outputs.min():.3f} … {outputs.max():.3f}, "
          f"accuracy NumPy {r.numpy.test_accuracy} | PyTorch {r.torch.test_accuracy}")
print("always 'not admitted':", np.mean(y_test == 0))
harness_table(list(runs.values()), labels=list(runs))

# %%
show(plots.comparison_figure(trained))

# %% [markdown]
# ## The third witness: finite differences
#
# Two implementations can agree and both be wrong. Had both differentiated the MSE where the course
# steps on ½·MSE, both steps would be twice too large — in lockstep, and the harness would say PASS.
# `gd_compare.proof.gradcheck` is a witness that knows only the loss: central differences, one weight at
# a time,
#
# ∂E/∂p ≈ (E(p + h) − E(p − h)) / 2h,   h = 1e-6, in float64
#
# (6·2 + 2 = 14 weights, 28 evaluations of the loss, written from the forward pass alone).
# `check_backends` reads the gradient off each backend's *own first update* (with lr = 2²⁰,
# g = (w − w_after)/lr to one ULP) — the gradient that really trains — and reports per layer the
# relative error ‖g − g_fd‖ / max(‖g‖, ‖g_fd‖). A correct float64 gradient measures 1e-8 … 1e-11;
# PASS below 1e-7. A wrong chain rule is off by O(1).
#
# At the course's start, after the lr 0.5 training, and with two hidden layers of 3 units (where
# the error goes back through a transposed weight matrix):

# %%
points = {
    "the course's start": {},
    "after training (lr 0.5, 2000 epochs)": {"weights": trained.numpy.final_weights},
    "two hidden layers (3, 3)": {"hidden": (3, 3)},
}
for point, where in points.items():
    for backend, check in check_backends("backprop", **where).items():
        errors = ", ".join(f"{e:.1e}" for e in check.rel_error)
        print(f"{point:<38} {backend:<6} relative error per layer: {errors}"
              f"   {'PASS' if check.passed else 'WRONG'}")
        assert check.passed


# %% [markdown]
# ## How to check your own hand-written gradient
#
# This is what to do with the backward pass *you* write. Two small functions of your own:
#
# 1. **the loss** E, from the forward pass alone (easy to get right: no derivative in it);
# 2. **the gradient** ∂E/∂W of every layer, by hand — the tables above, for all records at once.
#
# Then `check_gradient(loss, gradient, weights)` compares your gradient with central differences of
# your loss, layer by layer.

# %%
def sigmoid(h):
    return 1 / (1 + np.exp(-h))


def my_loss(weights):
    """E = ½·MSE of the network, from the forward pass alone."""
    W_ih, w_ho = weights
    output = sigmoid(sigmoid(X @ W_ih) @ w_ho)
    return 0.5 * np.mean((y - output) ** 2)


def my_gradient(weights, hidden_slope=True):
    """(∂E/∂W_ih (6, 2), ∂E/∂w_ho (2,)): the backward pass, all 360 records at once."""
    W_ih, w_ho = weights
    hidden_output = sigmoid(X @ W_ih)                   # (360, 2)
    output = sigmoid(hidden_output @ w_ho)              # (360,)
    error = y - output                                  # (360,)
    output_error_term = error * output * (1 - output)   # (360,)
    hidden_error = np.outer(output_error_term, w_ho)    # (360, 2)
    if hidden_slope:
        hidden_error_term = hidden_error * hidden_output * (1 - hidden_output)
    else:  # the bug: forgot the slope of the hidden sigmoid, hidden_output·(1 − hidden_output)
        hidden_error_term = hidden_error
    del_w_h_o = hidden_output.T @ output_error_term     # (2,)
    del_w_i_h = X.T @ hidden_error_term                 # (6, 2)
    n_records = len(y)
    return -del_w_i_h / n_records, -del_w_h_o / n_records  # ∂E/∂W = −del_w / n_records


w0 = initial_network_weights(6, (2,), seed=21)  # the course's start: (6, 2), (2,)
check = check_gradient(my_loss, my_gradient, w0, names=["W_ih", "w_ho"])
print(check)
assert check.passed
for name, backend in (("NumPy backend", by_hand), ("PyTorch backend", autograd)):
    theirs = backend.network_gradient(X, y, w0)
    gap = max(np.max(np.abs(a - b)) for a, b in zip(my_gradient(w0), theirs, strict=True))
    print(f"largest gap to the {name}'s network_gradient: {gap:.1e}")


# %% [markdown]
# ### A wrong gradient that looks right
#
# Now the most common backprop slip: `hidden_slope=False` drops the factor
# hidden_output·(1 − hidden_output) from hidden_error_term. Nothing complains. The shapes fit, there
# is no error and no NaN, and training with it — a plain loop, `W -= lr·gradient`, lr 0.5, 2000
# epochs — lowers the loss almost as far and reaches a test accuracy *as good* as the correct
# gradient's (here one test record better, by luck). Watching the loss curve, a learner would
# never know.

# %%
def train(gradient, lr=0.5, epochs=2000):
    weights = [w.copy() for w in w0]
    for _ in range(epochs):
        for W, g in zip(weights, gradient(weights), strict=True):
            W -= lr * g
    return weights


def wrong_gradient(weights):
    return my_gradient(weights, hidden_slope=False)


for label, gradient in (("my_gradient", my_gradient), ("wrong_gradient", wrong_gradient)):
    ws = train(gradient)
    print(f"{label:>14}: train MSE {2 * my_loss(w0):.4f} → {2 * my_loss(ws):.4f}, "
          f"test accuracy {by_hand.network_accuracy(X_test, y_test, ws)}")

# %% [markdown]
# The finite differences are not fooled. They name the layer, too: w_ho's gradient is right (it
# never passes through the hidden sigmoid), W_ih's has a relative error of 0.77 where a correct one
# measures 4e-9 — look at the lines that compute del_w_i_h.

# %%
wrong = check_gradient(my_loss, wrong_gradient, w0, names=["W_ih", "w_ho"])
print(wrong)
assert not wrong.passed and wrong.failed == ("W_ih",)  # caught, and the layer named

# %% [markdown]
# A mismatch of conventions is caught the same way — the bug two backends can share. A gradient
# of the MSE (2× too large) checked against the ½·MSE loss is off by a relative 0.5 in every layer:

# %%
doubled = check_gradient(my_loss, lambda ws: tuple(2 * g for g in my_gradient(ws)), w0,
                         names=["W_ih", "w_ho"])
print(doubled)
assert doubled.failed == ("W_ih", "w_ho")

# %% [markdown]
# **The recipe.** Write the loss from the forward pass only; return the gradient in the shapes of
# the weights; check it in float64 at a *random* point (at zero weights some gradients are zero
# whatever the formula, and with symmetric weights a missing transpose changes nothing), on a small
# network whose layers are *not square* (a missing transpose is a shape error there, but runs
# silently in a square layer — where only a check like this one catches it). Relative error
# < 1e-7: your gradient is right. Around 1e-1 or 1: a bug, and the failing layer says where to look.
