# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The error term of "Predicting Student Admissions", settled by autograd
#
# The course's notebook *Predicting Student Admissions* (udacity/deep-learning-v2-pytorch,
# `intro-neural-networks/student-admissions`, MIT licence) asks for
# `error_term_formula(x, y, output)` and runs it in its own loop. Its prompt says the error term
# is $(y-\hat y)\,x$ for the cross-entropy and $(y-\hat y)\,\sigma'(x)\,x$ for the squared error;
# earlier versions said $(y-\hat y)\,\sigma'(x)$ and $(y-\hat y)\,\hat y(1-\hat y)$. Learners copy
# every version. Which ones are gradients, and of what?
#
# This notebook derives the error term for both losses, checks the derivation with autograd at one
# record, runs every historical version in the loop it was written for, through NumPy (the
# learner's formula in the notebook's loop) and PyTorch (autograd + `torch.optim.SGD`, which never
# sees a formula), and draws where each run goes.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from gd_compare import torch_backend as tb
from gd_compare.learner.check import check
from gd_compare.learner.notebook_loop import admissions_epoch, older_admissions_epoch
from gd_compare.learner.solutions import sigmoid, sigmoid_prime
from gd_compare.lesson.course import load_student_admissions
from gd_compare.lesson.data import initial_weights
from gd_compare.show.plots import display_png

X, y, X_test, y_test = load_student_admissions().arrays()  # the notebook's preparation
w0 = initial_weights(6, seed=42)  # np.random.seed(42) in its train_nn
X.shape, w0.round(4)

# %% [markdown]
# ## The derivation
#
# One record $x$, its target $y \in \{0, 1\}$, $h = x\cdot w$, $\hat y = \sigma(h)$, and
# $\sigma'(h) = \hat y(1-\hat y)$. The chain rule, $\frac{\partial E}{\partial w} =
# \frac{\partial E}{\partial \hat y}\,\frac{\partial \hat y}{\partial h}\,
# \frac{\partial h}{\partial w}$, with $\frac{\partial h}{\partial w} = x$:
#
# | loss of one record | $\partial E/\partial \hat y$ | error term $-\partial E/\partial w$ |
# |---|---|---|
# | cross-entropy $-y\log\hat y-(1-y)\log(1-\hat y)$ | $-\dfrac{y-\hat y}{\hat y(1-\hat y)}$ | $(y-\hat y)\,x$ — the $\sigma'(h)$ cancels |
# | squared error $\tfrac12(y-\hat y)^2$ | $-(y-\hat y)$ | $(y-\hat y)\,\sigma'(h)\,x = (y-\hat y)\,\hat y(1-\hat y)\,x$ |
#
# The derivative of the sigmoid is taken at $h = x\cdot w$, the input of the output unit — not at
# the inputs $x$. So $(y-\hat y)\,\sigma'(x)\,x$, the prompt's formula, is the gradient of neither.
#
# Autograd agrees, at the first record and the notebook's starting weights:

# %%
x0, t0 = torch.from_numpy(X[0]), torch.tensor(y[0], dtype=torch.float64)
for name, loss_of in {
    "cross-entropy": lambda h: torch.nn.functional.binary_cross_entropy_with_logits(h, t0),
    "½·squared error": lambda h: 0.5 * (t0 - torch.sigmoid(h)) ** 2,
}.items():
    w = torch.from_numpy(w0.copy()).requires_grad_()
    loss_of(x0 @ w).backward()
    out = sigmoid(X[0] @ w0)
    formula = (y[0] - out) * X[0] if name == "cross-entropy" else \
        (y[0] - out) * out * (1 - out) * X[0]
    print(f"{name:<16} −∂E/∂w autograd {(-w.grad).numpy().round(6)}  formula {formula.round(6)}")
print(f"{'(y−ŷ)·σ′(x)·x':<16} {((y[0] - out) * sigmoid_prime(X[0]) * X[0]).round(6)}"
      f"  (σ′ of the inputs: neither)")

# %% [markdown]
# ## Every version, in the loop it was written for
#
# The **current** loop adds the error term as it is and does not divide by the number of records
# (`del_w += error_term`; `weights += learnrate * del_w`, lr 0.0001): it descends a *summed* loss.
# The **older** loop multiplied by x itself and took the mean (`del_w += error_term * x`;
# `weights += learnrate * del_w / n_records`, lr 0.5).

# %%
def current_solution(x, y, output):
    return (y - output) * x


def current_prompt(x, y, output):
    return (y - output) * sigmoid_prime(x) * x


def older_prompt(x, y, output):
    return (y - output) * sigmoid_prime(x)


def older_solution(x, y, output):
    return (y - output) * output * (1 - output)


VERSIONS = {  # name → (formula, loop)
    "(y − ŷ)·x  [current solution]": (current_solution, "current"),
    "(y − ŷ)·σ′(x)·x  [current prompt]": (current_prompt, "current"),
    "(y − ŷ)·σ′(x)  [older prompt]": (older_prompt, "older"),
    "(y − ŷ)·ŷ(1 − ŷ)  [older solution]": (older_solution, "older"),
}
LOOPS = {"current": (admissions_epoch, 0.0001), "older": (older_admissions_epoch, 0.5)}
EPOCHS = 1000


def fast_epoch(formula, loop, w, lr):
    """One epoch of the notebook's loop with every record at once (the formula broadcasts over
    the rows): the same sums as the record-by-record loop, in another order."""
    out = sigmoid(X @ w)[:, None]
    terms = np.broadcast_to(formula(X, y[:, None], out), X.shape)
    if loop == "current":
        return w + lr * terms.sum(axis=0)
    return w + lr * (terms * X).sum(axis=0) / len(X)


