"""gd_compare.learner.grading: every fault a submission can commit, each a real file under
tests/fixtures/grading/, graded in one run; what is written; discovery; resume; a pool failure."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gd_compare.learner.grading import (
    COLUMNS,
    GradeUsageError,
    find_submissions,
    grade_run,
)
from gd_compare.learner.grading import api as grading_api
from gd_compare.learner.grading.isolation import verdict_rows
from gd_compare.learner.grading.pool import PoolError, WorkerPool
from gd_compare.learner.grading.results import Journal, gradescope_results, summary

pytestmark = pytest.mark.torch

FIXTURES = Path(__file__).parent / "fixtures" / "grading"
#: seconds per submission in the fault run (a TIMEOUT is stopped at this; loops.py burns a core
#: until then: 8 s cost 8 s of CPU. The other submissions take 0.04-0.11 s each at 20 epochs:
#: 6 s leaves them a wide margin on 2 busy cores)
LIMIT = 6.0
#: extra seconds a stopped submission may take beyond its limit (the kill and the reaping)
GRACE = 5.0
EPOCHS = 20

#: fixture -> (verdict, words its message holds)
EXPECTED = {
    "good.py": ("PASS", "agrees with PyTorch autograd at all 20 step(s)"),
    "wrong.py": ("FAIL", "step 1"),
    "loops.py": ("TIMEOUT", f"within the {LIMIT:g} s"),
    "sleeps.py": ("TIMEOUT", f"within the {LIMIT:g} s wall-clock limit"),
    "allocates.py": ("MEMORY", "raised MemoryError"),
    "exit_at_import.py": ("FAIL", "exit_at_import.py raised SystemExit: 3 (line 4)"),
    "exit_inside.py": ("CRASHED", "called sys.exit('done training')"),
    "os_exit_at_import.py": ("CRASHED", "exited with status 0 before reporting"),
    "os_exit_inside.py": ("CRASHED", "exited with status 0 before reporting"),
    "raises.py": ("FAIL", "raised NotImplementedError: TODO: write the epoch"),
    "segfaults.py": ("CRASHED", "killed by SIGSEGV"),
    "prints.py": ("PASS", "agrees"),
    "forks.py": ("PASS", "agrees"),
    "chdirs.py": ("PASS", "agrees"),
    "writes.py": ("PASS", "agrees"),
    "reads_data.py": ("PASS", "agrees"),
    "monkeypatches.py": ("FAIL", "step 1"),
    "missing.py": ("MISSING", "defines no function 'train_epoch'"),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """One grading run over every fault (two at a time), written to a folder."""
    out = tmp_path_factory.mktemp("grades")
    for stale in Path("/tmp").glob("gd_compare_grading_fork_*"):
        stale.unlink()
    run = grade_run([FIXTURES], concept="mse_training", function="train_epoch", jobs=2,
                    time_limit=LIMIT, out=out, exclude=["helpers/*", "kills_the_grader.py"],
                    params={"epochs": EPOCHS})
    return run, out


def _row(run, key):
    """The submission's first row (a file that does not import has a second: MISSING)."""
    return next(r for r in run.rows if r["file"] == key)


def test_every_fixture_is_graded(graded):
    run, _ = graded
    assert sorted({r["file"] for r in run.rows}) == sorted(EXPECTED)
    assert [r["file"] for r in run.rows if r["verdict"] == "MISSING"] == ["exit_at_import.py",
                                                                         "missing.py"]
    assert not run.not_graded and not run.interrupted


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_each_fault_gets_its_verdict_and_one_line(graded, key):
    run, _ = graded
    row = _row(run, key)
    verdict, words = EXPECTED[key]
    assert row["verdict"] == verdict, row
    assert words in row["message"]
    assert "\n" not in row["message"]


@pytest.mark.parametrize("key", ["loops.py", "sleeps.py"])
def test_a_stopped_submission_is_stopped_at_its_limit(graded, key):
    run, _ = graded
    assert LIMIT <= _row(run, key)["seconds"] <= LIMIT + GRACE


