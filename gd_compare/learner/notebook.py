"""Run a learner's notebook (or ``.py`` file) the way its course does, then check the course
functions it defines.

:func:`run_submission` runs it in a separate process: a child forked from the fork server kept
for the caller's life (:mod:`gd_compare.lesson.workers`, the data-parallel workers' own: torch
imported and warmed up there once, so a check does not pay its import again), made what a fresh
``python -m gd_compare.learner.notebook SPEC`` was — where no fork server can start, it is one.
The child leads its own session (its process group is killed at the time limit, and whatever the
learner's code left running when it ends), sees the caller's environment of the call, with plots
off (``MPLBACKEND=Agg``) and one thread per op unless ``OMP_NUM_THREADS`` says otherwise, reads
stdin from ``/dev/null``, writes stdout to ``/dev/null`` and stderr to a pipe whose last 64 KiB
the caller keeps (their last line names a failure: a learner's endless output fills neither the
disk nor the caller's memory), and ends with ``os._exit``. Its random number generators are seeded
anew, as a fresh interpreter's are (Python's, NumPy's global and torch's; only the hash seed stays
the server's). Its working directory is a temporary one that holds the course's data files under
the names the notebooks read — ``binary.csv`` and ``student_data.csv`` (the same 400 UCLA rows,
bundled), plus every ``.csv`` that sits next to the notebook (the GradientDescent notebook's
``data.csv`` is not bundled: keep it next to the notebook) — and the notebook's folder is on
``sys.path``. Whatever the learner's code does there
(``os._exit``, an endless loop, a segfault, killing its parent — the fork server, which the next
call starts again) ends that child only.

The child runs the code cells in order, as "Run All" does (IPython magics and ``!`` lines are
skipped), within ``time_limit`` seconds. A cell that raises stops the run like in Jupyter: it gets
one row naming the cell — counted as Jupyter lists code cells, from 1, i.e. ``In [n]`` of a run
from the top — and the fix when the error is a known one (pandas ≥ 2's ``get_dummies`` gives bool
columns, so ``features.values`` is an object array). The course functions defined before it are
still checked, one row each: the step functions of the concepts (``train_nn``, ``train_epoch``,
``sigmoid_exercise``, ``backprop_exercise``, ...; see
:data:`gd_compare.learner.submission.STEP_FUNCTIONS`) in lockstep with autograd, and the helpers
(:mod:`gd_compare.learner.helpers`) on a grid of inputs. Rows are written as JSON lines as they
are found, so a child killed at the time limit still leaves the rows it finished.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import linecache
import os
import pickle
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["cell_fix", "main", "prepare", "read_cells", "read_rows", "run_submission"]

#: seconds the checks may take after the cells, on top of ``time_limit``
CHECK_BUDGET = 300.0
#: bytes of the child's stderr kept (its last line names how it failed)
TAIL_BYTES = 64 * 1024
#: seconds the child's stderr is still read once it has ended, when something it started keeps
#: the pipe open (and writing)
_DRAIN_SECONDS = 0.5
_MAGIC = re.compile(r"^(\s*)[%!]")
_CELL_MARK = re.compile(r"^# %%(?!\s*\[markdown\])")
_MD_MARK = re.compile(r"^# %%\s*\[markdown\]")


def read_cells(path: Path) -> list[tuple[int, str]]:
    """The code cells of a notebook, numbered from 1 as Jupyter lists them (``In [n]`` of a run
    from the top); a ``.py`` file is one cell, or its ``# %%`` cells (jupytext percent format).
    ``ValueError`` when a notebook is not valid notebook JSON."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".ipynb":
        try:
            nb = json.loads(text)
            cells = [c for c in nb["cells"] if c.get("cell_type") == "code"]
            sources = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                       for c in cells]
            if not all(isinstance(source, str) for source in sources):
                raise TypeError("a code cell's source is not text")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a notebook ({type(exc).__name__}: {exc})") from None
        return [(k, _strip_magics(s)) for k, s in enumerate(sources, start=1)]
    if not any(_CELL_MARK.match(line) for line in text.splitlines()):
        return [(1, text)]
    cells: list[list[str]] = []
    markdown = False
    for line in text.splitlines(keepends=True):
        if _MD_MARK.match(line):
            markdown = True
            continue
        if _CELL_MARK.match(line):
            markdown = False
            cells.append([])
            continue
        if not markdown:
            if not cells:
                cells.append([])
            cells[-1].append(line)
    return [(k, _strip_magics("".join(c))) for k, c in enumerate(cells, start=1)]


