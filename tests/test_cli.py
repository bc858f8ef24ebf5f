"""gd-compare: the table, the JSON contract, the exit codes."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from gd_compare import LESSON_CONCEPTS
from gd_compare.cli import run as cli
from gd_compare.proof import harness

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def default_output():
    pytest.importorskip("torch")
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main([])
    return code, out.getvalue()


def test_main_job_prints_every_concept_passing(default_output):
    code, text = default_output
    assert code == 0
    rows = {line.split()[0]: line for line in text.splitlines() if line.split()}
    for name in ("simple_step", "sigmoid_step", "sigmoid_exercise", "mse_training",
                 "sgd_batching", "backprop"):
        assert rows[name].rstrip().endswith("PASS"), rows[name]
    assert "2.24" in rows["simple_step"]
    assert f"{len(LESSON_CONCEPTS)}/{len(LESSON_CONCEPTS)} concepts pass" in text
    assert "--concept student_admissions, --concept logistic_regression" in text


def test_main_job_prints_the_lessons_log_and_accuracy(default_output):
    _, text = default_output
    assert "Train loss:  0.26276093849966" in text
    assert text.count("Prediction accuracy: 0.725") >= 2


def test_json_to_stdout_is_only_json(capsys):
    code = cli.main(["--concept", "simple_step", "--concept", "mse_training", "--epochs", "20",
                     "--json", "-"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    names = [c["name"] for c in doc["concepts"]]
    assert names == ["simple_step", "mse_training"]
    mse = doc["concepts"][1]
    assert mse["steps"] == 20 and mse["passed"] is True and mse["dtype"] == "float64"
    assert set(mse["max_abs_diff"]) >= {"weights", "loss"}
    for side in ("numpy", "torch"):
        assert len(mse[side]["losses"]) == 20
        assert len(mse[side]["final_weights"]) == 6
        assert mse[side]["test_accuracy"] == 0.575  # 23 of the 40 test rows after 20 epochs
    assert doc["concepts"][0]["numpy"]["final_weights"] == [2.24]


def test_json_to_a_file_also_prints_the_table(tmp_path, capsys):
    path = tmp_path / "out.json"
    assert cli.main(["--concept", "sigmoid_exercise", "--dtype", "float32",
                     "--json", str(path)]) == 0
    assert "sigmoid_exercise" in capsys.readouterr().out
    doc = json.loads(path.read_text())
    assert doc["concepts"][0]["dtype"] == "float32"


def test_options_reach_the_concepts(capsys):
    assert cli.main(["--concept", "sgd_batching", "--epochs", "2", "--batch-size", "100",
                     "--seed", "3", "--lr", "0.1", "--json", "-"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["concepts"][0]["steps"] == 8


@pytest.mark.parametrize("argv, match", [
    (["--lr", "-1"], "--lr"),
    (["--lr", "nan"], "--lr"),
    (["--epochs", "0"], "--epochs"),
    (["--batch-size", "abc"], "--batch-size"),
    (["--batch-size", "1000", "--concept", "sgd_batching"], "batch_size"),
    (["--concept", "nope"], "--concept"),
    (["--dtype", "float16"], "--dtype"),
])
def test_usage_errors_exit_2_with_one_line(argv, match, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and match in err and "Traceback" not in err


def test_unwritable_json_path_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--concept", "simple_step", "--json", str(tmp_path / "no" / "x.json")])
    assert info.value.code == 2


def test_a_mismatch_exits_1_and_says_where(monkeypatch, capsys):
    monkeypatch.setitem(harness.DEFAULT_TOLERANCE, "float64", (0.0, 0.0))
    code = cli.main(["--concept", "mse_training", "--epochs", "50"])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL mse_training: step" in out and "MISMATCH" in out


def test_divergence_exits_1_with_a_message(capsys):
    assert cli.main(["--concept", "mse_training", "--lr", "1e308", "--epochs", "3"]) == 1
    err = capsys.readouterr().err
    assert "mse_training diverged" in err and "epoch 0" in err and "smaller learning rate" in err
    assert "Warning" not in err  # overflow is reported once, as the divergence


def test_python_dash_m_runs_the_same_cli():
    done = subprocess.run([sys.executable, "-m", "gd_compare", "--help"], capture_output=True,
                          text=True)
    assert done.returncode == 0 and "--batch-size" in done.stdout


def test_help_lists_every_subcommand_with_one_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    assert "  gd-compare check  check a learner's function" in out
    assert "  gd-compare plot   write PNGs" in out
    grade = importlib.util.find_spec("gd_compare.cli.grade") is not None
    assert ("  gd-compare grade " in out) == grade


def test_a_failed_run_leaves_an_existing_json_file_alone(tmp_path):
    path = tmp_path / "keep.json"
    path.write_text('{"old": 1}')
    with pytest.raises(SystemExit):
        cli.main(["--concept", "sgd_batching", "--batch-size", "1000", "--json", str(path)])
    assert path.read_text() == '{"old": 1}'


@pytest.mark.parametrize("seed", ["-1", "4294967296", "x"])
def test_bad_seed_is_a_usage_error_naming_it(seed, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--seed", seed])
    assert info.value.code == 2 and "--seed" in capsys.readouterr().err


# --------------------------------------------------------------------------- the contract (issue 8)


def _no_runs(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("no concept may run")

    monkeypatch.setattr(cli, "compare", refuse)


@pytest.mark.parametrize("path, match", [("/proc/nope.json", "cannot write '/proc/nope.json'"),
                                         ("", "expected a file name or -")])
def test_an_unwritable_or_empty_json_path_exits_2_before_any_run(monkeypatch, capsys, path,
                                                                  match):
    _no_runs(monkeypatch)
    with pytest.raises(SystemExit) as info:
        cli.main(["--json", path])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert match in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_crash_in_a_backend_is_exit_1_in_one_line_and_the_others_still_run(monkeypatch,
                                                                               capsys):
    real = cli.compare

    def crashing(name, **kwargs):
        if name == "sigmoid_step":
            raise ValueError("matmul: Input operand 1 has a mismatch in its core dimension")
        if name == "sigmoid_exercise":
            raise AssertionError("sigmoid_exercise: the torch backend stopped after 3 steps")
        return real(name, **kwargs)

    monkeypatch.setattr(cli, "compare", crashing)
    argv = ["--concept", "simple_step", "--concept", "sigmoid_step", "--concept",
            "sigmoid_exercise"]
    assert cli.main(argv) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert lines == [
        "gd-compare: sigmoid_step crashed: ValueError: matmul: Input operand 1 has a mismatch "
        "in its core dimension (--traceback shows where)",
        "gd-compare: sigmoid_exercise crashed: AssertionError: sigmoid_exercise: the torch "
        "backend stopped after 3 steps (--traceback shows where)"]
    assert "see gd-compare --help" not in captured.err
    assert "1/3 concepts pass" in captured.out and "ERROR sigmoid_step" in captured.out
    assert cli.main([*argv, "--traceback"]) == 1
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_a_diverging_concept_gets_its_row_and_the_others_run(capsys):
    assert cli.main(["--lr", "1e308", "--epochs", "3", "--json", "-"]) == 1
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    status = {c["name"]: c["status"] for c in doc["concepts"]}
    assert status == {"simple_step": "diverged", "sigmoid_step": "passed",
                      "sigmoid_exercise": "passed", "backprop_exercise": "passed",
                      "mse_training": "diverged", "sgd_batching": "passed",
                      "backprop": "diverged", "data_parallel": "passed"}
    diverged = next(c for c in doc["concepts"] if c["name"] == "mse_training")
    assert "smaller learning rate" in diverged["message"] and diverged["passed"] is False
    assert "mse_training diverged" in captured.err
    assert cli.main(["--lr", "1e308", "--epochs", "3", "--concept", "mse_training",
                     "--concept", "sgd_batching"]) == 1
    out = capsys.readouterr().out
    assert "DIVERGED" in out and "1/2 concepts pass" in out


def test_options_that_do_not_apply_are_named(capsys):
    assert cli.main(["--concept", "simple_step", "--batch-size", "5", "--epochs", "7"]) == 0
    err = capsys.readouterr().err
    assert err.strip() == ("gd-compare: note: ignored where it does not apply: --epochs "
                           "(simple_step); --batch-size (simple_step)")
    assert cli.main(["--concept", "mse_training", "--batch-size", "361", "--epochs", "2"]) == 0
    assert "--batch-size (mse_training)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:  # where it applies, a bad value is a usage error
        cli.main(["--concept", "sgd_batching", "--batch-size", "361"])
    assert info.value.code == 2
    assert "sgd_batching: batch_size: expected an int between 1 and 360" in \
        capsys.readouterr().err


def test_a_saturated_run_is_flagged(capsys):
    assert cli.main(["--concept", "mse_training", "--lr", "1e300", "--epochs", "20"]) == 0
    out = capsys.readouterr().out
    assert "note: mse_training: saturated — 100% of the training outputs are pinned" in out
    assert cli.main(["--concept", "mse_training", "--epochs", "20"]) == 0
    assert "saturated" not in capsys.readouterr().out


def test_split_seed_chooses_the_split(capsys):
    assert cli.main(["--concept", "mse_training", "--split-seed", "21", "--epochs", "20",
                     "--json", "-"]) == 0
    record = json.loads(capsys.readouterr().out)["concepts"][0]
    assert record["numpy"]["test_accuracy"] == 0.65  # the seed-42 split gives 0.575


def test_the_header_names_the_optimizer_that_ran(capsys):
    assert cli.main(["--concept", "mse_training", "--epochs", "20", "--lr", "0.01",
                     "--optimizer", "adam"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert "torch.optim.Adam (float64" in first and "SGD" not in first


def test_a_closed_pipe_ends_the_run_quietly():
    """``gd-compare | head`` : the reader is gone before the table is written — exit 1, and no
    traceback on stderr (the interpreter's final flush must not fail either)."""
    proc = subprocess.Popen([sys.executable, "-m", "gd_compare", "--concept", "simple_step"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # before the run has printed anything
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def test_the_command_ends_without_teardown_but_with_everything_written(tmp_path):
    """``python -m gd_compare`` skips the interpreter's teardown of torch (and so does the
    workers' fork server): the table and the JSON are whole, the exit status is the run's,
    multiprocessing's exit handlers still release every semaphore (no 'leaked' warning), and
    no process of the run outlives it holding the output open."""
    out = tmp_path / "run.json"
    done = subprocess.run([sys.executable, "-m", "gd_compare", "--concept", "simple_step",
                           "--concept", "data_parallel", "--epochs", "1", "--json", str(out)],
                          capture_output=True, text=True, timeout=600)  # reads to EOF
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().splitlines()[-2] == "2/2 concepts pass: all concepts agree"
    assert "leaked" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    record = json.loads(out.read_text())
    assert [c["status"] for c in record["concepts"]] == ["passed", "passed"]
    failing = subprocess.run([sys.executable, "-m", "gd_compare", "--concept", "mse_training",
                              "--lr", "1e308", "--epochs", "3"], capture_output=True, text=True,
                             timeout=600)
    assert failing.returncode == 1 and "mse_training diverged" in failing.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_output_that_cannot_be_written_fails_the_command_with_a_message():
    """The command ends with os._exit, so it flushes its buffered output itself: a full disk is
    said on stderr and fails the command (the interpreter's own exit said so with 120)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "gd_compare", "--concept", "simple_step"],
                              stdout=full, stderr=subprocess.PIPE, text=True, env=env,
                              timeout=600)
    assert done.returncode == 1, done.stderr
    assert "gd-compare: could not write the output: [Errno 28]" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_preload_skips_teardown_only_inside_the_fork_server():
    from gd_compare.torch_backend import _preload

    assert not _preload._in_fork_server()  # imported here: this process tears down as always
