"""The fault table's HTTP and Stream rows (and the Network rows that are about the stream's
end) on the Responses and Anthropic wires, through ``Chat(api=...)``.

Each row's answers are the same answers in the wire's own shapes (``wires.on_wire``): the same
text, the same tool calls, the same faulty bytes where the fault is in the bytes, and error
bodies in the API's own form. Every row keeps its promises as it does on chat completions
(``test_faults.check_row``), and the next turn works on the history the fault left.
"""

from __future__ import annotations

import dataclasses

import pytest
from support.builders import text_stream
from support.faults import FAULTS
from support.faults.checks import (
    Recorder,
    base_url_for,
    check_history_is_valid,
    check_row,
    observe,
    seen_and_hidden,
)
from support.faults.functions import fault_tools
from support.faults.row import KEY, NEXT_ANSWER, NEXT_PROMPT, PROMPT
from support.server import LLMServer
from support.wires import on_wire

from luxx_nb import Chat

NETWORK = ("no-done", "closed-before-answer", "connection-refused", "unknown-host")
"""The Network rows that are not about the bytes of a chat stream (the slow drip is the HTTP
reader's, the same for every wire; the reset and the stall cut a chat body at its offsets)."""
ROWS = [row for row in FAULTS if row.group in ("HTTP", "Stream") or row.id in NETWORK]
WIRES = ("responses", "anthropic")


@pytest.fixture(scope="module")
def server():
    with LLMServer() as running:
        yield running


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_fault_on_each_wire(row, wire, server):
    server.reset()
    server.enqueue(*(on_wire(wire, response) for response in row.responses()))
    chat = Chat(
        model="test-model",
        base_url=base_url_for(row, server.base_url),
        api_key=KEY,
        api=wire,
        tools=fault_tools(row.tools),
        variable_tools=False,
        timeout=row.timeout,
        tool_timeout=row.tool_timeout,
    )
    recorder = Recorder()
    chat.add_view(recorder)
    chat.send(PROMPT)
    observed = observe(chat)
    observed["requests"] = len(server.requests)
    seen, hidden = seen_and_hidden(recorder.runs[0])
    check_row(row, observed, seen, hidden)
    if server.requests:
        assert (
            server.requests[0].path
            == {"responses": "/v1/responses", "anthropic": "/v1/messages"}[wire]
        )
    server.reset()
    server.enqueue(on_wire(wire, text_stream(NEXT_ANSWER)))
    chat.endpoint = dataclasses.replace(chat.endpoint, base_url=server.base_url)
    following = chat.send(NEXT_PROMPT)
    assert following.state == "done" and following.text == NEXT_ANSWER, following.error
    sent = chat.history
    assert sent[0] == {"role": "user", "content": PROMPT}
    check_history_is_valid(sent)