def _strip_magics(source: str) -> str:
    """IPython ``%magic`` and ``!shell`` lines become ``pass`` (same line numbers)."""
    return "\n".join(_MAGIC.sub(r"\1pass  # ", line) if _MAGIC.match(line) else line
                     for line in source.split("\n"))


# --------------------------------------------------------------------------- the parent


def _data_files(path: Path, into: Path) -> None:
    from gd_compare.lesson.data import bundled_csv

    bundled = bundled_csv()
    for name in ("binary.csv", "student_data.csv"):
        shutil.copyfile(bundled, into / name)
    for csv in path.resolve().parent.glob("*.csv"):  # the learner's own data files win
        if csv.is_file():
            shutil.copyfile(csv, into / csv.name)


def prepare(path: Path, cells: list[tuple[int, str]], work: Path, *, concept: str | None,
            function: str | None, time_limit: float,
            params: dict[str, Any]) -> tuple[Path, Path]:
    """The child's working directory ``work``: the data files and the spec; returns the spec's
    path and the path the rows will be written to."""
    _data_files(path, work)
    spec = work / "_gd_compare_spec.pkl"
    results = work / "_gd_compare_rows.jsonl"
    with spec.open("wb") as f:
        pickle.dump({"file": str(path), "cells": cells, "concept": concept,
                     "function": function, "time_limit": time_limit, "params": params,
                     "folder": str(path.resolve().parent), "results": str(results),
                     "notebook": path.suffix == ".ipynb"}, f)
    return spec, results


def _package_root() -> str:
    return str(Path(__file__).resolve().parents[2])  # the folder that holds gd_compare/


def _child_env() -> dict[str, str]:
    """The child's environment: the caller's, now, with plots off, one thread per op unless the
    caller says otherwise, and this package importable by anything the learner's code starts."""
    env = dict(os.environ)
    env["MPLBACKEND"] = "Agg"
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_package_root(),
                                                    env.get("PYTHONPATH", "")) if p)
    return env


