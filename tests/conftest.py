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
