"""The caller's side of the warm fork server: start it (in a session of its own, so a Ctrl-C
at the terminal reaches only the caller), feed it jobs a few at a time, read the outcomes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["PoolError", "WorkerPool"]

_PACKAGE_PARENT = str(Path(__file__).resolve().parents[3])


class PoolError(RuntimeError):
    """The fork server could not start or died: the grader itself failed (exit status 1)."""


class WorkerPool:
    """``with WorkerPool(jobs) as pool: for job, outcome in pool.run(jobs): ...``"""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self._log = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [_PACKAGE_PARENT] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[var] = "1"  # one thread per submission; --jobs makes the parallelism
        env.setdefault("MPLBACKEND", "Agg")
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gd_compare.learner.grading.server", "--jobs", str(jobs)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True,
            encoding="utf-8", start_new_session=True, env=env)
        first = self._read()
        #: seconds from the start to a warm server (torch and the package imported)
        self.startup_seconds = time.perf_counter() - started
        if not first or not first.get("ready"):
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            why = self._why()
            self.close()
            raise PoolError(f"the grading worker did not start: {why}")

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
        """Each job with its outcome, in the order they finish. A dead server is a
        :class:`PoolError` naming how many jobs were left."""
        pending = {job["id"]: job for job in jobs}
        todo = iter(jobs)
        in_flight = 0
        assert self.proc.stdin is not None
        try:
            while pending:
                while in_flight < self.jobs + 2:
                    job = next(todo, None)
                    if job is None:
                        break
                    self.proc.stdin.write(json.dumps(job) + "\n")
                    self.proc.stdin.flush()
                    in_flight += 1
                outcome = self._read()
                if outcome is None:
                    break
                in_flight -= 1
                yield pending.pop(outcome["id"]), outcome
        except (BrokenPipeError, ValueError):
            pass
        if pending:
            raise PoolError(f"the grading worker died ({self._why()}); {len(pending)} "
                            "submission(s) not graded")

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

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
