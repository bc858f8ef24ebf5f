"""gd_compare.lesson.workers: workers forked from a clean fork server never run the caller's
``__main__`` — a plain script without ``if __name__ == "__main__":`` runs ``data_parallel``;
the server is kept for the process's life; the CLI starts the workers before its other
concepts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gd_compare.lesson import parallel, workers

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.torch

#: A learner's script: no ``if __name__ == "__main__":``, workers started at its top level.
PLAIN_SCRIPT = """\
import sys
from gd_compare import compare

print("top level ran", file=sys.stderr)
result = compare("data_parallel", workers=2, epochs=2)
print(result.passed)
"""


def _run_script(tmp_path: Path, source: str, *args: str) -> subprocess.CompletedProcess:
    script = tmp_path / "plain.py"
    script.write_text(source, encoding="utf-8")
    env = os.environ | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *args, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_a_plain_script_runs_data_parallel_without_re_running_itself(tmp_path):
    done = _run_script(tmp_path, PLAIN_SCRIPT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout == "True\n"
    # the script's top level ran once (in the caller), never in a worker
    assert done.stderr.count("top level ran") == 1, done.stderr[-3000:]
    assert "bootstrapping phase" not in done.stderr
    assert "leaked semaphore" not in done.stderr and "resource_tracker" not in done.stderr


def test_the_set_up_sent_to_a_worker_names_no_main(monkeypatch):
    """What multiprocessing would send a worker to import ``__main__`` is never sent."""
    from multiprocessing import spawn

    sent: list[dict] = []

    class Recording(workers._CleanPopen):
        def __init__(self, process_obj):  # record instead of launching
            self._launch(process_obj)

    def fake_launch(self, process_obj):
        sent.append(spawn.get_preparation_data(process_obj._name))

    monkeypatch.setattr(workers.popen_forkserver.Popen, "_launch", fake_launch)
    Recording(workers.WorkerProcess(target=print))
    (data,) = sent
    assert not set(workers.MAIN_KEYS) & set(data)
    assert "sys_path" in data  # the rest of the set-up is sent as multiprocessing sends it
    assert spawn.get_preparation_data.__name__ == "get_preparation_data"  # restored


def test_the_fork_server_is_kept_after_a_run(monkeypatch, admissions):
    from multiprocessing import forkserver

    from gd_compare import torch_backend as tb

    monkeypatch.setattr(parallel, "_KEPT", None)  # a run that ends its own workers
    X, y, _, _ = admissions
    tb.data_parallel(X, y, epochs=1, workers=1)
    server = forkserver._forkserver._forkserver_pid
    assert server is not None and Path(f"/proc/{server}").exists()
    workers.start_fork_server(workers.TORCH_PRELOAD)  # idempotent: the same server
    assert forkserver._forkserver._forkserver_pid == server


def test_start_pool_starts_in_the_background_and_the_run_waits_for_it(monkeypatch):
    monkeypatch.setattr(parallel, "_KEPT", None)
    started: list[int] = []

    class Pool:
        def __init__(self, count: int) -> None:
            self.workers = count
            self.closed = False
            started.append(count)

        def close(self) -> None:
            self.closed = True

    with parallel.keep_workers():
        parallel.start_pool(3, Pool)
        parallel.start_pool(3, Pool)  # one pool per K
        pool = parallel.kept_pool(3)
        assert isinstance(pool, Pool) and started == [3] and not pool.closed
    assert pool.closed  # ended with the block
    parallel.start_pool(3, Pool)  # outside the block: nothing is started
    assert started == [3]


def test_a_pool_that_fails_to_start_is_dropped(monkeypatch):
    monkeypatch.setattr(parallel, "_KEPT", None)

    def broken(count: int):
        raise OSError("no fork server")

    with parallel.keep_workers():
        parallel.start_pool(2, broken)
        assert parallel.kept_pool(2) is None  # the run starts its own and reports why


def test_the_cli_starts_data_parallel_workers_first(monkeypatch):
    from gd_compare.cli import run

    calls: list[tuple] = []
    monkeypatch.setattr(run, "start_fork_server", lambda preload: calls.append(("server",
                                                                               preload)))
    monkeypatch.setattr(run, "start_pool", lambda count, factory: calls.append(("pool", count)))
    args = run.build_parser().parse_args(["--workers", "3"])
    run._start_data_parallel(["simple_step", "data_parallel"], args)
    assert calls == [("server", workers.TORCH_PRELOAD), ("pool", 3)]
    calls.clear()
    run._start_data_parallel(["simple_step"], run.build_parser().parse_args([]))
    assert calls == []
