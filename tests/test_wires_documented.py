"""The Responses and Anthropic wires against streams written by hand from each API's reference.

``test_wires.py`` builds its streams with ``support/wires.py``, the same hands that wrote the
decoders; here every event is spelled out as OpenAI's and Anthropic's streaming references show
it, so a shape both sides got wrong would fail. Through ``Chat`` alone, as a new user would,
whole and in 7-byte and 1-byte reads: thinking that grows live, then text; two parallel tool
calls whose argument fragments interleave, and the round after them (what each API wants sent
back); usage; a mid-stream error that keeps the partial answer.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from support.responses import Stream

from luxx_nb import Chat

KEY = "sk-documented-wire-2b7e41c9"
ENCRYPTED = "gAAAAABdocumented-encrypted-reasoning"
SIGNATURE = "EqQBCgIYAhIMdocumented-signature"
CITIES = ("Paris", "Lyon")


def weather(city: str) -> str:
    """The weather in a city.

    city: the city's name
    """
    return f"sunny in {city}"


def ev(kind: str, **data) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()


def _response(rid: str, status: str = "in_progress", **more) -> dict:
    return {"id": rid, "object": "response", "status": status, "output": [], **more}


def _summary(delta: str, part: int) -> bytes:
    where = {"item_id": "rs_1", "output_index": 0, "summary_index": part}
    return ev("response.reasoning_summary_text.delta", **where, delta=delta)


def _arguments(index: int, delta: str) -> bytes:
    where = {"item_id": f"fc_{index}", "output_index": index}
    return ev("response.function_call_arguments.delta", **where, delta=delta)


def _call(index: int, city: str, status: str) -> dict:
    arguments = json.dumps({"city": city}) if status == "completed" else ""
    call = {"id": f"fc_{index}", "type": "function_call", "status": status}
    return {**call, "call_id": f"call_{city}", "name": "weather", "arguments": arguments}


def responses_calls() -> list[bytes]:
    """A reasoning summary in two parts, then two function calls, fragments interleaved."""
    part = {"type": "summary_text", "text": ""}
    summary = [
        {"type": "summary_text", "text": "**Plan**\n\nLook up both."},
        {"type": "summary_text", "text": "**Then**\n\nAnswer."},
    ]
    reasoning = {"id": "rs_1", "type": "reasoning", "summary": summary}
    usage = {
        "input_tokens": 50,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 30,
        "output_tokens_details": {"reasoning_tokens": 20},
        "total_tokens": 80,
    }
    where = {"item_id": "rs_1", "output_index": 0}
    return [
        ev("response.created", sequence_number=0, response=_response("resp_1")),
        ev("response.in_progress", sequence_number=1, response=_response("resp_1")),
        ev("response.output_item.added", output_index=0, item={**reasoning, "summary": []}),
        ev("response.reasoning_summary_part.added", **where, summary_index=0, part=part),
        _summary("**Plan**\n\nLook ", 0),
        _summary("up both.", 0),
        ev("response.reasoning_summary_part.done", **where, summary_index=0, part=summary[0]),
        ev("response.reasoning_summary_part.added", **where, summary_index=1, part=part),
        _summary("**Then**\n\nAnswer.", 1),
        ev("response.reasoning_summary_part.done", **where, summary_index=1, part=summary[1]),
        ev(
            "response.output_item.done",
            output_index=0,
            item={**reasoning, "encrypted_content": ENCRYPTED},
        ),
        ev("response.output_item.added", output_index=1, item=_call(1, "Paris", "in_progress")),
        ev("response.output_item.added", output_index=2, item=_call(2, "Lyon", "in_progress")),
        _arguments(1, '{"ci'),
        _arguments(2, '{"city"'),
        _arguments(1, 'ty": "Par'),
        _arguments(2, ': "Lyon"}'),
        _arguments(1, 'is"}'),
        ev("response.output_item.done", output_index=1, item=_call(1, "Paris", "completed")),
        ev("response.output_item.done", output_index=2, item=_call(2, "Lyon", "completed")),
        ev("response.completed", response=_response("resp_1", "completed", usage=usage)),
    ]


def responses_answer() -> list[bytes]:
    where = {"item_id": "msg_2", "output_index": 0, "content_index": 0}
    message = {"id": "msg_2", "type": "message", "role": "assistant", "content": []}
    usage = {"input_tokens": 90, "output_tokens": 6, "total_tokens": 96}
    return [
        ev("response.created", response=_response("resp_2")),
        ev("response.output_item.added", output_index=0, item=message),
        ev("response.content_part.added", **where, part={"type": "output_text", "text": ""}),
        ev("response.output_text.delta", **where, delta="Both "),
        ev("response.output_text.delta", **where, delta="sunny ☀️."),
        ev("response.output_text.done", **where, text="Both sunny ☀️."),
        ev("response.completed", response=_response("resp_2", "completed", usage=usage)),
    ]


def _message(mid: str, prompt: int) -> bytes:
    usage = {"input_tokens": prompt, "output_tokens": 1}
    message = {"id": mid, "type": "message", "role": "assistant", "model": "claude-x"}
    message.update(content=[], stop_reason=None, stop_sequence=None, usage=usage)
    return ev("message_start", message=message)


def _delta(index: int, **delta) -> bytes:
    return ev("content_block_delta", index=index, delta=delta)


def _tool_use(index: int, city: str) -> list[bytes]:
    block = {"type": "tool_use", "id": f"toolu_{city}", "name": "weather", "input": {}}
    return [ev("content_block_start", index=index, content_block=block)]


def _json(index: int, fragment: str) -> bytes:
    return _delta(index, type="input_json_delta", partial_json=fragment)


def anthropic_calls() -> list[bytes]:
    """Thinking with its signature, a line of text, then two tool_use blocks in fragments."""
    thinking = {"type": "thinking", "thinking": "", "signature": ""}
    return [
        _message("msg_1", 50),
        ev("ping"),
        ev("content_block_start", index=0, content_block=thinking),
        _delta(0, type="thinking_delta", thinking="Two cities, "),
        _delta(0, type="thinking_delta", thinking="two calls."),
        _delta(0, type="signature_delta", signature=SIGNATURE),
        ev("content_block_stop", index=0),
        ev("content_block_start", index=1, content_block={"type": "text", "text": ""}),
        _delta(1, type="text_delta", text="Checking."),
        ev("content_block_stop", index=1),
        *_tool_use(2, "Paris"),
        _json(2, ""),
        _json(2, '{"city": "P'),
        _json(2, 'aris"}'),
        ev("content_block_stop", index=2),
        *_tool_use(3, "Lyon"),
        _json(3, '{"ci'),
        ev("ping"),
        _json(3, 'ty": "Lyon"}'),
        ev("content_block_stop", index=3),
        ev("message_delta", delta={"stop_reason": "tool_use"}, usage={"output_tokens": 30}),
        ev("message_stop"),
    ]


def anthropic_answer() -> list[bytes]:
    return [
        _message("msg_2", 90),
        ev("content_block_start", index=0, content_block={"type": "text", "text": ""}),
        _delta(0, type="text_delta", text="Both "),
        _delta(0, type="text_delta", text="sunny ☀️."),
        ev("content_block_stop", index=0),
        ev("message_delta", delta={"stop_reason": "end_turn"}, usage={"output_tokens": 6}),
        ev("message_stop"),
    ]


STREAMS = {
    "responses": (responses_calls, responses_answer),
    "anthropic": (anthropic_calls, anthropic_answer),
}


def in_reads(pieces: list[bytes], size: int | None) -> Stream:
    if size is None:
        return Stream(pieces)
    data = b"".join(pieces)
    return Stream([data[i : i + size] for i in range(0, len(data), size)])


def check_round_after(wire: str, body: dict) -> None:
    """The second request sends back what the first answer must, in the API's own shapes."""
    if wire == "responses":
        user, reasoning, *rest = body["input"]
        assert user == {"role": "user", "content": "Weather in Paris and Lyon?"}
        assert reasoning["type"] == "reasoning" and reasoning["id"] == "rs_1"
        assert reasoning["encrypted_content"] == ENCRYPTED and len(reasoning["summary"]) == 2
        assert [(i["type"], i["call_id"]) for i in rest] == [
            ("function_call", "call_Paris"),
            ("function_call", "call_Lyon"),
            ("function_call_output", "call_Paris"),
            ("function_call_output", "call_Lyon"),
        ]
        assert [json.loads(i["arguments"]) for i in rest[:2]] == [{"city": c} for c in CITIES]
        assert [i["output"] for i in rest[2:]] == [f"sunny in {c}" for c in CITIES]
        assert body["store"] is False and body["include"] == ["reasoning.encrypted_content"]
        return
    user, assistant, results = body["messages"]
    assert user["role"] == "user" and assistant["role"] == "assistant"
    assert assistant["content"] == [
        {"type": "thinking", "thinking": "Two cities, two calls.", "signature": SIGNATURE},
        {"type": "text", "text": "Checking."},
        *(
            {"type": "tool_use", "id": f"toolu_{c}", "name": "weather", "input": {"city": c}}
            for c in CITIES
        ),
    ]
    assert results == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": f"toolu_{c}", "content": f"sunny in {c}"}
            for c in CITIES
        ],
    }


