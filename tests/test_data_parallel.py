"""gd_compare.lesson.parallel: DistributedSampler's split and data-parallel SGD by hand (no torch).

The PyTorch side (K real processes, DDP) is tested in ``test_distributed.py``.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gd_compare import initial_network_weights, initial_weights
from gd_compare import numpy_backend as nb
from gd_compare.lesson import parallel
from gd_compare.lesson.parallel import WorkerError, data_parallel_run, shard_batches, shard_indices
from gd_compare.numpy_backend import distributed as dpm
from gd_compare.numpy_backend.distributed import allreduce_mean


def _steps(stream) -> list[tuple]:
    return [(s.index, s.epoch, s.end_of_epoch, tuple(np.array(p) for p in s.params), s.loss)
            for s in stream]


def _assert_same_steps(a: list[tuple], b: list[tuple], tol: float = 1e-12) -> float:
    """Every step: the same bookkeeping, and parameters and loss within the harness's test
    |Δ| ≤ tol + tol·max(|a|, |b|). Returns the largest |Δ|."""
    assert len(a) == len(b)
    worst = 0.0
    for sa, sb in zip(a, b, strict=True):
        assert sa[:3] == sb[:3]
        for va, vb in [*zip(sa[3], sb[3], strict=True), (sa[4], sb[4])]:
            va, vb = np.asarray(va, dtype=float), np.asarray(vb, dtype=float)
            diff = np.abs(va - vb)
            assert np.all(diff <= tol + tol * np.maximum(np.abs(va), np.abs(vb))), (sa[0], diff)
            worst = max(worst, float(np.max(diff)))
    return worst


def test_the_numpy_twin_does_not_import_torch():
    code = ("import sys; from gd_compare import load_admissions; "
            "from gd_compare.numpy_backend import distributed as d; "
            "X, y, *_ = load_admissions().arrays(); "
            "d.data_parallel(X, y, epochs=1, workers=4, batch_size=10); "
            "sys.exit('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# --------------------------------------------------------------------------- the split


def test_shard_indices_pads_like_distributed_sampler():
    order = np.array([7, 3, 9, 0, 5, 1, 8, 2, 6, 4])  # n = 10, K = 4: 3 each, 2 padded
    shards = [shard_indices(order, 4, r) for r in range(4)]
    # padded = order + order[:2] = [7 3 9 0 5 1 8 2 6 4 7 3]; rank r: padded[r::4]
    assert [s.tolist() for s in shards] == [[7, 5, 6], [3, 1, 4], [9, 8, 7], [0, 2, 3]]


def test_shard_indices_drop_last_cuts_the_tail():
    order = np.arange(10)[::-1]
    shards = [shard_indices(order, 4, r, drop_last=True) for r in range(4)]
    assert [s.tolist() for s in shards] == [[9, 5], [8, 4], [7, 3], [6, 2]]


def test_padding_repeats_the_order_when_it_is_shorter_than_the_padding():
    order = np.array([2, 0, 1])  # n = 3, K = 8: total 8, padded 2 0 1 2 0 1 2 0
    assert [shard_indices(order, 8, r).tolist() for r in range(8)] == [
        [2], [0], [1], [2], [0], [1], [2], [0]]


@given(n=st.integers(1, 60), k=st.integers(1, 8), b=st.integers(1, 10),
       drop_last=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_shards_are_equal_and_a_steps_shards_are_one_block_of_the_padded_order(
        n, k, b, drop_last, seed):
    if k > n or (drop_last and b > n // k) or b > -(-n // k):
        return
    order = np.random.default_rng(seed).permutation(n)
    shards = [shard_indices(order, k, r, drop_last) for r in range(k)]
    per_worker = n // k if drop_last else -(-n // k)
    assert {len(s) for s in shards} == {per_worker}
    padded = np.resize(order, per_worker * k)  # the order repeated, cut to K·per_worker
    batches = [shard_batches(s, b, drop_last) for s in shards]
    assert len({len(x) for x in batches}) == 1
    for j, step in enumerate(zip(*batches, strict=True)):
        assert len({len(x) for x in step}) == 1  # equal shards, also in the last step
        block = padded[j * k * b:(j + 1) * k * b]
        assert Counter(np.concatenate(step).tolist()) == Counter(block.tolist())


def test_epoch_orders_are_the_batch_orders_permutations():
    from gd_compare import BatchOrder

    order = BatchOrder(12, 12 // 2 - 1, seed=5)
    expected = [np.concatenate(list(order)) for _ in range(3)]
    got = list(parallel.epoch_orders(12, 3, 5, True))
    for e, g in zip(expected, got, strict=True):
        # BatchOrder sorts within a batch; the permutation's batches are the same sets
        for start in range(0, 12, 5):
            assert sorted(g[start:start + 5]) == e[start:start + 5].tolist()


def test_allreduce_mean_divides_first_then_sums_in_rank_order():
    grads = [np.array([1.0, 3.0]), np.array([5.0, 7.0]), np.array([2.0, 2.0])]
    np.testing.assert_array_equal(allreduce_mean(grads), (grads[0] / 3 + grads[1] / 3)
                                  + grads[2] / 3)
    assert allreduce_mean([0.25, 0.75]) == 0.5


# --------------------------------------------------------------------------- the twin's proof


@pytest.mark.parametrize("k", [1, 2, 4])
def test_k_workers_equal_one_process_with_batch_k_times_b(admissions, k):
    X, y, _, _ = admissions
    w = initial_weights(6)
    b = 60 // k  # 360 records divide by K·B = 60: no padding, six steps per epoch
    twin = _steps(dpm.iter_data_parallel(X, y, w, lr=0.5, epochs=5, batch_size=b, workers=k))
    single = _steps(nb.iter_sgd_batching(X, y, w, lr=0.5, epochs=5, batch_size=k * b))
    assert len(twin) == 30
    _assert_same_steps(twin, single)


def test_padded_steps_equal_one_process_on_the_padded_global_batches(admissions):
    X, y, _, _ = admissions
    X, y = X[:50], y[:50]  # K = 4: 13 records each, 2 of them repeated; B = 5: 5, 5, 3
    w = initial_weights(6)
    twin = _steps(dpm.iter_data_parallel(X, y, w, lr=0.5, epochs=3, batch_size=5, workers=4))
    dp = data_parallel_run(X, y, w, 0.5, 3, 5, 4, None, 42, True, False, "mse")
    ref, weights, index = [], w.copy(), 0
    for epoch, batches in enumerate(dp.global_batches()):
        assert [len(g) for g in batches] == [20, 20, 12]
        for j, g in enumerate(batches):
            index += 1
            loss = nb.mse(X[g], y[g], weights)
            weights = weights - 0.5 * nb.gradient(X[g], y[g], weights)
            ref.append((index, epoch, j == 2, (weights,), loss))
    _assert_same_steps(twin, ref)


@given(n=st.integers(1, 60), k=st.integers(1, 8), b=st.integers(1, 10), drop_last=st.booleans(),
       epochs=st.integers(1, 3))
def test_total_steps_counts_the_updates_the_twin_makes(n, k, b, drop_last, epochs):
    if k > n or b > (n // k if drop_last else -(-n // k)):
        return
    X = np.linspace(-1, 1, 2 * n).reshape(n, 2)
    y = (np.arange(n) % 2).astype(float)
    steps = list(dpm.iter_data_parallel(X, y, np.zeros(2), epochs=epochs, batch_size=b,
                                        workers=k, drop_last=drop_last))
    assert len(steps) == parallel.total_steps(n, k, b, drop_last, epochs)


def test_drop_last_takes_only_full_steps(admissions):
    X, y, _, _ = admissions
    run = dpm.data_parallel(X[:50], y[:50], epochs=2, batch_size=5, workers=4, drop_last=True)
    assert len(run.losses) == 2 * 2  # 12 records each (2 cut), two batches of 5, 2 dropped
    dp = data_parallel_run(X[:50], y[:50], None, 0.5, 2, 5, 4, None, 42, True, True, "mse")
    assert dp.steps_per_epoch == 2 and dp.per_worker == 12


def test_sse_all_reduce_divides_by_k_so_it_is_one_process_at_lr_over_k(admissions):
    X, y, _, _ = admissions
    w = initial_weights(6)
    twin = _steps(dpm.iter_data_parallel(X, y, w, lr=0.01, epochs=3, batch_size=15, workers=4,
                                         loss="sse"))
    single = _steps(nb.iter_sgd_batching(X, y, w, lr=0.01 / 4, epochs=3, batch_size=60,
                                         loss="sse"))
    # the reported loss is the shards' SSE all-reduced (mean over workers): the batch's / K
    _assert_same_steps([(*s[:4], s[4] * 4) for s in twin], single)


def test_network_twin_equals_backprop_with_batch_k_times_b(admissions):
    X, y, _, _ = admissions
    ws = initial_network_weights(6, (3, 2), seed=7)
    twin = _steps(dpm.iter_data_parallel(X, y, ws, lr=0.5, epochs=3, batch_size=20, workers=2,
                                         hidden=(3, 2), seed=7))
    single = _steps(nb.iter_backprop_training(X, y, ws, lr=0.5, epochs=3, hidden=(3, 2),
                                              batch_size=40, seed=7))
    _assert_same_steps(twin, single)


#: one configuration per optimizer (torch's keywords), the options that change its update
OPTIMIZER_CASES = [
    ("sgd", {"momentum": 0.9, "nesterov": True, "weight_decay": 0.01}, 0.5),
    ("adam", {"amsgrad": True}, 0.01),
    ("adamw", {"weight_decay": 0.1}, 0.01),
    ("rmsprop", {"momentum": 0.5, "centered": True}, 0.001),
    ("adagrad", {"lr_decay": 0.01}, 0.1),
]


@pytest.mark.parametrize(("name", "options", "lr"), OPTIMIZER_CASES,
                         ids=[c[0] for c in OPTIMIZER_CASES])
def test_every_optimizer_k_workers_equal_one_process_with_batch_k_times_b(admissions, name,
                                                                          options, lr):
    """Each worker hands the all-reduced gradient to the same optimizer (gd_compare.optim),
    so K = 2 workers of batch 30 take sgd_batching's steps at batch 60, option for option."""
    X, y, _, _ = admissions
    w = initial_weights(6)
    kw = {"lr": lr, "epochs": 5, "optimizer": name, "optimizer_kwargs": options}
    twin = _steps(dpm.iter_data_parallel(X, y, w, batch_size=30, workers=2, **kw))
    single = _steps(nb.iter_sgd_batching(X, y, w, batch_size=60, **kw))
    assert len(twin) == 30
    _assert_same_steps(twin, single)
    plain = _steps(dpm.iter_data_parallel(X, y, w, lr=lr, epochs=5, batch_size=30, workers=2))
    assert np.max(np.abs(twin[-1][3][0] - plain[-1][3][0])) > 1e-3  # the optimizer acted


