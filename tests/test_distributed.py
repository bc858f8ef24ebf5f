"""gd_compare.torch_backend.distributed: K real worker processes (gloo, DDP, torch.optim.SGD)
against the NumPy
twin and against one process with batch K·B; faults end cleanly; the torchrun path.

Starting K workers costs seconds (each imports torch), so the proofs share one set of workers
per K (``keep_workers``); each fault test starts (and loses) its own.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from gd_compare import compare, initial_network_weights, initial_weights
from gd_compare.lesson import parallel
from gd_compare.lesson.parallel import WorkerError, data_parallel_run
from gd_compare.numpy_backend import distributed as dpm

pytestmark = pytest.mark.torch

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader, DistributedSampler, Subset  # noqa: E402

from gd_compare import torch_backend as tb  # noqa: E402
from gd_compare.torch_backend import distributed  # noqa: E402
from gd_compare.torch_backend.distributed import Fault, RankMismatchError, WorkerPool  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _spawned_children() -> list[int]:
    """Worker processes this process started (directly, or through multiprocessing's fork
    server, which is not counted itself), from /proc: multiprocessing's processes, found
    through multiprocessing's processes only — not, e.g., the workers and fork server of a
    notebook kernel this test process keeps (tests/conftest.py: execute_notebook)."""
    parents, cmdlines = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdlines[int(entry.name)] = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    mine, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier
                    and _multiprocessing(cmdlines.get(pid, b""))} - mine
        mine |= frontier
    from multiprocessing import forkserver

    server = forkserver._forkserver._forkserver_pid
    return sorted(pid for pid in mine if pid != server)


def _multiprocessing(cmdline: bytes) -> bool:
    """A process multiprocessing started: spawned, or the fork server and its forks."""
    return b"spawn_main" in cmdline or b"forkserver" in cmdline


def _assert_gone(pids: list[int]) -> None:
    """The workers ``pids`` are gone (reaped), and no other worker survives but those of the
    pools the module keeps on purpose."""
    assert pids
    assert not [p for p in pids if Path(f"/proc/{p}").exists()]
    kept = {pid for pool in (parallel._KEPT or {}).values() for pid in pool.pids}
    assert set(_spawned_children()) <= kept


@pytest.fixture
def pools():
    """The proofs share one set of workers per K: the session keeps them (conftest)."""
    assert parallel._KEPT is not None


def _twin(kwargs: dict) -> list:
    return [(s.index, tuple(np.array(p) for p in s.params), s.loss)
            for s in dpm.iter_data_parallel(**kwargs)]


# --------------------------------------------------------------------------- the split


@pytest.mark.parametrize(("n", "k", "drop_last"), [(10, 4, False), (10, 4, True), (3, 8, False),
                                                    (360, 2, False), (51, 4, True)])
def test_the_split_is_distributed_samplers(n, k, drop_last):
    order = np.random.default_rng(n + k).permutation(n)
    for rank in range(k):
        sampler = DistributedSampler(Subset(range(n), order.tolist()), num_replicas=k,
                                     rank=rank, shuffle=False, drop_last=drop_last)
        positions = list(sampler)
        np.testing.assert_array_equal(order[positions],
                                      parallel.shard_indices(order, k, rank, drop_last))
        loader = DataLoader(sampler.dataset, batch_size=3, sampler=sampler, drop_last=drop_last)
        got = [b.tolist() for b in loader]
        shard = parallel.shard_indices(order, k, rank, drop_last)
        want = parallel.shard_batches(shard, 3, drop_last)
        assert got == [w.tolist() for w in want]


# --------------------------------------------------------------------------- the proof


@pytest.mark.parametrize("k", [2, 4])
def test_ddp_equals_the_numpy_twin_and_one_process_with_batch_k_times_b(pools, admissions, k):
    X, y, _, _ = admissions
    b = 60 // k
    result = compare("data_parallel", workers=k, batch_size=b, epochs=5)
    assert result.passed and result.steps == 30
    assert max(result.max_abs_diff.values()) <= 1e-12
    # the same DDP steps against one process (torch_backend, batch K·B = 60, the mean loss)
    single = tb.sgd_batching(X, y, initial_weights(6), lr=0.5, epochs=5, batch_size=60)
    for ddp, one in ((result.torch.history[0], single.history[0]),
                     (result.torch.losses, single.losses)):
        assert ddp.shape == one.shape
        np.testing.assert_allclose(ddp, one, rtol=1e-12, atol=1e-12)
    assert result.torch.test_accuracy == result.numpy.test_accuracy == 0.575


def test_network_sse_with_padding_ddp_equals_the_twin(pools, admissions):
    X, y, _, _ = admissions
    result = compare("data_parallel", workers=2, hidden=(3,), loss="sse", lr=0.01,
                     features=X[:51], targets=y[:51], batch_size=7, epochs=3)
    # 51 records: 26 per worker (one repeated), batches 7, 7, 7, 5
    assert result.passed and result.steps == 12
    assert max(result.max_abs_diff.values()) <= 1e-12


@pytest.mark.parametrize("k", [2, 4])
def test_float32_agrees_within_1e_5(pools, k):
    result = compare("data_parallel", workers=k, batch_size=60 // k, dtype="float32", epochs=5)
    assert result.passed and result.torch.final_weights[0].dtype == np.float32
    assert 0 < result.max_abs_diff["weights"] <= 1e-5


def test_drop_last_with_four_workers(pools, admissions):
    X, y, _, _ = admissions
    result = compare("data_parallel", workers=4, batch_size=5, drop_last=True,
                     features=X[:50], targets=y[:50], epochs=3)
    assert result.passed and result.steps == 6
    assert max(result.max_abs_diff.values()) <= 1e-12


# --------------------------------------------------------------------------- the options


def _same_steps_as(result, single, tol: float = 1e-12) -> float:
    """DDP's every update (each parameter array and the loss) = the single process's, within
    the harness's |Δ| ≤ tol + tol·|value|; returns the largest |Δ|."""
    worst = 0.0
    pairs = [*zip(result.torch.history, single.history, strict=True),
             (result.torch.losses, single.losses)]
    for ddp, one in pairs:
        assert ddp.shape == one.shape
        np.testing.assert_allclose(ddp, one, rtol=tol, atol=tol)
        worst = max(worst, float(np.max(np.abs(ddp - one))))
    return worst


