"""``gd-compare grade``: usage errors (exit 2, one line, nothing run), a real run's summary and
files, and Ctrl-C in the middle of a run (exit 1, every finished row written)."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gd_compare.cli.run import main

FIXTURES = Path(__file__).parent / "fixtures" / "grading"
ROOT = Path(__file__).resolve().parents[1]


def _usage(capsys, argv, words):
    with pytest.raises(SystemExit) as exc:
        main(["grade", *argv])
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert words in err and "Traceback" not in err
    return err


@pytest.mark.parametrize("argv, words", [
    ([str(FIXTURES / "nope")], "'" + str(FIXTURES / "nope") + "': no such file or folder"),
    (["--jobs", "0"], "--jobs: expected a whole number >= 1, got '0'"),
    (["--time-limit", "-1"], "--time-limit: expected a finite number > 0"),
    (["--memory-limit", "500"], "--memory-limit: expected megabytes from 1024"),
    (["--function", "a-b"], "--function: 'a-b' is not a function name"),
    (["--resume"], "--resume: needs --out DIR"),
    (["--concept", "nope"], "argument --concept: invalid choice: 'nope'"),
    (["--out", str(FIXTURES / "good.py")], "is a file; expected a folder"),
])
def test_usage_errors_exit_2_with_one_line(capsys, argv, words):
    base = [str(FIXTURES / "good.py"), "--concept", "mse_training"]
    _usage(capsys, base + argv, words)


def test_an_empty_folder_and_a_name_clash_are_named(capsys, tmp_path):
    _usage(capsys, [str(tmp_path), "--concept", "mse_training"],
           f"'{tmp_path}': no .py or .ipynb file in this folder")
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "hw.py").write_text(folder)
    err = _usage(capsys, [str(tmp_path / "a"), str(tmp_path / "b"), "--concept", "mse_training"],
                 "two submissions would be filed as 'hw.py'")
    assert str(tmp_path / "a" / "hw.py") in err and str(tmp_path / "b" / "hw.py") in err


def test_help_lists_grade(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "gd-compare grade" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["grade", "--help"])
    out = capsys.readouterr().out
    for option in ("--concept", "--function", "--jobs", "--time-limit", "--memory-limit",
                   "--out", "--resume", "--exclude"):
        assert option in out


#: ``python -m gd_compare`` as a terminal's foreground command gets it: Ctrl-C raises
#: KeyboardInterrupt. The suite itself may run where SIGINT is ignored (a shell's background job
#: without job control, nohup), and a child inherits an ignored signal: the run would never see
#: the Ctrl-C this test sends.
_WITH_CTRL_C = ("import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
                "runpy.run_module('gd_compare', run_name='__main__', alter_sys=True)")


@pytest.mark.slow
@pytest.mark.torch
def test_ctrl_c_ends_cleanly_with_every_finished_row_written(tmp_path):
    """Three quick submissions and one that sleeps: Ctrl-C while it sleeps ends the run at
    once (exit 1), the three finished rows written, the sleeper's process killed."""
    (tmp_path / "subs").mkdir()
    for name in ("good.py", "wrong.py", "missing.py", "sleeps.py"):  # graded in name order
        copy = "zz_sleeps.py" if name == "sleeps.py" else name
        (tmp_path / "subs" / copy).write_bytes((FIXTURES / name).read_bytes())
    out = tmp_path / "out"
    # faulthandler: a run that does not end after Ctrl-C is made to print where it waits
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONFAULTHANDLER": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", _WITH_CTRL_C, "grade", str(tmp_path / "subs"), "--concept",
         "mse_training", "--function", "train_epoch", "--epochs", "5", "--jobs", "1",
         "--time-limit", "300", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    journal = out / "grades.jsonl"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if journal.exists() and len(journal.read_text().splitlines()) >= 3:
            break
        time.sleep(0.2)
    time.sleep(1.0)  # sleeps.py (last in order) is running
    spawned = _descendants(proc.pid)
    assert len(spawned) >= 2  # the warm server and the sleeping submission
    proc.send_signal(signal.SIGINT)
    try:
        stdout, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack
        stdout, stderr = proc.communicate(timeout=30)
        tree = [(pid, _stat(pid)[0]) for pid in spawned]
        pytest.fail(f"Ctrl-C did not end the run in 60 s; alive: {tree}\n{stderr}")
    assert proc.returncode == 1, stderr
    assert "interrupted: 3 of 4 submission(s) graded and written (--resume continues)" in stderr
    assert "Traceback" not in stderr
    assert "4 submission(s), 3 function(s) checked" in stdout
    with (out / "grades.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["file"]: r["verdict"] for r in rows} == {"good.py": "PASS", "wrong.py": "FAIL",
                                                       "missing.py": "MISSING"}
    assert not (out / "zz_sleeps.py").exists()
    time.sleep(0.5)
    assert not [pid for pid in spawned if Path(f"/proc/{pid}").exists()
                and "Z" not in _stat(pid)[0]]


