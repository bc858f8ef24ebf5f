"""The warm fork server: ``python -m gd_compare.learner.grading.server --jobs N``.

It imports torch and the package once (torch pinned to one thread before any op, so a forked
child cannot deadlock in OpenMP), then forks one fresh child per submission
(:func:`gd_compare.learner.grading.isolation.child_main`), at most N at a time. Protocol, one JSON
object per line: the caller writes jobs on stdin (``{"id", "path", "concept", "function",
"params", "limits"}``); the server answers ``{"ready": true, "pid", "root"}`` once warm (``root``:
its jobs' folder, which the caller removes if the server is killed), then one outcome per
job: ``{"id", "result", "returncode", "signal", "timed_out", "seconds", "stdout", "stderr",
"stdout_bytes", "stderr_bytes"}``. Closing stdin ends it once the jobs queued are done; SIGTERM
kills every child's process group and ends it at once, and so does the end of ``--caller`` (on
Linux; the pool passes its own pid).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import select
import shutil
import signal
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from gd_compare.learner.grading.isolation import (
    Limits,
    child_main,
    die_with_parent,
    prepare_workdir,
)

__all__ = ["serve"]


def warm() -> None:
    """Import torch and every module a check uses, and take one check: what a cold
    ``gd-compare check`` pays per file is paid here once."""
    import torch

    torch.set_num_threads(1)  # before any op: children forked later cannot deadlock in OpenMP
    import pandas  # noqa: F401 — the course's code reads its data with pandas

    from gd_compare import torch_backend  # noqa: F401
    from gd_compare.learner import notebook, solutions, submission  # noqa: F401
    from gd_compare.learner.check import check

    check(solutions.mse_training, "mse_training", epochs=2)  # torch._dynamo, first optimizer


@dataclass
class _Child:
    job: dict[str, Any]
    pid: int
    job_dir: Path
    deadline: float
    started: float
    pipes: dict[int, str] = field(default_factory=dict)  # fd -> "stdout" | "stderr"
    kept: dict[str, bytearray] = field(default_factory=lambda: {"stdout": bytearray(),
                                                                "stderr": bytearray()})
    total: dict[str, int] = field(default_factory=lambda: {"stdout": 0, "stderr": 0})
    timed_out: bool = False


class _Server:
    def __init__(self, jobs: int, out: IO[str]) -> None:
        self.jobs = jobs
        self.out = out
        self.queue: deque[dict[str, Any]] = deque()
        self.running: dict[int, _Child] = {}
        self.buffer = b""
        self.stdin_open = True
        self.wake_r, wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the caller decides; it sends SIGTERM
        self.root = Path(tempfile.mkdtemp(prefix="gd-compare-grade-"))
        signal.signal(signal.SIGTERM, self._terminate)  # what it removes exists by now

    def _terminate(self, *_: Any) -> None:
        self.kill_all()
        shutil.rmtree(self.root, ignore_errors=True)
        os._exit(0)

    def kill_all(self) -> None:
        for pid in list(self.running):
            _killpg(pid)

    def send(self, payload: dict[str, Any]) -> None:
        self.out.write(json.dumps(payload) + "\n")
        self.out.flush()

    # ------------------------------------------------------------------ children
    def start(self, job: dict[str, Any]) -> None:
        limits = Limits(**job["limits"])
        job_dir = self.root / f"job{job['id']}"
        prepare_workdir(job_dir / "work", Path(job["path"]))
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        self.out.flush()
        sys.stderr.flush()
        started = time.monotonic()
        server = os.getpid()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child; never returns
            child_main(job, out_w, err_w, job_dir, server)
        os.close(out_w)
        os.close(err_w)
        for fd in (out_r, err_r):
            os.set_blocking(fd, False)
        self.running[pid] = _Child(job, pid, job_dir, started + limits.time_limit, started,
                                   {out_r: "stdout", err_r: "stderr"})

    def drain(self, child: _Child, fd: int) -> None:
        stream = child.pipes[fd]
        cap = child.job["limits"].get("output_cap", Limits.output_cap)
        while True:
            try:
                data = os.read(fd, 1 << 16)
            except BlockingIOError:
                return
            if not data:
                os.close(fd)
                del child.pipes[fd]
                return
            child.total[stream] += len(data)
            room = cap - len(child.kept[stream])
            if room > 0:
                child.kept[stream] += data[:room]

    def reap(self) -> None:
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None:
                return
            pid = info.si_pid
            _killpg(pid)  # whatever the submission forked dies with it
            _, status = os.waitpid(pid, 0)
            child = self.running.pop(pid, None)
            if child is not None:
                self.finish(child, status)

    def finish(self, child: _Child, status: int) -> None:
        for fd in list(child.pipes):
            self.drain(child, fd)
            if fd in child.pipes:
                os.close(fd)
        result = None
        with contextlib.suppress(OSError, ValueError):
            result = json.loads((child.job_dir / "result.json").read_text(encoding="utf-8"))
        self.send({
            "id": child.job["id"],
            "rows": _read_rows(child.job_dir / "rows.jsonl"),
            "result": result,
            "returncode": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "timed_out": child.timed_out,
            "seconds": time.monotonic() - child.started,
            **{s: child.kept[s].decode("utf-8", "replace") for s in ("stdout", "stderr")},
            **{f"{s}_bytes": child.total[s] for s in ("stdout", "stderr")},
        })
        _chmod_all(child.job_dir)
        shutil.rmtree(child.job_dir, ignore_errors=True)

    # ------------------------------------------------------------------ the loop
    def read_jobs(self) -> None:
        data = os.read(0, 1 << 16)
        if not data:
            self.stdin_open = False
            return
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        self.queue.extend(json.loads(line) for line in lines if line.strip())

    def loop(self) -> None:
        while self.stdin_open or self.queue or self.running:
            while self.queue and len(self.running) < self.jobs:
                self.start(self.queue.popleft())
            now = time.monotonic()
            for child in self.running.values():
                if not child.timed_out and now >= child.deadline:
                    child.timed_out = True
                    _killpg(child.pid)
            waits = [c.deadline - now for c in self.running.values() if not c.timed_out]
            timeout = max(0.0, min(waits)) if waits else (None if self.stdin_open else 0.5)
            fds = [self.wake_r] + ([0] if self.stdin_open else [])
            owner = {fd: c for c in self.running.values() for fd in c.pipes}
            try:
                ready, _, _ = select.select(fds + list(owner), [], [], timeout)
            except InterruptedError:
                ready = []
            for fd in ready:
                if fd == self.wake_r:
                    while True:
                        try:
                            if not os.read(self.wake_r, 4096):
                                break
                        except BlockingIOError:
                            break
                elif fd == 0:
                    self.read_jobs()
                elif fd in owner and fd in owner[fd].pipes:
                    self.drain(owner[fd], fd)
            self.reap()


def _read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows the child wrote (a line cut short by a kill is left out)."""
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return rows
    for line in lines:
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


def _killpg(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _chmod_all(folder: Path) -> None:
    """A submission may leave a folder it made unreadable: make all removable."""
    for path in folder.rglob("*"):
        try:
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o700)
        except OSError:
            pass


def serve(jobs: int, caller: int | None = None) -> None:
    """Warm up, say ready, run the jobs that come on stdin, at most ``jobs`` at a time; end
    (SIGTERM: every running submission killed) when ``caller`` (the pid that started it)
    ends, however it ends."""
    if caller is not None:
        die_with_parent(signal.SIGTERM, caller)
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything printed by the imports goes to stderr, never into the protocol
    warm()
    gc.collect()
    gc.freeze()  # the warm objects stay shared with every child (copy-on-write)
    server = _Server(jobs, protocol)
    server.send({"ready": True, "pid": os.getpid(), "root": str(server.root)})
    try:
        server.loop()
    finally:
        server.kill_all()
        shutil.rmtree(server.root, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gd_compare.learner.grading.server")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--caller", type=int, default=None,
                        help="the pid of the process that starts the server: it ends with it")
    args = parser.parse_args(argv)
    serve(max(1, args.jobs), args.caller)


if __name__ == "__main__":  # pragma: no cover
    main()
