"""README.md and docs/: what they show works — every import a ```python block makes imports,
every relative link resolves (file and heading), the README stays short and starts with the
learner's path, and the generated CLI reference is today's ``--help``."""

from __future__ import annotations

import ast
import importlib.util
import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
IDS = [str(p.relative_to(ROOT)) for p in PAGES]
README_MAX_LINES = 250
#: a README "first screen": what a reader sees before scrolling
FIRST_SCREEN = 25

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
_LINK = re.compile(r"(?<!\!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _prose(text: str) -> str:
    """The page without its fenced code blocks and inline code."""
    return re.sub(r"`[^`\n]*`", "", _FENCE.sub("", text))


def _imports(block: str) -> list[str]:
    """The import statements of a Python block, each as source (blocks with ``...`` or
    illustrative fragments that do not parse are read statement by statement)."""
    try:
        tree = ast.parse(block)
    except SyntaxError:
        lines = [ln for ln in block.splitlines() if re.match(r"(from \S+ )?import ", ln)]
        return [ln.split("#")[0].strip() for ln in lines]
    return [ast.unparse(node) for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))]


def _python_imports() -> list[tuple[str, str]]:
    found = []
    for page, name in zip(PAGES, IDS):
        for lang, block in _FENCE.findall(_text(page)):
            if lang == "python":
                found += [(name, statement) for statement in _imports(block)]
    return found


IMPORTS = _python_imports()


def test_the_docs_have_python_blocks_with_imports():
    assert len({name for name, _ in IMPORTS}) >= 5 and len(IMPORTS) >= 10


@pytest.mark.parametrize(("page", "statement"), IMPORTS,
                         ids=[f"{p}: {s}" for p, s in IMPORTS])
def test_every_documented_import_works(page, statement):
    if "torch" in statement and importlib.util.find_spec("torch") is None:
        pytest.skip("needs PyTorch")
    exec(compile(statement, page, "exec"), {})


def _slug(heading: str) -> str:
    """The anchor MkDocs (and, for these headings, GitHub) gives a heading."""
    text = re.sub(r"[`*]", "", heading).strip()
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _anchors(path: Path) -> set[str]:
    headings = re.findall(r"^#{1,6} (.+)$", _FENCE.sub("", _text(path)), re.M)
    return {_slug(h) for h in headings}


def _links() -> list[tuple[str, Path, str]]:
    found = []
    for page, name in zip(PAGES, IDS):
        for match in _LINK.finditer(_prose(_text(page))):
            target = match.group(1) or match.group(2)
            if not re.match(r"[a-z]+:", target):
                found.append((name, page, target))
    return found


LINKS = _links()


def test_the_pages_link_to_each_other():
    assert len(LINKS) >= 30


@pytest.mark.parametrize(("name", "page", "target"), LINKS,
                         ids=[f"{n} -> {t}" for n, _, t in LINKS])
def test_every_relative_link_resolves(name, page, target):
    file, _, anchor = target.partition("#")
    path = (page.parent / file).resolve() if file else page
    assert path.exists(), f"{name}: {target} names no file"
    if page.is_relative_to(DOCS):
        assert path.is_relative_to(DOCS), f"{name}: {target} leaves docs/ (the site cannot link it)"
    if anchor:
        assert anchor in _anchors(path), f"{name}: no heading #{anchor} in {path.name}"


def test_readme_is_short_and_starts_with_the_learner():
    lines = _text(ROOT / "README.md").splitlines()
    assert len(lines) <= README_MAX_LINES
    screen = "\n".join(lines[:FIRST_SCREEN])
    assert "check your code" in screen.lower() and "#a-learner-check-your-code" in screen
    assert "(docs/index.md)" in screen


def test_readme_shows_the_test_command_ci_runs():
    ci = _text(ROOT / ".ci" / "run")
    command = re.search(r"^# --- the README's test command\n(.+)$", ci, re.M).group(1)
    assert f"```bash\n{command}\n```" in _text(ROOT / "README.md")


def _gen():
    spec = importlib.util.spec_from_file_location("docs_gen", DOCS / "_gen.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_cli_reference_is_todays_help():
    """``docs/cli-reference.md`` is written by ``docs/_gen.py``: re-run it after changing an
    option (``python docs/_gen.py --help-only``)."""
    gen = _gen()
    assert _text(DOCS / "cli-reference.md") == gen.cli_reference() + "\n"
    assert "## `gd-compare check`" in _text(DOCS / "cli-reference.md")


def test_every_page_is_in_the_site_nav():
    nav = _text(ROOT / "mkdocs.yml")
    for page in DOCS.rglob("*.md"):
        assert f": {page.relative_to(DOCS).as_posix()}" in nav, page


@pytest.mark.torch
def test_the_readme_learner_example_prints_what_the_readme_shows(capsys):
    readme = _text(ROOT / "README.md")
    section = readme[readme.index("## A learner: check your code"):]
    code, shown = re.search(r"```python\n(.*?)```\n\n```\n(.*?)```", section, re.S).groups()
    exec(compile(code, "README.md", "exec"), {})
    assert capsys.readouterr().out == shown
