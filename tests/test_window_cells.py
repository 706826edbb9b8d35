"""The window as a person meets it: ``%%luxx`` cells in a real kernel against a loopback server
that refuses, in OpenAI's and in llama.cpp's shape, any request over a size; and the room a
window keeps for the answer, asked for in the request (``window.answer_tokens``)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from support.builders import json_response, sse, text_stream
from support.kernel import Kernel, kernel_env, snapshot_texts
from support.server import LLMServer

from luxx_nb import Chat
from luxx_nb.providers.wire import DEFAULT_MAX_TOKENS
from luxx_nb.transcript import read_conversations
from luxx_nb.window import answer_tokens

KEY = "sk-test-canary-cells-0123456789abcdef"
KEY_ENV = "LUXX_CELLS_KEY"
LIMIT = 6_000
"""Characters of messages the server takes: about 1,500 tokens at its count of four a token."""
CELLS = 24
ANSWER = "A paragraph of an answer, " * 12


def llamacpp(prompt: int, context: int) -> dict:
    message = (
        f"request ({prompt} tokens) exceeds the available context size ({context} tokens), "
        "try increasing it"
    )
    error = {"code": 400, "message": message, "type": "exceed_context_size_error"}
    return {"error": {**error, "n_prompt_tokens": prompt, "n_ctx": context}}


def openai(prompt: int, context: int) -> dict:
    message = (
        f"This model's maximum context length is {context} tokens. However, your messages "
        f"resulted in {prompt} tokens. Please reduce the length of the messages."
    )
    error = {"message": message, "type": "invalid_request_error", "param": "messages"}
    return {"error": {**error, "code": "context_length_exceeded"}}


def size(body: dict) -> int:
    return sum(len(json.dumps(m)) for m in body["messages"])


def refusing(shape):
    def respond(body):
        if size(body) > LIMIT:
            return json_response(shape(size(body) // 4, LIMIT // 4), status=400)
        return text_stream(ANSWER)

    return respond


@pytest.fixture(scope="module")
def kernel() -> Iterator[Kernel]:
    running = Kernel(kernel_env(**{KEY_ENV: KEY}))
    try:
        running.run("%load_ext luxx_nb")
        yield running
    finally:
        running.close()


@pytest.mark.timeout(400)
@pytest.mark.parametrize("shape", [openai, llamacpp], ids=["openai", "llama.cpp"])
def test_every_cell_is_answered_and_its_status_says_what_was_left_out(kernel, shape, tmp_path):
    with LLMServer() as server:
        server.script(refusing(shape))
        name = shape.__name__
        options = f"--chat {name} -m m --base-url {server.base_url} --api-key-env {KEY_ENV}"
        notes, outputs = [], []
        for i in range(CELLS):
            cell = kernel.run(f"%%luxx {options}\nParagraph {i}, please: " + "tell me " * 40)
            assert not cell.of("error") and not cell.streams, (i, cell.of("error"), cell.streams)
            seen, hidden = snapshot_texts(cell.snapshot)  # what stays in the saved notebook
            assert ANSWER.strip() in seen, (i, seen[-500:])
            assert "Error" not in seen and KEY not in seen + hidden
            live, _ = kernel.seen_and_hidden(cell)
            note = re.search(r"sent the last (\d+) of (\d+) exchanges to fit 1,500 tokens", seen)
            if note:
                assert note.group(0) in live  # the live status said it too
                assert int(note.group(1)) < int(note.group(2)) == i + 1
            notes.append(note.group(0) if note else "")
            outputs += [dict(c, output_type="display_data") for c in cell.of("update_display_data")]
        requests = server.requests
        refused = [r for r in requests if size(r.body) > LIMIT]
        history = kernel.run(f"%luxx history --chat {name}").stdout
    assert all(notes[-8:]), notes  # the long end of the conversation: every status says it
    assert notes[-1] in history and "(not sent)\nParagraph 0" in history
    assert f"Paragraph {CELLS - 1}" in history  # the whole conversation is kept
    assert history.count("[user]") == CELLS
    # The saved transcripts, read back as %luxx resume reads them, hold the whole conversation.
    saved = tmp_path / "saved.ipynb"
    saved.write_text(json.dumps({"cells": [{"cell_type": "code", "outputs": outputs}]}))
    conversation = read_conversations(saved)[name]
    assert [m["role"] for m in conversation] == ["user", "assistant"] * CELLS
    assert conversation[0]["content"].startswith("Paragraph 0")
    # The refusal's numbers give the context: one refused request, then windows that fit.
    assert len(refused) == 1 and len(requests) == CELLS + 1, (len(refused), len(requests))


def test_the_answer_asks_for_the_room_the_window_kept(llm_server):
    llm_server.script(lambda body: text_stream("ok"))
    asked = [
        Chat(model="m", base_url=llm_server.base_url, api_key=KEY, **options).send("hi")
        for options in ({}, {"context_window": 4_096}, {"context_window": 4_096, "max_tokens": 99})
    ]
    assert all(reply.error is None for reply in asked)
    sent = [r.body["max_tokens"] for r in llm_server.requests]
    assert sent == [DEFAULT_MAX_TOKENS, 1_024, 99]
    assert answer_tokens(None, 8_192) == 2_048  # the local model's context
    assert answer_tokens(None, 200_000) == DEFAULT_MAX_TOKENS and answer_tokens(None, None) is None


def counted(body, delay: float = 0.0):
    """The answer, with the prompt tokens counted as the refusals count them (usage)."""
    prompt, base = size(body) // 4, {"id": "c1", "object": "chat.completion.chunk", "model": "m"}
    delta = {"role": "assistant", "content": ANSWER}
    return sse(
        [
            {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
            {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            {**base, "choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": 30}},
        ],
        delay=delay,
    )


def paragraphs(server: LLMServer, *, delay: float = 0.0, **options: object) -> Chat:
    """``CELLS`` paragraph turns through a ``Chat(**options)`` against ``server``, which
    refuses in llama.cpp's shape whatever is over ``LIMIT``; each answer's events ``delay``
    seconds apart. Every turn must be answered."""
    refuse = refusing(llamacpp)
    server.script(lambda body: refuse(body) if size(body) > LIMIT else counted(body, delay))
    chat = Chat(model="m", base_url=server.base_url, api_key=KEY, **options)  # type: ignore[arg-type]
    for i in range(CELLS):
        assert chat.send(f"Paragraph {i}, please: " + "tell me " * 40).error is None
    return chat


def test_a_known_context_costs_no_refused_request(llm_server):
    """A context given in advance (`context_window`): every request is fitted before it is sent."""
    chat = paragraphs(llm_server, context_window=LIMIT // 4)
    assert chat.last_window.left_out and len(llm_server.requests) == CELLS
    assert all(size(r.body) <= LIMIT for r in llm_server.requests)  # none refused


def test_a_refusal_smaller_than_the_context_set_is_kept_from_turn_to_turn(llm_server):
    """`context_window` set larger than the server's: one refused request in all, not one a turn."""
    chat = paragraphs(llm_server, context_window=LIMIT)
    refused = [r for r in llm_server.requests if size(r.body) > LIMIT]
    assert chat.last_window.left_out and len(refused) == 1, len(refused)
    assert len(llm_server.requests) == CELLS + 1