@pytest.mark.slow
@pytest.mark.torch
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl(PR_SET_PDEATHSIG)")
def test_a_killed_grader_leaves_no_submission_running(tmp_path):
    """``kill -9`` of the grader (a batch job's time limit, an autograder's) while a submission
    sleeps: its warm server and the submission end with it, instead of running on for the
    time limit."""
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "sleeps.py").write_bytes((FIXTURES / "sleeps.py").read_bytes())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gd_compare", "grade", str(tmp_path / "subs"), "--concept",
         "mse_training", "--function", "train_epoch", "--jobs", "1", "--time-limit", "300"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 120
    spawned: list[int] = []
    try:
        while time.monotonic() < deadline and len(spawned) < 2:  # the server, the submission
            time.sleep(0.2)
            spawned = _descendants(proc.pid)
        assert len(spawned) >= 2
        time.sleep(0.5)
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _running(spawned):
            time.sleep(0.1)
        left = _running(spawned)
        assert not left, "the grader's server or the submission outlived it"
    finally:  # nothing left behind when the test fails
        proc.kill()
        proc.wait()
        for pid in _running(spawned):
            os.kill(pid, signal.SIGKILL)


def _running(pids: list[int]) -> list[int]:
    return [pid for pid in pids if Path(f"/proc/{pid}").exists() and _stat(pid)[0] not in "ZX"]


def _stat(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return ["X", "0"]


def _descendants(root: int) -> list[int]:
    parents = {int(p.name): int(_stat(int(p.name))[1]) for p in Path("/proc").iterdir()
               if p.name.isdigit()}
    found, frontier = [], [root]
    while frontier:
        kids = [pid for pid, parent in parents.items() if parent in frontier]
        found += kids
        frontier = kids
    return found


@pytest.mark.slow
@pytest.mark.torch
def test_a_notebook_and_a_file_give_a_row_per_course_function(tmp_path, capsys):
    """No --concept, no --function: the course's names decide, as ``check FILE`` does; the
    notebook's failing get_dummies cell is a row of its own, its functions still checked.
    (This one calls the command's ``main`` here, which starts the warm grading server as the
    command does; the command's own process is tested by the Ctrl-C test above, and its
    ``entry()`` exit by test_cli's ``gd-compare`` run.)"""
    learners = FIXTURES.parent / "learners"
    (tmp_path / "ana").mkdir()
    (tmp_path / "ben").mkdir()
    (tmp_path / "ana" / "StudentAdmissions.ipynb").write_bytes(
        (learners / "StudentAdmissions_mine.ipynb").read_bytes())
    (tmp_path / "ben" / "admissions.py").write_bytes(
        (learners / "admissions_sigmoid_prime_x.py").read_bytes())
    out = tmp_path / "out"
    code = main(["grade", str(tmp_path / "ana"), str(tmp_path / "ben"), "--out", str(out)])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    with (out / "grades.csv").open(newline="") as f:
        rows = [(r["file"], r["function"], r["verdict"], r["diagnosis"])
                for r in csv.DictReader(f)]
    assert ("StudentAdmissions.ipynb", "train_nn", "PASS", "") in rows
    assert ("StudentAdmissions.ipynb", "", "FAIL", "") in rows  # the get_dummies cell
    assert ("admissions.py", "train_nn", "FAIL", "sigmoid_prime_of_x") in rows
    assert ("admissions.py", "sigmoid", "PASS", "") in rows
    assert "2 submission(s)" in stdout and "sigmoid_prime_of_x" in stdout