@pytest.mark.parametrize(("scheduler", "options"), [
    ("steplr", {"step_size": 1, "gamma": 0.5}),
    ("reducelronplateau", {"patience": 0, "factor": 0.5, "threshold": 0.1}),
])
def test_bias_bce_and_a_scheduler_equal_one_process_with_batch_k_times_b(admissions, scheduler,
                                                                         options):
    """K = 4 with a bias, mean BCE and a scheduler stepped once per epoch (ReduceLROnPlateau on
    the mean of the epoch's all-reduced losses) = sgd_batching at batch K·B = 60."""
    X, y, _, _ = admissions
    w = initial_weights(6)
    kw = {"lr": 0.5, "epochs": 6, "loss": "bce", "bias": True, "optimizer": "sgd",
          "optimizer_kwargs": {"momentum": 0.5}, "scheduler": scheduler,
          "scheduler_kwargs": options}
    twin = _steps(dpm.iter_data_parallel(X, y, w, batch_size=15, workers=4, **kw))
    single = _steps(nb.iter_sgd_batching(X, y, w, batch_size=60, **kw))
    assert [p.shape for p in twin[-1][3]] == [(6,), (1,)]  # (w, b)
    _assert_same_steps(twin, single)
    fixed = _steps(dpm.iter_data_parallel(X, y, w, batch_size=15, workers=4,
                                          **(kw | {"scheduler": None, "scheduler_kwargs": None})))
    assert abs(twin[-1][3][1][0] - fixed[-1][3][1][0]) > 1e-4  # the schedule acted


