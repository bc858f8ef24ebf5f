"""gd_compare.learner.notebook: a learner's notebook run the way its course does (a separate
process, the course's data files, plots off, a time limit), a raising cell named with its fix,
the course functions defined before it still checked."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gd_compare import check_submission
from gd_compare.learner import notebook

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "learners"


def _notebook(path: Path, cells: list[str]) -> Path:
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# title"]}]
          + [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
              "source": c} for c in cells],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


def test_code_cells_are_numbered_as_jupyter_lists_them_and_magics_skipped(tmp_path):
    path = _notebook(tmp_path / "a.ipynb", ["%matplotlib inline\nx = 1", "!pip list\ny = 2"])
    cells = notebook.read_cells(path)
    assert [k for k, _ in cells] == [1, 2]
    assert cells[0][1] == "pass  # matplotlib inline\nx = 1"
    assert cells[1][1].splitlines()[0] == "pass  # pip list"


def test_a_percent_py_file_is_split_into_its_code_cells(tmp_path):
    path = tmp_path / "a.py"
    path.write_text("# %% [markdown]\n# text\n# %%\nx = 1\n# %%\ny = 2\n", encoding="utf-8")
    assert notebook.read_cells(path) == [(1, "x = 1\n"), (2, "y = 2\n")]
    plain = tmp_path / "b.py"
    plain.write_text("x = 1\n", encoding="utf-8")
    assert notebook.read_cells(plain) == [(1, "x = 1\n")]


@pytest.mark.parametrize("text", ['{"cells": [{"cell_type": "code", "source": 5}]}',
                                  '{"cells": [{"cell_type": "code", "source": [1, 2]}]}',
                                  '{"cells": 5}', "[1, 2]"])
def test_malformed_notebook_json_is_not_a_notebook(tmp_path, text):
    bad = tmp_path / "w.ipynb"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match="not a notebook"):
        notebook.read_cells(bad)


def test_not_a_notebook_is_a_value_error_and_a_fail_row(tmp_path):
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="not a notebook"):
        notebook.read_cells(bad)
    (row,) = check_submission(bad)
    assert row.verdict == "FAIL" and row.message.startswith("bad.ipynb cannot be read: not a")


@pytest.mark.parametrize(("error", "fix"), [
    (TypeError("Cannot cast ufunc 'add' output from dtype('O') to dtype('float64')"),
     "pass dtype=int to pd.get_dummies"),
    (FileNotFoundError("data.csv"), "put it next to the notebook"),
    (NameError("name 'x' is not defined"), "run the cells in order"),
    (ZeroDivisionError("division by zero"), ""),
])
def test_known_cell_errors_get_their_fix(error, fix):
    assert fix in notebook.cell_fix(error) if fix else notebook.cell_fix(error) == ""


@pytest.mark.slow
@pytest.mark.torch
def test_the_student_admissions_notebook_as_the_course_wrote_it(tmp_path):
    rows = check_submission(FIXTURES / "StudentAdmissions_mine.ipynb", epochs=5)
    assert [(r.function, r.verdict) for r in rows] == [
        ("", "FAIL"), ("train_nn", "PASS"), ("error_term_formula", "PASS"), ("sigmoid", "PASS"),
        ("sigmoid_prime", "PASS"), ("error_formula", "PASS")]
    assert "(older loop) — PASS: its update descends ½·MSE" in rows[2].message
    cell = rows[0]
    assert cell.cell == 8 and cell.message.startswith("cell 8 raised UFuncTypeError")
    assert "fix: pd.get_dummies gives bool columns on pandas ≥ 2" in cell.message
    assert rows[1].concept == "mse_training" and "pandas DataFrame/Series" in rows[1].message


@pytest.mark.slow
@pytest.mark.torch
def test_the_gradient_descent_notebook_reads_the_data_next_to_it():
    rows = check_submission(FIXTURES / "GradientDescent_mine.ipynb")
    got = {r.function: r for r in rows}
    assert [(r.function, r.verdict) for r in rows] == [
        ("update_weights", "PASS"), ("sigmoid", "PASS"), ("output_formula", "PASS"),
        ("error_formula", "FAIL")]
    assert got["update_weights"].concept == "update_weights"
    assert got["error_formula"].message.startswith("error_formula(0, 0.05) = 2.99573 where")


def test_the_time_limit_stops_the_cells_and_later_functions_are_missing(tmp_path):
    path = _notebook(tmp_path / "slow.ipynb", [
        "def sigmoid(x):\n    return 1 / (1 + 2.718281828459045 ** -x)",
        "while True:\n    pass",
        "def sigmoid_prime(x):\n    return sigmoid(x) * (1 - sigmoid(x))"])
    rows = check_submission(path, time_limit=1.5)
    assert [(r.function, r.verdict) for r in rows] == [
        ("", "FAIL"), ("sigmoid", "PASS"), ("sigmoid_prime", "MISSING")]
    assert rows[0].message == "cell 2 did not finish within 1.5 s (the time limit): stopped"
    assert rows[2].message == ("sigmoid_prime is defined in cell 3, after the cell that raised "
                               "(cell 2): not run, not checked")


# --------------------------------------------------------------------------- the child process


def _gone(pid: int, within: float = 5.0) -> bool:
    """Whether process ``pid`` has ended (a zombie not yet reaped by whoever inherited it
    counts), waiting up to ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
        except (FileNotFoundError, ProcessLookupError):
            return True
        if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


