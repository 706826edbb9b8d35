"""What every test run shares: whether it runs in CI (there a missing optional part, the corpus
or an npm server, is a failure, not a skip) and the provider settings no test may inherit. A
module of its own, not ``conftest``: the notebooks' ``conftest.py`` takes that module name when
the whole suite runs."""

from __future__ import annotations

import os


def in_ci() -> bool:
    """CI sets ``CI=true``; there a missing corpus is a broken checkout, not a user's clone."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


PROVIDER_ENV = (
    "LUXX_BASE_URL",
    "LUXX_API_KEY",
    "LUXX_MODEL",
    "OPENAI_BASE_URL",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
)
"""Real provider settings must never leak into a test: it could otherwise reach a paid API."""
