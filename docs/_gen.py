"""Write the parts of the docs that a run produces, so that none of them is typed by hand.

    PYTHONPATH=$PWD .venv/bin/python docs/_gen.py           # all of it (about a minute)
    PYTHONPATH=$PWD .venv/bin/python docs/_gen.py --help-only  # the CLI reference only (fast)

- ``docs/cli-reference.md``: the ``--help`` of ``gd-compare`` and of each subcommand, as printed
  (``tests/test_docs.py`` checks that the committed page is today's help).
- the table ``gd-compare`` prints, in ``README.md`` (real output of the lesson's defaults).
- the catalogue table of ``docs/check-your-code.md``: every classic mistake checked as a
  learner's function (``gd_compare.learner.check.run_catalogue``), where it is caught and what is
  diagnosed (``tests/test_check.py`` holds the page to it).
- ``docs/img/*.png``: the figures ``gd-compare plot`` draws for ``mse_training`` and
  ``sgd_batching`` (the lesson's defaults), shown on the docs pages.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
IMAGES = ("mse_training.png", "sgd_batching_batch_sizes.png")


#: the width help is formatted at (argparse takes the terminal's, from $COLUMNS)
HELP_COLUMNS = "100"


def _help(parser: argparse.ArgumentParser) -> str:
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_COLUMNS
    try:
        return parser.format_help().rstrip()
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


def parsers() -> dict[str, argparse.ArgumentParser]:
    """``gd-compare`` and every subcommand it lists, each with its parser."""
    from gd_compare.cli import run

    found = {"gd-compare": run.build_parser()}
    for name, (module, _line) in run.SUBCOMMANDS.items():
        if importlib.util.find_spec(module) is None:
            continue
        builders = [getattr(importlib.import_module(module), attr)
                    for attr in (f"build_{name}_parser", "build_parser")
                    if hasattr(importlib.import_module(module), attr)]
        if builders:
            found[f"gd-compare {name}"] = builders[0]()
    return found


def cli_reference() -> str:
    parts = ["# `gd-compare --help`", "",
             "*Written by `docs/_gen.py` from the parsers themselves; a test checks it is "
             "today's help.* What the options do, with examples: [the command line](cli.md).",
             ""]
    for command, parser in parsers().items():
        parts += [f"## `{command}`", "", "```text", _help(parser), "```", ""]
    return "\n".join(parts)


_CATALOGUE = re.compile(r"(<!-- catalogue:start[^\n]*-->\n).*?(<!-- catalogue:end -->)", re.S)


def write_catalogue(page: Path = DOCS / "check-your-code.md") -> Path:
    """Replace the table between the catalogue markers of ``page`` by today's."""
    from gd_compare.learner.check import catalogue_table, run_catalogue

    text = page.read_text(encoding="utf-8")
    table = catalogue_table(run_catalogue())
    new, found = _CATALOGUE.subn(lambda m: f"{m.group(1)}{table}\n{m.group(2)}", text)
    if not found:
        raise SystemExit(f"{page}: no <!-- catalogue:start --> ... <!-- catalogue:end --> markers")
    page.write_text(new, encoding="utf-8")
    return page


_TABLE = re.compile(r"(<!-- table:start[^\n]*-->\n```\n).*?(```\n<!-- table:end -->)", re.S)


def printed_table() -> str:
    """The title line and the table of a default ``gd-compare`` run, as it prints them."""
    import contextlib
    import io

    from gd_compare.cli import main as cli_main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cli_main([])
    lines = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("concept "))
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return "\n".join([lines[0], "", *lines[start:end]])


def write_readme_table(readme: Path = DOCS.parent / "README.md") -> Path:
    text = readme.read_text(encoding="utf-8")
    table = printed_table()
    new, found = _TABLE.subn(lambda m: f"{m.group(1)}{table}\n{m.group(2)}", text)
    if not found:
        raise SystemExit(f"{readme}: no <!-- table:start --> ... <!-- table:end --> markers")
    readme.write_text(new, encoding="utf-8")
    return readme


def write_images(out: Path = DOCS / "img") -> list[Path]:
    import shutil
    import tempfile

    from gd_compare.show.plots import save_all

    with tempfile.TemporaryDirectory() as tmp:
        save_all(tmp, concepts=["mse_training", "sgd_batching"], dpi=80)
        out.mkdir(exist_ok=True)
        written = []
        for name in IMAGES:
            shutil.copy(Path(tmp) / name, out / name)
            written.append(out / name)
    return written


def main(argv: list[str]) -> int:
    (DOCS / "cli-reference.md").write_text(cli_reference() + "\n", encoding="utf-8")
    print("wrote docs/cli-reference.md")
    if "--help-only" not in argv:
        print(f"wrote {write_readme_table().relative_to(DOCS.parent)}")
        print(f"wrote {write_catalogue().relative_to(DOCS.parent)}")
        for path in write_images():
            print(f"wrote {path.relative_to(DOCS.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
