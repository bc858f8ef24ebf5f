"""gd_compare.show.plots: the figures draw the comparison's own data, labelled, on the right
axes."""

from __future__ import annotations

import numpy as np
import pytest

from gd_compare.proof.harness import BackendRun, Comparison

plots = pytest.importorskip("gd_compare.show.plots")

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def mse_run():
    from gd_compare import compare

    return compare("mse_training", epochs=20)


@pytest.fixture(scope="module")
def sgd_runs():
    from gd_compare import compare

    return {size: compare("sgd_batching", batch_size=size, epochs=2) for size in (1, 32, 360)}


def _line(ax, label):
    lines = [ln for ln in ax.get_lines() if ln.get_label() == label]
    assert lines, f"no line labelled {label!r}: {[ln.get_label() for ln in ax.get_lines()]}"
    return lines[0]


def test_import_gd_compare_does_not_import_matplotlib():
    import subprocess
    import sys

    code = "import sys, gd_compare; sys.exit('matplotlib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_comparison_figure_overlays_both_backends(mse_run):
    fig = plots.comparison_figure(mse_run)
    loss_ax, diff_ax, weight_ax = fig.axes[:3]
    a = _line(loss_ax, plots.NUMPY_LABEL)
    b = _line(loss_ax, plots.TORCH_LABEL)
    np.testing.assert_array_equal(a.get_ydata(), mse_run.numpy.losses)
    np.testing.assert_array_equal(b.get_ydata(), mse_run.torch.losses)
    np.testing.assert_array_equal(a.get_xdata(), np.arange(1, 21))
    assert diff_ax.get_yscale() == "log"
    diffs = plots.diff_series(mse_run)
    np.testing.assert_array_equal(
        _line(diff_ax, "|Δ loss|").get_ydata(),
        np.maximum(np.abs(mse_run.numpy.losses - mse_run.torch.losses), plots.ZERO_FLOOR))
    np.testing.assert_array_equal(_line(diff_ax, "max |Δ weights|").get_ydata(),
                                  np.maximum(diffs["weights"], plots.ZERO_FLOOR))
    assert max(diffs["weights"]) == mse_run.max_abs_diff["weights"]
    tolerance = [ln for ln in diff_ax.get_lines() if "tolerance" in ln.get_label()]
    assert tolerance[0].get_ydata()[0] == mse_run.atol
    w0 = _line(weight_ax, "w[0]")
    np.testing.assert_array_equal(w0.get_ydata(), mse_run.numpy.history[0][:, 0])
    # six weights, each drawn once per backend
    assert sum(ln.get_linestyle() == "--" for ln in weight_ax.get_lines()) >= 6
    assert "PASS" in fig.get_suptitle()
    # the weights' legend sits beside the axes, not over the curves of the last weights
    fig.canvas.draw()
    legend_box = weight_ax.get_legend().get_window_extent()
    assert legend_box.x0 >= weight_ax.get_window_extent().x1


def test_running_mean_is_the_mean_of_the_last_window_values():
    v = np.array([1.0, 3.0, 5.0, 7.0, 9.0])
    np.testing.assert_allclose(plots.running_mean(v, 2), [1.0, 2.0, 4.0, 6.0, 8.0], rtol=1e-15)
    np.testing.assert_array_equal(plots.running_mean(v, 1), v)
    np.testing.assert_allclose(plots.running_mean(v, 10), np.cumsum(v) / np.arange(1, 6),
                               rtol=1e-15)
    with pytest.raises(ValueError, match="window must be a positive integer"):
        plots.running_mean(v, 0)


def test_several_parameter_arrays_are_drawn():
    """A network's parameters (a tuple of layer arrays) get one trajectory per entry."""
    rng = np.random.default_rng(0)
    hist = (rng.normal(size=(5, 2, 3)), rng.normal(size=(5, 3)))
    run = BackendRun(final_weights=tuple(h[-1] for h in hist), losses=rng.random(5), history=hist)
    other = BackendRun(final_weights=run.final_weights, losses=run.losses.copy(),
                       history=tuple(h + 1e-17 for h in hist))
    c = Comparison("net", "float64", 5, 1e-12, 1e-12, {"weights": 1e-17}, {}, {}, None, run,
                   other)
    assert plots.param_names(run) == ["W0[0,0]", "W0[0,1]", "W0[0,2]", "W0[1,0]", "W0[1,1]",
                                      "W0[1,2]", "W1[0]", "W1[1]", "W1[2]"]
    assert plots.flat_history(run).shape == (5, 9)
    fig = plots.comparison_figure(c)
    np.testing.assert_array_equal(_line(fig.axes[2], "W1[2]").get_ydata(), hist[1][:, 2])


