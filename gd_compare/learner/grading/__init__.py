"""``gd-compare grade`` / :func:`gd_compare.grade`: a class's submissions checked in parallel,
each in an isolated process forked from a warm worker; results as a DataFrame, CSV, JSON and
Gradescope ``results.json``. Modules: :mod:`.discovery` (which files), :mod:`.server` and
:mod:`.pool` (the warm fork server and its client), :mod:`.isolation` (one child, its limits,
its verdict), :mod:`.results` (the files written), :mod:`.api` (:func:`grade`)."""

from gd_compare.learner.grading.api import GradeRun, grade, grade_run
from gd_compare.learner.grading.discovery import GradeUsageError, Submission, find_submissions
from gd_compare.learner.grading.isolation import VERDICTS
from gd_compare.learner.grading.results import COLUMNS

__all__ = ["COLUMNS", "VERDICTS", "GradeRun", "GradeUsageError", "Submission",
           "find_submissions", "grade", "grade_run"]
