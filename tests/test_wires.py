"""The Responses and Anthropic wires end to end: ``Chat(api=...)`` against the loopback server.

The server speaks each wire (``tests/wires.py``) through multi-round tool scenarios; the
requests it receives are checked against each API's documented shape, with the reasoning
items and thinking blocks sent back in the tool round. The event stream a turn yields is the
same, event for event, whatever the wire.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from support.builders import json_error, text_stream, tool_call_stream
from support.responses import Stream
from support.wires import AnthropicWriter, ResponsesWriter, anthropic_error, on_wire

from luxx_nb import Chat
from luxx_nb.config import ANTHROPIC_BASE_URL, OPENAI_BASE_URL, resolve_endpoint
from luxx_nb.errors import ConfigError
from luxx_nb.providers.wire import REPLAY_KEY

KEY = "sk-wire-test-5f0c2e9a71d4"
WIRES = ("chat", "responses", "anthropic")


def double(n: int) -> int:
    """Doubles a number.

    n: the number
    """
    return 2 * n


def scenario(wire: str) -> list:
    """Thinking, text and two parallel calls in fragments; then thinking and the answer."""
    first = tool_call_stream(
        [("double", {"n": 2}), ("double", {"n": 5})],
        fragment_size=3,
        content=None,
        ids=["call_0", "call_1"],
    )
    first.pieces[1:1] = text_stream("Let me look.", reasoning="Two lookups.").pieces[1:-3]
    second = text_stream("4 and 10.", reasoning="Both back.")
    return [on_wire(wire, first), on_wire(wire, second)]


def run(server, wire: str, **kwargs) -> tuple[Chat, list]:
    server.reset()
    server.enqueue(*scenario(wire))
    chat = Chat(
        model="test-model",
        base_url=server.base_url,
        api_key=KEY,
        api=wire,
        tools=[double],
        system="Be brief.",
        **kwargs,
    )

    async def events():
        return [e async for e in chat.stream("Double 2 and 5.")]

    return chat, asyncio.run(events())


def shape(events: list) -> list:
    out = []
    for event in events:
        data = dict(event.data)
        data.pop("message_id", None)
        out.append((event.name, data))
    return out


def test_the_event_stream_is_the_same_on_every_wire(llm_server):
    streams = {wire: shape(run(llm_server, wire)[1]) for wire in WIRES}
    assert streams["responses"] == streams["chat"] == streams["anthropic"]
    last = {}
    for name, data in streams["chat"]:
        if name == "process_step":
            last[data["step"]["id"]] = data["step"]
    assert [(s["type"], s.get("content", s.get("arguments"))) for s in last.values()] == [
        ("thinking", "Two lookups."),
        ("text", "Let me look."),
        ("tool_call", '{"n":2}'),
        ("tool_call", '{"n":5}'),
        ("tool_result", "4"),
        ("tool_result", "10"),
        ("thinking", "Both back."),
        ("text", "4 and 10."),
    ]
    assert list(last) == [f"step-{n}" for n in range(8)]
    assert streams["chat"][-1][0] == "done"


def test_responses_requests_have_the_documented_shape(llm_server):
    chat, _ = run(llm_server, "responses", max_tokens=500)
    first, second = llm_server.requests
    assert first.path == second.path == "/v1/responses"
    assert first.headers["authorization"] == f"Bearer {KEY}"
    body = first.body
    assert body["stream"] is True and body["store"] is False
    assert body["include"] == ["reasoning.encrypted_content"]
    assert body["reasoning"] == {"summary": "auto"} and body["max_output_tokens"] == 500
    assert body["instructions"] == "Be brief."
    assert body["input"] == [{"role": "user", "content": "Double 2 and 5."}]
    assert body["tools"] == [
        {
            "type": "function",
            "name": "double",
            "description": "Doubles a number.",
            "parameters": double_schema(),
            "strict": False,
        }
    ]
    sent = second.body["input"]
    assert [item.get("type", item.get("role")) for item in sent] == [
        "user",
        "reasoning",
        "message",
        "function_call",
        "function_call",
        "function_call_output",
        "function_call_output",
    ]
    reasoning = sent[1]
    assert reasoning["encrypted_content"].startswith("enc-") and reasoning["id"].startswith("rs_")
    assert reasoning["summary"] == [{"type": "summary_text", "text": "Two lookups."}]
    assert sent[2]["role"] == "assistant" and sent[2]["content"][0]["text"] == "Let me look."
    assert [(c["call_id"], c["name"], c["arguments"]) for c in sent[3:5]] == [
        ("call_0", "double", '{"n":2}'),
        ("call_1", "double", '{"n":5}'),
    ]
    assert all(c["id"].startswith("fc_") for c in sent[3:5])
    outputs = {o["call_id"]: o["output"] for o in sent[5:]}
    assert outputs == {"call_0": "4", "call_1": "10"}
    assert "luxx" not in json.dumps(second.body)
    assert chat.history[1][REPLAY_KEY]["wire"] == "responses"


def double_schema():
    from luxx_nb.tools import make_tool

    return make_tool(double).parameters


def test_anthropic_requests_have_the_documented_shape(llm_server):
    _, _ = run(llm_server, "anthropic", thinking=True, max_tokens=4000)
    first, second = llm_server.requests
    assert first.path == second.path == "/v1/messages"
    assert first.headers["x-api-key"] == KEY and "authorization" not in first.headers
    assert first.headers["anthropic-version"] == "2023-06-01"
    body = first.body
    assert body["system"] == "Be brief." and body["stream"] is True
    assert body["max_tokens"] == 4000
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2000}
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Double 2 and 5."}]}
    ]
    assert body["tools"] == [
        {"name": "double", "description": "Doubles a number.", "input_schema": double_schema()}
    ]
    _, assistant, results = second.body["messages"]
    assert assistant["role"] == "assistant"
    thinking, text, *calls = assistant["content"]
    assert thinking["type"] == "thinking" and thinking["thinking"] == "Two lookups."
    assert thinking["signature"].startswith("sig-")  # unchanged, as the API requires
    assert text == {"type": "text", "text": "Let me look."}
    assert calls == [
        {"type": "tool_use", "id": "call_0", "name": "double", "input": {"n": 2}},
        {"type": "tool_use", "id": "call_1", "name": "double", "input": {"n": 5}},
    ]
    assert results["role"] == "user"
    assert {(b["type"], b["tool_use_id"], b["content"]) for b in results["content"]} == {
        ("tool_result", "call_0", "4"),
        ("tool_result", "call_1", "10"),
    }


def test_redacted_thinking_goes_back_unchanged(llm_server):
    write = AnthropicWriter()
    redacted = {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"}
    start = b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
    block = start + b'"content_block":' + json.dumps(redacted).encode() + b"}\n\n"
    stop = b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    write.blocks = 1
    pieces = [*write.start(), block, stop, *write.call("toolu_1", "double", '{"n": 3}')]
    llm_server.enqueue(Stream([*pieces, *write.end(None)]), on_wire("anthropic", text_stream("6")))
    chat = Chat(
        model="m", base_url=llm_server.base_url, api_key=KEY, api="anthropic", tools=[double]
    )
    reply = chat.send("Double 3.")
    assert reply.text == "6" and "EmwK" not in json.dumps([s.to_dict() for s in reply.steps])
    assistant = llm_server.requests[1].body["messages"][1]
    assert assistant["content"][0] == redacted
    assert assistant["content"][1]["type"] == "tool_use"


def test_the_chat_wire_never_sends_another_wires_items(llm_server):
    chat, _ = run(llm_server, "anthropic")
    assert REPLAY_KEY in chat.history[1]
    llm_server.reset()
    llm_server.enqueue(text_stream("fine"))
    chat.endpoint = resolve_endpoint("test-model", llm_server.base_url, KEY, "chat")
    assert chat.send("Again?").text == "fine"
    assert REPLAY_KEY not in llm_server.requests[0].raw_body.decode()


@pytest.mark.parametrize("wire", ["responses", "anthropic"])
def test_a_mid_stream_error_keeps_the_partial_answer(llm_server, wire):
    write = ResponsesWriter() if wire == "responses" else AnthropicWriter()
    pieces = [*write.start(), *write.text("Partial "), *write.text("answer")]
    if wire == "responses":
        failed = {
            "type": "response.failed",
            "response": {
                "status": "failed",
                "error": {"code": "server_error", "message": "The model crashed"},
            },
        }
        expected = "The model crashed (server_error)"
    else:
        failed = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        expected = "Overloaded (overloaded_error)"
    pieces.append(f"event: {failed['type']}\ndata: {json.dumps(failed)}\n\n".encode())
    llm_server.enqueue(Stream(pieces))
    chat = Chat(model="m", base_url=llm_server.base_url, api_key=KEY, api=wire)
    reply = chat.send("Go")
    assert reply.error == expected and reply.text == "Partial answer"
    assert chat.history[-1] == {"role": "assistant", "content": "Partial answer"}


def test_anthropic_529_overloaded_is_tried_again(llm_server):
    overloaded = anthropic_error(529, "Overloaded", "overloaded_error")
    overloaded.headers["retry-after"] = "0"
    llm_server.enqueue(overloaded, on_wire("anthropic", text_stream("Back.")))
    reply = Chat(model="m", base_url=llm_server.base_url, api_key=KEY, api="anthropic").send("x")
    assert reply.text == "Back." and len(llm_server.requests) == 2


def test_an_anthropic_prompt_too_long_is_sent_again_smaller(llm_server):
    chat = Chat(model="m", base_url=llm_server.base_url, api_key=KEY, api="anthropic")
    for n in range(6):
        chat.history += [
            {"role": "user", "content": f"question {n} " + "x" * 4000},
            {"role": "assistant", "content": "answer"},
        ]
    refusal = anthropic_error(400, "prompt is too long: 7000 tokens > 4000 maximum")
    llm_server.enqueue(refusal, on_wire("anthropic", text_stream("Short now.")))
    reply = chat.send("And now?")
    assert reply.text == "Short now." and len(llm_server.requests) == 2
    sent = [len(r.body["messages"]) for r in llm_server.requests]
    assert sent[1] < sent[0] and chat.last_window.sent < chat.last_window.total


@pytest.mark.parametrize("wire", ["responses", "anthropic"])
def test_usage_and_a_400_in_each_wires_words(llm_server, wire):
    llm_server.enqueue(on_wire(wire, json_error(400, "max_tokens: must be at most 64000")))
    reply = Chat(model="m", base_url=llm_server.base_url, api_key=KEY, api=wire).send("x")
    assert reply.error == "HTTP 400 Bad Request: max_tokens: must be at most 64000"
    llm_server.enqueue(on_wire(wire, text_stream("abcdefgh", fragment_size=2)))
    reply = Chat(model="m", base_url=llm_server.base_url, api_key=KEY, api=wire).send("x")
    assert reply.usage.completion_tokens == 4 and reply.token_count == 4


def test_the_wire_is_chosen_from_the_endpoint(monkeypatch):
    assert resolve_endpoint("m", "http://127.0.0.1:1/v1", "k").api == "chat"
    assert resolve_endpoint("m", "https://api.anthropic.com", "k").api == "anthropic"
    assert resolve_endpoint("m", "https://api.anthropic.com", "k").base_url == ANTHROPIC_BASE_URL
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-only")
    alone = resolve_endpoint("claude-x")
    assert (alone.api, alone.base_url, alone.api_key) == (
        "anthropic",
        ANTHROPIC_BASE_URL,
        "sk-ant-only",
    )
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    both = resolve_endpoint("m")
    assert (both.api, both.base_url, both.api_key) == ("chat", OPENAI_BASE_URL, "sk-openai")
    chosen = resolve_endpoint("m", api="responses")
    assert (chosen.api, chosen.base_url, chosen.api_key) == (
        "responses",
        OPENAI_BASE_URL,
        "sk-openai",
    )
    assert resolve_endpoint("m", api="anthropic").api_key == "sk-ant-only"
    with pytest.raises(ConfigError, match="Unknown API 'soap'"):
        resolve_endpoint("m", api="soap")


def test_the_local_model_speaks_chat_only():
    reply = Chat(api="responses").send("x")
    assert "The local model speaks chat completions only" in reply.error


def test_the_cell_option_the_trait_and_config_show_the_wire(llm_server, monkeypatch):
    from test_magic import luxx, run_notebook

    monkeypatch.setenv("LUXX_TEST_KEY", KEY)
    llm_server.enqueue(
        on_wire("anthropic", text_stream("From the Messages wire.", reasoning="Hm.")),
        on_wire("responses", text_stream("From the Responses wire.")),
    )
    nb = run_notebook(
        [
            "%load_ext luxx_nb",
            luxx(llm_server, "First", "--api anthropic --no-tools"),
            "%config LuxxMagics.api = 'responses'\n%config LuxxMagics.model = 'test-model'",
            luxx(llm_server, "Second", "--no-tools"),
            "%luxx config",
        ]
    )
    first, second = llm_server.requests
    assert first.path == "/v1/messages" and first.headers["x-api-key"] == KEY
    assert second.path == "/v1/responses" and second.headers["authorization"] == f"Bearer {KEY}"
    assert [m["role"] for m in second.body["input"]] == ["user", "assistant", "user"]
    shown = "".join(o.get("text", "") for o in nb.cells[4].outputs)
    assert "wire: responses (OpenAI Responses API)" in shown
    saved = "".join(o.get("data", {}).get("text/html", "") for o in nb.cells[1].outputs)
    assert "luxx-snapshot" in saved and "From the Messages wire." in saved
    thinking = saved[saved.index("<details") : saved.index("</details>")]
    assert "Hm." in thinking and "<details open" not in saved  # folded, as on chat
    assert "sig-" not in saved and KEY not in saved


def test_a_whole_json_answer_on_each_wire(llm_server):
    from support.builders import json_response

    message = {
        "type": "message",
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "Short.", "signature": "sig-w"},
            {"type": "text", "text": "Calling."},
            {"type": "tool_use", "id": "toolu_w", "name": "double", "input": {"n": 4}},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 7, "output_tokens": 5},
    }
    response = {
        "object": "response",
        "status": "completed",
        "output": [
            {
                "type": "message",
                "id": "msg_w",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Calling."}],
            },
            {
                "type": "function_call",
                "id": "fc_w",
                "call_id": "call_w",
                "name": "double",
                "arguments": '{"n": 4}',
            },
        ],
        "usage": {"input_tokens": 7, "output_tokens": 5, "total_tokens": 12},
    }
    for wire, body in (("anthropic", message), ("responses", response)):
        llm_server.reset()
        llm_server.enqueue(json_response(body), on_wire(wire, text_stream("8.")))
        chat = Chat(model="m", base_url=llm_server.base_url, api_key=KEY, api=wire, tools=[double])
        reply = chat.send("Double 4.")
        assert reply.text == "Calling.\n\n8." and reply.state == "done", (wire, reply)
        calls = [(s.name, json.loads(s.arguments)) for s in reply.steps if s.type == "tool_call"]
        assert calls == [("double", {"n": 4})]
        assert [s.content for s in reply.steps if s.type == "tool_result"] == ["8"]


@pytest.mark.parametrize("wire", ["responses", "anthropic"])
def test_a_saved_transcript_resumes_with_what_the_wire_sends_back(llm_server, wire):
    from luxx_nb.transcript import dump, load

    chat, _ = run(llm_server, wire, thinking=True)
    steps = [s.to_dict() for s in chat.replies[-1].steps]
    for size in (1, 400):  # readable JSON, and packed
        saved = json.loads(json.dumps(dump(messages=chat.history * size, steps=steps)))
        assert load(saved)["messages"] == chat.history * size
    resumed = Chat(model="test-model", base_url=llm_server.base_url, api_key=KEY, api=wire)
    resumed.history.extend(load(dump(messages=chat.history, steps=steps))["messages"])
    llm_server.reset()
    llm_server.enqueue(on_wire(wire, text_stream("Resumed.")))
    assert resumed.send("More?").text == "Resumed."
    sent = json.dumps(llm_server.requests[0].body)
    kept = '"encrypted_content": "enc-' if wire == "responses" else '"signature": "sig-'
    assert kept in sent and REPLAY_KEY not in sent


@pytest.mark.parametrize("wire", ["responses", "anthropic"])
def test_blank_text_before_the_thinking_neither_shows_first_nor_goes_back(llm_server, wire):
    """Adaptive thinking may come after a text block of blank lines (Claude Opus 4.6 does it):
    the thinking shows first, and no text block of whitespace only, which Anthropic refuses,
    is sent back in the tool round."""
    write = ResponsesWriter() if wire == "responses" else AnthropicWriter()
    pieces = [*write.start(), *write.text("\n\n"), *write.thinking("Think.")]
    pieces += [*write.call("call_b", "double", '{"n": 1}'), *write.end(None)]
    llm_server.enqueue(Stream(pieces), on_wire(wire, text_stream("2.")))
    chat = Chat(model="m", base_url=llm_server.base_url, api_key=KEY, api=wire, tools=[double])
    reply = chat.send("Double 1.")
    assert [s.type for s in reply.steps] == ["thinking", "tool_call", "tool_result", "text"]
    assert reply.text == "2." and reply.thinking == "Think."
    sent = json.dumps(llm_server.requests[1].body)
    assert '"\\n\\n"' not in sent and "Think." in sent


def test_luxx_config_names_the_anthropic_key_it_reads(monkeypatch, capsys):
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    shell = InteractiveShell.instance()
    try:
        shell.run_line_magic("load_ext", "luxx_nb")
        shell.run_line_magic("luxx", "config")
    finally:
        InteractiveShell.clear_instance()
    shown = capsys.readouterr().out
    assert "wire: anthropic" in shown and "https://api.anthropic.com/v1" in shown
    assert "key: from LUXX_API_KEY / ANTHROPIC_API_KEY" in shown and KEY not in shown
