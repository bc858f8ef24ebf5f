"""Mutant backends: the reference NumPy backend with one thing changed, to show that the verdict
catches it (tests, ``benchmarks/sweep_verdict.py``). Nothing here is used by :func:`compare`.

``edited(name, concept, when, edit)`` re-yields every step of ``numpy_backend.iter_<concept>``
with Δw := edit(Δw) where ``when(step)`` holds (Δw = w_after − w_before of each parameter
array, changed in place so the mutant's own loop goes on from there). ``replaced(name, **fns)``
is the NumPy backend with some of its functions replaced.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from gd_compare.lesson.core import Step

__all__ = ["edited", "replaced", "reported"]


def replaced(name: str, **functions: Callable[..., Any]) -> types.ModuleType:
    """The NumPy backend as a module called ``name``, with ``functions`` replacing its own."""
    from gd_compare import numpy_backend as nb

    mod = types.ModuleType(name)
    for attr in nb.__all__:
        setattr(mod, attr, getattr(nb, attr))
    for attr, fn in functions.items():
        setattr(mod, attr, fn)
    return mod


def edited(name: str, concept: str, when: Callable[[Step], bool],
           edit: Callable[[np.ndarray], np.ndarray]) -> types.ModuleType:
    """The NumPy backend whose ``iter_<concept>`` replaces Δw by ``edit(Δw)`` at every step
    ``s`` with ``when(s)`` (``concept`` is the iterator's suffix, e.g. ``"backprop_training"``)."""
    from gd_compare import numpy_backend as nb

    real = getattr(nb, "iter_" + concept)

    def steps(*args: Any, **kwargs: Any) -> Iterator[Step]:
        before: tuple[np.ndarray, ...] | None = None
        for s in real(*args, **kwargs):
            if before is None:
                before = _start(kwargs, s)
            if when(s):
                for p, p0 in zip(s.params, before, strict=True):
                    p[...] = p0 + edit(p - p0)
            before = tuple(p.copy() for p in s.params)
            yield s

    return replaced(name, **{"iter_" + concept: steps})


def reported(name: str, concept: str, when: Callable[[Step], bool],
             loss: Callable[[float], float]) -> types.ModuleType:
    """The NumPy backend whose ``iter_<concept>`` reports ``loss(s.loss)`` where ``when(s)``
    (the weights untouched: only the reported loss is wrong)."""
    from gd_compare import numpy_backend as nb

    real = getattr(nb, "iter_" + concept)

    def steps(*args: Any, **kwargs: Any) -> Iterator[Step]:
        for s in real(*args, **kwargs):
            yield s._replace(loss=loss(s.loss)) if when(s) else s

    return replaced(name, **{"iter_" + concept: steps})


def _start(kwargs: dict[str, Any], first: Step) -> tuple[np.ndarray, ...]:
    """The parameters the run starts from (the harness passes them as ``weights``; biases
    absent from them start at 0)."""
    w = kwargs.get("weights")
    given = (tuple(np.asarray(p) for p in w) if isinstance(w, (tuple, list))
             else (np.asarray(w),))
    out = []
    for k, p in enumerate(first.params):
        if k < len(given) and np.shape(given[k]) == np.shape(p):
            out.append(np.array(given[k], dtype=p.dtype))
        else:
            out.append(np.zeros_like(p))
    return tuple(out)
