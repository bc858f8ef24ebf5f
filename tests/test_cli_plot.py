"""``gd-compare plot``: writes the PNGs, exit codes 0/1/2; the main command is unchanged; the
harness's progress hook."""

from __future__ import annotations

import json

import pytest

from gd_compare.cli import run as cli

pytestmark = pytest.mark.torch

ALL_PNGS = {"simple_step.png", "sigmoid_step.png", "sigmoid_exercise.png", "mse_training.png",
            "sgd_batching.png", "mse_training_sse_vs_mse.png", "mse_training_lr_sweep.png",
            "sgd_batching_batch_sizes.png", "backprop.png", "backprop_exercise.png",
            "data_parallel.png"}


@pytest.fixture
def short_runs(monkeypatch):
    """Every training run a few epochs long, so writing all the PNGs takes seconds."""
    from gd_compare import CONCEPTS
    from gd_compare.show import plots

    real = plots.compare

    def short(name, **kw):
        if CONCEPTS[name].kind == "training":
            kw = {"epochs": 3, **kw}
        return real(name, **kw)

    monkeypatch.setattr(plots, "compare", short)
    monkeypatch.setattr(plots, "SWEEP_EPOCHS", 3)
    monkeypatch.setattr(plots, "BATCH_EPOCHS", 1)
    monkeypatch.setattr(plots, "REPEATED_STEPS", 4)


@pytest.mark.slow
def test_plot_writes_every_png(tmp_path, short_runs, capsys):
    out = tmp_path / "figs"
    assert cli.main(["plot", "--out", str(out), "--dpi", "30"]) == 0
    assert {p.name for p in out.iterdir()} == ALL_PNGS
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in out.iterdir())
    stdout = capsys.readouterr().out
    assert f"{len(ALL_PNGS)} PNGs" in stdout and "all runs agree" in stdout


