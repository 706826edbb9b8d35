"""``python -m support``: the test server as a process (see ``cli.py``)."""

import sys

from support.cli import main

sys.exit(main())
