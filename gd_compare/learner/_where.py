"""Where in the learner's code something happened, named as the learner sees it.

In a Jupyter notebook, a function defined in a cell lives in a file the kernel made up
(ipykernel writes each cell's code to ``/tmp/ipykernel_<pid>/<hash>.py``): a message saying
"line 16 of 3387957586.py" points nowhere the learner can look. IPython remembers which execution
it compiled that file for — the ``[7]`` Jupyter shows beside the cell — so the place is named
"cell 7, line 3" instead. A notebook run by :mod:`gd_compare.learner.notebook` compiles each cell
as ``<cell 7>``, named the same way. Outside a notebook (a script, a test) it stays "line 3 of
epoch.py".
"""

from __future__ import annotations

import os
import re
import sys

__all__ = ["cell_number", "describe"]

#: the file name a notebook runner gives the code of cell n (``compile(source, "<cell 7>", ...)``)
_CELL_FILE = re.compile(r"<cell (\d+)>")


def cell_number(filename: str) -> int | None:
    """The execution count (``In [n]``) of the notebook cell compiled as ``filename`` (or n of a
    ``<cell n>`` file), or ``None`` when the file is not a notebook cell.

    Parameters
    ----------
    filename : str
        A code object's ``co_filename`` (a traceback frame's ``filename``).
    """
    named = _CELL_FILE.fullmatch(filename)
    if named:
        return int(named.group(1))
    if "IPython" not in sys.modules:  # never import IPython just to ask
        return None
    shell = sys.modules["IPython"].get_ipython()
    compiler = getattr(shell, "compile", None)
    number = getattr(compiler, "_filename_map", {}).get(filename)
    return number if isinstance(number, int) else None


def describe(filename: str, lineno: int | None, function: str) -> str:
    """``cell 7, line 3, in my_epoch`` for code typed in a notebook cell (``line`` counted in
    the cell); ``line 3 of epoch.py, in my_epoch`` for code in a file.

    Parameters
    ----------
    filename : str
        The frame's file name.
    lineno : int or None
        The frame's line number.
    function : str
        The name of the function the frame runs.
    """
    cell = cell_number(filename)
    if cell is not None:
        return f"cell {cell}, line {lineno}, in {function}"
    return f"line {lineno} of {os.path.basename(filename)}, in {function}"
