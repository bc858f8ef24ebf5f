"""The folders are the layers: an import (at module level or inside a function) only ever runs
down them, and no import cycle exists between modules at import time."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gd_compare"

#: Bottom to top; a module may import its own layer and the ones below it. The two backends
#: share a rank but never import each other.
LAYERS = {
    "optim": 0,
    "lesson": 1,
    "numpy_backend": 2,
    "torch_backend": 2,
    "proof": 3,
    "learner": 4,
    "show": 5,
    "cli": 6,
}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "gd_compare" and parts[1] in LAYERS \
        else None


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every ``gd_compare`` module the file imports, anywhere in it (lazy imports too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.level:
                raise AssertionError(f"{path}:{node.lineno}: relative import")
            for a in node.names:  # `from gd_compare.x import y` may name a submodule y
                sub = f"{node.module}.{a.name}"
                where = PACKAGE.parent / sub.replace(".", "/")
                if where.is_dir() or where.with_suffix(".py").exists():
                    found.append((node.lineno, sub))
                else:
                    found.append((node.lineno, node.module))
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.parent != PACKAGE)


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PACKAGE)) for p in MODULES])
def test_imports_run_down_the_layers(path):
    own = path.relative_to(PACKAGE).parts[0]
    wrong = []
    for line, module in _imports(path):
        layer = _layer(module)
        if module == "gd_compare":  # the facade imports everything: only layers below may not
            wrong.append(f"line {line}: imports the package facade `gd_compare`")
        elif layer is not None and (LAYERS[layer] > LAYERS[own]
                                    or (LAYERS[layer] == LAYERS[own] and layer != own)):
            wrong.append(f"line {line}: {own} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_every_module_has_an_explicit_all():
    missing = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
               if p.name not in ("__main__.py", "_preload.py")
               and "__all__" not in p.read_text(encoding="utf-8")
               and p.name != "__init__.py"]
    assert not missing


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(path: Path) -> set[str]:
    """The gd_compare modules a file imports when it is imported (not the lazy ones)."""
    found = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in found if m.startswith("gd_compare.")}


def test_no_import_cycle_at_import_time():
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py") if p.parent != PACKAGE}
    # a package's __init__ runs before its modules: an edge to an ancestor is no cycle
    graph = {name: {m for m in _top_level_imports(path)
                    if m in modules and m != name and not name.startswith(m + ".")}
             for name, path in modules.items()}
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*stack, node, nxt]))
            if nxt not in state:
                visit(nxt, [*stack, node])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
