"""``python -m mre.cli``."""

import sys

from mre.cli import main

sys.exit(main())