linux_only = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")

#: a helper that passes: something to check after the learner's code has done its worst
SIGMOID = "import numpy as np\ndef sigmoid(x):\n    return 1 / (1 + np.exp(-x))\n"


@pytest.fixture
def fast_budget(monkeypatch):
    """The checks' budget on top of the time limit, 2 s (300 s otherwise): a child that hangs
    shows as the timeout row, not as a test that waits five minutes."""
    monkeypatch.setattr(notebook, "CHECK_BUDGET", 2.0)


@pytest.mark.torch
def test_the_child_is_forked_from_the_warm_fork_server_and_set_up_as_a_fresh_one(tmp_path,
                                                                                  monkeypatch):
    from multiprocessing import forkserver

    from gd_compare.lesson import workers

    workers.start_fork_server(workers.TORCH_PRELOAD)  # running before the changes below
    monkeypatch.setenv("GD_COMPARE_SET_AFTER_THE_SERVER", "yes")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)  # the server has it (conftest)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setenv("MPLBACKEND", "TkAgg")
    seen = tmp_path / "seen.json"
    path = tmp_path / "mine.py"
    path.write_text(f"""\
import json, os, sys
warm = "torch" in sys.modules  # the learner's first line: nothing imported torch in a cold child
import torch
json.dump({{"warm": warm, "ppid": os.getppid(), "pid": os.getpid(), "sid": os.getsid(0),
           "cwd": os.getcwd(), "files": sorted(os.listdir()), "path0": sys.path[0],
           "stdin": sys.stdin.read(), "threads": torch.get_num_threads(),
           "env": {{k: os.environ.get(k) for k in ("MPLBACKEND", "OMP_NUM_THREADS",
                    "OPENBLAS_NUM_THREADS", "GD_COMPARE_SET_AFTER_THE_SERVER")}},
           "argv": sys.argv, "name": __name__, "file": __file__}}, open({str(seen)!r}, "w"))
""" + SIGMOID, encoding="utf-8")
    rows = check_submission(path)
    assert [(r.function, r.verdict) for r in rows] == [("sigmoid", "PASS")]
    got = json.loads(seen.read_text(encoding="utf-8"))
    server = forkserver._forkserver._forkserver_pid
    assert got["ppid"] == server and server != os.getpid()  # forked from the kept server
    assert got["warm"]  # torch was there before the learner's first line
    assert got["sid"] == got["pid"]  # its own session: its process group is killed with it
    assert got["cwd"] != os.getcwd() and Path(got["cwd"]).name.startswith("gd_compare_check_")
    assert {"binary.csv", "student_data.csv"} <= set(got["files"])
    assert got["path0"] == str(tmp_path)  # the learner's folder first
    assert got["stdin"] == ""
    assert got["env"] == {"MPLBACKEND": "Agg", "OMP_NUM_THREADS": "2",
                          "OPENBLAS_NUM_THREADS": None,
                          "GD_COMPARE_SET_AFTER_THE_SERVER": "yes"}  # the caller's, of now
    assert got["threads"] == min(2, len(os.sched_getaffinity(0)))  # as OMP_NUM_THREADS=2 gives
    assert got["argv"][1].endswith("_gd_compare_spec.pkl")  # as under python -m, SPEC
    assert (got["name"], got["file"]) == ("__main__", str(path))
    assert not Path(got["cwd"]).exists()  # the working directory is removed


