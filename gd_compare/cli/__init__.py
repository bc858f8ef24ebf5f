"""``gd-compare`` and its subcommands, one module each: the side-by-side run (:mod:`.main`),
``check`` (:mod:`.check`), ``plot`` (:mod:`.plot`); what they parse alike is in
:mod:`._common`. The top layer: nothing below imports it."""

from gd_compare.cli.run import entry, main

__all__ = ["entry", "main"]
