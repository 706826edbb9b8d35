"""Steps are numbered from ``step-0`` over the whole turn, as SPEC.md's "Steps" says, in every
form a turn takes: ``Chat.send``, ``chat.stream()`` read back from its SSE text, and the
transcript a ``%%luxx`` cell saves in its output."""

from __future__ import annotations

import asyncio
import json

import nbformat
import pytest
from nbclient import NotebookClient
from support.builders import sse, text_stream

from luxx_nb import Chat, tool
from luxx_nb.transcript import KEY as TRANSCRIPT_KEY
from luxx_nb.transcript import dump, load, read_conversations

API_KEY = "sk-test-canary-numbering-0123456789"

EXPECTED = [
    ("step-0", 0, "thinking"),
    ("step-1", 1, "text"),
    ("step-2", 2, "tool_call"),
    ("step-3", 3, "tool_call"),
    ("step-4", 4, "tool_result"),
    ("step-5", 5, "tool_result"),
    ("step-6", 6, "text"),
]


@tool
def double(n: int) -> int:
    """Twice a number.

    n: the number
    """
    return 2 * n


def _chunk(delta):
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]}


def _first_round():
    """Thinking, text and two tool calls in one answer."""
    chunks = [_chunk({"reasoning_content": "Two lookups."}), _chunk({"content": "Let me look."})]
    for index, n in enumerate((2, 5)):
        function = {"name": "double", "arguments": json.dumps({"n": n})}
        call = {"index": index, "id": f"call_{index}", "type": "function", "function": function}
        chunks.append(_chunk({"tool_calls": [call]}))
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    return sse(chunks)


def _two_rounds(server):
    server.enqueue(_first_round(), text_stream("4 and 10."))


def _check(steps):
    """``steps`` as dicts: the SPEC's numbering, and each result naming its call's step."""
    assert [(s["id"], s["index"], s["type"]) for s in steps] == EXPECTED
    calls = {s["id"]: s["id_ref"] for s in steps if s["type"] == "tool_call"}
    results = [s for s in steps if s["type"] == "tool_result"]
    assert [r["id_ref"] for r in results] == ["step-2", "step-3"]
    assert [calls[r["id_ref"]] for r in results] == ["call_0", "call_1"]
    assert [r["content"] for r in results] == ["4", "10"]


def _chat(server):
    return Chat(model="m", base_url=server.base_url, api_key=API_KEY, tools=[double])


def test_send_numbers_a_two_round_turn_from_step_0(llm_server):
    _two_rounds(llm_server)
    reply = _chat(llm_server).send("Double 2 and 5.")
    assert reply.error is None and reply.text.endswith("4 and 10.")
    _check([step.to_dict() for step in reply.steps])


def test_text_only_turn_starts_at_step_0_and_the_next_turn_starts_again(llm_server):
    llm_server.enqueue(text_stream("One."), text_stream("Two.", reasoning="hm"))
    chat = _chat(llm_server)
    assert [s.id for s in chat.send("a").steps] == ["step-0"]
    assert [(s.id, s.type) for s in chat.send("b").steps] == [
        ("step-0", "thinking"),
        ("step-1", "text"),
    ]


def test_stream_sse_text_parses_back_to_the_same_numbering(llm_server):
    _two_rounds(llm_server)

    async def collect():
        return [event.sse() async for event in _chat(llm_server).stream("Double 2 and 5.")]

    texts = asyncio.run(collect())
    latest: dict[str, dict] = {}  # a step grows over several events: keep the last of each
    for text in texts:
        name, data = text.split("\n", 2)[:2]
        assert name.startswith("event: ") and data.startswith("data: ")
        if name == "event: process_step":
            step = json.loads(data[len("data: ") :])["step"]
            latest[step["id"]] = step
    first = json.loads(texts[0].split("\n")[1][len("data: ") :])["step"]
    assert first["id"] == "step-0" and first["index"] == 0
    _check(list(latest.values()))
    assert texts[-1].startswith("event: done\n")


def test_a_saved_luxx_output_numbers_its_steps_from_0(llm_server, monkeypatch):
    monkeypatch.setenv("LUXX_TEST_KEY", API_KEY)
    _two_rounds(llm_server)
    options = f"-m m --base-url {llm_server.base_url} --api-key-env LUXX_TEST_KEY"
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(source)
        for source in (
            "%load_ext luxx_nb",
            "from luxx_nb import tool\n\n"
            "@tool\ndef double(n: int) -> int:\n    '''Twice a number.\n\n    n: the number\n"
            "    '''\n    return 2 * n",
            f"%%luxx {options} --tools double\nDouble 2 and 5.",
        )
    ]
    NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    saved = [
        o.metadata[TRANSCRIPT_KEY]
        for o in nb.cells[2].outputs
        if TRANSCRIPT_KEY in o.get("metadata", {})
    ]
    assert len(saved) == 1, nb.cells[2].outputs
    _check(load(saved[0])["steps"])


@pytest.mark.parametrize("answer", ["Done.", "Done " * 5_000], ids=["plain", "packed"])
def test_a_transcript_numbered_from_1_still_resumes(tmp_path, answer):
    """Runs saved before the numbering was fixed started at ``step-1``; they load as they are."""
    steps = [
        {"id": "step-1", "index": 1, "type": "tool_call", "id_ref": "call_1", "name": "t"},
        {"id": "step-2", "index": 2, "type": "tool_result", "id_ref": "step-1", "name": "t"},
        {"id": "step-3", "index": 3, "type": "text", "content": answer},
    ]
    messages = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1"}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "ok"},
        {"role": "assistant", "content": answer},
    ]
    saved = dump(messages=messages, steps=steps, chat="default")
    assert ("packed" in saved) is (len(answer) > 100)
    assert load(saved)["steps"] == steps
    output = {"output_type": "display_data", "data": {}, "metadata": {TRANSCRIPT_KEY: saved}}
    cell = {"cell_type": "code", "source": "", "metadata": {}, "outputs": [output]}
    notebook = tmp_path / "old.ipynb"
    notebook.write_text(json.dumps({"cells": [cell], "nbformat": 4, "nbformat_minor": 5}))
    assert read_conversations(notebook) == {"default": messages}