def run_submission(path: Path, *, concept: str | None, function: str | None,
                   time_limit: float, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Run ``path`` in a child process and return its rows (dicts of
    :class:`~gd_compare.learner.submission.FunctionReport` fields).

    The child is forked from the warm fork server (:func:`_run_forked`); where none can start,
    it is a fresh ``python -m gd_compare.learner.notebook`` (:func:`_run_subprocess`)."""
    try:
        cells = read_cells(path)
    except ValueError as exc:
        return [_row(path, "", None, "FAIL", f"{path.name} cannot be read: {exc}")]
    with tempfile.TemporaryDirectory(prefix="gd_compare_check_") as tmp:
        work = Path(tmp)
        spec, results = prepare(path, cells, work, concept=concept, function=function,
                                time_limit=time_limit, params=params)
        limit = time_limit + CHECK_BUDGET
        ended = _run_forked(spec, work, _child_env(), limit)
        if ended is None:
            ended = _run_subprocess(spec, work, _child_env(), limit)
        rows = read_rows(results)
        if ended.timed_out:
            rows.append(_row(path, "", None, "FAIL", f"checking {path.name} did not finish "
                             f"within {limit:g} s: stopped"))
        elif ended.status is None and not rows:
            rows.append(_row(path, "", None, "FAIL", f"the checker's process for {path.name} "
                             "ended without a status: its fork server was stopped while it "
                             f"ran (by the learner's code?){_tail(ended.last_line)}"))
        elif ended.status != 0 and not rows:
            rows.append(_row(path, "", None, "FAIL", f"the checker's process for {path.name} "
                             f"ended with status {_status(ended.status)}{_tail(ended.last_line)}"))
        elif not ended.reported and not rows:
            rows.append(_row(path, "", None, "FAIL", f"the checker's process for {path.name} "
                             "ended with status 0 before it reported anything (os._exit in the "
                             f"learner's code?){_tail(ended.last_line)}"))
        return rows


class _Ended(NamedTuple):
    """How the child ended: past the time limit (killed), its exit status (None: not known, its
    fork server was stopped), whether it reported its own end, its stderr's last line."""

    timed_out: bool
    status: int | None
    reported: bool
    last_line: str


def _status(status: int) -> str:
    if status >= 0:
        return str(status)
    with contextlib.suppress(ValueError):
        return f"{status} (killed by {signal.Signals(-status).name})"
    return str(status)


def _tail(line: str) -> str:
    return f": {line}" if line else ""


def _last_line(data: bytes) -> str:
    lines = data.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else ""


class _Tail:
    """The child's stderr, read from the pipe ``fd`` by a thread as it comes, of which only the
    last :data:`TAIL_BYTES` are kept: however much the learner's code writes, neither a file
    nor this process's memory grows with it (a child that writes faster than the thread reads
    waits at its ``write``).

    :meth:`last_line` ends the reading — at EOF (every process that held the pipe has ended),
    or, when something the learner's code left keeps writing, :data:`_DRAIN_SECONDS` later —
    and returns the last line read. The thread itself calls ``close`` (which closes ``fd``) as
    it ends: never the caller, whose ``fd`` the thread might still read, nor after a number the
    system has given to another file."""

    def __init__(self, fd: int, close: Callable[[], Any]) -> None:
        self._fd, self._close = fd, close
        self._kept = bytearray()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="gd_compare-check-stderr",
                                        daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            self._drain()
        finally:
            with contextlib.suppress(OSError):
                self._close()

    def _drain(self) -> None:
        # poll, not select: select refuses a descriptor numbered past 1023; no poll (Windows,
        # which has no fork server either): blocking reads, which end at EOF
        poller = select.poll() if hasattr(select, "poll") else None
        if poller is not None:
            poller.register(self._fd, select.POLLIN)
        deadline = None
        while True:
            if self._stop.is_set() and deadline is None:
                deadline = time.monotonic() + _DRAIN_SECONDS
            if deadline is not None and time.monotonic() > deadline:
                return
            try:
                ready = poller.poll(50) if poller is not None else True
                data = os.read(self._fd, 65536) if ready else None
            except OSError:  # the pipe is gone
                return
            if data == b"":  # EOF
                return
            if data:
                with self._lock:
                    self._kept += data
                    del self._kept[:-TAIL_BYTES]
            elif deadline is not None:  # nothing more was waiting
                return

    def last_line(self) -> str:
        self._stop.set()
        self._thread.join(_DRAIN_SECONDS + 1.0)
        with self._lock:
            return _last_line(bytes(self._kept))


def _killpg(pid: int | None) -> None:
    """SIGKILL the child's process group (the child is its leader: it called ``setsid``), so
    whatever the learner's code started ends with it."""
    if pid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def _flags_change_the_run() -> bool:
    """Whether this interpreter runs with flags that change what a learner's code does: the
    fork server starts with them (multiprocessing passes them on), a fresh ``python -m`` never
    had them — ``-W error`` would fail a cell at a learner's overflow warning, ``-O`` would skip
    its asserts. (``-B``, ``-s``, ``-q`` ... change nothing there.)"""
    f = sys.flags
    return bool(sys.warnoptions or sys._xoptions or f.optimize or f.dev_mode or f.bytes_warning
                or f.verbose or f.warn_default_encoding or f.debug)


def _run_forked(spec: Path, work: Path, env: dict[str, str], limit: float) -> _Ended | None:
    """The child, forked from the fork server that is kept for this process's life
    (:mod:`gd_compare.lesson.workers`; torch imported and warmed up there once): it runs
    :func:`_forked_main` and sends its exit status on a pipe before it ends. None when no fork
    server can start here (no ``fork``, no ``AF_UNIX`` fd passing), or where this interpreter's
    flags would reach the learner's code (:func:`_flags_change_the_run`): the caller falls back
    to a fresh interpreter."""
    from gd_compare.lesson.workers import (
        TORCH_PRELOAD,
        WorkerProcess,
        fork_server_context,
        stop_fork_server,
    )

    if _flags_change_the_run():
        return None
    try:
        ctx = fork_server_context(TORCH_PRELOAD)
    except (ValueError, ImportError):  # no forkserver start method on this platform
        return None
    err_r, err_w = ctx.Pipe(duplex=False)  # the child's stderr
    done_r, done_w = ctx.Pipe(duplex=False)
    tail = _Tail(err_r.fileno(), err_r.close)
    proc = None
    try:
        try:
            for attempt in range(2):
                proc = WorkerProcess(target=_forked_main, name="gd_compare-check",
                                     args=(str(spec), str(work), env, err_w, done_w))
                try:
                    proc.start()
                    break
                except (OSError, EOFError):  # the server could not start, or died starting
                    if attempt:
                        return None
                    # a server just killed (by the last learner's code) can look alive for a
                    # moment, and refuse the connection: the next try starts a new one
                    time.sleep(0.2)
        finally:
            done_w.close()  # the child's copies are the only ones left: EOF when it ends
            err_w.close()
        try:
            timed_out, status, reported = _wait(proc, done_r, time.monotonic() + limit)
        except BaseException:  # KeyboardInterrupt: the child and all it started end now
            _killpg(proc.pid)
            proc.kill()
            proc.join(5.0)
            raise
        if timed_out:
            _killpg(proc.pid)
            proc.kill()
        proc.join(5.0)  # it has ended, or is ending: the server reports its exit code
        if proc.exitcode is None:
            proc.kill()
            proc.join(1.0)
        if proc.exitcode is None:  # the server does not answer (a learner's SIGSTOP to it):
            stop_fork_server()     # the next worker or check starts a new one
        _killpg(proc.pid)  # whatever the learner's code left running
        if status is None and not timed_out and not (proc.exitcode == 255 and _server_lost()):
            status = proc.exitcode
        return _Ended(timed_out, status, reported, tail.last_line())
    finally:
        tail.last_line()  # ends the reading, which closes err_r
        done_r.close()
        if proc is not None:
            with contextlib.suppress(ValueError):
                proc.close()


def _wait(proc: Any, done: Any, deadline: float) -> tuple[bool, int | None, bool]:
    """Wait for the forked child until ``deadline``: (timed out, its status, whether the child
    reported it itself). The child sends its status on ``done`` as it ends; the fork server
    sends its exit code on ``proc.sentinel`` — or 255 when the server itself has ended (a
    learner's ``os.kill(os.getppid(), 9)``): then the child may be still running, and only the
    pipe says when it ends. A 255 while the server lives on is the child's own."""
    from multiprocessing.connection import wait

    from gd_compare.lesson.workers import fork_server_lost

    watch = [done, proc.sentinel]
    said_255 = None  # when the server said 255
    while True:
        left = deadline - time.monotonic()
        ready = wait(watch, max(0.0, min(left, 0.1) if said_255 is not None else left))
        if proc.sentinel in ready:  # the server's word
            watch = [done]
            proc.join(0)
            if proc.exitcode == 255:
                said_255 = time.monotonic()
            elif done not in ready and not done.poll():
                return False, proc.exitcode, False  # something it forked holds the pipe
            else:
                ready = [done]
        if done in ready:
            try:
                return False, int(done.recv()), True
            except (EOFError, OSError):  # it ended without reporting (os._exit, a signal)
                return False, None, False
        if time.monotonic() >= deadline:
            return True, None, False
        if said_255 is not None and time.monotonic() - said_255 > 1.0 \
                and not fork_server_lost():
            return False, 255, False


def _server_lost(within: float = 1.0) -> bool:
    """Whether the fork server has ended, waiting up to ``within`` seconds for it to show: a
    killed process closes its pipes (the parent's sentinel reads EOF) a moment before the kernel
    reports it ended."""
    from gd_compare.lesson.workers import fork_server_lost

    deadline = time.monotonic() + within
    while not fork_server_lost():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _run_subprocess(spec: Path, work: Path, env: dict[str, str], limit: float) -> _Ended:
    """The child as a fresh interpreter, ``python -m gd_compare.learner.notebook SPEC`` (it
    imports torch itself: seconds): where no fork server can start."""
    proc = subprocess.Popen([sys.executable, "-m", "gd_compare.learner.notebook", str(spec)],
                            cwd=work, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    assert proc.stderr is not None
    tail = _Tail(proc.stderr.fileno(), proc.stderr.close)
    timed_out = False
    try:
        proc.wait(timeout=limit)
        _killpg(proc.pid)  # whatever the learner's code left running
    except subprocess.TimeoutExpired:
        timed_out = True
        _killpg(proc.pid)
        proc.wait()
    except BaseException:  # KeyboardInterrupt: the child is in its own session, it gets none
        _killpg(proc.pid)
        proc.wait()
        raise
    finally:
        last = tail.last_line()  # ends the reading, which closes proc.stderr
    return _Ended(timed_out, proc.returncode, proc.returncode == 0, last)


def read_rows(results: Path) -> list[dict[str, Any]]:
    if not results.exists():
        return []
    rows = []
    for line in results.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError):
            rows.append(json.loads(line))
    return rows


def _row(path: Path | str, function: str, concept: str | None, verdict: str, message: str,
         seconds: float = 0.0, **where: Any) -> dict[str, Any]:
    return {"file": str(path), "function": function, "concept": concept, "verdict": verdict,
            "step": where.get("step"), "epoch": where.get("epoch"), "batch": where.get("batch"),
            "record": where.get("record"), "diagnosis": where.get("diagnosis"),
            "message": message, "seconds": round(seconds, 3), "cell": where.get("cell")}


# --------------------------------------------------------------------------- the child


class _CellTimeout(BaseException):
    pass


def _alarm(signum, frame):  # pragma: no cover - runs inside the learner's code
    raise _CellTimeout


def cell_fix(exc: BaseException) -> str:
    """The fix for a cell's error when it is a known one ('' otherwise)."""
    text = f"{type(exc).__name__}: {exc}"
    if "dtype('O')" in text or ("object" in text and "ufunc" in text.lower()):
        return ("pd.get_dummies gives bool columns on pandas ≥ 2, so features.values is an "
                "object array: pass dtype=int to pd.get_dummies, or use features.astype(float)")
    if isinstance(exc, FileNotFoundError):
        return ("the notebook reads a file the checker does not have: put it next to the "
                "notebook")
    if isinstance(exc, ModuleNotFoundError):
        return "the notebook imports a package that is not installed here"
    if isinstance(exc, NameError):
        return "a name is used before the cell that defines it: run the cells in order"
    return ""


def _one_line(exc: BaseException, filename: str) -> str:
    import traceback

    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg} (line {exc.lineno})"
    text = str(exc).splitlines()[0] if str(exc) else ""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
    line = f" (line {frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}{': ' + text if text else ''}{line}"