@pytest.mark.parametrize("size", [None, 7, 1], ids=["whole", "7-byte", "1-byte"])
@pytest.mark.parametrize("wire", ["responses", "anthropic"])
def test_thinking_parallel_calls_and_the_round_after(llm_server, wire, size):
    calls, answer = STREAMS[wire]
    llm_server.enqueue(in_reads(calls(), size), in_reads(answer(), size))
    chat = Chat(
        model="m",
        base_url=llm_server.base_url,
        api_key=KEY,
        api=wire,
        tools=[weather],
        variable_tools=False,
    )

    async def events():
        return [e async for e in chat.stream("Weather in Paris and Lyon?")]

    stream = asyncio.run(events())
    reply = chat.replies[-1]
    thinking = "**Plan**\n\nLook up both.\n\n**Then**\n\nAnswer."
    thinking = thinking if wire == "responses" else "Two cities, two calls."
    said = [] if wire == "responses" else [("text", "Checking.")]
    results = [("tool_result", f"sunny in {c}") for c in CITIES]
    assert [(s.type, s.content) for s in reply.steps if s.type != "tool_call"] == [
        ("thinking", thinking),
        *said,
        *results,
        ("text", "Both sunny ☀️."),
    ]
    calls_seen = [(s.name, json.loads(s.arguments)) for s in reply.steps if s.type == "tool_call"]
    assert calls_seen == [("weather", {"city": c}) for c in CITIES]
    assert [s.index for s in reply.steps] == list(range(len(reply.steps)))
    assert reply.state == "done" and reply.text.endswith("Both sunny ☀️.")
    usage = reply.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (90, 6, 96)
    grew = [
        e.data["step"]["content"] for e in stream if e.data.get("step", {}).get("id") == "step-0"
    ]
    assert len(grew) >= 2 and grew[-1] == thinking  # the thinking shows as it arrives
    assert stream[-1].name == "done" and stream[-1].data["usage"]["completion_tokens"] == 6
    shown = json.dumps([e.data for e in stream], ensure_ascii=False)
    assert ENCRYPTED not in shown and SIGNATURE not in shown and KEY not in shown
    first, second = llm_server.requests
    assert (
        first.path
        == second.path
        == {"responses": "/v1/responses", "anthropic": "/v1/messages"}[wire]
    )
    check_round_after(wire, second.body)


