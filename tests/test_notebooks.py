"""The teaching notebooks: each one executes from the repository (a raising cell fails the test),
is committed with its outputs, stays small, and is a jupytext pair in sync (the ``.py`` is the
source; ``tests/_notebooks.py`` re-executes it into the ``.ipynb``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from _notebooks import EXERCISES, NOTEBOOKS, ROOT, cells, read_source

NOTEBOOK_DIR = ROOT / "notebooks"
NAMES = [p.name for p in NOTEBOOKS]
# every notebook, the teaching ones and any other (e.g. course_error_term), is a pair
PAIRS = sorted(NOTEBOOK_DIR.glob("*.ipynb")) + EXERCISES
RERUN = "re-execute it: PYTHONPATH=$PWD .venv/bin/python tests/_notebooks.py notebooks/<name>.py"


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _outputs(nb: dict) -> list[dict]:
    return [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]


def _text(nb: dict) -> str:
    parts = []
    for o in _outputs(nb):
        if o.get("output_type") == "stream":
            parts.append("".join(o["text"]))
        for key in ("text/plain", "text/html"):
            if key in o.get("data", {}):
                parts.append("".join(o["data"][key]))
    return "\n".join(parts)


def test_the_notebooks_in_teaching_order():
    assert NAMES == ["01_simple_step.ipynb", "02_sigmoid_step.ipynb", "03_mse_training.ipynb",
                     "04_sgd_batching.ipynb", "05_backprop.ipynb", "06_optimizers.ipynb",
                     "07_bias_and_cross_entropy.ipynb", "08_data_parallel.ipynb"]


def _harness_text(nb: dict) -> str:
    """The outputs without gradient-check verdicts (05 shows a wrong gradient FAIL on purpose)."""
    return "\n".join(line for line in _text(nb).splitlines()
                     if "gradient check (central differences" not in line)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_committed_with_outputs_small_and_standard_kernel(path):
    assert path.stat().st_size < 1_000_000
    nb = _load(path)
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    code_cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["execution_count"] is not None for c in code_cells), RERUN
    assert not [o for o in _outputs(nb) if o.get("output_type") == "error"]
    pngs = [o for o in _outputs(nb) if "image/png" in o.get("data", {})]
    assert len(pngs) >= 2
    text = _text(nb)
    assert "NumPy (by hand) — gd_compare/numpy_backend/by_hand.py" in text  # the code, side by side
    assert "PyTorch (autograd) — gd_compare/torch_backend/autograd.py" in text
    assert "PASS" in text and "FAIL" not in _harness_text(nb)  # the harness's table


def test_notebook_03_tells_what_load_admissions_does_on_pandas_3():
    text = _text(_load(NOTEBOOK_DIR / "03_mse_training.ipynb"))
    assert "get_dummies gives bool columns; .values is object" in text
    assert "data.loc[:, field] = ... raises TypeError" in text
    assert "'rank_1': dtype('float64')" in text


def test_teacher_comparisons_present():
    mse = _load(NOTEBOOK_DIR / "03_mse_training.ipynb")
    sources = "\n".join("".join(c["source"]) for c in mse["cells"])
    assert 'loss="sse"' in sources and "sse_vs_mse_figure" in sources
    assert "lr_sweep_figure" in sources
    sgd = _load(NOTEBOOK_DIR / "04_sgd_batching.ipynb")
    assert "batch_size_figure" in "\n".join("".join(c["source"]) for c in sgd["cells"])
    text = _text(sgd)
    assert all(f"(batch size {s})" in text for s in (1, 32, 360))


def test_bias_and_cross_entropy_notebook():
    nb = _load(NOTEBOOK_DIR / "07_bias_and_cross_entropy.ipynb")
    text = _text(nb)
    # the bias as a weight on a column of ones, proven equal to nn.Linear(bias=True)
    assert "mse: a column of ones by hand = nn.Linear(bias=True) by autograd at every one of " \
           "1000 updates" in text
    # the course's confusion caught at its first step
    assert "passed: False" in text and re.search(r"mse_training: step 1, weights", text)
    assert re.search(r"bce +True +0\.19697\d +0\.57827\d +0\.725", text)


def test_backprop_notebook_shows_defaults_training_and_the_witness():
    nb = _load(NOTEBOOK_DIR / "05_backprop.ipynb")
    sources = "\n".join("".join(c["source"]) for c in nb["cells"])
    assert 'dtype="float32"' in sources and "lr=0.5, epochs=2000" in sources
    assert "check_backends" in sources and "check_gradient(my_loss" in sources
    text = _text(nb)
    # the course's quiz on its own split (seed 21), and lr 0.5 / 2000 epochs
    assert "lr 0.005, 900 epochs: train MSE 0.2686 → 0.2531" in text
    assert text.count("accuracy NumPy 0.725 | PyTorch 0.725") == 2
    assert "always 'not admitted': 0.65" in text
    # its printout to the digit, in both backends, and the exercise's changes in weights
    for name in ("NumPy   ", "PyTorch "):
        assert (f"{name} first 0.251357252426  last 0.240400679325  Prediction accuracy: 0.725"
                in text)
    assert text.count("[0.00804047 0.00555918]") == 2
    assert text.count(" [-7.08022187e-05  2.04471402e-04]]") == 2
    assert "(float32)" in text and "(float64)" in text
    # the learner's wrong gradient (dropped hidden sigmoid slope) is caught, layer named
    assert re.search(r"FAIL\n  W_ih: relative error \S+, max \|g − g_fd\| \S+  WRONG", text)
    assert re.search(r"w_ho: relative error \S+e-1\d, max \|g − g_fd\| \S+  ok", text)


def test_optimizers_notebook_catches_the_zero_buffer_and_shows_every_optimizer():
    nb = _load(NOTEBOOK_DIR / "06_optimizers.ipynb")
    text = _text(nb)
    assert "torch's SGD by hand: agrees at every step" in text
    assert "zero-initialised buffer: the harness stops at step 1" in text
    assert "first Adam step, change of each weight: [-0.01  0.01 -0.01]" in text
    assert re.search(r"recursive vs closed form, lr 0.1, 100 epochs: [1-9]\d* epochs differ", text)
    for label in ("SGD momentum 0.9", "Adam, lr 0.01", "AdamW", "RMSprop", "Adagrad"):
        assert label in text


def test_every_notebook_is_a_jupytext_pair():
    """One ``.py`` source per ``.ipynb`` and no source without its notebook."""
    folders = (NOTEBOOK_DIR, NOTEBOOK_DIR / "exercises")
    sources = sorted(p for folder in folders for p in folder.glob("*.py")
                     if not p.name.startswith("_"))
    assert sources == sorted(p.with_suffix(".py") for p in PAIRS)
    assert 'formats = "ipynb,py:percent"' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize("path", PAIRS, ids=[p.name for p in PAIRS])
def test_pair_in_sync(path):
    """The ``.ipynb`` has the cells of its ``.py`` source (types, sources, tags): an edit of one
    side that was not synced (``jupytext --sync``) and re-executed shows here."""
    pytest.importorskip("jupytext")
    assert cells(_load(path)) == cells(read_source(path)), f"{path.name}: {RERUN}"


@pytest.mark.torch
@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_notebook_executes(path, execute_notebook):
    """Every cell runs (cwd = notebooks/, python3 kernel — one warm kernel per test process,
    its namespace reset before each notebook —, MPLBACKEND=Agg); any exception — including a
    failed ``assert_equivalent`` — fails the test."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    execute_notebook(nb, NOTEBOOK_DIR, timeout=300)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert any("image/png" in o.get("data", {}) for o in outputs)


