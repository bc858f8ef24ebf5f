"""Worker processes that never run the caller's ``__main__``: one fork server per process,
started from a clean interpreter and kept for the process's life.

multiprocessing's ``spawn`` and ``forkserver`` start methods re-import the caller's ``__main__``
in every child, so a plain script without ``if __name__ == "__main__":`` that starts workers
at its top level fails in each of them ("An attempt has been made to start a new process
before the current process has finished its bootstrapping phase"). torchrun avoids it by
starting each worker as a fresh ``python -m`` process. Here:

- the fork server is multiprocessing's own — a fresh ``python -c 'from
  multiprocessing.forkserver import main; ...'`` interpreter that imports only its ``preload``
  modules (for data-parallel runs, ``gd_compare.torch_backend._preload``: torch, warmed up),
  never ``__main__``;
- every worker is forked from it by :class:`WorkerProcess`, whose launcher sends the worker
  multiprocessing's set-up data *without* the keys that name ``__main__``
  (``init_main_from_path``, ``init_main_from_name``): the worker unpickles its target and
  arguments (importable ``gd_compare`` functions) and nothing else;
- :func:`start_fork_server` starts the server without waiting for it, so a caller that will
  need workers later (the CLI, before its other concepts) overlaps the server's start-up with
  its own work. The server exits with the process (multiprocessing's "alive" pipe).

This module never imports torch: the preload module is named by the caller.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import sys
import threading
import types
from collections.abc import Sequence
from multiprocessing import popen_forkserver, spawn
from typing import Any

__all__ = [
    "TORCH_PRELOAD",
    "WorkerProcess",
    "fork_server_context",
    "fork_server_lost",
    "reseed_random",
    "start_fork_server",
    "stop_fork_server",
]

#: What the data-parallel workers' fork server imports once before it forks any worker: torch,
#: warmed up (``gd_compare/torch_backend/_preload.py``). Named, not imported: a caller starts the
#: server with it before importing torch itself.
TORCH_PRELOAD = ("gd_compare.torch_backend._preload",)

#: The keys of multiprocessing's per-worker set-up data that make a worker import the
#: caller's ``__main__`` (by path, or by module name under ``python -m``): never sent.
MAIN_KEYS = ("init_main_from_path", "init_main_from_name")

_LAUNCH = threading.Lock()


def fork_server_context(preload: Sequence[str]) -> mp.context.BaseContext:
    """multiprocessing's ``forkserver`` context whose server imports ``preload`` (module names)
    once; every worker is then forked from it in milliseconds."""
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(list(preload))
    return ctx


def start_fork_server(preload: Sequence[str]) -> None:
    """Start the fork server now, without waiting for its ``preload`` imports (they run in the
    server's own process). Idempotent: a running server is kept; it lives as long as this
    process."""
    from multiprocessing import forkserver

    fork_server_context(preload)
    forkserver.ensure_running()


def stop_fork_server() -> None:
    """Stop the fork server (benchmarks time a cold start with it); the next worker starts a
    new one."""
    from multiprocessing import forkserver

    server = forkserver._forkserver
    with contextlib.suppress(Exception):
        if server._forkserver_pid is not None:  # it holds nothing to flush: no slow teardown
            os.kill(server._forkserver_pid, signal.SIGKILL)
        server._stop()


def fork_server_lost() -> bool:
    """Whether the fork server this process started has ended (killed, e.g. by a learner's
    ``os.kill(os.getppid(), 9)`` in a worker it forked): its workers' exit codes then read 255,
    whatever they were. Looked at without reaping it, so the next worker still starts a new
    server (:func:`multiprocessing.forkserver.ensure_running` reaps the old one). False when
    no server was started, or where the platform cannot tell."""
    from multiprocessing import forkserver

    pid = forkserver._forkserver._forkserver_pid
    if pid is None or not hasattr(os, "waitid"):
        return False
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # already reaped: gone
        return True


class _CleanPopen(popen_forkserver.Popen):
    """multiprocessing's fork-server launcher, minus the caller's ``__main__``."""

    def _launch(self, process_obj: Any) -> None:
        real = spawn.get_preparation_data

        def without_main(name: str) -> dict[str, Any]:
            # computed against a blank __main__ (a notebook's may even lack __spec__)
            caller = sys.modules["__main__"]
            sys.modules["__main__"] = types.ModuleType("__main__")
            try:
                data = real(name)
            finally:
                sys.modules["__main__"] = caller
            for key in MAIN_KEYS:
                data.pop(key, None)
            return data

        with _LAUNCH:  # one launch at a time swaps the module's function
            spawn.get_preparation_data = without_main
            try:
                super()._launch(process_obj)
            finally:
                spawn.get_preparation_data = real


class WorkerProcess(mp.context.ForkServerProcess):
    """A ``multiprocessing.Process`` forked from the fork server that never imports the
    caller's ``__main__`` (its target must be importable, e.g. a ``gd_compare`` function).
    Use it with :func:`fork_server_context`'s queues and shared arrays."""

    @staticmethod
    def _Popen(process_obj: Any) -> _CleanPopen:  # noqa: N802 (multiprocessing's name)
        return _CleanPopen(process_obj)


def reseed_random() -> None:
    """Seed the random number generators a forked process inherits anew, from the OS's entropy,
    as a fresh interpreter's are: without it every process forked from one warm server (a
    learner's check, a graded submission) draws the same numbers from NumPy's global generator
    and from torch's. (Python's ``random`` reseeds itself at a fork; the hash seed stays the
    server's.) A module not imported yet is left alone: its import seeds it."""
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.seed()
