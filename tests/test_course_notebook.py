"""notebooks/course_error_term: the teaching notebook on the student-admissions error term
executes (a raising cell fails), is committed with its outputs, and its .py and .ipynb are one
jupytext pair."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.torch

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "course_error_term.ipynb"


def _text(nb) -> str:
    parts = []
    for cell in nb["cells"]:
        for o in cell.get("outputs", []):
            parts.append("".join(o.get("text", "")))
            parts.append("".join(o.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def test_the_pair_is_in_sync_and_committed_with_outputs():
    jupytext = pytest.importorskip("jupytext")
    source = jupytext.read(NOTEBOOK.with_suffix(".py"))
    committed = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    assert [(c.cell_type, c.source) for c in source.cells] == \
        [(c["cell_type"], "".join(c["source"])) for c in committed["cells"]]
    assert committed["metadata"]["kernelspec"]["name"] == "python3"
    pngs = [o for c in committed["cells"] for o in c.get("outputs", [])
            if "image/png" in o.get("data", {})]
    assert len(pngs) == 1 and NOTEBOOK.stat().st_size < 1_000_000


@pytest.mark.slow
def test_the_notebook_executes_and_settles_every_version(execute_notebook):
    jupytext = pytest.importorskip("jupytext")

    nb = jupytext.read(NOTEBOOK.with_suffix(".py"))
    execute_notebook(nb, NOTEBOOK.parent, timeout=600)  # the test process's warm kernel
    text = _text(nb)
    for row in ("(y − ŷ)·x  [current solution]          current  PASS     bce",
                "(y − ŷ)·σ′(x)·x  [current prompt]      current  FAIL     neither   "
                "sigmoid_prime_of_inputs",
                "(y − ŷ)·σ′(x)  [older prompt]          older    FAIL     neither",
                "(y − ŷ)·ŷ(1 − ŷ)  [older solution]     older    PASS     mse"):
        assert row in text, text
    assert "the chain rule puts σ′(h) there" in text
