"""``python -m gd_compare`` is ``gd-compare``."""

import sys

from .cli import main

sys.exit(main())
