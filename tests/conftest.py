"""Shared fixtures: a real loopback LLM server, the recorded corpus, and a clean environment.

Tests talk real HTTP to the loopback server of ``tests/support`` (found through ``pythonpath``
in pyproject.toml); nothing monkeypatches a client.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

# The support package's asserts (the fault rows' checks) report what differed, as in a test.
pytest.register_assert_rewrite("support")

from support.ci import PROVIDER_ENV, in_ci  # noqa: E402
from support.responses import FIXTURES_DIR, default_corpus_dir  # noqa: E402
from support.server import LLMServer, ServerProcess  # noqa: E402


def require_corpus() -> Path:
    """The corpus directory; fail in CI when it is missing, skip (with the reason) elsewhere."""
    path = default_corpus_dir()
    if (path / "recorded").is_dir() or (path / "llamacpp").is_dir():
        return path
    reason = (
        f"recorded corpus not found at {path} (expected ../shared/corpus beside the clone, "
        "or set LUXX_CORPUS)"
    )
    if in_ci():
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _no_provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Strip real provider settings from ``os.environ`` for every test."""
    for name in PROVIDER_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The project's own hand-written streams (``tests/fixtures``)."""
    return FIXTURES_DIR


@pytest.fixture
def corpus_dir() -> Path:
    """The shared recorded corpus (``$LUXX_CORPUS`` or ``<repo>/../shared/corpus``)."""
    return require_corpus()


@pytest.fixture
def llm_server() -> Iterator[LLMServer]:
    """A fresh OpenAI-compatible server on 127.0.0.1 for this test.

    ``.base_url`` ends in ``/v1``; script it with ``.enqueue(...)`` / ``.script(fn)``; inspect
    ``.requests``, ``.disconnects``, ``.wait_for_disconnect(timeout)``.
    """
    with LLMServer() as server:
        yield server


@pytest.fixture(scope="module")
def server_process() -> Iterator[ServerProcess]:
    """The same server as a child process, for Jupyter kernels; shared by a module.

    Call ``.reset()`` at the start of a test that depends on its queue or its records.
    """
    proc = ServerProcess.start()
    try:
        yield proc
    finally:
        proc.stop()