def test_network_with_adam_bias_bce_and_a_schedule_equals_backprop_with_batch_k_times_b(
        admissions):
    X, y, _, _ = admissions
    ws = initial_network_weights(6, (3,), seed=7)
    kw = {"lr": 0.05, "epochs": 4, "hidden": (3,), "seed": 7, "loss": "bce", "bias": True,
          "optimizer": "adam", "scheduler": "cosineannealinglr",
          "scheduler_kwargs": {"T_max": 4}}
    twin = _steps(dpm.iter_data_parallel(X, y, ws, batch_size=20, workers=2, **kw))
    single = _steps(nb.iter_backprop_training(X, y, ws, batch_size=40, **kw))
    assert [p.shape for p in twin[-1][3]] == [(6, 3), (3,), (3,), (1,)]
    _assert_same_steps(twin, single)


def test_the_loss_functions_take_a_neurons_weight_and_bias_pair(admissions):
    X, y, _, _ = admissions
    w, b = initial_weights(6), np.array([-0.3])
    assert dpm.data_parallel_mse(X, y, (w, b)) == nb.mse(X, y, (w, b))
    assert dpm.data_parallel_bce(X, y, (w, b)) == nb.bce(X, y, (w, b))
    assert dpm.data_parallel_accuracy(X, y, (w, b)) == nb.accuracy(X, y, (w, b))
    for got, want in zip(dpm.data_parallel_gradient(X, y, (w, b), loss="bce"),
                         nb.gradient(X, y, (w, b), loss="bce"), strict=True):
        np.testing.assert_array_equal(got, want)
    ws = initial_network_weights(6, (2,))
    assert dpm.data_parallel_bce(X, y, ws) == nb.network_bce(X, y, ws)
    assert parallel.is_network(ws)
    assert not parallel.is_network((w, b)) and not parallel.is_network(w)


