"""Run a learner's notebook (or ``.py`` file) the way its course does, then check the course
functions it defines.

:func:`run_submission` starts a separate Python process (``python -m
gd_compare.learner.notebook SPEC``) in a temporary working directory that holds the course's
data files under the names the notebooks read — ``binary.csv`` and ``student_data.csv`` (the
same 400 UCLA rows, bundled), plus every ``.csv`` that sits next to the notebook (the
GradientDescent notebook's ``data.csv`` is not bundled: keep it next to the notebook) — with
plots off (``MPLBACKEND=Agg``) and the notebook's folder on ``sys.path``.

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
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["cell_fix", "main", "prepare", "read_cells", "read_rows", "run_submission"]

#: seconds the checks may take after the cells, on top of ``time_limit``
CHECK_BUDGET = 300.0
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


def run_submission(path: Path, *, concept: str | None, function: str | None,
                   time_limit: float, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Run ``path`` in a child process and return its rows (dicts of
    :class:`~gd_compare.learner.submission.FunctionReport` fields)."""
    try:
        cells = read_cells(path)
    except ValueError as exc:
        return [_row(path, "", None, "FAIL", f"{path.name} cannot be read: {exc}")]
    with tempfile.TemporaryDirectory(prefix="gd_compare_check_") as tmp:
        work = Path(tmp)
        spec, results = prepare(path, cells, work, concept=concept, function=function,
                                time_limit=time_limit, params=params)
        env = dict(os.environ)
        env["MPLBACKEND"] = "Agg"
        env.setdefault("OMP_NUM_THREADS", "1")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_package_root(),
                                                        env.get("PYTHONPATH", "")) if p)
        proc = subprocess.Popen([sys.executable, "-m", "gd_compare.learner.notebook", str(spec)],
                                cwd=work, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                start_new_session=True)
        timed_out = False
        try:
            _, err = proc.communicate(timeout=time_limit + CHECK_BUDGET)
        except subprocess.TimeoutExpired:
            timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            _, err = proc.communicate()
        rows = read_rows(results)
        if timed_out:
            rows.append(_row(path, "", None, "FAIL", f"checking {path.name} did not finish "
                             f"within {time_limit + CHECK_BUDGET:g} s: stopped"))
        elif proc.returncode != 0 and not rows:
            last = (err or b"").decode(errors="replace").strip().splitlines()[-1:] or [""]
            rows.append(_row(path, "", None, "FAIL", f"the checker's process for {path.name} "
                             f"ended with status {proc.returncode}: {last[0]}"))
        return rows


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


if __name__ == "__main__":
    sys.exit(main())