def test_the_diagnosis_of_a_wrong_step_is_kept(graded):
    row = _row(graded[0], "wrong.py")
    assert (row["step"], row["epoch"], row["record"]) == (1, 0, 0)
    assert row["diagnosis"] == "gradient_ascent"
    assert "diagnosis: gradient ascent (sign)" in row["message"]
    assert _row(graded[0], "monkeypatches.py")["diagnosis"] == "mse_not_half"


def test_what_a_forking_submission_started_is_killed_with_it(graded):
    pids = [int(p.read_text()) for p in Path("/tmp").glob("gd_compare_grading_fork_*")
            if p.read_text().strip()]
    assert pids  # forks.py's child did start
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_megabytes_of_output_are_counted_and_capped(graded):
    run, out = graded
    (entry,) = [e for e in run.entries if e["key"] == "prints.py"]
    assert entry["stdout_bytes"] >= 4_000_000 and entry["stderr_bytes"] >= 5_000_000
    assert len(entry["stdout"]) == len(entry["stderr"]) == 64 * 1024
    saved = json.loads((out / "grades.json").read_text())
    assert max(len(s["stdout"]) for s in saved["submissions"]) == 64 * 1024


def test_grades_csv_has_the_header_and_one_row_per_function(graded):
    _, out = graded
    with (out / "grades.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["file", "function", "concept", "verdict", "step", "epoch", "batch",
                       "record", "diagnosis", "seconds"]
    assert list(COLUMNS) == rows[0]
    assert len(rows) == 1 + len(EXPECTED) + 1  # exit_at_import.py: its FAIL and MISSING
    wrong = dict(zip(rows[0], next(r for r in rows if r[0] == "wrong.py"), strict=True))
    assert (wrong["verdict"], wrong["step"], wrong["epoch"], wrong["batch"]) == ("FAIL", "1",
                                                                                "0", "")


def test_a_gradescope_results_json_per_submission(graded):
    _, out = graded
    for key, (verdict, _) in EXPECTED.items():
        data = json.loads((out / key / "results.json").read_text())
        test = data["tests"][0]
        assert set(test) >= {"name", "score", "max_score", "output"}
        assert test["name"].startswith("train_epoch") or key == "exit_at_import.py"
        assert sum(t["max_score"] for t in data["tests"]) == 1.0
        assert data["score"] == test["score"] == (1.0 if verdict == "PASS" else 0.0)
        assert test["output"].startswith(verdict)
    good = json.loads((out / "good.py" / "results.json").read_text())
    assert [t["name"] for t in good["tests"]] == ["train_epoch (mse_training)"]
    assert not (out / "helpers").exists()


def test_grades_json_counts_the_verdicts(graded):
    _, out = graded
    data = json.loads((out / "grades.json").read_text())
    want: dict[str, int] = {"MISSING": 1}  # exit_at_import.py's second row
    for verdict, _ in EXPECTED.values():
        want[verdict] = want.get(verdict, 0) + 1
    assert data["counts"] == want
    assert data["options"]["params"] == {"epochs": EPOCHS}


def test_resume_skips_what_is_graded_with_the_same_content_and_options(graded):
    _, out = graded
    seen = []
    again = grade_run([FIXTURES], concept="mse_training", function="train_epoch", jobs=2,
                      time_limit=LIMIT, out=out, exclude=["helpers/*", "kills_the_grader.py"],
                      resume=True,
                      params={"epochs": EPOCHS}, on_start=lambda todo, done: seen.append(
                          (todo, done)))
    assert seen == [(0, len(EXPECTED))]  # no worker started
    assert again.rows == graded[0].rows


def test_the_journal_keeps_only_the_same_options_and_content(tmp_path):
    j = Journal(tmp_path, "opts-a", resume=False)
    j.add("a.py", "sha1", [{"verdict": "PASS"}], {"seconds": 1.0})
    assert Journal(tmp_path, "opts-a", resume=True).finished("a.py", "sha1")
    assert Journal(tmp_path, "opts-a", resume=True).finished("a.py", "sha2") is None
    assert Journal(tmp_path, "opts-b", resume=True).finished("a.py", "sha1") is None
    assert Journal(tmp_path, "opts-a", resume=False).finished("a.py", "sha1") is None
    with (tmp_path / "grades.jsonl").open("a") as f:
        f.write('{"key": "cut sho')  # a killed run's last line
    assert Journal(tmp_path, "opts-a", resume=True).done == {}