def test_the_concept_passes_the_options_on():
    from gd_compare.lesson.concepts import get_concept

    kw = get_concept("data_parallel").inputs(optimizer="adam", optimizer_kwargs={"eps": 1e-6},
                                              scheduler="steplr",
                                              scheduler_kwargs={"step_size": 2},
                                              bias=True, loss="bce").kwargs
    assert (kw["optimizer"], kw["optimizer_kwargs"], kw["scheduler"], kw["bias"],
            kw["loss"]) == ("adam", {"eps": 1e-6}, "steplr", True, "bce")
    run = nb.data_parallel(**kw | {"epochs": 1})
    assert len(run.losses) == 6 and [p.shape for p in run.params] == [(6,), (1,)]


def test_a_wrong_all_reduce_is_caught(admissions, monkeypatch):
    """Summing the shards' gradients without dividing by K (a classic mistake) breaks the
    equality with one process at batch K·B at the first step."""
    X, y, _, _ = admissions
    w = initial_weights(6)
    monkeypatch.setattr(dpm, "allreduce_mean", lambda values: sum(values))
    twin = _steps(dpm.iter_data_parallel(X, y, w, epochs=1, batch_size=30, workers=2))
    single = _steps(nb.iter_sgd_batching(X, y, w, epochs=1, batch_size=60))
    with pytest.raises(AssertionError):
        _assert_same_steps(twin[:1], single[:1])


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("kwargs", "error", "text"), [
    ({"workers": 0}, ValueError, "workers: expected an int between 1 and 360, got 0"),
    ({"workers": 361}, ValueError, "workers: expected an int between 1 and 360"),
    ({"workers": 2.0}, TypeError, "workers: expected an int, got float"),
    ({"workers": True}, TypeError, "workers: expected an int, got bool"),
    ({"workers": 4, "batch_size": 91}, ValueError, "batch_size: expected an int between 1 and 90"),
    ({"workers": 7, "batch_size": 52, "drop_last": True}, ValueError,
     "batch_size: expected an int between 1 and 51"),
    ({"timeout": 0}, ValueError, "timeout: expected a finite number of seconds > 0"),
    ({"timeout": "5"}, TypeError, "timeout: expected a number of seconds > 0, got str"),
    ({"lr": -1.0}, ValueError, "lr"),
    ({"loss": "mae"}, ValueError, "loss: expected one of"),
    ({"hidden": (0,)}, ValueError, "hidden"),
    ({"optimizer": "adamx"}, ValueError,
     "optimizer: unknown optimizer 'adamx'; valid: sgd, adam, adamw, rmsprop, adagrad"),
    ({"optimizer_kwargs": {"momentum": -1.0}}, ValueError, "Invalid momentum value: -1.0"),
    ({"optimizer": "adam", "optimizer_kwargs": {"lr": 0.1}}, TypeError,
     "optimizer_kwargs: 'lr' is the training function's own lr argument"),
    ({"scheduler": "steplr"}, TypeError, "scheduler_kwargs: steplr needs step_size"),
    ({"scheduler_kwargs": {"gamma": 0.5}}, ValueError,
     "scheduler_kwargs: given without a scheduler"),
    ({"bias": "yes"}, TypeError, "bias: expected True or False"),
])
def test_bad_input_names_the_argument(admissions, kwargs, error, text):
    X, y, _, _ = admissions
    with pytest.raises(error, match=text.replace("(", r"\(").replace(")", r"\)")):
        dpm.data_parallel(X, y, **kwargs)


