"""One submission in a process of its own: what the forked child does (limits, an empty working
directory with the course's data files, its output on pipes, its result in a file) and what its
end means (:func:`verdict_rows`: the rows of a submission, with the grader's own verdicts).

The child is forked from the warm fork server (:mod:`gd_compare.learner.grading.server`); it
calls ``os.setsid()`` first, so killing its process group ends whatever it started. On Linux the
server ends with the process that started it (SIGTERM: it kills every child's process group) and
each child with the server (:func:`die_with_parent`): a grader that is killed (a job's time
limit, ``kill -9``) leaves no submission running. (A server itself killed with SIGKILL cannot
kill the groups: the submissions die, processes they started on their own may not.)
"""

from __future__ import annotations

import ctypes
import json
import os
import pickle
import resource
import signal
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "GRADER_VERDICTS",
    "VERDICTS",
    "Limits",
    "child_main",
    "die_with_parent",
    "prepare_workdir",
    "verdict_rows",
]

#: the verdicts a row can have: ``check``'s and the grader's own
VERDICTS = ("PASS", "FAIL", "TIMEOUT", "MEMORY", "CRASHED", "MISSING")
#: the verdicts the grader gives when the check could not finish
GRADER_VERDICTS = ("TIMEOUT", "MEMORY", "CRASHED")
#: what a message says when the process ran out of address space
_MEMORY_SIGNS = ("MemoryError", "can't allocate memory", "bad_alloc", "Cannot allocate memory",
                 "out of memory")


@dataclass(frozen=True)
class Limits:
    """Per submission: ``time_limit`` wall-clock seconds (and as many CPU seconds),
    ``memory_mb`` of address space, ``output_cap`` bytes of stdout and of stderr kept."""

    time_limit: float = 60.0
    memory_mb: int = 4096
    output_cap: int = 64 * 1024


