"""Whether the suite runs in CI: there a missing optional part (the corpus, an npm server) is a
failure, not a skip. A module of its own, not ``conftest``: the notebooks' ``conftest.py``
takes that module name when the whole suite runs."""

from __future__ import annotations

import os


def in_ci() -> bool:
    """CI sets ``CI=true``; there a missing corpus is a broken checkout, not a user's clone."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")
