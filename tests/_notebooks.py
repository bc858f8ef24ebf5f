"""The notebooks as the tests see them: jupytext pairs, executed as CI executes them.

Every notebook is a pair (``[tool.jupytext] formats = "ipynb,py:percent"`` in pyproject.toml):
``notebooks/NN_name.py`` is the source, ``notebooks/NN_name.ipynb`` the same cells with their
outputs. After editing a ``.py``, re-execute it and write its ``.ipynb`` with outputs::

    PYTHONPATH=$PWD .venv/bin/python tests/_notebooks.py notebooks/05_backprop.py

Execution uses the standard ``python3`` kernel with ``MPLBACKEND=Agg``, the notebook's own folder
as working directory, and this repository first on ``PYTHONPATH`` (so the ``gd_compare`` next to
the notebooks is imported).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["EXERCISES", "KERNELSPEC", "NOTEBOOKS", "ROOT", "cells", "execute", "kernel_env",
           "read_source", "refresh"]

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
EXERCISES = sorted((ROOT / "notebooks" / "exercises").glob("*.ipynb"))
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
_KEPT_METADATA = ("tags", "exercise")  # the cell metadata the tests and exercises rely on


def kernel_env() -> None:
    """The environment a kernel inherits: headless matplotlib, this repository's package."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    path = os.environ.get("PYTHONPATH", "")
    if str(ROOT) not in path.split(os.pathsep):
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), path) if p)


def execute(nb: Any, folder: Path, timeout: int = 600) -> Any:
    """Run every cell of ``nb`` in place (cwd ``folder``); a raising cell raises here."""
    from nbclient import NotebookClient

    kernel_env()
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(folder)}})
    client.execute()
    return nb


def read_source(ipynb: Path) -> Any:
    """The ``.py`` twin of ``ipynb`` read as a notebook (no outputs), standard kernel."""
    import jupytext

    nb = jupytext.read(ipynb.with_suffix(".py"))
    nb.metadata.pop("jupytext", None)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    return nb


def cells(nb: Any) -> list[tuple[str, str, dict]]:
    """Each cell's type, source and tags/exercise metadata: what a pair must agree on."""
    return [(c["cell_type"], "".join(c["source"]),
             {k: c["metadata"][k] for k in _KEPT_METADATA if k in c["metadata"]})
            for c in nb["cells"]]


def refresh(py: Path, timeout: int = 600) -> Path:
    """Execute the source ``py`` and write its paired ``.ipynb`` with the outputs."""
    import nbformat

    ipynb = py.with_suffix(".ipynb")
    nb = execute(read_source(ipynb), py.parent, timeout)
    prefix = ("ex" if py.parent.name == "exercises" else "") + py.stem[:2]
    for i, cell in enumerate(nb.cells):  # stable ids: a re-run changes only what changed
        cell.id = f"{prefix}-{i:02d}"
    nbformat.write(nb, ipynb)
    return ipynb


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        written = refresh(Path(arg).resolve())
        print(f"wrote {written.relative_to(ROOT)} ({written.stat().st_size / 1024:.0f} KB)")
