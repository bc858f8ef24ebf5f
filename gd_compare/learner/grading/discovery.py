"""Which files a grading run checks: the ``.py`` and ``.ipynb`` files named or found under the
folders named (recursively, ``--exclude`` globs left out), each with the key its results are
filed under (its path relative to the folder graded) and the hash of its content."""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SUFFIXES", "GradeUsageError", "Submission", "find_submissions"]

#: the files a grading run checks
SUFFIXES = (".py", ".ipynb")
#: folders never searched: caches, checkpoints, virtual environments
_SKIPPED_DIRS = {"__pycache__", ".ipynb_checkpoints", ".git", ".venv", "venv", "node_modules"}


class GradeUsageError(ValueError):
    """What was asked cannot be graded (a missing path, an empty folder, two submissions filed
    under the same name): the command's exit status 2."""


@dataclass(frozen=True)
class Submission:
    """One file to grade: ``path`` (absolute), ``key`` (relative to the folder graded, or the
    file's name when the file itself was named; results are filed under it), ``sha256``."""

    path: Path
    key: str
    sha256: str


def _excluded(rel: str, patterns: Sequence[str]) -> bool:
    parts = rel.split("/")
    return any(fnmatch.fnmatch(rel, p) or any(fnmatch.fnmatch(part, p) for part in parts)
               for p in patterns)


def _walk(root: Path) -> Iterable[Path]:
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).parts
        if any(part in _SKIPPED_DIRS or part.startswith(".") for part in rel):
            continue
        if path.is_file() and path.suffix in SUFFIXES:
            yield path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def find_submissions(paths: Sequence[str | Path], exclude: Sequence[str] = ()) -> list[Submission]:
    """The submissions under ``paths`` (files or folders), in order.

    Parameters
    ----------
    paths
        Files (``.py``, ``.ipynb``) or folders, searched recursively (hidden folders, caches
        and virtual environments are skipped).
    exclude
        Glob patterns matched against each file's path relative to its folder and against
        each part of it (``helpers.py``, ``tests/*``, ``*_test.py``).

    Raises
    ------
    GradeUsageError
        A path that does not exist or is not a submission file, a folder with no submission,
        or two submissions that would be filed under the same key (named, both of them).
    """
    if not paths:
        raise GradeUsageError("paths: expected at least one file or folder")
    found: list[tuple[Path, str]] = []
    for given in paths:
        root = Path(given)
        if not root.exists():
            raise GradeUsageError(f"{str(given)!r}: no such file or folder")
        if root.is_file():
            if root.suffix not in SUFFIXES:
                raise GradeUsageError(f"{str(given)!r}: not a submission (expected a .py or "
                                      f".ipynb file, or a folder)")
            found.append((root, root.name))
            continue
        mine = [(p, p.relative_to(root).as_posix()) for p in _walk(root)]
        kept = [(p, rel) for p, rel in mine if not _excluded(rel, exclude)]
        if not kept:
            why = f" (--exclude left out all {len(mine)})" if mine else ""
            raise GradeUsageError(f"{str(given)!r}: no .py or .ipynb file in this folder{why}")
        found += kept
    seen: dict[str, Path] = {}
    out = []
    for path, key in found:
        path = path.resolve()
        if key in seen:
            if seen[key] == path:
                continue  # the same file named twice
            raise GradeUsageError(f"two submissions would be filed as {key!r}: {str(seen[key])!r} "
                                  f"and {str(path)!r}; grade their folders separately (--out "
                                  f"per folder) or rename one")
        seen[key] = path
        out.append(Submission(path, key, _digest(path)))
    return out
