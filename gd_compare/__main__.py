"""``python -m gd_compare`` is ``gd-compare``."""

import sys

from gd_compare.cli.run import main

sys.exit(main())
