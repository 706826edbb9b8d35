"""The test server started from a path: ``python tests/server.py --port 0 [--corpus DIR] ...``.

The server is the ``support`` package beside this file (``support/server.py``, its responses
and builders); this only runs its command line, as ``python -m support`` does from ``tests/``.
"""

import sys

from support.cli import main

if __name__ == "__main__":
    sys.exit(main())
