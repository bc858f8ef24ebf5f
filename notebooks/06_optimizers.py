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
# # 6 · Optimizers by hand
#
# So far every step was the lesson's plain gradient descent, `weights += learnrate * del_w / m`.
# `torch.optim` has more: momentum, Nesterov, weight decay, Adam, AdamW, RMSprop, Adagrad, and
# learning-rate schedules. Each is a few lines of arithmetic, and each is easy to get *almost*
# right. `gd_compare.optim` writes them by hand in NumPy — torch's keywords, torch's defaults,
# torch's order of floating-point operations — and the harness proves every step equal to
# `torch.optim` (float64: ~1e-16).
#
# The NumPy backend hands the optimizer the gradient it computed by hand, ∂E/∂w = −del_w / m;
# the PyTorch side calls `loss.backward()` and `torch.optim.<Class>` unchanged.
#
# *The source of this notebook is `notebooks/06_optimizers.py` (jupytext, paired with the `.ipynb`); executed in CI by `python -m pytest`
# (`tests/test_notebooks.py`).*

# %%
import numpy as np

from gd_compare import assert_equivalent, compare, optim
from gd_compare.optim.lr_scheduler import CosineAnnealingLR, cosine_closed_form
from gd_compare.show import plots
from gd_compare.show.teaching import harness_table, side_by_side, source

np.set_printoptions(precision=6)
show = plots.display_png  # draws a matplotlib Figure as a PNG, whatever the backend

# %% [markdown]
# ## The code, twice
#
# Left: with any optimizer other than the lesson's plain SGD, one update of the neuron gives
# the hand-written twin the gradient. Right: the PyTorch loop; `optimizer.build(torch.optim, ...)`
# is `torch.optim.<Class>(params, lr=lr, **options)`.

# %%
side_by_side("_optimizer_step", "_train")

# %% [markdown]
# ## SGD with momentum: the first step
#
# torch's rule (`torch/optim/sgd.py`, `_single_tensor_sgd`), with momentum μ and dampening τ:
#
# - first step: **b₁ = g₁** — the buffer starts *as the gradient*: not zeros, and no dampening;
# - later: b_t = μ·b_{t−1} + (1 − τ)·g_t; then θ ← θ − lr·b_t.
#
# Here it is by hand:

# %%
print(source(optim.SGD._update))


# %% [markdown]
# A common scratch version starts the buffer at zeros (`b₀ = 0`, then b₁ = μ·0 + (1 − τ)·g₁).
# With τ = 0 that is harmless — μ·0 + g₁ = g₁ exactly. With dampening it is not: the first
# step is (1 − τ) times too small. Swap that SGD into the NumPy side and the harness stops at
# step 1:

# %%
class ZeroBufferSGD(optim.SGD):
    """The buffer starts at zeros: b₁ = μ·0 + (1 − τ)·g₁."""

    def _update(self, p, g, state, group):
        state.setdefault("momentum_buffer", np.zeros_like(p))
        super()._update(p, g, state, group)


options = {"momentum": 0.9, "dampening": 0.5}
right = assert_equivalent(compare("mse_training", optimizer="sgd", optimizer_kwargs=options,
                                  lr=0.5, epochs=60))
real_sgd, optim.SGD = optim.SGD, ZeroBufferSGD  # the NumPy backend builds optim.SGD
try:
    wrong = compare("mse_training", optimizer="sgd", optimizer_kwargs=options, lr=0.5, epochs=60)
finally:
    optim.SGD = real_sgd
print("torch's SGD by hand:", "agrees at every step" if right.passed else "differs")
print("zero-initialised buffer: the harness stops at step", wrong.first_failure.step)
print(" ", wrong.first_failure)

# %%
from matplotlib.figure import Figure

fig = Figure(figsize=(12, 4), layout="constrained")
left, mid = fig.subplots(1, 2)
for run, label, color in [(right, "buffer = g₁ (torch)", "tab:blue"),
                          (wrong, "buffer = 0 (scratch)", "tab:red")]:
    left.plot(run.numpy.losses, color=color, lw=3, alpha=0.45, label=f"{label}, NumPy")
    left.plot(run.torch.losses, color="black", ls="--", lw=0.8)
    mid.plot(run.numpy.history[0][:, 0], color=color, lw=3, alpha=0.45, label=f"{label}, NumPy")
    mid.plot(run.torch.history[0][:, 0], color="black", ls="--", lw=0.8)
left.set(xlabel="update", ylabel="train MSE", title="momentum 0.9, dampening 0.5 (dashed: PyTorch)")
mid.set(xlabel="update", ylabel="weight 0", title="the first weight's trajectory")
for ax in (left, mid):
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
show(fig)

# %% [markdown]
# Dashed black is `torch.optim.SGD` — in the red run it is the *same* torch run as in the blue
# one, so the red NumPy curve visibly leaves it: the scratch version takes a smaller first step
# and never catches up exactly.
#
# ## Nesterov: a look-ahead
#
# With `nesterov=True` (it needs μ > 0 and τ = 0) the step uses g + μ·b instead of b — the
# gradient plus the momentum it is about to add:

# %%
nesterov = assert_equivalent(compare("mse_training", optimizer="sgd", lr=0.5,
                                     optimizer_kwargs={"momentum": 0.9, "nesterov": True}))
plain = assert_equivalent(compare("mse_training", lr=0.5))
harness_table([plain, nesterov], labels=["the lesson's SGD", "SGD, momentum 0.9, nesterov"])

# %% [markdown]
# ## Weight decay: L2 in Adam, decoupled in AdamW
#
# `Adam(weight_decay=λ)` adds λθ to the *gradient*, which then goes through Adam's
# normalisation 1/√v̂ like the rest of it: weights with large gradients are barely decayed.
# `AdamW` shrinks every weight by the same factor (1 − lr·λ) before the step — the decay is
# *decoupled* from the gradient:

# %%
print(source(optim.Adam._update))

# %%
decay = {"weight_decay": 0.5}
adam_l2 = assert_equivalent(compare("mse_training", optimizer="adam", optimizer_kwargs=decay,
                                    lr=0.01))
adamw = assert_equivalent(compare("mse_training", optimizer="adamw", optimizer_kwargs=decay,
                                  lr=0.01))
for label, run in [("Adam, L2 0.5 ", adam_l2), ("AdamW, decay 0.5", adamw)]:
    print(f"{label}: final weights {run.numpy.weights}, |w| = {np.linalg.norm(run.numpy.weights):.4f}")
harness_table([adam_l2, adamw], labels=["Adam, weight_decay 0.5", "AdamW, weight_decay 0.5"])

# %% [markdown]
# ## Adam's bias correction
#
# m and v start at zero, so early on they are too small by (1 − β₁ᵗ) and (1 − β₂ᵗ). Adam divides
# that out. On the first step m̂₁/√v̂₁ = g/|g|: every weight moves by exactly lr (ε aside).
# Without the correction the first step would be lr·(1 − β₁)/√(1 − β₂) ≈ 3.16·lr.
# torch computes it as step_size = lr/(1 − β₁ᵗ) and denom = √v/√(1 − β₂ᵗ) + ε — not the
# textbook m̂/(√v̂ + ε), which rounds differently — and so does the NumPy twin.

# %%
w = np.array([0.5, -0.2, 0.1])
adam = optim.Adam([w], lr=0.01)
adam.step([np.array([3.0, -0.004, 1e-3])])
print("first Adam step, change of each weight:", w - [0.5, -0.2, 0.1])
beta1, beta2 = adam.param_groups[0]["betas"]
print("without bias correction it would be ±", 0.01 * (1 - beta1) / np.sqrt(1 - beta2))

# %% [markdown]
# ## A learning-rate schedule
#
# `CosineAnnealingLR` lowers the rate along a half cosine. torch computes each epoch's rate
# *recursively* from the previous one, not from the closed form
# η_min + ½(η_max − η_min)(1 + cos(π·t/T)); the two differ in the last digits, and the
# hand-written scheduler follows torch's recursion:

# %%
sched = CosineAnnealingLR(optim.SGD([np.zeros(1)], lr=0.1), T_max=100)
gaps = []
for epoch in range(1, 101):
    sched.step()
    gaps.append(abs(sched.get_last_lr()[0] - cosine_closed_form(0.1, epoch, 100)))
print(f"recursive vs closed form, lr 0.1, 100 epochs: {sum(g > 0 for g in gaps)} epochs differ, "
      f"max |Δlr| = {max(gaps):.2e}")
cosine = assert_equivalent(compare("backprop", optimizer="adam", lr=0.05, epochs=1000,
                                   scheduler="cosineannealinglr",
                                   scheduler_kwargs={"T_max": 1000}))
harness_table(cosine, labels=["Adam + CosineAnnealingLR"])

# %% [markdown]
# ## Every optimizer on the admissions data
#
# The network of notebook 5 (2 hidden units), 1000 full-batch epochs, each optimizer at a
# learning rate that suits it. NumPy by hand (wide) and PyTorch (dashed) overlaid; on the right
# the largest difference between the two backends' weights after every update.

# %%
settings = {"SGD (the lesson's), lr 0.5": ("sgd", 0.5, None),
            "SGD momentum 0.9, lr 0.5": ("sgd", 0.5, {"momentum": 0.9}),
            "Adam, lr 0.01": ("adam", 0.01, None),
            "AdamW, lr 0.01": ("adamw", 0.01, None),
            "RMSprop, lr 1e-3": ("rmsprop", 1e-3, None),
            "Adagrad, lr 0.1": ("adagrad", 0.1, None)}
runs = {label: assert_equivalent(compare("backprop", optimizer=name, lr=lr,
                                         optimizer_kwargs=options, epochs=1000))
        for label, (name, lr, options) in settings.items()}
show(plots.optimizers_figure(runs))
harness_table(list(runs.values()), labels=list(runs))

# %% [markdown]
# Every optimizer, every update: the NumPy twin and `torch.optim` agree to ~1e-16. The tests
# (`tests/test_optim.py`, `tests/test_optimizer_training.py`) go through every option
# combination of torch's own test matrix, on torch's default CPU path and with `foreach=True`.