#: In a process of its own, whose fork server may die (this one's, torch warm, stays): three
#: checks — a learner that kills the server and goes on, one that kills it and exits, a plain
#: one, one that stops the server (SIGSTOP: it never answers again), a plain one — with a light
#: server (each kill costs a new one).
KILLS_THE_SERVER = """\
import json, sys
from multiprocessing import forkserver
from pathlib import Path
from gd_compare import check_submission
from gd_compare.learner import notebook
from gd_compare.lesson import workers

workers.TORCH_PRELOAD = ("gd_compare.learner.notebook",)
notebook.CHECK_BUDGET = 2.0
path, sigmoid = Path(sys.argv[1]), sys.argv[2]
kills = "import os, signal, time\\nos.kill(os.getppid(), signal.SIGKILL)\\ntime.sleep(0.3)\\n"
stops = "import os, signal\\nos.kill(os.getppid(), signal.SIGSTOP)\\n"
out = []
for source in (kills + sigmoid, kills + "os._exit(0)\\n", sigmoid, stops + sigmoid, sigmoid):
    path.write_text(source, encoding="utf-8")
    rows = check_submission(path)
    out.append({"rows": [[r.function, r.verdict, r.message] for r in rows],
                "server": forkserver._forkserver._forkserver_pid,
                "lost": workers.fork_server_lost()})
print(json.dumps(out))
"""


@linux_only
def test_a_learner_that_kills_the_fork_server_gets_its_rows_and_the_next_check_works(tmp_path):
    done = subprocess.run([sys.executable, "-c", KILLS_THE_SERVER, str(tmp_path / "kills.py"),
                           SIGMOID], capture_output=True, text=True, timeout=120,
                          env=os.environ | {"PYTHONPATH": str(ROOT)})
    assert done.returncode == 0 and done.stderr == "", done.stderr[-3000:]
    goes_on, exits, plain, stops, after = json.loads(done.stdout)
    assert [r[:2] for r in goes_on["rows"]] == [["sigmoid", "PASS"]]  # the child went on
    assert goes_on["lost"]
    assert exits["rows"] == [["", "FAIL", "the checker's process for kills.py ended without a "
                              "status: its fork server was stopped while it ran (by the "
                              "learner's code?)"]]
    assert exits["server"] != goes_on["server"] and exits["lost"]  # a new one, killed again
    assert [r[:2] for r in plain["rows"]] == [["sigmoid", "PASS"]]
    assert plain["server"] not in (goes_on["server"], exits["server"]) and not plain["lost"]
    # a stopped server never reports its child's end: the check ends (bounded waits), drops that
    # server, and the next check starts a new one (it used to wait forever)
    assert [r[:2] for r in stops["rows"]] == [["sigmoid", "PASS"]] and stops["server"] is None
    assert [r[:2] for r in after["rows"]] == [["sigmoid", "PASS"]]
    assert after["server"] not in (None, plain["server"])


@pytest.mark.parametrize(("source", "message"), [
    ("import os\nos.write(2, b'bye from the learner\\n')\nos._exit(3)\n",
     "ended with status 3: bye from the learner"),
    ("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n",
     "ended with status -9 (killed by SIGKILL)"),
    ("import json\njson.dumps = None\n" + SIGMOID,  # the checker's own rows cannot be written
     "ended with status 1: TypeError: 'NoneType' object is not callable"),
    ("import os\nos._exit(0)\n",
     "ended with status 0 before it reported anything (os._exit in the learner's code?)"),
    ("import os\nos._exit(255)\n",  # what the fork server says when it dies: here it lives on
     "ended with status 255"),
], ids=["os._exit(3)", "SIGKILL", "check-raises", "os._exit(0)", "os._exit(255)"])
def test_a_child_that_ends_early_gets_its_status_and_its_last_stderr_line(tmp_path, source,
                                                                          message, fast_budget):
    path = tmp_path / "ends.py"
    path.write_text(source + SIGMOID, encoding="utf-8")
    (row,) = check_submission(path)
    assert (row.function, row.verdict) == ("", "FAIL")
    assert row.message == f"the checker's process for ends.py {message}"


#: 400 MB on stderr, a megabyte per write, then the last words (bounded: the old checker kept
#: all of it, in a file — 5.4 GB in 3 s of an endless loop — or in its own memory)
SPEWS = """\
import os
chunk = b"x" * 999_999 + b"\\n"
for _ in range(400):
    os.write(2, chunk)
os.write(2, b"Traceback (most recent call last):\\nRuntimeError: the last words\\n")
os._exit(3)
"""


def _rss_mib() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _tree_mib(root: Path) -> float:
    """The bytes of the files under ``root`` (os.walk: a folder removed meanwhile is skipped)."""
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(folder, name)).st_size
    return total / 2**20


