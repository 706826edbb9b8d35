"""The engine against the real llama.cpp server (xllamacpp + SmolLM2-135M), not recordings."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from luxx_nb import Chat
from luxx_nb.local import LocalServer, ensure_local_server

pytest.importorskip("xllamacpp", reason="the [local] extra is not installed")


@pytest.fixture(scope="module")
def pinging_server():
    """A second server that sends `:` keep-alive comments every second."""
    server = LocalServer(ping_interval=1, n_ctx=2048)
    server.start()
    yield server
    server.stop()


def test_no_endpoint_uses_the_local_model_and_streams_text():
    chat = Chat(temperature=0, extra_body={"seed": 7}, max_tokens=40)
    events = asyncio.run(_collect(chat, "Say hello in one short sentence."))
    reply = chat.last_reply
    assert reply.error is None, reply.error
    assert reply.text.strip() and reply.usage and reply.usage.completion_tokens > 0
    assert reply.token_count == reply.usage.completion_tokens
    text_events = [e for e in events if e.name == "process_step"]
    assert len(text_events) > 3  # streamed token by token, not in one piece
    assert ensure_local_server().running


def test_same_prompt_at_temperature_zero_gives_the_same_answer():
    answers = [
        Chat(model="local", temperature=0, extra_body={"seed": 1}, max_tokens=30)
        .send("Name a fruit.")
        .text
        for _ in range(2)
    ]
    assert answers[0] == answers[1] and answers[0]


def test_finish_reason_length_is_a_normal_end():
    reply = Chat(model="local", temperature=0, max_tokens=5).send("Count from one to fifty.")
    assert reply.error is None and reply.usage.completion_tokens == 5


def test_a_prompt_over_the_whole_context_says_so_with_llama_cpps_numbers(pinging_server):
    chat = Chat(model="m", base_url=pinging_server.base_url, max_tokens=10)
    reply = chat.send("word " * 3000)
    assert reply.error.startswith("The prompt is too long for this model: about 3,0")
    assert re.search(r"tokens, and 2,0\d\d fit in its context", reply.error)
    assert "Traceback" not in reply.error
    assert chat.send("Say hi.").error is None  # the next turn works


def test_thirty_paragraph_turns_in_a_row_all_answer():
    """The real llama.cpp refusal (its shape and numbers), then windows that fit: every turn
    answers, and the history keeps all of them. 1,024 tokens of context fill after a few."""
    server = LocalServer(n_ctx=1024)
    server.start()
    chat = Chat(model="m", base_url=server.base_url, max_tokens=60, temperature=0)
    notes = []
    try:
        for i in range(30):
            reply = chat.send(f"Write a paragraph about bread, part {i}.")
            assert reply.error is None, (i, reply.error)
            assert reply.text.strip()
            if chat.last_window.left_out:
                notes.append(chat.last_window.note())
    finally:
        server.stop()
    assert len(chat.history) == 60
    assert notes and notes[-1].startswith("sent the last ") and "of 30 exchanges" in notes[-1]


def test_keep_alive_comments_do_not_disturb_the_answer(pinging_server):
    chat = Chat(model="m", base_url=pinging_server.base_url, temperature=0, max_tokens=60)
    start = time.perf_counter()
    reply = chat.send("Write a short story about a cat. " * 150)
    elapsed = time.perf_counter() - start
    assert reply.error is None and reply.text
    # The server pings every second while it reads the prompt: a run this long had pings.
    assert elapsed > 1.5, elapsed


def test_conversation_continues_against_the_real_server():
    chat = Chat(model="local", temperature=0, max_tokens=20)
    chat.send("My name is Ada.")
    reply = chat.send("What is my name?")
    assert reply.error is None
    assert [m["role"] for m in chat.history] == ["user", "assistant", "user", "assistant"]


async def _collect(chat, prompt):
    return [event async for event in chat.stream(prompt, include_status=True)]


def test_a_server_crash_mid_answer_is_reported_and_the_next_run_restarts_it():
    import os
    import signal

    chat = Chat(model="local", temperature=0, max_tokens=1000)
    chat.send("Hi")  # make sure the server runs
    victim = ensure_local_server()

    async def kill_on_first_token():
        async for event in chat.stream("Write a long story about the sea, with many chapters."):
            if event.name == "process_step" and victim.running:
                os.kill(victim.pid, signal.SIGKILL)
        return chat.last_reply

    reply = asyncio.run(kill_on_first_token())
    assert reply.error == (
        "The local model server stopped unexpectedly (killed by SIGKILL). "
        "The next run starts it again."
    )
    assert reply.text  # what streamed before the crash is kept
    after = chat.send("Say hi.")
    assert after.error is None and after.text
    assert ensure_local_server().pid != victim.pid