def test_repeat_step_follows_each_backend():
    from gd_compare import numpy_backend

    c = plots.repeat_step("simple_step", 5)
    assert c.passed and c.steps == 5
    w, expected = 2.0, []
    for _ in range(5):
        w = numpy_backend.simple_step(w=w).w
        expected.append(w)
    np.testing.assert_array_equal(c.numpy.history[0][:, 0], expected)
    assert c.numpy.losses[0] == 16.0
    assert c.numpy.values["slope"] == pytest.approx(2 * (3 * expected[-2] - 10) * 3)
    with pytest.raises(ValueError, match="training concept"):
        plots.repeat_step("mse_training")
    with pytest.raises(ValueError, match="steps"):
        plots.repeat_step("simple_step", 0)


def test_repeat_step_reports_a_mismatch():
    from types import SimpleNamespace

    from gd_compare import numpy_backend

    def off_by_a_bit(**kw):
        r = numpy_backend.sigmoid_step(**kw)
        return SimpleNamespace(**{**vars(r), "weights": r.weights + 1e-9})

    broken = SimpleNamespace(sigmoid_step=off_by_a_bit)
    c = plots.repeat_step("sigmoid_step", 3, backends=(numpy_backend, broken))
    assert not c.passed
    assert c.first_failure.step == 1 and c.first_failure.quantity == "weights"


def test_sse_vs_mse_figure(mse_run):
    from gd_compare import DivergenceError, compare

    sse = compare("mse_training", epochs=20, loss="sse")
    fig = plots.sse_vs_mse_figure(mse_run, sse, n_records=360, lr=0.5)
    left, right = fig.axes
    np.testing.assert_allclose(_line(left, "SSE, lr=0.5").get_ydata(), sse.numpy.losses / 360)
    np.testing.assert_array_equal(_line(left, "MSE, lr=0.5").get_ydata(), mse_run.numpy.losses)
    assert right.get_yscale() == "log"
    fig = plots.sse_vs_mse_figure(mse_run, DivergenceError("boom"), n_records=360, lr=0.5)
    assert any("boom" in t.get_text() for t in fig.axes[0].texts)


def test_lr_sweep_figure(mse_run):
    from gd_compare import DivergenceError

    fig = plots.lr_sweep_figure({0.5: mse_run, 99.0: DivergenceError("x")})
    left, right = fig.axes
    np.testing.assert_array_equal(_line(left, "lr=0.5").get_ydata(), mse_run.numpy.losses)
    assert right.get_xscale() == "log"
    assert _line(right, plots.NUMPY_LABEL).get_ydata()[0] == mse_run.numpy.final_loss
    assert "lr=99" in right.get_title()


def test_batch_size_figure(sgd_runs, admissions):
    X, y, _, _ = admissions
    fig = plots.batch_size_figure(sgd_runs, X, y)
    per_update, per_epoch = fig.axes
    assert per_update.get_xscale() == "log"
    # per update: the running mean over one epoch's updates is the labelled curve (batch size 1
    # is otherwise a band of noise); the raw batch losses are drawn faint under it
    assert len(_line(per_update, "batch size 1").get_ydata()) == 720
    np.testing.assert_array_equal(_line(per_update, "batch size 1").get_ydata(),
                                  plots.running_mean(sgd_runs[1].numpy.losses, 360))
    np.testing.assert_array_equal(_line(per_update, "batch size 32").get_ydata(),
                                  plots.running_mean(sgd_runs[32].numpy.losses, 12))
    np.testing.assert_array_equal(_line(per_update, "batch size 360 (full batch)").get_ydata(),
                                  sgd_runs[360].numpy.losses)
    faint = [ln for ln in per_update.get_lines() if ln.get_alpha() is not None
             and ln.get_alpha() < 0.2]
    assert len(faint) == 3
    np.testing.assert_array_equal(faint[0].get_ydata(), sgd_runs[1].numpy.losses)
    from gd_compare import numpy_backend

    full = _line(per_epoch, "batch size 360 (full batch)").get_ydata()
    np.testing.assert_array_equal(
        full, [numpy_backend.mse(X, y, w) for w in sgd_runs[360].numpy.history[0]])
    w_end = sgd_runs[1].numpy.history[0][359]
    assert _line(per_epoch, "batch size 1").get_ydata()[0] == numpy_backend.mse(X, y, w_end)