#: one configuration per torch.optim class (the same as tests/test_data_parallel.py's)
OPTIMIZER_CASES = [
    ("sgd", {"momentum": 0.9, "nesterov": True, "weight_decay": 0.01}, 0.5),
    ("adam", {"amsgrad": True}, 0.01),
    ("adamw", {"weight_decay": 0.1}, 0.01),
    ("rmsprop", {"momentum": 0.5, "centered": True}, 0.001),
    ("adagrad", {"lr_decay": 0.01}, 0.1),
]


@pytest.mark.parametrize(("name", "options", "lr"), OPTIMIZER_CASES,
                         ids=[c[0] for c in OPTIMIZER_CASES])
def test_every_optimizer_in_ddp_equals_the_twin_and_one_process(pools, admissions, name, options,
                                                                lr):
    """torch.optim.<Class> in each of K = 2 workers = gd_compare.optim in the NumPy twin (every
    update, compare) = torch_backend.sgd_batching with that optimizer at batch K·B = 60."""
    X, y, _, _ = admissions
    kw = {"lr": lr, "epochs": 5, "optimizer": name, "optimizer_kwargs": options}
    result = compare("data_parallel", workers=2, batch_size=30, **kw)
    assert result.passed and result.steps == 30
    assert max(result.max_abs_diff.values()) <= 1e-12
    single = tb.sgd_batching(X, y, initial_weights(6), batch_size=60, **kw)
    assert _same_steps_as(result, single) <= 1e-12


def test_bias_bce_and_a_plateau_schedule_with_four_workers(pools, admissions):
    X, y, _, _ = admissions
    kw = {"lr": 0.5, "epochs": 6, "loss": "bce", "bias": True, "optimizer": "sgd",
          "optimizer_kwargs": {"momentum": 0.5}, "scheduler": "reducelronplateau",
          "scheduler_kwargs": {"patience": 0, "factor": 0.5, "threshold": 0.1}}
    result = compare("data_parallel", workers=4, batch_size=15, **kw)
    assert result.passed and result.bias and set(result.max_abs_diff) >= {"weights", "bias"}
    assert max(result.max_abs_diff.values()) <= 1e-12
    single = tb.sgd_batching(X, y, initial_weights(6), batch_size=60, **kw)
    assert [h.shape for h in result.torch.history] == [(36, 6), (36, 1)]
    assert _same_steps_as(result, single) <= 1e-12