def _run_cells(spec: dict[str, Any], ns: dict[str, Any]) -> tuple[int, str] | None:
    """Execute the cells in order; the first that raises stops them: (its number, one line)."""
    limit = float(spec["time_limit"])
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    sink = io.StringIO()
    try:
        for number, source in spec["cells"]:
            filename = f"<cell {number}>" if spec["notebook"] else spec["file"]
            if spec["notebook"]:  # so that inspect.getsource and tracebacks see the cell
                linecache.cache[filename] = (len(source), None, source.splitlines(True),
                                             filename)
            try:
                code = compile(source, filename, "exec")
                with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                    exec(code, ns)  # the learner's notebook, in this child only
            except _CellTimeout:
                return number, f"did not finish within {limit:g} s (the time limit): stopped"
            except BaseException as exc:  # SystemExit too: the cell ends the run
                if isinstance(exc, KeyboardInterrupt):
                    raise
                fix = cell_fix(exc)
                return number, "raised " + _one_line(exc, filename) + (f" — fix: {fix}" if fix
                                                                       else "")
            finally:
                sink.seek(0)
                sink.truncate()
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _defined_later(spec: dict[str, Any], after: int, names: set[str]) -> dict[str, int]:
    """Course functions defined in the cells after ``after`` (not run): name → cell."""
    out: dict[str, int] = {}
    for number, source in spec["cells"]:
        if number <= after:
            continue
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name in names:
                out.setdefault(node.name, number)
    return out


