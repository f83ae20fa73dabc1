"""``python -m app``: ``pmscan-server``."""

import sys

from .server import main

sys.exit(main())
