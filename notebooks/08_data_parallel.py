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
# # 8 · Data-parallel SGD: K workers, one all-reduce
#
# When training outgrows one process, the standard answer is **data parallelism**: K workers each
# hold a copy of the model, each takes its own **shard** of every batch, computes the gradient of
# its shard, and the workers **average their gradients** (an *all-reduce*) so that every one of
# them takes the same step. The claim every course makes (Goyal et al. 2017, *Accurate, Large
# Minibatch SGD*): **K workers with batch B each take the steps of one worker with batch K·B.**
#
# Here that claim is checked step by step, on PyTorch's own distributed engine:
#
# - **PyTorch** (`gd_compare/torch_backend/distributed.py`): K real processes join a `torch.distributed`
#   process group (`gloo`, CPU); each wraps the neuron in `DistributedDataParallel` (DDP), reads
#   its records through a `DistributedSampler` and a `DataLoader`, and steps `torch.optim.SGD`.
#   DDP all-reduces the gradients inside `loss.backward()`. No derivative is written.
# - **NumPy** (`gd_compare/numpy_backend/distributed.py`): each shard's gradient by hand (the same
#   `gradient` as notebooks 3 and 4) and the all-reduce written out: **g = Σ_r g_r / K**.
#
# One update with K workers, the lesson's loss convention (E = ½·MSE):
#
# | | |
# |---|---|
# | worker r's shard | B records of this step |
# | its gradient | g_r = ∂E_r/∂w,  E_r = ½·MSE of the shard |
# | the all-reduce | g = Σ_r g_r / K  (DDP divides each g_r by K, then sums) |
# | every worker | w ← w − lr·g |
#
# With equal shards, Σ_r ½·MSE_r / K is exactly ½·MSE of the K·B records together — the
# single process's batch.
#
#
# *The source of this notebook is `notebooks/08_data_parallel.py` (jupytext, paired with the `.ipynb`); executed in CI by `python -m pytest` (`tests/test_notebooks.py`). Deterministic: the starting weights and every epoch's order of the records come from the lesson's seed 42.*

# %%
import numpy as np
from matplotlib.figure import Figure

from gd_compare import assert_equivalent, compare, initial_weights, load_admissions
from gd_compare.lesson import parallel
from gd_compare.numpy_backend import by_hand
from gd_compare.numpy_backend import distributed as dp
from gd_compare.show import plots
from gd_compare.show.teaching import harness_table, side_by_side
from gd_compare.torch_backend import autograd, distributed

np.set_printoptions(precision=6)
show = plots.display_png  # draws a matplotlib Figure as a PNG, whatever the backend
X, y, X_test, y_test = load_admissions().arrays()

# %% [markdown]
# ## How the records are split: `DistributedSampler`, written out
#
# Every epoch has one order of the 360 records (a fresh permutation from the seeded generator,
# the one `sgd_batching` uses). `DistributedSampler` pads that order by repeating its first
# records until it divides by K (or, with `drop_last=True`, cuts the tail), and hands worker r
# every K-th record starting at position r. Each worker then cuts its records into batches of B.
#
# A small example: 10 records, K = 4 workers — 12 places, so records 7 and 3 (the first two of
# the order) are seen twice this epoch.

# %%
order = np.array([7, 3, 9, 0, 5, 1, 8, 2, 6, 4])
for rank in range(4):
    print(f"worker {rank}: records {parallel.shard_indices(order, 4, rank)}")
print("with drop_last:", [parallel.shard_indices(order, 4, r, drop_last=True).tolist() for r in range(4)])

# %%
from gd_compare.show.teaching import source

print(source(parallel.shard_indices))

# %% [markdown]
# Every worker holds the same number of records, so the shards of one step are always equal in
# size — and the K shards of step j together are records j·K·B … (j+1)·K·B − 1 of the padded
# order: **exactly one batch of K·B records** of a single process.
#
# ## The code, twice
#
# Left: the NumPy twin — K shard gradients by hand, the all-reduce, one SGD step (or, with
# `optimizer=`, the hand-written optimizer given the all-reduced gradient; a scheduler once per
# epoch). Right: what each PyTorch worker runs — DDP around the model and its loss, and
# `torch.optim`. (The harness's labels name the backend modules; this code lives in
# `gd_compare/numpy_backend/distributed.py` and `gd_compare/torch_backend/distributed.py`, re-exported
# by the backends; the sharding both share is in `gd_compare/lesson/parallel.py`.)

# %%
side_by_side([dp.allreduce_mean, dp._shard_gradient, dp._twin_steps], [distributed._Objective, distributed.train_shard])

# %% [markdown]
# ## The all-reduce of one step, by hand
#
# The first step of the first epoch, K = 4 workers with B = 15 records each: four shard
# gradients, their all-reduce — and the gradient of the 60 records as one batch.

# %%
w = initial_weights(6)
run = parallel.data_parallel_run(X, y, w, lr=0.5, epochs=1, batch_size=15, workers=4, hidden=None,
                           seed=42, shuffle=True, drop_last=False, loss="mse")
shards = next(run.epochs())[0]  # epoch 0, step 0: one index array per worker
grads = [by_hand.gradient(X[s], y[s], w) for s in shards]
for rank, (s, g) in enumerate(zip(shards, grads)):
    print(f"worker {rank}: {len(s)} records {s[:5]}…  g_{rank} = {g}")
g = dp.allreduce_mean(grads)
batch = np.concatenate(shards)
g_batch = by_hand.gradient(X[batch], y[batch], w)
print(f"all-reduce  Σ g_r / 4 = {g}")
print(f"one batch of 60       = {g_batch}")
print(f"max |difference|      = {np.max(np.abs(g - g_batch)):.1e}")