# --------------------------------------------------------------------------- discovery


def test_folders_are_searched_recursively_and_exclude_leaves_out(tmp_path):
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / "hw.py").write_text("")
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / "hw.ipynb").write_text("{}")
    (tmp_path / "bob" / "notes.txt").write_text("")
    (tmp_path / "utils.py").write_text("")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "x.ipynb").write_text("{}")
    keys = [s.key for s in find_submissions([tmp_path], exclude=["utils.py"])]
    assert keys == ["alice/hw.py", "bob/hw.ipynb"]


def test_two_submissions_filed_under_one_name_are_named(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "hw.py").write_text(folder)
    with pytest.raises(GradeUsageError, match=r"'hw.py'.*a/hw.py.*b/hw.py"):
        find_submissions([tmp_path / "a", tmp_path / "b"])
    assert len(find_submissions([tmp_path])) == 2  # one folder: alice/ and bob/ are distinct
    assert len(find_submissions([tmp_path / "a" / "hw.py", tmp_path / "a"])) == 1


@pytest.mark.parametrize("make, match", [
    (lambda p: p / "nope", "no such file or folder"),
    (lambda p: p, "no .py or .ipynb file in this folder"),
    (lambda p: (p / "x.txt").write_text("x") and p / "x.txt", "not a submission"),
])
def test_missing_empty_and_wrong_paths_are_usage_errors(tmp_path, make, match):
    with pytest.raises(GradeUsageError, match=match):
        find_submissions([make(tmp_path)])


def test_an_exclude_that_leaves_nothing_says_so(tmp_path):
    (tmp_path / "a.py").write_text("")
    with pytest.raises(GradeUsageError, match="--exclude left out all 1"):
        find_submissions([tmp_path], exclude=["*.py"])


@pytest.mark.parametrize("kwargs, match", [
    ({"concept": "nope"}, "concept: expected one of"),
    ({"jobs": 0}, "jobs: expected a whole number >= 1"),
    ({"time_limit": 0}, "time_limit: expected seconds > 0"),
    ({"time_limit": float("nan")}, "time_limit: expected seconds > 0"),
    ({"time_limit": 1e12}, "at most a day"),  # the platform's timers would overflow
    ({"memory_limit": 100}, "memory_limit: expected whole megabytes from 1024"),
    ({"memory_limit": 1 << 44}, "to 1048576"),  # setrlimit would overflow
    ({"function": "not a name"}, "function: expected a Python function name"),
])
def test_bad_options_are_usage_errors_before_anything_runs(kwargs, match):
    with pytest.raises(GradeUsageError, match=match):
        grade_run([FIXTURES / "good.py"], **{"concept": "mse_training", **kwargs})


# --------------------------------------------------------------------------- verdicts, pool


def _job(function="train_epoch"):
    return {"function": function, "concept": "mse_training",
            "limits": {"time_limit": 5.0, "memory_mb": 4096}}


@pytest.mark.parametrize("outcome, verdict, words", [
    ({"timed_out": True}, "TIMEOUT", "5 s wall-clock"),
    ({"signal": signal.SIGXCPU}, "TIMEOUT", "5 s CPU"),
    ({"signal": signal.SIGKILL}, "CRASHED", "SIGKILL"),
    ({"signal": signal.SIGABRT, "stderr": "std::bad_alloc"}, "MEMORY", "4096 MB"),
    ({"returncode": 3}, "CRASHED", "status 3"),
    ({"result": {"exit": None}}, "CRASHED", "sys.exit(None)"),
    ({"result": {"error": "MemoryError"}}, "MEMORY", "MemoryError"),
    ({"result": {"error": "RuntimeError: boom"}}, "CRASHED", "boom"),
])
def test_how_a_process_ended_is_the_grader_s_verdict(outcome, verdict, words):
    (row,) = verdict_rows("x.py", _job(), {"seconds": 1.0, **outcome})
    assert (row["verdict"], row["file"], row["function"]) == (verdict, "x.py", "train_epoch")
    assert words in row["message"]


