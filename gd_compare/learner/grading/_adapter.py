"""A stand-in for :func:`gd_compare.learner.submission.check_submission` (being built on the
``learners`` branch) with the same signature, over what exists today: a ``.py`` file's function
loaded and run by :func:`gd_compare.learner.check.check`; a notebook's code cells (magics left
out) run as one module. The grader switches to the real one when it lands.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import io
import json
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gd_compare.learner.exercises import EXERCISES

__all__ = ["FunctionReport", "check_submission"]


@dataclass(frozen=True)
class FunctionReport:
    """One checked function of a submission (the fields of the learners' ``FunctionReport``)."""

    file: str
    function: str
    concept: str | None
    verdict: str  # "PASS" | "FAIL" | "MISSING"
    step: int | None
    epoch: int | None
    batch: int | None
    record: int | None
    diagnosis: str | None
    message: str
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg} (line {exc.lineno})"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}{': ' + text if text else ''}"


def _source(path: Path) -> str:
    if path.suffix != ".ipynb":
        return path.read_text(encoding="utf-8")
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    code = []
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        text = "".join(cell.get("source", []))
        code.append("\n".join(line for line in text.splitlines()
                              if not line.lstrip().startswith(("%", "!"))))
    return "\n\n".join(code)


def _defined(source: str) -> list[str]:
    """The top-level functions the source defines, in order."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    return [n.name for n in tree.body if isinstance(n, ast.FunctionDef)
            and not n.name.startswith("_")]


def _load(path: Path, source: str) -> Any:
    module = importlib.util.module_from_spec(
        importlib.util.spec_from_loader(f"_gd_compare_submission_{uuid.uuid4().hex}", None))
    module.__file__ = str(path)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(source, str(path), "exec"), module.__dict__)
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)
    return module


def check_submission(path: str | Path, *, concept: str | None = None,
                     function: str | None = None, time_limit: float = 120.0,
                     **params: Any) -> list[FunctionReport]:
    """Check ``function`` (default: the one public function the file defines, else the one
    named like ``concept``) of ``path`` against ``concept``; one report."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"path: no such file {str(path)!r}")
    if file.suffix not in (".py", ".ipynb"):
        raise ValueError(f"path: expected a .py or .ipynb file, got {str(path)!r}")
    if concept is None or concept not in EXERCISES:
        raise ValueError(f"concept: expected one of {', '.join(EXERCISES)}, got {concept!r}")
    start = time.perf_counter()

    def report(verdict: str, name: str, message: str, **more: Any) -> list[FunctionReport]:
        fields = {"step": None, "epoch": None, "batch": None, "record": None,
                  "diagnosis": None, **more}
        return [FunctionReport(str(path), name, concept, verdict, message=message,
                               seconds=round(time.perf_counter() - start, 3), **fields)]

    source = _source(file)
    names = _defined(source)
    name = function or (names[0] if len(names) == 1 else concept)
    try:
        module = _load(file, source)
    except BaseException as exc:  # SystemExit at import too
        if isinstance(exc, KeyboardInterrupt):
            raise
        return report("FAIL", name, f"{file.name}: cannot import: {_one_line(exc)}")
    fn = getattr(module, name, None)
    if not callable(fn):
        return report("MISSING", name, f"{file.name} defines no function {name!r}")
    from gd_compare.learner.check import check

    result = check(fn, concept, time_limit=time_limit, **params)
    return report("PASS" if result.passed else "FAIL", name,
                  str(result).splitlines()[0], step=result.step, epoch=result.epoch,
                  batch=result.batch, record=result.record, diagnosis=result.diagnosis)
