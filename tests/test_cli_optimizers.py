"""gd-compare --optimizer / --optimizer-option / --scheduler / --scheduler-option."""

from __future__ import annotations

import json

import pytest

from gd_compare.cli import run as cli

pytestmark = pytest.mark.torch
pytest.importorskip("torch")


def test_optimizer_and_scheduler_reach_the_run_and_the_json(capsys):
    argv = ["--concept", "backprop", "--concept", "simple_step", "--epochs", "30", "--lr", "0.01",
            "--optimizer", "adam", "--optimizer-option", "amsgrad=True",
            "--optimizer-option", "betas=(0.8, 0.99)", "--scheduler", "reducelronplateau",
            "--scheduler-option", "mode=min", "--scheduler-option", "patience=3", "--json", "-"]
    assert cli.main(argv) == 0
    backprop, simple = json.loads(capsys.readouterr().out)["concepts"]
    assert backprop["optimizer"] == {"name": "adam",
                                     "options": {"amsgrad": True, "betas": [0.8, 0.99]}}
    assert backprop["scheduler"] == {"name": "reducelronplateau",
                                     "options": {"mode": "min", "patience": 3}}
    assert backprop["passed"] and "optimizer" not in simple  # one-step concepts: the lesson's


def test_default_json_names_the_lessons_sgd(capsys):
    assert cli.main(["--concept", "mse_training", "--epochs", "5", "--json", "-"]) == 0
    record = json.loads(capsys.readouterr().out)["concepts"][0]
    assert record["optimizer"] == {"name": "sgd", "options": {}} and record["scheduler"] is None


@pytest.mark.parametrize(("argv", "match"), [
    (["--optimizer", "nadam"], "invalid choice: 'nadam'"),
    (["--optimizer", "adam", "--optimizer-option", "momentum=0.9"], "unknown keyword 'momentum'"),
    (["--optimizer-option", "momentum"], "expected KEY=VALUE"),
    (["--optimizer-option", "momentum=0.9*"], "momentum: expected a Python literal"),
    (["--optimizer-option", "momentum=-1.0"], "Invalid momentum value: -1.0"),
    (["--optimizer-option", "nesterov=True"], "Nesterov momentum requires a momentum"),
    (["--scheduler", "steplr"], "steplr needs step_size"),
    (["--scheduler-option", "gamma=0.5"], "scheduler_kwargs: given without a scheduler"),
    (["--optimizer", "adam", "--optimizer-option", "betas=(0.9,)"], "betas: expected a pair"),
    (["--optimizer", "adam", "--optimizer-option", "betas={}"], "betas: expected a pair"),
    (["--optimizer", "adam", "--optimizer-option", "betas=(0.9, 0.99, 0.5)"],
     "betas: expected a pair"),
    (["--optimizer", "adam", "--optimizer-option", "betas=(0, 0.99)"],
     "betas must be either both floats"),
    (["--optimizer-option", "momentum={[1]:2}"], "momentum: not a valid value"),
    (["--scheduler", "exponentiallr", "--scheduler-option", "gamma=half"],
     "gamma must be a real number, got 'half'"),
    (["--scheduler", "steplr", "--scheduler-option", "step_size=2", "--scheduler-option",
      "gamma=None"], "gamma must be a real number, got None"),
    (["--optimizer", "adagrad", "--optimizer-option", "eps=1e999"], "eps must be finite"),
    (["--scheduler", "reducelronplateau", "--scheduler-option", "min_lr=[0.0, 0.1]"],
     "expected 1 min_lrs, got 2"),
])
def test_bad_values_exit_2_with_one_line(argv, match, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--concept", "mse_training", "--epochs", "2", *argv])
    err = capsys.readouterr().err
    assert info.value.code == 2 and match in err and len(err.strip().splitlines()) == 1


def test_json_is_strict_even_for_extreme_options(capsys):
    """Every option value that passes the checks is written as strict JSON (no Infinity)."""
    argv = ["--concept", "mse_training", "--epochs", "3", "--optimizer", "adagrad",
            "--optimizer-option", "eps=1e300", "--scheduler", "reducelronplateau",
            "--scheduler-option", "min_lr=[0.001]", "--json", "-"]
    assert cli.main(argv) == 0
    record = json.loads(capsys.readouterr().out)["concepts"][0]
    json.dumps(record, allow_nan=False)
    assert record["optimizer"]["options"] == {"eps": 1e300}
    assert record["scheduler"]["options"] == {"min_lr": [0.001]}