MID_STREAM = {
    "responses": (
        [
            ev("response.created", response=_response("resp_3")),
            ev("response.output_text.delta", item_id="m", output_index=0, delta="Half an ans"),
            ev("error", code="server_error", message="The server had an error.", param=None),
        ],
        "The server had an error. (server_error)",
    ),
    "anthropic": (
        [
            _message("msg_3", 5),
            ev("content_block_start", index=0, content_block={"type": "text", "text": ""}),
            _delta(0, type="text_delta", text="Half an ans"),
            ev("error", error={"type": "overloaded_error", "message": "Overloaded"}),
        ],
        "Overloaded (overloaded_error)",
    ),
}


@pytest.mark.parametrize("size", [None, 7, 1], ids=["whole", "7-byte", "1-byte"])
@pytest.mark.parametrize("wire", ["responses", "anthropic"])
def test_a_mid_stream_error_in_the_apis_own_words(llm_server, wire, size):
    pieces, words = MID_STREAM[wire]
    llm_server.enqueue(in_reads(pieces, size))
    chat = Chat(model="m", base_url=llm_server.base_url, api_key=KEY, api=wire)
    reply = chat.send("Go")
    assert (reply.state, reply.text, reply.error) == ("error", "Half an ans", words)
    assert chat.history[-1] == {"role": "assistant", "content": "Half an ans"}
    assert len(llm_server.requests) == 1  # an answer had begun: not sent again