@linux_only
@pytest.mark.parametrize("start", ["forked", "fresh interpreter"])
def test_endless_stderr_fills_neither_the_disk_nor_the_caller_s_memory(tmp_path, monkeypatch,
                                                                      start, fast_budget):
    """The child's stderr is a pipe of which the caller keeps the last 64 KiB: its last line
    still names the failure."""
    import tempfile
    import threading

    from gd_compare.lesson import workers

    if start == "fresh interpreter":
        def no_forkserver(preload):
            raise ValueError("cannot find context for 'forkserver'")

        monkeypatch.setattr(workers, "fork_server_context", no_forkserver)
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # the child's folder
    path = tmp_path / "spews.py"
    path.write_text(SPEWS + SIGMOID, encoding="utf-8")
    peak = {"disk": 0.0, "rss": 0.0}
    done = threading.Event()

    def watch():
        while not done.is_set():
            peak["disk"] = max(peak["disk"], _tree_mib(tmp_path / "tmp"))
            peak["rss"] = max(peak["rss"], _rss_mib())
            time.sleep(0.02)

    before = _rss_mib()
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        (row,) = check_submission(path, time_limit=60)
    finally:
        done.set()
        watcher.join()
    assert row.message == ("the checker's process for spews.py ended with status 3: "
                           "RuntimeError: the last words")
    assert peak["disk"] < 5, peak  # MiB: the data files copied in, nothing of stderr
    assert peak["rss"] - before < 100, (before, peak)


def test_the_tail_keeps_the_last_bytes_and_ends_while_a_writer_goes_on(monkeypatch):
    """Reading ends at EOF, or — while something the learner's code started keeps the pipe open
    and writing — half a second after the caller asks for the last line."""
    monkeypatch.setattr(notebook, "TAIL_BYTES", 10)
    r, w = os.pipe()
    closed = []
    tail = notebook._Tail(r, lambda: closed.append(os.close(r)))
    os.write(w, b"first line\nsecond\n")
    os.close(w)
    assert tail.last_line() == "second"
    assert bytes(tail._kept) == b"ne\nsecond\n"  # the last TAIL_BYTES
    assert closed == [None]  # by the thread, once it has read its last
    monkeypatch.setattr(notebook, "TAIL_BYTES", 64)
    writer = subprocess.Popen(["yes", "still going"], stdout=subprocess.PIPE)
    try:
        tail = notebook._Tail(writer.stdout.fileno(), writer.stdout.close)
        started = time.monotonic()
        assert tail.last_line() == "still going"
        assert time.monotonic() - started < notebook._DRAIN_SECONDS + 1.0
        assert not tail._thread.is_alive()
    finally:
        writer.kill()
        writer.wait()
    assert writer.stdout.closed


@linux_only
@pytest.mark.parametrize("start", ["forked", "fresh interpreter"])
def test_what_the_learner_s_code_started_ends_with_a_check_that_ends_well(tmp_path, monkeypatch,
                                                                          start):
    if start == "fresh interpreter":  # e.g. under PYTHONWARNINGS, which the server would take
        monkeypatch.setattr(sys, "warnoptions", ["default"])
    pids = tmp_path / "pids.txt"
    path = tmp_path / "starts.py"
    path.write_text(f"""\
import subprocess
sleeper = subprocess.Popen(["sleep", "600"])
open({str(pids)!r}, "w").write(str(sleeper.pid))
""" + SIGMOID, encoding="utf-8")
    started = time.monotonic()
    rows = check_submission(path, time_limit=60)
    assert [(r.function, r.verdict) for r in rows] == [("sigmoid", "PASS")]
    assert time.monotonic() - started < 30
    assert _gone(int(pids.read_text(encoding="utf-8")))


@pytest.mark.torch
def test_each_forked_check_draws_new_random_numbers_as_a_fresh_interpreter_does(tmp_path):
    """NumPy's global generator and torch's are seeded anew in each child (a fresh interpreter
    seeds both from the OS's entropy): two checks of one file draw different numbers."""
    drawn = tmp_path / "drawn.txt"
    path = tmp_path / "draws.py"
    path.write_text(f"""\
import random
import numpy as np, torch
with open({str(drawn)!r}, "a") as f:
    f.write(repr((random.random(), np.random.random(), torch.rand(1).item())) + "\\n")
""" + SIGMOID, encoding="utf-8")
    for _ in range(2):
        assert [r.verdict for r in check_submission(path)] == ["PASS"]
    first, second = (eval(line) for line in drawn.read_text(encoding="utf-8").splitlines())
    assert all(a != b for a, b in zip(first, second, strict=True)), (first, second)


