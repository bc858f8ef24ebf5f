"""``python -m gd_compare`` is ``gd-compare``."""

from gd_compare.cli.run import entry

entry()
