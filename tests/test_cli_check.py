"""``gd-compare check PATH.py:FUNCTION --concept NAME``: exit 0 right, 1 wrong, 2 usage; a file
that does not import gets its error in one line."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gd_compare.cli.run import main

LEARNER = textwrap.dedent('''
    import numpy as np

    print("the learner's file prints at import")


    def sigmoid(x):
        return 1 / (1 + np.exp(-x))


    def train_epoch(features, targets, weights, learnrate):
        n_records = features.shape[0]
        del_w = np.zeros(weights.shape)
        for x, y in zip(features, targets):
            output = sigmoid(np.dot(x, weights))
            error = y - output
            del_w += error * output * (1 - output) * x
        weights += learnrate * del_w / n_records


    def no_prime(features, targets, weights, learnrate):
        n_records = features.shape[0]
        del_w = np.zeros(weights.shape)
        for x, y in zip(features, targets):
            output = sigmoid(np.dot(x, weights))
            del_w += (y - output) * x
        return weights + learnrate * del_w / n_records


    def crash(x, y, weights, learnrate):
        return undefined_name * x


    NOT_A_FUNCTION = 3
''')


@pytest.fixture
def learner(tmp_path: Path) -> Path:
    path = tmp_path / "mine.py"
    path.write_text(LEARNER, encoding="utf-8")
    return path


@pytest.mark.torch
def test_a_right_function_exits_0(learner, capsys):
    assert main(["check", f"{learner}:train_epoch", "--concept", "mse_training",
                 "--epochs", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("PASS mse_training: train_epoch agrees with PyTorch autograd at all "
                          "3 step(s)")
    assert "prints at import" not in out


@pytest.mark.torch
def test_a_wrong_function_exits_1_with_the_step_and_the_diagnosis(learner, capsys):
    assert main(["check", f"{learner}:no_prime", "--concept", "mse_training"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAIL mse_training: no_prime — step 1 (epoch 0, record 0): weights[0]")
    assert "diagnosis: the sigmoid' factor missing" in out


@pytest.mark.torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_json_is_the_result_and_only_json_with_dash(learner, capsys, dtype):
    assert main(["check", f"{learner}:no_prime", "--concept", "mse_training", "--dtype", dtype,
                 "--json", "-"]) == 1
    payload = json.loads(capsys.readouterr().out)
    assert payload["path"] == str(learner) and payload["function"] == "no_prime"
    assert (payload["passed"], payload["step"], payload["dtype"]) == (False, 1, dtype)
    assert payload["matches"] == ["missing_sigmoid_prime"]


@pytest.mark.torch
def test_json_to_a_file_and_a_raising_function(learner, tmp_path, capsys):
    out = tmp_path / "result.json"
    assert main(["check", f"{learner}:crash", "--concept", "sigmoid_step", "--json",
                 str(out)]) == 1
    payload = json.loads(out.read_text(encoding="utf-8"))
    assert payload["problem"] == "raised"
    assert payload["message"] == ("crash raised NameError: name 'undefined_name' is not "
                                  "defined (line 31 of mine.py, in crash)")
    assert "Traceback" not in capsys.readouterr().out


@pytest.mark.parametrize(("target", "message"), [
    ("broken.py:f", "broken.py: cannot import: SyntaxError: invalid syntax (line 2)"),
    ("needs.py:f", "needs.py: cannot import: ModuleNotFoundError: No module named "
                   "'no_such_module_here'"),
    ("exits.py:f", "exits.py: cannot import: SystemExit: 3"),
])
def test_a_file_that_fails_to_load_gets_one_line_and_exit_1(learner, tmp_path, target,
                                                            message, capsys):
    (tmp_path / "broken.py").write_text("import numpy as np\ndef f(:\n    pass\n")
    (tmp_path / "needs.py").write_text("import no_such_module_here\n")
    (tmp_path / "exits.py").write_text("import sys\nsys.exit(3)\n")
    assert main(["check", f"{tmp_path / target}", "--concept", "mse_training"]) == 1
    out = capsys.readouterr().out
    assert out == f"FAIL {tmp_path / message.split(':')[0]}:{message.split(':', 1)[1]}\n"


def test_a_syntax_error_in_a_subprocess_shows_no_traceback(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(:\n")
    proc = subprocess.run([sys.executable, "-m", "gd_compare", "check", f"{bad}:f", "--concept",
                           "simple_step"], capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert proc.stdout == f"FAIL {bad}: cannot import: SyntaxError: invalid syntax (line 1)\n"
    assert proc.stderr == ""


@pytest.mark.parametrize(("args", "message"), [
    (["nofile.py:f", "--concept", "mse_training"], "'nofile.py': no such file"),
    (["somefile", "--concept", "mse_training"],
     "expected PATH.py:FUNCTION, NOTEBOOK.ipynb or FILE.py, got 'somefile'"),
    (["{learner}:no_prime"], "--concept: 'no_prime' is not one of the course's function names"),
    (["nofile.ipynb"], "'nofile.ipynb': no such file"),
    (["{txt}:f", "--concept", "mse_training"],
     "a.txt': expected a .py file or a .ipynb notebook before :f"),
    (["{learner}:train_epoch", "--concept", "nope"], "invalid choice: 'nope'"),
    (["{learner}:train_epoch", "--concept", "mse_training", "--hidden", "3"],
     "--hidden: mse_training has no hidden"),
    (["{learner}:train_epoch", "--concept", "backprop", "--hidden", "3,2"],
     "--hidden: backprop's function has one hidden layer, got 3,2"),
    (["{learner}:train_epoch", "--concept", "mse_training", "--lr", "-1"],
     "argument --lr: expected a finite number > 0"),
    (["{learner}:1x", "--concept", "mse_training"], "'1x' is not a function name"),
    (["{learner}:nothere", "--concept", "mse_training"], "mine.py: has no function 'nothere'"),
    (["{learner}:NOT_A_FUNCTION", "--concept", "mse_training"],
     "mine.py: 'NOT_A_FUNCTION' is a int, not a function"),
    (["{learner}:train_epoch", "--concept", "mse_training", "--json", ""],
     "--json: expected a file name or - (stdout), got an empty name"),
    (["{learner}:train_epoch", "--concept", "mse_training", "--json", " "],
     "--json: expected a file name or - (stdout), got an empty name"),
])
def test_usage_errors_exit_2_in_one_line(learner, args, message, capsys, tmp_path):
    (tmp_path / "a.txt").write_text("def f(x):\n    return x\n", encoding="utf-8")
    argv = ["check", *(a.format(learner=learner, txt=tmp_path / "a.txt") for a in args)]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    assert message in err and err.count("\n") <= 2 and "Traceback" not in err
    assert out == ""  # nothing written: no FAIL line, no JSON


def _learner_file(tmp_path: Path, m) -> str:
    """The catalogue entry's code as a learner's file; the function is called ``fn``."""
    import inspect

    src = inspect.getsource(m.implementation)
    head = ("import numpy as np\n\n"
            "from gd_compare.learner.solutions import sigmoid, sigmoid_prime\n\n\n")
    tail = f"\n\nfn = {m.implementation.__name__}" + ("()" if m.stateful else "") + "\n"
    path = tmp_path / f"{m.concept}_{m.name}.py"
    path.write_text(head + src + tail, encoding="utf-8")
    return f"{path}:fn"


@pytest.mark.torch
def test_the_cli_catches_the_whole_catalogue_at_its_step(tmp_path, capsys):
    from gd_compare.learner.mistakes import CATALOGUE

    for entries in CATALOGUE.values():
        for m in entries:
            options = {"epochs": "3"} if m.concept not in {
                "simple_step", "sigmoid_step", "sigmoid_exercise", "backprop_exercise"} else {}
            options |= {k: ",".join(map(str, v)) if isinstance(v, tuple) else str(v)
                        for k, v in m.params.items()}
            argv = ["check", _learner_file(tmp_path, m), "--concept", m.concept, "--json", "-"]
            argv += [a for k, v in options.items() for a in (f"--{k}", v)]
            assert main(argv) == 1
            payload = json.loads(capsys.readouterr().out)
            assert payload["step"] == m.caught_at and m.name in payload["matches"], payload


# --------------------------------------------------------------------------- whole submissions

FIXTURES = Path(__file__).parent / "fixtures" / "learners"


@pytest.mark.slow
@pytest.mark.torch
def test_a_whole_notebook_one_line_per_function_and_exit_1(capsys):
    assert main(["check", str(FIXTURES / "StudentAdmissions_mine.ipynb"), "--epochs", "3"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "FAIL cell 8 raised UFuncTypeError", "PASS train_nn", "PASS error_term_formula",
        "PASS sigmoid", "PASS sigmoid_prime", "PASS error_formula"]


@pytest.mark.slow
@pytest.mark.torch
def test_a_whole_file_that_passes_exits_0_and_json_has_one_entry_per_function(capsys):
    assert main(["check", str(FIXTURES / "backprop_epoch_values.py"), "--epochs", "2",
                 "--json", "-"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [(e["function"], e["concept"], e["verdict"]) for e in payload] == [
        ("train_epoch", "backprop", "PASS"), ("sigmoid", None, "PASS")]
    assert set(payload[0]) >= {"file", "function", "concept", "verdict", "step", "epoch",
                               "batch", "record", "diagnosis", "message", "seconds"}


@pytest.mark.torch
def test_a_course_function_name_decides_the_concept(capsys):
    target = f"{FIXTURES / 'admissions_x_twice.py'}:train_nn"
    assert main(["check", target, "--epochs", "3", "--json", "-"]) == 1
    payload = json.loads(capsys.readouterr().out)
    assert (payload["concept"], payload["step"], payload["matches"]) == (
        "mse_training", 1, ["x_twice"])


@pytest.mark.torch
def test_a_run_that_diverges_at_the_given_lr_is_one_line_exit_1(tmp_path, capsys):
    path = tmp_path / "te.py"
    path.write_text("def error_term_formula(x, y, output):\n    return (y - output) * x\n",
                    encoding="utf-8")
    assert main(["check", f"{path}:error_term_formula", "--lr", "1e308"]) == 1
    err = capsys.readouterr().err
    assert "diverged" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
