"""Imported once by multiprocessing's fork server for :mod:`gd_compare.torch_backend.distributed`:
torch, the
backends, and the first optimizer's one-time import of ``torch._dynamo`` (seconds), so every
worker forked from the server starts warm instead of paying them again.

The server holds nothing to flush or release (its workers end with ``os._exit``): when the
process that started it ends, it ends at once instead of tearing torch down (~0.3-1 s of CPU),
which a caller reading the command's output to its end (a pipe, ``subprocess.run``) waits for:
the server holds the command's stdout and stderr."""

import atexit
import contextlib
import os
import sys

import torch

from gd_compare.torch_backend import distributed  # noqa: F401

torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)


def _in_fork_server() -> bool:
    """Whether this import runs inside multiprocessing's fork server (its ``main`` preloads
    us): only there may the process skip its teardown."""
    from multiprocessing import forkserver

    frame = sys._getframe()
    while frame is not None:
        if frame.f_code is forkserver.main.__code__:
            return True
        frame = frame.f_back
    return False


def _exit_now() -> None:
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(0)


if _in_fork_server():
    atexit.register(_exit_now)