def test_network_with_adam_bias_bce_and_a_schedule(pools, admissions):
    X, y, _, _ = admissions
    kw = {"lr": 0.05, "epochs": 4, "hidden": (3,), "loss": "bce", "bias": True,
          "optimizer": "adam", "scheduler": "steplr",
          "scheduler_kwargs": {"step_size": 1, "gamma": 0.7}}
    result = compare("data_parallel", workers=2, batch_size=20, **kw)
    assert result.passed and result.steps == 36
    assert max(result.max_abs_diff.values()) <= 1e-12
    single = tb.backprop_training(X, y, initial_network_weights(6, (3,), seed=42),
                                  batch_size=40, seed=42, **kw)
    assert _same_steps_as(result, single) <= 1e-12


def test_float32_with_adam_bias_and_bce_agrees_within_1e_5(pools):
    result = compare("data_parallel", workers=2, dtype="float32", epochs=5, lr=0.05,
                     optimizer="adam", bias=True, loss="bce")
    assert result.passed and result.torch.final_weights[1].dtype == np.float32
    assert 0 < max(result.max_abs_diff.values()) <= 1e-5


def test_a_bad_option_is_named_before_any_worker_starts(monkeypatch, admissions):
    X, y, _, _ = admissions

    def no_workers(*args, **kwargs):
        raise AssertionError("a worker was started")

    monkeypatch.setattr(distributed, "run_steps", no_workers)
    monkeypatch.setattr(distributed, "WorkerPool", no_workers)
    for call in (distributed.iter_data_parallel, distributed.data_parallel):
        with pytest.raises(ValueError, match="optimizer: unknown optimizer 'adamx'; valid: sgd"):
            call(X, y, optimizer="adamx")
    with pytest.raises(ValueError, match="optimizer: unknown optimizer 'adamx'"):
        compare("data_parallel", optimizer="adamx")
    with pytest.raises(ValueError, match=r"Invalid beta parameter at index 0: 1\.5"):
        compare("data_parallel", optimizer="adam", optimizer_kwargs={"betas": (1.5, 0.9)})


def test_the_cli_runs_data_parallel_with_options(pools, capsys):
    from gd_compare.cli.run import main

    code = main(["--concept", "data_parallel", "--workers", "2", "--epochs", "2",
                 "--optimizer", "adam", "--optimizer-option", "amsgrad=True", "--bias",
                 "--loss", "bce", "--scheduler", "steplr", "--scheduler-option", "step_size=1",
                 "--json", "-"])
    out, err = capsys.readouterr()
    assert code == 0 and "ignored" not in err
    record = json.loads(out)["concepts"][0]
    assert record["passed"] and record["steps"] == 12
    assert record["optimizer"] == {"name": "adam", "options": {"amsgrad": True}}
    assert record["scheduler"] == {"name": "steplr", "options": {"step_size": 1}}
    for side in ("numpy", "torch"):
        assert len(record[side]["final_weights"]) == 6 and len(record[side]["final_bias"]) == 1
    assert max(record["max_abs_diff"].values()) <= 1e-12
    with pytest.raises(SystemExit) as info:
        main(["--concept", "data_parallel", "--optimizer-option", "momentum=-1"])
    assert info.value.code == 2
    assert "data_parallel: Invalid momentum value: -1" in capsys.readouterr().err


def test_the_harness_knows_how_many_updates_a_data_parallel_run_makes(pools):
    calls: list[tuple[int, int]] = []
    result = compare("data_parallel", workers=2, epochs=3, record=5,
                     progress=lambda done, total: calls.append((done, total)))
    assert result.steps == 18 and calls[-1] == (18, 18)  # 180 records each, 6 updates of 30
    assert result.torch.history_steps.tolist() == [5, 10, 15, 18]  # every 5th and the last


def test_the_cli_runs_data_parallel(pools):
    from gd_compare.cli.run import main

    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["--concept", "data_parallel", "--workers", "2", "--epochs", "2",
                     "--json", "-"])
    assert code == 0
    record = json.loads(out.getvalue())["concepts"][0]
    assert record["name"] == "data_parallel" and record["passed"] and record["steps"] == 12


def test_a_run_outside_keep_workers_ends_its_workers(monkeypatch, admissions):
    monkeypatch.setattr(parallel, "_KEPT", None)  # as outside the session's keep_workers block
    X, y, _, _ = admissions
    before = set(_spawned_children())
    pids: list[int] = []
    original = WorkerPool.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        pids.extend(self.pids)

    monkeypatch.setattr(WorkerPool, "__init__", spy)
    run = tb.data_parallel(X, y, epochs=1, workers=2)
    assert len(run.losses) == 6 and len(pids) == 2
    assert not [p for p in pids if Path(f"/proc/{p}").exists()]
    assert set(_spawned_children()) <= before