# %% [markdown]
# ## The harness's verdict: K real processes against the NumPy twin
#
# `compare("data_parallel", workers=K)` starts K worker processes (forked from a server that
# imported torch once), streams rank 0's steps back, and compares them with the NumPy twin's at
# every update. After every update each worker also all-gathers every rank's weights: they must
# be **bit for bit** the same on all workers (they are — DDP starts them equal and applies the
# same averaged gradient). Inside `keep_workers()` the runs share their workers; when the block
# ends, every worker is ended.

# %%
with parallel.keep_workers():
    k2 = assert_equivalent(compare("data_parallel", workers=2, batch_size=30, epochs=20))
    k4 = assert_equivalent(compare("data_parallel", workers=4, batch_size=15, epochs=20))
harness_table([k2, k4], labels=["K=2, B=30", "K=4, B=15"])

# %% [markdown]
# ## DDP on the single process's trajectory
#
# The same 120 updates three ways: DDP with K = 4 workers of B = 15 (PyTorch, four processes),
# its NumPy twin, and **one process** with batch K·B = 60 (`torch_backend.sgd_batching`, the
# mean loss). Left: the six weights — the curves lie on one another. Right: the largest
# difference per update (0 is drawn at 1e-18).

# %%
single = autograd.sgd_batching(X, y, w, lr=0.5, epochs=20, batch_size=60)
ddp, twin, one = k4.torch.history[0], k4.numpy.history[0], single.history[0]
updates = np.arange(1, len(ddp) + 1)

fig = Figure(figsize=(12, 4.2), layout="constrained")
left, right = fig.subplots(1, 2)
for i in range(ddp.shape[1]):
    left.plot(updates, ddp[:, i], color=f"C{i}", lw=2.5, alpha=0.5,
              label="DDP, K=4" if i == 0 else None)
    left.plot(updates, one[:, i], color="k", lw=0.8, ls="--",
              label="one process, batch 60" if i == 0 else None)
left.set(xlabel="update", ylabel="weight", title="The weights, update by update")
left.legend(fontsize="small")
for label, other in (("|DDP − one process|", one), ("|DDP − NumPy twin|", twin)):
    right.plot(updates, np.maximum(np.max(np.abs(ddp - other), axis=1), 1e-18), label=label)
right.set_yscale("log")
right.set(xlabel="update", ylabel="max |Δ weights|", title="Their difference (float64)")
right.legend(fontsize="small")
show(fig)
print(f"max |DDP − one process| = {np.max(np.abs(ddp - one)):.1e}, "
      f"max |DDP − NumPy twin| = {np.max(np.abs(ddp - twin)):.1e} over {len(ddp)} updates")

# %% [markdown]
# ## The linear scaling rule, on the admissions data
#
# Keep the per-worker batch at B = 30 and add workers: with K = 4 the global batch is 120, so an
# epoch has a quarter of the updates (3 instead of 12). At the same learning rate the run is
# **slower per epoch**. Goyal et al.'s rule: when the batch grows K-fold, **multiply the learning
# rate by K** — each update then moves about as far as the K small ones it replaces. Every run
# below is DDP in real processes, checked step by step against its NumPy twin.

# %%
runs = {}
with parallel.keep_workers():
    for k, lr in ((1, 0.5), (4, 0.5), (4, 2.0)):
        runs[k, lr] = assert_equivalent(compare("data_parallel", workers=k, batch_size=30,
                                                lr=lr, epochs=30))
harness_table(list(runs.values()), labels=[f"K={k}, lr={lr:g}" for k, lr in runs])

# %%
fig = Figure(figsize=(7, 4.2), layout="constrained")
ax = fig.subplots()
for (k, lr), result in runs.items():
    per_epoch = len(result.torch.losses) // 30
    ax.plot(np.arange(1, 31), plots.epoch_losses(result, X, y, per_epoch, "torch"), marker=".",
            label=f"K={k} workers × B=30, lr={lr:g} ({per_epoch} updates/epoch)")
ax.set(xlabel="epoch", ylabel="train MSE (all records) after the epoch",
       title="lr × K with batch × K: the same progress per epoch")
ax.grid(alpha=0.3)
ax.legend(fontsize="small")
show(fig)
for (k, lr), result in runs.items():
    acc = autograd.accuracy(X_test, y_test, result.torch.final_weights[0])
    print(f"K={k}, lr={lr:g}: final train MSE {result.torch.final_loss:.4f}, test accuracy {acc:.3f}")

# %% [markdown]
# With lr × 4 the four workers follow the single worker's curve epoch by epoch (the K = 1 curve
# lies under the green one; final train MSE 0.1980 both), in a quarter of the updates; at the
# unscaled lr they lag behind.
#
# ## Faults, and beyond one machine
#
# - A worker that raises, is killed or hangs ends the whole run within its `timeout` (seconds
#   without progress) with a `WorkerError` naming the rank (`exc.rank`, `exc.step`); every
#   worker is ended, none is left behind (`tests/test_distributed.py` does each).
# - The same per-worker loop (`distributed.train_shard`) runs under `torchrun`, one process per
#   rank, with MASTER_ADDR, MASTER_PORT, WORLD_SIZE and RANK from the environment — on one
#   machine or several:
#
# ```bash
# torchrun --nnodes 2 --node-rank 0 --nproc-per-node 2 --master-addr HOST --master-port 29500 \
#     -m gd_compare.torch_backend.distributed --epochs 20 --out steps.jsonl
# ```
#
# - Speed: on this 2-core machine K processes are *slower* than one (`benchmarks/bench_data_parallel.py`):
#   the point here is the proof, not the speed.
