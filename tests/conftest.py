"""Shared test set-up.

Tests that need PyTorch carry ``pytestmark = pytest.mark.torch`` (module level) or
``@pytest.mark.torch``; ``pytest -m "not torch"`` runs the rest, and they pass without torch
installed (CI checks that in a venv without it).
"""

from __future__ import annotations

import os

# Headless matplotlib for the tests and for the notebook kernels they start (kernels inherit
# this environment): plt.show() is a no-op and nothing needs a display.
os.environ.setdefault("MPLBACKEND", "Agg")
# One thread per op for PyTorch (OpenMP, MKL) and NumPy's BLAS, in the test processes and in
# every kernel and subprocess they start (all inherit this environment): the suite runs one test
# process per core, and a second intra-op thread only waits for a core another process holds —
# measured, a notebook's check(...) of the backprop exercise took 3x the CPU time (33 s vs 11 s)
# with torch's default of 2 threads on 2 busy cores. The lesson's arrays are small: one thread
# computes the same numbers. (compare() itself already runs PyTorch on one thread:
# gd_compare.proof.harness.TORCH_THREADS.) Set before numpy or torch is imported.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pytest
from hypothesis import HealthCheck, settings

# torch's first call (and the first optimizer) costs seconds: no per-example deadline.
settings.register_profile(
    "default", deadline=None, max_examples=40,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci", deadline=None, max_examples=60, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci" if os.environ.get("CI") else "default")


@pytest.fixture(scope="session")
def admissions():
    """The lesson's prepared data as float64 arrays: X (360, 6), y, X_test (40, 6), y_test."""
    from gd_compare import load_admissions

    return load_admissions().arrays()


@pytest.fixture(scope="session", autouse=True)
def _data_parallel_workers():
    """Every ``data_parallel`` run of the session with the same K shares one set of worker
    processes (starting K workers costs seconds: each imports torch); all are ended at the end.
    No torch is imported here: the pools are started only by runs that use them."""
    from gd_compare.lesson.parallel import keep_workers

    with keep_workers():
        yield


#: Test modules whose tests share a module-scoped fixture that costs seconds (a grading run
#: waiting out its time limits, every concept in both dtypes, the default CLI): each runs in one
#: test process, which computes the fixture once, instead of once in every process.
_ONE_PROCESS = ("tests/test_grading.py", "tests/test_harness.py", "tests/test_cli.py")


def _order(item) -> int:
    """Slow tests, then the modules run in one process, then the rest."""
    if item.get_closest_marker("slow") is not None:
        return 0
    return 1 if item.nodeid.split("::", 1)[0] in _ONE_PROCESS else 2


def pytest_collection_modifyitems(config, items):
    """The slow tests first, then the modules of ``_ONE_PROCESS`` (stable order otherwise):
    handed out a few at a time in this order (``pytest_xdist_make_scheduler``), every worker
    starts on a long one at once and only short ones are left at the end."""
    items.sort(key=_order)


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist's ``--dist loadgroup`` (pyproject.toml), with the modules of
    ``_ONE_PROCESS`` each one group: every other test is its own unit, sent to whichever
    process is free, a few at a time, in collection order. (The default ``--dist load`` sent
    the first quarter of the list to the first process in one chunk: every slow test to one
    process. The ``xdist_group`` mark itself has no effect with pytest 9.2 — pytest-xdist
    issue 1386 — hence the groups here.)"""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class Scheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module in _ONE_PROCESS else super()._split_scope(nodeid)

    return Scheduling(config, log)


#: Run in the shared kernel before each notebook: a fresh namespace, the notebook's folder as
#: the working directory, no figure left open, numpy's default print options.
_NOTEBOOK_PRELUDE = """\
get_ipython().run_line_magic("reset", "-f")
import os as _os
_os.chdir({cwd!r})
import matplotlib.pyplot as _plt
_plt.close("all")
import numpy as _np
_np.set_printoptions()
del _os, _plt, _np
"""


@pytest.fixture(scope="session")
def execute_notebook():
    """``execute_notebook(nb, cwd, timeout=300)``: run every cell of ``nb`` (an nbformat
    notebook, outputs written into it; a raising cell raises ``CellExecutionError``) in one
    python3 kernel that this test process starts once and shares: each notebook then skips a
    kernel start and the imports of numpy, pandas, torch and ``torch._dynamo`` (seconds each).
    Before each notebook the kernel's namespace is reset (``%reset -f``), its working
    directory set to ``cwd``, figures closed and numpy's print options restored: a notebook
    sees no name another one defined."""
    pytest.importorskip("nbclient")  # not in the torch-free venv: the notebook tests skip
    from _notebooks import ROOT, kernel_env
    from jupyter_client import KernelManager
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell

    kernel_env()  # headless matplotlib, this repository first on PYTHONPATH
    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(ROOT))

    def execute(nb, cwd, timeout: int = 300):
        nb.cells.insert(0, new_code_cell(_NOTEBOOK_PRELUDE.format(cwd=str(cwd))))
        try:
            NotebookClient(nb, km=km, timeout=timeout, kernel_name="python3",
                           record_timing=False).execute()
        finally:
            del nb.cells[0]
        return nb

    try:
        yield execute
    finally:
        km.shutdown_kernel(now=True)