def test_the_kept_workers_end_with_the_block(monkeypatch):
    monkeypatch.setattr(parallel, "_KEPT", None)
    with parallel.keep_workers():
        pool = WorkerPool(1)
        assert parallel.keep_pool(pool)
        pids = pool.pids
        assert all(Path(f"/proc/{p}").exists() for p in pids)
    assert not [p for p in pids if Path(f"/proc/{p}").exists()]


def _steps(steps) -> list:
    return [(s.index, s.epoch, s.end_of_epoch, s.loss, tuple(p.tobytes() for p in s.params))
            for s in steps]


def test_a_run_handed_over_in_advance_is_read_once_and_is_the_same_run(small_run, admissions):
    X, y, _, _ = admissions
    other = data_parallel_run(X, y, None, 0.1, 2, 30, 2, None, 7, True, False, "mse")
    with WorkerPool(2) as pool:
        started = []
        original = pool._start
        pool._start = lambda job: (started.append(job), original(job))[1]
        plain = _steps(pool.run(small_run))
        pool.prefetch(small_run)  # the workers run it now
        pool.prefetch(other)  # at most one in advance: ignored
        assert _steps(pool.run(small_run)) == plain  # read, not started again
        assert len(started) == 2
        pool.prefetch(other)
        assert _steps(pool.run(small_run)) == plain  # another run: the one in advance ends first
        once = _steps(pool.run(other))
        assert len(once) == 12 and _steps(pool.run(other)) == once  # nothing left over
        assert len(started) == 6 and pool._prefetched is None


def test_a_run_handed_over_in_advance_and_never_read_does_not_delay_the_end(small_run):
    pool = WorkerPool(2)
    pids = pool.pids
    pool.prefetch(small_run)
    start = time.monotonic()
    pool.close()
    assert time.monotonic() - start < 5
    assert not [p for p in pids if Path(f"/proc/{p}").exists()]


def test_the_cli_hands_data_parallel_to_its_workers_while_the_other_concepts_run(monkeypatch):
    from gd_compare.cli.run import main

    monkeypatch.setattr(parallel, "_KEPT", None)  # the CLI starts (and ends) its own workers
    jobs: list = []
    original = WorkerPool._start
    monkeypatch.setattr(WorkerPool, "_start", lambda self, job: (jobs.append(job),
                                                                 original(self, job))[1])
    prefetched: list = []
    original_prefetch = WorkerPool.prefetch
    monkeypatch.setattr(WorkerPool, "prefetch", lambda self, dp: (prefetched.append(dp),
                                                                  original_prefetch(self, dp))[1])
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["--concept", "simple_step", "--concept", "data_parallel", "--epochs", "2",
                     "--json", "-"])
    assert code == 0
    records = json.loads(out.getvalue())["concepts"]
    assert [r["passed"] for r in records] == [True, True] and records[1]["steps"] == 12
    assert len(prefetched) == 1 and len(jobs) == 1  # handed over once, in advance, and read


# --------------------------------------------------------------------------- faults


def _run(dp, fault, timeout):
    pool = WorkerPool(dp.workers, timeout=timeout)
    pids = pool.pids
    start = time.monotonic()
    with pytest.raises(WorkerError) as info:
        for _ in pool.run(dp, timeout, fault):
            pass
    return info.value, time.monotonic() - start, pids


@pytest.fixture
def small_run(admissions):
    X, y, _, _ = admissions
    return data_parallel_run(X, y, None, 0.5, 3, 30, 2, None, 42, True, False, "mse")


def test_a_killed_worker_ends_the_run_naming_its_rank(small_run):
    exc, elapsed, pids = _run(small_run, Fault(0, 3, "kill"), timeout=10)
    assert exc.rank == 0 and exc.step == 3
    assert str(exc).startswith("data_parallel: worker rank 0 was killed by SIGKILL at update 3")
    assert elapsed < 10
    _assert_gone(pids)


def test_a_hung_worker_ends_the_run_within_the_timeout(small_run):
    exc, elapsed, pids = _run(small_run, Fault(1, 4, "hang"), timeout=2)
    assert exc.rank == 1 and exc.step == 4
    assert "worker rank 1 made no progress for 2 s at update 4" in str(exc)
    assert 2 <= elapsed < 2 + 3
    _assert_gone(pids)


