"""Small helpers for the teaching notebooks: the real code of both backends side by side.

Nothing here copies code: :func:`side_by_side` reads the source of the functions that run
(``inspect.getsource``), so a notebook cannot drift from ``gd_compare``. The objects returned
render as an HTML table in Jupyter (and on code hosts) and as plain text elsewhere.
No matplotlib or torch is imported by this module itself.
"""

from __future__ import annotations

import html
import inspect
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from gd_compare.proof.harness import Comparison

__all__ = ["Listing", "harness_table", "side_by_side", "source"]


def source(obj: Any) -> str:
    """The source code of a function, class or module, as it is in ``gd_compare`` now."""
    return inspect.getsource(obj).rstrip()


class Listing:
    """Columns of code (or text) with titles: HTML side by side, text one after the other."""

    def __init__(self, columns: Sequence[tuple[str, str]]) -> None:
        self.columns = list(columns)

    def _repr_html_(self) -> str:
        head = "".join(f"<th style='text-align:left'>{html.escape(t)}</th>"
                       for t, _ in self.columns)
        body = "".join(
            "<td style='vertical-align:top; text-align:left'><pre style='font-size:11px'>"
            f"{html.escape(text)}</pre></td>" for _, text in self.columns
        )
        return f"<table><tr>{head}</tr><tr>{body}</tr></table>"

    def __repr__(self) -> str:
        return "\n\n".join(f"=== {t} ===\n{text}" for t, text in self.columns)


def _resolve(side: Any, module: Any) -> list[Any]:
    items = side if isinstance(side, (list, tuple)) else [side]
    return [getattr(module, i) if isinstance(i, str) else i for i in items]


def side_by_side(numpy_side: Any, torch_side: Any = None) -> Listing:
    """The NumPy code next to the PyTorch code.

    ``side_by_side("sigmoid_step")`` shows ``numpy_backend.by_hand.sigmoid_step`` next to
    ``torch_backend.autograd.sigmoid_step``. Either side may be a name, an object or a list of them
    (e.g. ``["_gradient_step", "_train"]``); names are looked up in the backend of that side.
    """
    from gd_compare.numpy_backend import by_hand
    from gd_compare.torch_backend import autograd

    torch_side = numpy_side if torch_side is None else torch_side
    left = "\n\n".join(source(o) for o in _resolve(numpy_side, by_hand))
    right = "\n\n".join(source(o) for o in _resolve(torch_side, autograd))
    return Listing([("NumPy (by hand) — gd_compare/numpy_backend/by_hand.py", left),
                    ("PyTorch (autograd) — gd_compare/torch_backend/autograd.py", right)])


class _Pre:
    def __init__(self, text: str) -> None:
        self.text = text

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(self.text)}</pre>"

    def __repr__(self) -> str:
        return self.text


def harness_table(
    results: Comparison | Sequence[Comparison], labels: Sequence[str] | None = None
) -> _Pre:
    """The harness's verdict as the CLI prints it (``gd_compare.cli.format_table``);
    ``labels`` tell apart several runs of one concept (shown after the concept's name)."""
    from gd_compare.show.table import format_table

    items = [results] if isinstance(results, Comparison) else list(results)
    if labels is not None:
        items = [replace(r, concept=f"{r.concept} ({label})")
                 for r, label in zip(items, labels, strict=True)]
    return _Pre(format_table(items))