def test_check_s_time_limit_is_a_timeout():
    report = {"file": "/abs/x.py", "function": "f", "concept": "mse_training",
              "verdict": "FAIL", "message": "f did not return within 5 s", "seconds": 5.0}
    (row,) = verdict_rows("x.py", _job(), {"seconds": 5.0, "result": {"done": True},
                                            "rows": [report]})
    assert (row["verdict"], row["file"]) == ("TIMEOUT", "x.py")


def test_rows_finished_before_a_crash_are_kept_and_the_crash_added():
    report = {"file": "/abs/x.py", "function": "sigmoid", "concept": None, "verdict": "PASS",
              "message": "ok", "seconds": 0.1}
    rows = verdict_rows("x.py", _job(None), {"seconds": 1.0, "signal": signal.SIGSEGV,
                                             "rows": [report]})
    assert [(r["function"], r["verdict"]) for r in rows] == [("sigmoid", "PASS"),
                                                            ("", "CRASHED")]


def test_a_worker_that_cannot_start_is_a_pool_error(monkeypatch):
    monkeypatch.setattr("sys.executable", shutil.which("false"))
    with pytest.raises(PoolError, match="did not start: exit status 1"):
        WorkerPool(1)


def test_a_pool_failure_leaves_the_rest_not_graded(tmp_path, monkeypatch):
    class DyingPool:
        startup_seconds = 0.0

        def __init__(self, jobs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

        def run(self, jobs):
            job = jobs[0]
            yield job, {"seconds": 0.1, "returncode": 0, "result": {"done": True}, "rows": [{
                "file": job["path"], "function": "train_epoch", "concept": "mse_training",
                "verdict": "PASS", "step": None, "epoch": None, "batch": None, "record": None,
                "diagnosis": None, "message": "agrees", "seconds": 0.1}]}
            raise PoolError("the grading worker died (exit status -9); 1 submission(s) not "
                            "graded")

    monkeypatch.setattr(grading_api, "WorkerPool", DyingPool)
    run = grade_run([FIXTURES / "good.py", FIXTURES / "wrong.py"], concept="mse_training",
                    out=tmp_path)
    assert [r["file"] for r in run.rows] == ["good.py"]
    assert list(run.not_graded) == ["wrong.py"]
    assert "died" in run.not_graded["wrong.py"]
    assert (tmp_path / "good.py" / "results.json").exists()
    assert run.frame.attrs["not_graded"] == run.not_graded


def test_the_summary_counts_verdicts_and_diagnoses():
    rows = [{"verdict": "PASS"}, {"verdict": "FAIL", "diagnosis": "gradient ascent (sign) — x"},
            {"verdict": "FAIL", "diagnosis": "gradient ascent (sign) — y"},
            {"verdict": "TIMEOUT"}]
    text = summary(rows, 4)
    assert "4 submission(s), 4 function(s) checked" in text
    assert "  PASS         1" in text and "  FAIL         2" in text
    assert "      2  gradient ascent (sign)" in text


def test_gradescope_scores_one_point_per_passing_function():
    rows = [{"function": "f", "concept": "c", "verdict": "PASS", "message": "ok"},
            {"function": "g", "concept": None, "verdict": "FAIL", "message": "bad",
             "diagnosis": "why"}]
    data = gradescope_results(rows, 1.234)
    assert data["score"] == 1.0 and data["execution_time"] == 1.23
    assert [t["name"] for t in data["tests"]] == ["f (c)", "g"]
    assert data["tests"][1]["output"] == "FAIL: bad\ndiagnosis: why"
    cell = {"function": "", "concept": None, "verdict": "FAIL", "message": "cell 8 raised"}
    both = gradescope_results([cell, rows[0]], 1.0)
    assert [(t["name"], t["max_score"]) for t in both["tests"]] == [("submission", 0.0),
                                                                    ("f (c)", 1.0)]
    alone = gradescope_results([{**cell, "verdict": "CRASHED"}], 1.0)
    assert [(t["name"], t["score"], t["max_score"]) for t in alone["tests"]] == [
        ("submission", 0.0, 1.0)]


def test_each_submission_draws_new_random_numbers_as_a_fresh_interpreter_does(tmp_path):
    """Two submissions forked from one warm server: NumPy's global generator and torch's are
    seeded anew in each (a fresh interpreter seeds both from the OS's entropy)."""
    drawn = tmp_path / "drawn.txt"
    files = []
    for name in ("first.py", "second.py"):
        files.append(tmp_path / name)
        files[-1].write_text(f"""\
import numpy as np, torch
with open({str(drawn)!r}, "a") as out:
    out.write(repr((np.random.random(), torch.rand(1).item())) + "\\n")
""" + (FIXTURES / "good.py").read_text(encoding="utf-8"), encoding="utf-8")
    run = grade_run(files, concept="mse_training", function="train_epoch", jobs=1,
                    time_limit=LIMIT, out=tmp_path / "out", params={"epochs": 2})
    assert [r["verdict"] for r in run.rows] == ["PASS", "PASS"]
    first, second = (eval(line) for line in drawn.read_text(encoding="utf-8").splitlines())
    assert all(a != b for a, b in zip(first, second, strict=True)), (first, second)


@pytest.mark.slow
def test_a_submission_that_kills_the_worker_is_crashed_and_the_others_are_graded(tmp_path,
                                                                                monkeypatch):
    """The worker is restarted and the jobs in flight re-run one at a time: the one that kills
    it alone is CRASHED, named; the others get their own verdicts. The folders of the workers
    it killed are removed."""
    files = [FIXTURES / name for name in ("good.py", "kills_the_grader.py", "wrong.py")]
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))  # where each worker makes its folder
    run = grade_run(files, concept="mse_training", function="train_epoch", jobs=2,
                    time_limit=LIMIT, out=tmp_path / "out", params={"epochs": EPOCHS})
    assert not list((tmp_path / "tmp").glob("gd-compare-grade-*"))
    verdicts = {r["file"]: (r["verdict"], r["message"]) for r in run.rows}
    assert verdicts["good.py"][0] == "PASS" and verdicts["wrong.py"][0] == "FAIL"
    assert verdicts["kills_the_grader.py"][0] == "CRASHED"
    assert "it killed the grader's worker process" in verdicts["kills_the_grader.py"][1]
    assert not run.not_graded


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie has ended: only its parent has yet to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.append(int(entry.name))
    return found