def main(argv: list[str] | None = None) -> int:
    """The child: run the cells, then check every course function found; rows as JSON lines."""
    from gd_compare.learner.submission import check_function, course_names

    argv = sys.argv[1:] if argv is None else argv
    with open(argv[0], "rb") as f:
        spec = pickle.load(f)  # written by run_submission, just now
    sys.path.insert(0, spec["folder"])
    ns: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
    if not spec["notebook"]:
        ns["__file__"] = spec["file"]
    file = spec["file"]
    out = open(spec["results"], "a", encoding="utf-8")  # noqa: SIM115 - flushed per row

    def emit(row: dict[str, Any]) -> None:
        out.write(json.dumps(row) + "\n")
        out.flush()

    try:
        failed = _run_cells(spec, ns)
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(spec["folder"])
    names = course_names(spec["concept"]) if spec["function"] is None else [spec["function"]]
    if failed is not None:
        number, line = failed
        where = f"cell {number}" if spec["notebook"] else Path(file).name
        emit(_row(file, "", None, "FAIL", f"{where} {line}", cell=number))
    found = [n for n in names if callable(ns.get(n))]
    params = dict(spec["params"])
    if callable(ns.get("train_nn")) and "loop" not in params:
        # the notebook's own loop decides the loop its error_term_formula is checked in
        from gd_compare.learner.submission import loop_concept

        concept = loop_concept(ns["train_nn"])
        params["loop"] = "current" if concept == "student_admissions" else "older"
    for name in found:
        emit(check_function(file, name, ns[name], spec["concept"], params))
    later = _defined_later(spec, failed[0], set(names)) if failed else {}
    for name in names:
        if name in found:
            continue
        if name in later:
            emit(_row(file, name, None, "MISSING", f"{name} is defined in cell {later[name]}, "
                      f"after the cell that raised (cell {failed[0]}): not run, not checked"))
        elif spec["function"] is not None:
            emit(_row(file, name, None, "MISSING", f"{Path(file).name} defines no function "
                      f"{name!r}"))
    if not found and spec["function"] is None and not later:
        emit(_row(file, "", spec["concept"], "MISSING", f"{Path(file).name} defines none of "
                  f"the course's functions ({', '.join(names)})"))
    out.close()
    return 0


