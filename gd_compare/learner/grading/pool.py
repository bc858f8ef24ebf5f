"""The caller's side of the warm fork server: start it (in a session of its own, so a Ctrl-C
at the terminal reaches only the caller), feed it jobs a few at a time, read the outcomes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gd_compare.learner.grading.server import _chmod_all

__all__ = ["PoolError", "WorkerPool"]

_PACKAGE_PARENT = str(Path(__file__).resolve().parents[3])


class PoolError(RuntimeError):
    """The fork server could not start or died: the grader itself failed (exit status 1)."""


class WorkerPool:
    """``with WorkerPool(jobs) as pool: for job, outcome in pool.run(jobs): ...``

    Used from the thread that creates it: on Linux the server ends when that thread ends
    (``prctl(PR_SET_PDEATHSIG)`` follows the thread that started it), so a grader that is
    killed leaves no server behind."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        #: seconds from the start to a warm server (torch and the package imported)
        self.startup_seconds = self._start()

    def _start(self) -> float:
        """Start the fork server and wait until it is warm; its start-up time in seconds."""
        self._log = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [_PACKAGE_PARENT] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[var] = "1"  # one thread per submission; --jobs makes the parallelism
        env.setdefault("MPLBACKEND", "Agg")
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gd_compare.learner.grading.server", "--jobs", str(self.jobs),
             "--caller", str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True,
            encoding="utf-8", start_new_session=True, env=env)
        first = self._read()
        seconds = time.perf_counter() - started
        self._root = first.get("root") if first else None
        if not first or not first.get("ready"):
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            why = self._why()
            self.close()
            raise PoolError(f"the grading worker did not start: {why}")
        return seconds

    def _why(self) -> str:
        self._log.seek(0)
        lines = [line for line in self._log.read().splitlines() if line.strip()]
        code = self.proc.poll()
        status = f"exit status {code}" if code is not None else "no answer"
        return f"{status}" + (f": {lines[-1]}" if lines else "")

    def _read(self) -> dict[str, Any] | None:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        try:
            return json.loads(line) if line else None
        except ValueError:  # not the protocol: the server is broken
            return None

    def run(self, jobs: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """Each job with its outcome, in the order they finish.

        When the server dies (a submission killed it, e.g. ``os.kill(os.getppid(), ...)``), it
        is restarted and the jobs that were in flight are run again one at a time: the one
        that kills it alone gets a CRASHED outcome naming that, and the others are graded. A
        server that dies with nothing in flight, or keeps dying, is a :class:`PoolError`."""
        queue, suspects = list(jobs), []
        restarts = 0
        while queue:
            batch, width = (suspects, 1) if suspects else (queue, self.jobs + 2)
            sent: list[dict[str, Any]] = []
            answered = set()
            for job, outcome in self._round(batch, width, sent):
                answered.add(job["id"])
                yield job, outcome
            queue = [j for j in queue if j["id"] not in answered]
            suspects = [j for j in suspects if j["id"] not in answered]
            if not queue:
                return
            if all(j["id"] in answered for j in batch):
                continue  # the round ended normally (the suspects, one at a time)
            lost = [j for j in sent if j["id"] not in answered]
            why = self._why()
            restarts += 1
            if not lost or restarts > len(jobs) + 2:
                raise PoolError(f"the grading worker died ({why}); {len(queue)} "
                                "submission(s) not graded")
            if len(lost) == 1:  # it alone was running: it killed the worker
                culprit = lost[0]
                queue.remove(culprit)
                suspects = [j for j in suspects if j is not culprit]
                yield culprit, {"id": culprit["id"], "seconds": 0.0, "rows": [], "result": {
                    "error": f"it killed the grader's worker process ({why})"}}
            else:
                suspects = lost
            self.close()
            self._start()
            if not queue:
                return

    def _round(self, batch: list[dict[str, Any]], width: int, sent: list[dict[str, Any]]
               ) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """Send ``batch`` keeping at most ``width`` jobs in flight; each job with its outcome,
        until all are answered or the server dies (``sent`` lists what was sent)."""
        pending = {job["id"]: job for job in batch}
        todo = iter(batch)
        in_flight = 0
        assert self.proc.stdin is not None
        try:
            while pending:
                while in_flight < width:
                    job = next(todo, None)
                    if job is None:
                        break
                    self.proc.stdin.write(json.dumps(job) + "\n")
                    self.proc.stdin.flush()
                    sent.append(job)
                    in_flight += 1
                outcome = self._read()
                if outcome is None:
                    return
                in_flight -= 1
                yield pending.pop(outcome["id"]), outcome
        except (BrokenPipeError, ValueError):
            return

    def close(self) -> None:
        """End the server: at once (SIGTERM kills every running submission)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        self._log.close()
        if self._root:  # what a server killed (a submission's SIGKILL) could not remove
            _chmod_all(Path(self._root))  # a folder a submission made unreadable, as it does
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