def test_threads_and_atexit_handlers_left_by_the_learner_neither_hold_nor_change_the_end(
        tmp_path, fast_budget):
    path = tmp_path / "leaves.py"
    path.write_text("import atexit, os, threading, time\n"
                    "threading.Thread(target=time.sleep, args=(600,)).start()\n"
                    "atexit.register(os._exit, 4)\n" + SIGMOID, encoding="utf-8")
    started = time.monotonic()
    rows = check_submission(path, time_limit=5)
    assert [(r.function, r.verdict) for r in rows] == [("sigmoid", "PASS")]
    assert time.monotonic() - started < 5


@linux_only
def test_past_the_time_limit_the_child_and_all_it_started_are_killed(tmp_path, fast_budget):
    pids = tmp_path / "pids.txt"
    path = tmp_path / "hangs.py"
    path.write_text(f"""\
import os, signal, subprocess
signal.signal(signal.SIGALRM, signal.SIG_IGN)  # the cells' own time limit is defeated
sleeper = subprocess.Popen(["sleep", "600"])
open({str(pids)!r}, "w").write(f"{{os.getpid()}} {{sleeper.pid}}")
signal.pause()
""" + SIGMOID, encoding="utf-8")
    started = time.monotonic()
    (row,) = check_submission(path, time_limit=1)
    assert time.monotonic() - started < 30
    assert row.verdict == "FAIL"
    assert row.message == "checking hangs.py did not finish within 3 s: stopped"
    child, sleeper = map(int, pids.read_text(encoding="utf-8").split())
    assert _gone(child) and _gone(sleeper)


@linux_only
def test_an_interrupt_while_waiting_kills_the_child_and_all_it_started(tmp_path, monkeypatch):
    pids = tmp_path / "pids.txt"
    path = tmp_path / "waits.py"
    path.write_text(f"""\
import os, subprocess, time
sleeper = subprocess.Popen(["sleep", "600"])
open({str(pids)!r}, "w").write(f"{{os.getpid()}} {{sleeper.pid}}")
time.sleep(600)
""", encoding="utf-8")

    def interrupted(proc, done, deadline):
        while not pids.exists() or not pids.read_text(encoding="utf-8"):
            time.sleep(0.02)
        raise KeyboardInterrupt  # Ctrl-C in the caller, once the learner's code has started

    monkeypatch.setattr(notebook, "_wait", interrupted)
    with pytest.raises(KeyboardInterrupt):
        check_submission(path)
    child, sleeper = map(int, pids.read_text(encoding="utf-8").split())
    assert _gone(child) and _gone(sleeper)


@pytest.mark.parametrize("why", ["no fork server", "interpreter flags"])
def test_without_a_fork_server_the_child_is_a_fresh_interpreter(tmp_path, monkeypatch, why):
    """Where no fork server can start, and where this interpreter runs with flags (-W error,
    -O, -X ...) that the server would inherit and a fresh `python -m` never had (a learner's
    overflow warning would fail its cell, its asserts would not run)."""
    from gd_compare.lesson import workers

    def no_forkserver(preload):
        raise ValueError("cannot find context for 'forkserver'")  # as on Windows

    if why == "no fork server":
        monkeypatch.setattr(workers, "fork_server_context", no_forkserver)
    else:
        monkeypatch.setattr(sys, "warnoptions", ["error"])  # as `python -W error` has it
    seen = tmp_path / "seen.txt"
    path = tmp_path / "mine.py"
    path.write_text(f"import os\nopen({str(seen)!r}, 'w').write(str(os.getppid()))\n" + SIGMOID,
                    encoding="utf-8")
    rows = check_submission(path)
    assert [(r.function, r.verdict) for r in rows] == [("sigmoid", "PASS")]
    assert int(seen.read_text(encoding="utf-8")) == os.getpid()  # started by this process


def test_a_start_the_fork_server_refuses_is_tried_once_more_before_any_fresh_interpreter(
        tmp_path, monkeypatch):
    from gd_compare.lesson import workers

    real = workers.WorkerProcess.start
    starts: list[int] = []

    def refused_once(self):
        starts.append(1)
        if len(starts) == 1:  # a server just killed, not yet seen to be dead
            raise ConnectionRefusedError(111, "Connection refused")
        return real(self)

    monkeypatch.setattr(workers.WorkerProcess, "start", refused_once)
    seen = tmp_path / "seen.txt"
    path = tmp_path / "mine.py"
    path.write_text(f"import os\nopen({str(seen)!r}, 'w').write(str(os.getppid()))\n" + SIGMOID,
                    encoding="utf-8")
    rows = check_submission(path)
    assert [(r.function, r.verdict) for r in rows] == [("sigmoid", "PASS")]
    assert len(starts) == 2 and int(seen.read_text(encoding="utf-8")) != os.getpid()