def test_bce_needs_targets_in_0_1(admissions):
    X, y, _, _ = admissions
    with pytest.raises(ValueError, match="targets: loss='bce'"):
        dpm.data_parallel(X, y * 2 - 0.5, loss="bce")


def test_no_caller_array_is_changed(admissions):
    X, y, _, _ = admissions
    X, y, w = X.copy(), y.copy(), initial_weights(6)
    before = [a.copy() for a in (X, y, w)]
    dpm.data_parallel(X, y, w, epochs=2, workers=3, batch_size=7)
    for a, b in zip((X, y, w), before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_backends_reexport_the_twin():
    assert nb.iter_data_parallel is dpm.iter_data_parallel
    assert nb.data_parallel_mse(np.ones((2, 1)), np.zeros(2), np.zeros(1)) == 0.25
    assert nb.data_parallel_sse(np.ones((2, 1)), np.zeros(2), (np.zeros((1, 1)), np.zeros(1))
                                ) == 0.5


# --------------------------------------------------------------------------- worker pools


class _FakePool:
    def __init__(self, workers: int) -> None:
        self.workers, self.closed = workers, False

    def close(self) -> None:
        self.closed = True


def test_keep_workers_keeps_one_pool_per_k_and_closes_them_on_exit(monkeypatch):
    monkeypatch.setattr(parallel, "_KEPT", None)  # outside the session's block (conftest)
    assert parallel.kept_pool(2) is None and not parallel.keep_pool(_FakePool(2))
    two, four = _FakePool(2), _FakePool(4)
    with parallel.keep_workers():
        assert parallel.keep_pool(two) and parallel.keep_pool(four)
        with parallel.keep_workers():  # nested: the outer block owns the pools
            assert parallel.kept_pool(2) is two
        assert not two.closed
        parallel.forget_pool(four)  # a pool that failed is not reused (and closes itself)
        assert parallel.kept_pool(4) is None
    assert two.closed and not four.closed and parallel.kept_pool(2) is None


def test_worker_error_names_rank_and_step():
    exc = WorkerError("data_parallel: worker rank 1 raised ...", 1, 3)
    assert (exc.rank, exc.step) == (1, 3) and isinstance(exc, RuntimeError)
