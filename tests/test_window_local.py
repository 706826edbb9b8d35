"""The local model for 30 ``%%luxx`` cells in a row, as a new user meets it: no key, no
options, each cell asking for a paragraph, in a real kernel against the real llama.cpp server
(SmolLM2-135M, its 8,192-token context). Every cell answers, none runs on past the room the
window keeps for the answer (a small model repeating itself once ran 7,000 tokens, 494 s), the
history keeps every exchange, and the status says what the requests left out."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from support.ci import in_ci
from support.kernel import Kernel, kernel_env, snapshot_texts

from luxx_nb.local_model import CONTEXT_TOKENS
from luxx_nb.window import answer_tokens

try:
    import xllamacpp  # noqa: F401
except ImportError:  # pragma: no cover - the [local] extra is part of the test install
    if in_ci():
        raise
    pytest.skip("the [local] extra is not installed", allow_module_level=True)

CELLS = 30
TOPICS = ("bread", "the sea", "trains", "cats", "rain", "mountains", "coffee", "bicycles")
REPLY = (
    "(lambda c: {'error': c.last_reply.error, 'text': c.last_reply.text, "
    "'tokens': c.last_reply.usage and c.last_reply.usage.completion_tokens, "
    "'history': len(c.history), 'note': c.last_window.note(), 'budget': c.last_window.budget})"
    "(get_ipython().magics_manager.registry['LuxxMagics'].chats['default'])"
)


@pytest.fixture(scope="module")
def kernel() -> Iterator[Kernel]:
    running = Kernel(kernel_env())
    try:
        running.run("%load_ext luxx_nb")
        yield running
    finally:
        running.close()


@pytest.mark.once  # 17 minutes of llama.cpp: by hand, ./test.sh -m once tests/test_window_local.py
@pytest.mark.timeout(3600)
def test_thirty_paragraph_cells_against_the_local_model_all_answer(kernel):
    most = answer_tokens(None, CONTEXT_TOKENS)
    times, notes = [], []
    for i in range(CELLS):
        started = time.monotonic()
        cell = kernel.run(f"%%luxx\nWrite a paragraph about {TOPICS[i % len(TOPICS)]}.", 600)
        times.append(time.monotonic() - started)
        assert not cell.of("error") and not cell.streams, (i, cell.of("error"), cell.streams)
        reply = kernel.value(REPLY)
        assert reply["error"] is None and reply["text"].strip(), (i, reply)
        assert reply["tokens"] <= most, (i, reply["tokens"])
        assert reply["history"] == 2 * (i + 1)  # the whole conversation is kept
        assert reply["budget"] == CONTEXT_TOKENS == 8_192  # fitted before sending, to 8,192
        seen, _ = snapshot_texts(cell.snapshot)
        assert "tiny model running on this machine" in seen and "Error" not in seen
        if reply["note"]:  # what the request left out, in the saved status line
            assert re.search(r"sent the last \d+ of \d+ exchanges to fit 8,192 tokens", seen)
            assert reply["note"] in seen
            notes.append(reply["note"])
    history = kernel.run("%luxx history").stdout
    assert history.count("[user]") == CELLS and "Write a paragraph about bread." in history
    if notes:
        assert "(not sent)" in history
    print(f"cells: {CELLS}, median {sorted(times)[CELLS // 2]:.1f} s, max {max(times):.1f} s")