def _wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl(PR_SET_PDEATHSIG)")
def test_a_submission_dies_with_its_server_and_the_server_with_its_caller(tmp_path):
    """The server is killed (as a submission or the system may kill it) while a submission
    sleeps: the submission is killed with it — nobody would read its result or stop it at its
    limit. A server whose caller is already gone ends at once."""
    job = {"id": 0, "path": str(FIXTURES / "sleeps.py"), "concept": "mse_training",
           "function": "train_epoch", "params": {"epochs": 2},
           "limits": {"time_limit": 300.0, "memory_mb": 4096}}
    # TMPDIR: the folder a killed server leaves is the test's
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
           "TMPDIR": str(tmp_path)}
    server = subprocess.Popen(
        [sys.executable, "-m", "gd_compare.learner.grading.server", "--jobs", "1", "--caller",
         str(os.getpid())], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    child = None
    try:
        assert json.loads(server.stdout.readline())["ready"]
        server.stdin.write(json.dumps(job) + "\n")
        server.stdin.flush()
        assert _wait_for(lambda: _children(server.pid), 60)
        (child,) = _children(server.pid)
        time.sleep(0.5)  # the child is in the submission's sleep
        assert _alive(child)
        server.kill()
        server.wait()
        assert _wait_for(lambda: not _alive(child), 10), "the submission outlived its server"
    finally:
        server.kill()
        server.wait()
        if child is not None and _alive(child):
            os.killpg(child, signal.SIGKILL)  # its own session: its group is its pid
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()  # a caller already gone: its pid is not the server's parent
    gone = subprocess.run(
        [sys.executable, "-m", "gd_compare.learner.grading.server", "--caller", str(ended.pid)],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=60, check=False)
    assert gone.returncode == -signal.SIGTERM