#: prctl(2)'s option: the signal this process gets when its parent ends
_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int, parent: int) -> None:
    """Have this process sent ``sig`` when ``parent`` (the process that started it) ends,
    however it ends — SIGKILL too: ``prctl(PR_SET_PDEATHSIG, sig)`` on Linux. If ``parent`` has
    already ended, ``sig`` is sent now. Elsewhere nothing changes (the server then sees its
    caller's end only as the end of its input, after the jobs it runs)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    except (OSError, AttributeError):  # no libc prctl: as elsewhere
        return
    if os.getppid() != parent:  # it ended before the call: no signal would come
        os.kill(os.getpid(), sig)


def prepare_workdir(folder: Path, submission: Path) -> None:
    """An empty working directory holding only the course's data files under the names its
    notebooks read, and the ``.csv`` files next to the submission, as ``check`` gives them
    (copies: a submission that writes to them changes nobody else's)."""
    from gd_compare.learner.notebook import _data_files

    folder.mkdir(parents=True)
    _data_files(submission, folder)


def _set_limits(limits: Limits) -> None:
    size = int(limits.memory_mb) * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (size, size))
    cpu = max(1, int(-(-limits.time_limit // 1)))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a segfault leaves no core file


def _write_result(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_suffix(".partial")
    tmp.write_text(json.dumps(payload), encoding="utf-8")
    os.replace(tmp, path)


def _one_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}{': ' + text if text else ''}"


def _check(job: dict[str, Any], limits: Limits, job_dir: Path) -> None:
    """The learners' checker, in this process (already isolated and warm): the submission's
    cells run in order, then every course function found is checked; one JSON line per row in
    ``job_dir/rows.jsonl`` as it is found, so rows finished before a kill are kept."""
    from gd_compare.learner import notebook

    path = Path(job["path"])
    rows = job_dir / "rows.jsonl"
    try:
        cells = notebook.read_cells(path)
    except ValueError as exc:
        rows.write_text(json.dumps({"file": job["path"], "function": "", "concept": None,
                                    "verdict": "FAIL", "message": f"{path.name} cannot be "
                                    f"read: {exc}", "seconds": 0.0}) + "\n", encoding="utf-8")
        return
    # the checker's own alarms (cells, each call) a second past the grader's kill: the grader's
    # wall-clock verdict is the one given
    late = limits.time_limit + 1.0
    spec = {"file": job["path"], "cells": cells, "concept": job["concept"],
            "function": job["function"], "time_limit": late,
            "params": {"time_limit": late, **job["params"]}, "folder": str(path.parent),
            "results": str(rows),
            "notebook": path.suffix == ".ipynb"}
    with (job_dir / "spec.pkl").open("wb") as f:
        pickle.dump(spec, f)
    notebook.main([str(job_dir / "spec.pkl")])


def child_main(job: dict[str, Any], out_fd: int, err_fd: int, job_dir: Path,
               server: int) -> None:
    """The forked child: never returns (``os._exit``). Rows go to ``job_dir/rows.jsonl``; then
    ``job_dir/result.json`` says how it ended: ``{"done": true}``, ``{"exit": code}`` when the
    submission called ``sys.exit`` outside its cells, ``{"error": line}`` when the check
    itself raised. Killed when the ``server`` (its parent's pid) ends: nobody would read its
    result, nor enforce its wall-clock limit."""
    from gd_compare.lesson.workers import reseed_random

    result = job_dir / "result.json"
    status = 70
    try:
        die_with_parent(signal.SIGKILL, server)
        os.setsid()
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGALRM):
            signal.signal(sig, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        os.closerange(3, 1 << 16)
        reseed_random()  # the server's generators: each submission draws its own numbers
        limits = Limits(**job["limits"])
        _set_limits(limits)
        os.chdir(job_dir / "work")
        try:
            _check(job, limits, job_dir)
            payload: dict[str, Any] = {"done": True}
        except SystemExit as exc:
            payload = {"exit": exc.code if isinstance(exc.code, int | None) else str(exc.code)}
        except BaseException as exc:
            traceback.print_exc()
            payload = {"error": _one_line(exc)}
        _write_result(result, payload)
        status = 0
    except BaseException:
        status = 71
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            pass
        os._exit(status)


# --------------------------------------------------------------------------- the verdict


def _memory(text: str | None) -> bool:
    return bool(text) and any(sign in text for sign in _MEMORY_SIGNS)


def _row(base: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {**base, **fields}


def _refine(report: dict[str, Any]) -> dict[str, Any]:
    """``check``'s FAIL that is really the grader's: the per-call time limit (TIMEOUT), the
    address-space limit (MEMORY)."""
    message = report.get("message") or ""
    if report["verdict"] == "FAIL" and ("did not return within" in message
                                        or "did not finish within" in message):
        return {**report, "verdict": "TIMEOUT"}
    if report["verdict"] == "FAIL" and _memory(message):
        return {**report, "verdict": "MEMORY"}
    return report


def _grader_row(base: dict[str, Any], job: dict[str, Any],
                outcome: dict[str, Any]) -> dict[str, Any] | None:
    """The grader's own row when the process did not end normally (None when it did)."""
    limit = job["limits"]["time_limit"]
    sig = outcome.get("signal")
    if outcome.get("timed_out") or sig == signal.SIGXCPU:
        why = "wall-clock" if outcome.get("timed_out") else "CPU"
        return _row(base, verdict="TIMEOUT",
                    message=f"did not finish within the {limit:g} s {why} limit; stopped")
    result = outcome.get("result") or {}
    if result.get("done"):
        return None
    if "exit" in result:
        return _row(base, message=f"called sys.exit({result['exit']!r}) during the check")
    if "error" in result:
        verdict = "MEMORY" if _memory(result["error"]) else "CRASHED"
        return _row(base, verdict=verdict, message=f"the check stopped: {result['error']}")
    if _memory(outcome.get("stderr")):
        return _row(base, verdict="MEMORY",
                    message=f"ran out of memory (limit {job['limits']['memory_mb']} MB)")
    if sig is not None:
        name = signal.Signals(sig).name if sig in set(signal.Signals) else str(sig)
        return _row(base, message=f"the process was killed by {name}")
    return _row(base, message=f"the process exited with status {outcome.get('returncode')} "
                              "before reporting (os._exit?)")


def verdict_rows(key: str, job: dict[str, Any], outcome: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of one submission from the fork server's ``outcome`` (see
    :mod:`gd_compare.learner.grading.server`): the rows the check finished (``file`` = ``key``),
    then one row with the grader's verdict when the process did not end normally (TIMEOUT,
    MEMORY, CRASHED), for the function it was checking (``--function``, or '' when not known)."""
    rows = [_refine({**r, "file": key}) for r in outcome.get("rows") or []]
    base = {"file": key, "function": job["function"] or "", "concept": job["concept"],
            "verdict": "CRASHED", "step": None, "epoch": None, "batch": None, "record": None,
            "diagnosis": None, "message": "", "seconds": round(outcome["seconds"], 3)}
    last = _grader_row(base, job, outcome)
    return rows + ([last] if last is not None else [])