for formula, loop in VERSIONS.values():  # ... which is the notebook's loop (gd_compare's copy)
    epoch, lr = LOOPS[loop]
    np.testing.assert_allclose(fast_epoch(formula, loop, w0, lr),
                               epoch(formula)(X, y, w0.copy(), lr), rtol=1e-12)


def log_loss(w):
    out = sigmoid(X @ w)
    return float(np.mean(-y * np.log(out) - (1 - y) * np.log(1 - out)))


def learner_run(formula, loop, epochs=EPOCHS):
    """NumPy: the learner's formula in the notebook's loop."""
    lr = LOOPS[loop][1]
    w, path = w0.copy(), [w0.copy()]
    for _ in range(epochs):
        w = fast_epoch(formula, loop, w, lr)
        path.append(w)
    return np.array(path)


def autograd_run(loss, loop, epochs=EPOCHS):
    """PyTorch: autograd on the loss, torch.optim.SGD — the summed loss in the current loop,
    the mean in the older one."""
    lr = LOOPS[loop][1]
    if loop == "current":
        run = tb.student_admissions(X, y, w0, lr, epochs, loss=loss)
    else:
        run = tb.mse_training(X, y, w0, lr, epochs, loss=loss)
    return np.vstack([w0, run.history[0]])


paths = {name: learner_run(f, loop) for name, (f, loop) in VERSIONS.items()}
references = {("current", "bce"): "autograd: Σ cross-entropy",
              ("current", "sse"): "autograd: ½·SSE",
              ("older", "bce"): "autograd: mean cross-entropy",
              ("older", "mse"): "autograd: ½·MSE"}
auto = {key: autograd_run(key[1], key[0]) for key in references}
{k: round(log_loss(p[-1]), 6) for k, p in {**paths, **{references[k]: v for k, v in
                                                        auto.items()}}.items()}

# %% [markdown]
# ## The verdict of `check`
#
# `check(formula, "error_term_formula", loop=...)` runs the formula in the notebook's loop, step
# by step against autograd on every loss that loop can descend, and names the loss whose gradient
# the update is — or says it is the gradient of neither.

# %%
rows = []
for name, (formula, loop) in VERSIONS.items():
    verdict = check(formula, "error_term_formula", loop=loop, epochs=20)
    rows.append((name, loop, "PASS" if verdict.passed else "FAIL",
                 verdict.loss or "neither", ", ".join(verdict.matches) or "—"))
    print(verdict.__str__().splitlines()[0])
    if verdict.diagnosis:
        print("   ", verdict.diagnosis.split(". Fix")[0])
print()
print(f"{'version':<38} {'loop':<8} {'verdict':<8} {'descends':<9} catalogue")
for r in rows:
    print(f"{r[0]:<38} {r[1]:<8} {r[2]:<8} {r[3]:<9} {r[4]}")

# %% [markdown]
# ## Where each run goes
#
# Left: the notebook's printed loss (the mean log-loss) per epoch. Right: the weights of `gre` and
# `gpa` (the two scaled scores) along each run. The learner's runs are solid; autograd's runs of
# the two losses of each loop are dashed. A correct formula lies on one of them; the others go
# somewhere else.

# %%
fig, (ax_loss, ax_w) = plt.subplots(1, 2, figsize=(12, 4.5))
colors = dict(zip(VERSIONS, ["tab:blue", "tab:red", "tab:orange", "tab:green"], strict=True))
for name, path in paths.items():
    ax_loss.plot([log_loss(w) for w in path[::10]], color=colors[name], label=name)
    ax_w.plot(path[:, 0], path[:, 1], color=colors[name], label=name)
    ax_w.plot(*path[-1, :2], "o", color=colors[name])
for (loop, loss), label in references.items():
    path = auto[(loop, loss)]
    style = {"color": "black" if loop == "current" else "grey", "linestyle": "--",
             "linewidth": 1.0 if loss == "bce" else 2.0}
    ax_loss.plot([log_loss(w) for w in path[::10]], label=f"{label} ({loop})", **style)
    ax_w.plot(path[:, 0], path[:, 1], **style)
ax_loss.set(xlabel="epoch / 10", ylabel="mean log-loss (the notebook's print)",
            title="the loss of every version's run")
ax_w.set(xlabel="w[gre]", ylabel="w[gpa]", title="where each run goes (w[gre], w[gpa])")
ax_loss.legend(fontsize="x-small")
ax_w.legend(fontsize="x-small")
fig.tight_layout()
display_png(fig)

# %% [markdown]
# ## How far each run ends from the correct ones
#
# The largest difference of the final weights from autograd's run of each loss of its loop, and
# the test accuracy (40 held-out students).

# %%
for name, (_, loop) in VERSIONS.items():
    end = paths[name][-1]
    gaps = {loss: float(np.abs(end - auto[(loop, loss)][-1]).max())
            for (lp, loss) in references if lp == loop}
    acc = float(np.mean((sigmoid(X_test @ end) > 0.5) == y_test))
    print(f"{name:<38} " + "  ".join(f"|Δw| vs {k}: {v:.3g}" for k, v in gaps.items())
          + f"  test accuracy {acc:.3f}")

# %% [markdown]
# **Settled.** In the current loop the cross-entropy's error term is $(y-\hat y)\,x$ and the
# squared error's is $(y-\hat y)\,\hat y(1-\hat y)\,x$ — the sigmoid's derivative at $h$, which
# the output already holds. The prompt's $(y-\hat y)\,\sigma'(x)\,x$ and the older two-factor
# $(y-\hat y)\,\sigma'(x)$ take $\sigma'$ of the inputs: the gradient of neither loss, and their
# runs end elsewhere. The older $(y-\hat y)\,\hat y(1-\hat y)$ was right for the older loop (it is
# the lesson's ½·MSE) and is wrong in the current one, which no longer multiplies by x.