def _torch_threads(env: dict[str, str]) -> int:
    """The intra-op threads torch takes at start-up in ``env``: ``MKL_NUM_THREADS``, else
    ``OMP_NUM_THREADS`` (a positive whole number), at most the CPUs this process may use — all
    of them when neither is set."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpus = max(1, cpus or 1)
    for var in ("MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        with contextlib.suppress(ValueError):
            if (count := int(env.get(var, ""))) > 0:
                return min(count, cpus)
    return cpus


def _forked_main(spec_path: str, work: str, env: dict[str, str], stderr: Any,
                 done: Any) -> None:
    """The child forked from the fork server, made what ``python -m gd_compare.learner.notebook
    SPEC`` started in ``work`` with ``env`` was, then :func:`main`; never returns: it sends its
    exit status on ``done`` and ends with ``os._exit`` (a thread or an ``atexit`` handler the
    learner's code left can neither hold it nor change its status).

    Its own session first (killing its process group ends whatever it starts), the signal
    handlers a fresh interpreter has, the caller's environment of now (the server's is the one it
    started with) and the thread count torch would take in it, stdin from ``/dev/null``, stdout
    to ``/dev/null``, stderr to the pipe ``stderr`` (whose last line names a failure), its random
    number generators seeded anew
    (:func:`~gd_compare.lesson.workers.reseed_random`)."""
    from gd_compare.lesson.workers import reseed_random

    status = 70
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for sig in (signal.SIGTERM, signal.SIGALRM, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        os.register_at_fork(after_in_child=done.close)  # only this process reports
        os.environ.clear()
        os.environ.update(env)
        torch = sys.modules.get("torch")  # imported by the server: set before any op here
        if torch is not None:
            torch.set_num_threads(_torch_threads(env))
        os.chdir(work)
        for fd, name, flags in ((0, os.devnull, os.O_RDONLY), (1, os.devnull, os.O_WRONLY)):
            opened = os.open(name, flags)
            os.dup2(opened, fd)
            os.close(opened)
        os.dup2(stderr.fileno(), 2)
        stderr.close()
        reseed_random()
        sys.argv = [str(Path(__file__).resolve()), spec_path]  # as under python -m
        try:
            status = main([spec_path])
        except SystemExit as exc:  # what the interpreter makes of it
            if exc.code is None or isinstance(exc.code, int):
                status = exc.code or 0
            else:
                print(exc.code, file=sys.stderr)
                status = 1
        except BaseException:
            import traceback

            traceback.print_exc()
            status = 1
    except BaseException:
        status = 71  # the set-up itself failed
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        status = status & 0xFF if isinstance(status, int) else 1  # as the interpreter's exit
        with contextlib.suppress(BaseException):
            done.send(status)
        os._exit(status)


if __name__ == "__main__":
    sys.exit(main())