def test_docs_and_readme_list_every_notebook():
    page = (ROOT / "docs" / "notebooks.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in page for name in NAMES)
    assert "](img/mse_training.png)" in page
    assert (ROOT / "docs" / "img" / "mse_training.png").exists()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert all(f"| `{Path(name).stem}` |" in readme for name in NAMES)
    exercises = (ROOT / "docs" / "check-your-code.md").read_text(encoding="utf-8")
    assert all(f"`{p.stem}`" in exercises for p in EXERCISES)


def _listed_modules() -> dict:
    """Modules a listing may name besides the backends (notebook 08: ``dp.``, ``distributed.``)."""
    from gd_compare.lesson import parallel
    from gd_compare.numpy_backend import distributed as data_parallel
    from gd_compare.torch_backend import distributed

    return {"dp": data_parallel, "parallel": parallel, "distributed": distributed}


@pytest.mark.torch
@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_committed_code_listings_are_the_current_source(path):
    """The code a committed notebook shows is ``gd_compare``'s code now: after a change to a
    displayed function, the notebook must be re-executed (its outputs would drift)."""
    from gd_compare.show.teaching import side_by_side

    listings = 0
    for cell in _load(path)["cells"]:
        source = "".join(cell["source"]).strip()
        if cell["cell_type"] != "code" or not source.startswith("side_by_side("):
            continue
        shown = ["".join(o["data"]["text/plain"]) for o in cell["outputs"]
                 if "text/plain" in o.get("data", {})]
        now = repr(eval(source, {"side_by_side": side_by_side, **_listed_modules()}))
        assert shown == [now], f"{path.name} shows stale code: {RERUN}"
        listings += 1
    assert listings >= 1


def test_data_parallel_notebook_shows_the_all_reduce_ddp_and_the_scaling_rule():
    nb = _load(NOTEBOOK_DIR / "08_data_parallel.ipynb")
    text = _text(nb)
    assert "worker 0: records [7 5 6]" in text  # DistributedSampler's padding, written out
    assert re.search(r"max \|difference\|      = \d\.\de-1[6-8]", text)  # Σ g_r / K = g_batch
    assert re.search(r"max \|DDP − one process\| = \d\.\de-1[6-8]", text)
    assert "K=1, lr=0.5: final train MSE 0.1980" in text
    assert "K=4, lr=2: final train MSE 0.1980" in text  # lr × K with batch × K