def test_plot_one_concept(tmp_path, capsys):
    assert cli.main(["plot", "--out", str(tmp_path), "--concept", "simple_step"]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["simple_step.png"]
    assert f"wrote {tmp_path / 'simple_step.png'}" in capsys.readouterr().out


def test_plot_bad_out_is_a_usage_error(tmp_path, capsys):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(SystemExit) as exc:
        cli.main(["plot", "--out", str(not_a_dir)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out" in err and "Traceback" not in err


@pytest.mark.parametrize("out", ["", "  "])
def test_plot_empty_out_is_a_usage_error_and_writes_nothing(tmp_path, monkeypatch, out, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        cli.main(["plot", "--out", out, "--concept", "simple_step"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out: expected a folder name, got an empty name" in err
    assert list(tmp_path.iterdir()) == []


def test_plot_divergence_is_one_message_without_numpy_warnings(tmp_path, capfd):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a warning would end the run here
        code = cli.main(["plot", "--out", str(tmp_path), "--concept", "mse_training",
                         "--lr", "1e308", "--epochs", "2"])
    assert code == 1
    out, err = capfd.readouterr()
    assert err == ("gd-compare plot: numpy backend: mse_training diverged: the weights are no "
                   "longer finite at epoch 0, step 0 of that epoch (update 1); try a smaller "
                   "learning rate than lr=1e+308\n")
    assert "RuntimeWarning" not in out


@pytest.mark.parametrize("argv", [["plot", "--concept", "nope"], ["plot", "--dpi", "0"],
                                  ["plot", "--bogus"]])
def test_plot_bad_options(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_plot_mismatch_exits_1(tmp_path, monkeypatch, capsys):
    from types import SimpleNamespace

    from gd_compare import numpy_backend
    from gd_compare.show import plots

    def off(**kw):
        r = numpy_backend.simple_step(**kw)
        return SimpleNamespace(**{**vars(r), "w": r.w + 1e-6})

    failing = plots.repeat_step("simple_step", 2,
                                backends=(numpy_backend, SimpleNamespace(simple_step=off)))
    monkeypatch.setattr(plots, "save_all",
                        lambda *a, **k: plots.SavedPlots([], [failing]))
    assert cli.main(["plot", "--out", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "MISMATCH" in captured.out and "FAIL simple_step" in captured.err


def test_main_command_unchanged(capsys):
    assert cli.main(["--concept", "simple_step", "--json", "-"]) == 0
    payload = json.loads(capsys.readouterr().out)  # only JSON, no progress bar, no table
    assert payload["concepts"][0]["name"] == "simple_step"
    assert cli.main(["--concept", "sigmoid_step"]) == 0
    assert "1/1 concepts pass" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        cli.main(["--lr", "-1"])
    assert exc.value.code == 2


def test_help_mentions_plot(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "gd-compare plot" in capsys.readouterr().out


def test_compare_progress_callback():
    from gd_compare import compare

    calls = []
    result = compare("sgd_batching", epochs=2, progress=lambda done, total: calls.append(
        (done, total)))
    assert result.passed
    assert calls == [(i, 24) for i in range(1, 25)]


def test_compare_progress_bar_quiet_for_short_runs(capsys):
    from gd_compare import compare

    assert compare("mse_training", epochs=5, progress=True).passed
    assert capsys.readouterr().err == ""  # tqdm waits a second before it draws anything


def test_plot_takes_the_run_options(tmp_path, monkeypatch, capsys):
    from gd_compare.show import plots

    seen = []
    real = plots.compare

    def spy(name, **kw):
        seen.append((name, kw))
        return real(name, **kw)

    monkeypatch.setattr(plots, "compare", spy)
    out = tmp_path / "figs"
    assert cli.main(["plot", "--out", str(out), "--dpi", "30", "--concept", "backprop",
                     "--concept", "simple_step", "--lr", "0.05", "--epochs", "4",
                     "--hidden", "3", "--seed", "7", "--split-seed", "5"]) == 0
    backprop = next(kw for name, kw in seen if name == "backprop")
    assert {k: backprop[k] for k in ("lr", "epochs", "hidden", "seed", "split_seed")} == {
        "lr": 0.05, "epochs": 4, "hidden": (3,), "seed": 7, "split_seed": 5}
    step = next(kw for name, kw in seen if name == "simple_step")
    assert step["lr"] == 0.05 and "epochs" not in step
    err = capsys.readouterr().err
    assert "ignored where it does not apply" in err and "--epochs (simple_step)" in err
    with pytest.raises(SystemExit) as info:
        cli.main(["plot", "--out", str(out), "--concept", "sgd_batching", "--batch-size", "361"])
    assert info.value.code == 2


@pytest.mark.parametrize("options", [["--bias"], ["--loss", "bce"], ["--bias", "--loss", "bce"],
                                     ["--bias", "--loss", "sse"]])
def test_plot_batch_sizes_with_bias_and_loss(tmp_path, short_runs, capsys, options):
    """sgd_batching's batch-size picture with a bias and each loss: drawn, no traceback."""
    out = tmp_path / "figs"
    assert cli.main(["plot", "--out", str(out), "--dpi", "30", "--concept", "sgd_batching",
                     *options]) == 0
    assert {p.name for p in out.iterdir()} == {"sgd_batching.png",
                                                "sgd_batching_batch_sizes.png"}
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "all runs agree" in captured.out


@pytest.mark.parametrize("with_traceback", [False, True])
def test_plot_crash_is_one_line_and_the_others_still_run(tmp_path, monkeypatch, capsys,
                                                         with_traceback):
    from gd_compare import DivergenceError
    from gd_compare.show import plots

    real = plots.compare

    def crash(name, **kw):
        if name == "sigmoid_step":
            raise RuntimeError("boom\nsecond line")
        if name == "sigmoid_exercise":
            raise DivergenceError("sigmoid_exercise: loss became inf at step 3")
        return real(name, **kw)

    monkeypatch.setattr(plots, "compare", crash)
    argv = ["plot", "--out", str(tmp_path), "--dpi", "20", "--concept", "sigmoid_step",
            "--concept", "sigmoid_exercise", "--concept", "simple_step"]
    assert cli.main(argv + (["--traceback"] if with_traceback else [])) == 1
    captured = capsys.readouterr()
    assert [p.name for p in tmp_path.iterdir()] == ["simple_step.png"]
    lines = [ln for ln in captured.err.splitlines() if ln.startswith("gd-compare plot:")]
    assert lines == [
        "gd-compare plot: sigmoid_step crashed: RuntimeError: boom"
        + ("" if with_traceback else " (--traceback shows where)"),
        "gd-compare plot: sigmoid_exercise: loss became inf at step 3"]  # names it once
    assert ("Traceback" in captured.err) is with_traceback
    if not with_traceback:
        assert captured.err.count("\n") == 2
    assert captured.out.endswith("1 PNGs in " + str(tmp_path) + "; 2/2 runs pass: MISMATCH; "
                                 "stopped: sigmoid_step, sigmoid_exercise\n")