def test_ranks_that_disagree_are_caught_at_that_update(small_run):
    exc, _, pids = _run(small_run, Fault(1, 2, "perturb"), timeout=10)
    assert isinstance(exc, RankMismatchError)
    assert "after update 2 the workers' weights differ (max |Δ| to rank 0: 1e-09)" in str(exc)
    _assert_gone(pids)


def test_a_worker_that_raises_fails_the_cli_with_one_line_and_a_whole_json(monkeypatch,
                                                                          tmp_path):
    """A worker fault is the concept's error (exit 1, one line naming the rank, no traceback):
    the table shows its ERROR row and the JSON is written whole, its entry saying why."""
    from gd_compare.cli.run import main

    original = distributed.run_steps
    pids: list[int] = []

    def faulty(dp, timeout, fault=None, pool=None):
        pool = WorkerPool(dp.workers, timeout=timeout)
        pids.extend(pool.pids)
        try:
            yield from original(dp, timeout, Fault(1, 5, "raise"), pool)
        finally:
            pool.close()

    monkeypatch.setattr(distributed, "run_steps", faulty)
    path = tmp_path / "out.json"
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["--concept", "data_parallel", "--epochs", "2", "--json", str(path)])
    assert code == 1
    assert "data_parallel" in out.getvalue() and "ERROR" in out.getvalue()
    # (rank 0, whose all-reduce broke when rank 1 left, is named after the cause)
    assert err.getvalue().startswith("gd-compare: data_parallel: worker rank 1 raised "
                                     "RuntimeError: injected fault at update 5")
    assert err.getvalue().endswith(" (all 2 workers ended)\n")
    assert err.getvalue().count("\n") == 1  # one line, no traceback
    doc = json.loads(path.read_text(encoding="utf-8"))  # whole, not partial
    (entry,) = doc["concepts"]
    assert entry["status"] == "error" and entry["passed"] is False
    assert entry["message"].startswith("data_parallel: worker rank 1 raised RuntimeError: "
                                      "injected fault")
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no .partial left behind
    _assert_gone(pids)


# --------------------------------------------------------------------------- torchrun


@pytest.mark.slow
def test_the_torchrun_path_matches_the_numpy_twin(tmp_path, admissions):
    """Two ranks under torchrun with an optimizer, a scheduler, a bias and BCE: rank 0's
    updates = the NumPy twin's with the same options."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "steps.jsonl"
    env = os.environ | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    options = ["--lr", "0.05", "--optimizer", "adam", "--optimizer-option", "amsgrad=True",
               "--scheduler", "steplr", "--scheduler-option", "step_size=1", "--bias",
               "--loss", "bce"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1",
           "--nproc-per-node", "2", "--master-addr", "127.0.0.1", "--master-port", str(port),
           "-m", "gd_compare.torch_backend.distributed", "--epochs", "2", *options, "--out",
           str(out)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    steps = [json.loads(line) for line in out.read_text().splitlines()]
    X, y, _, _ = admissions
    twin = _twin({"features": X, "targets": y, "weights": initial_weights(6), "epochs": 2,
                  "workers": 2, "batch_size": 30, "lr": 0.05, "optimizer": "adam",
                  "optimizer_kwargs": {"amsgrad": True}, "scheduler": "steplr",
                  "scheduler_kwargs": {"step_size": 1}, "bias": True, "loss": "bce"})
    assert [s["index"] for s in steps] == list(range(1, 13))
    for got, (_, params, loss) in zip(steps, twin, strict=True):
        assert got["rank_spread"] == 0.0 and len(got["params"]) == len(params) == 2
        for a, b in zip(got["params"], params, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
        assert abs(got["loss"] - loss) <= 1e-12


def test_main_names_a_bad_option_before_joining_the_group(monkeypatch, capsys):
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "1")  # nothing listens: joining would fail, not return
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    assert distributed.main(["--optimizer", "sgd", "--optimizer-option", "momentum=-1"]) == 2
    err = capsys.readouterr().err
    assert "gd_compare.torch_backend.distributed: Invalid momentum value: -1" in err


def test_main_outside_torchrun_says_how_to_start_it(monkeypatch, capsys):
    for name in ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK"):
        monkeypatch.delenv(name, raising=False)
    assert distributed.main(["--epochs", "1"]) == 2
    assert "MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK not set" in capsys.readouterr().err