@pytest.mark.parametrize(("bias", "loss"), [(True, "mse"), (False, "bce"), (True, "bce"),
                                           (True, "sse")])
def test_batch_size_figure_with_a_bias_and_each_loss(admissions, bias, loss):
    """The per-epoch train loss is the run's own loss (the BCE of a BCE run, not the MSE),
    computed from the weights *and* the bias after each epoch's last update."""
    from gd_compare import compare, numpy_backend

    X, y, _, _ = admissions
    runs = {size: compare("sgd_batching", batch_size=size, epochs=2, bias=bias, loss=loss)
            for size in (32, 360)}
    fig = plots.batch_size_figure(runs, X, y, loss=loss)
    per_update, per_epoch = fig.axes
    assert per_epoch.get_ylabel() == f"train {loss.upper()} (all records) after the epoch"
    assert per_update.get_ylabel() == f"{loss.upper()} of the batch (running mean over an epoch)"
    function = getattr(numpy_backend, loss)
    for backend, label in (("numpy", "batch size 32"), ("torch", None)):
        run = getattr(runs[32], backend)
        ends = [12, 24]  # ceil(360 / 32) = 12 updates per epoch
        params = [tuple(h[s - 1] for h in run.history) for s in ends]
        expected = [function(X, y, p if bias else p[0]) for p in params]
        np.testing.assert_array_equal(
            plots.epoch_losses(runs[32], X, y, 12, backend, loss), expected)
        if label:
            np.testing.assert_array_equal(_line(per_epoch, label).get_ydata(), expected)
    if bias:  # the bias moved, so the loss is not that of the weights alone
        w, b = (h[-1] for h in runs[360].numpy.history)
        assert b[0] != 0
        assert _line(per_epoch, "batch size 360 (full batch)").get_ydata()[-1] != function(X, y, w)
    with pytest.raises(ValueError, match="loss: expected one of"):
        plots.epoch_losses(runs[32], X, y, 12, loss="hinge")


def test_epoch_losses_needs_every_epoch_end(admissions):
    from gd_compare import compare

    X, y, _, _ = admissions
    run = compare("sgd_batching", batch_size=32, epochs=2, record=5)
    with pytest.raises(ValueError, match="every epoch's last update"):
        plots.epoch_losses(run, X, y, 12)
    run = compare("sgd_batching", batch_size=32, epochs=2, record=False)
    with pytest.raises(ValueError, match="no parameter history"):
        plots.epoch_losses(run, X, y, 12)


def test_to_png_is_a_deterministic_png(mse_run):
    fig = plots.comparison_figure(mse_run)
    a, b = plots.to_png(fig), plots.to_png(fig)
    assert a[:8] == b"\x89PNG\r\n\x1a\n" and a == b


def test_save_all_step_concepts(tmp_path):
    seen = []
    saved = plots.save_all(tmp_path / "new", concepts=["simple_step", "sigmoid_exercise"],
                           echo=seen.append, dpi=40)
    assert [p.name for p in saved.paths] == ["simple_step.png", "sigmoid_exercise.png"]
    assert seen == [str(p) for p in saved.paths]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in saved.paths)
    assert saved.passed
    with pytest.raises(ValueError, match="unknown concept"):
        plots.save_all(tmp_path, concepts=["nope"])


def test_optimizers_figure_overlays_both_backends_and_their_gap():
    from gd_compare import compare

    runs = {"Adam": compare("mse_training", optimizer="adam", lr=0.01, epochs=50),
            "SGD": compare("mse_training", epochs=50)}
    fig = plots.optimizers_figure(runs)
    left, right = fig.axes
    adam = _line(left, "Adam")
    np.testing.assert_array_equal(adam.get_ydata(), runs["Adam"].numpy.losses)
    gap = _line(right, "Adam").get_ydata()
    assert len(gap) == 50 and 0 < gap.max() <= 1e-12  # |Δ weights| after every update
    assert right.get_yscale() == "log"
