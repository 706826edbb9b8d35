"""The engine through its public doors (``Chat``, ``tool``), over real loopback HTTP."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from support.builders import hang, json_error, sse, text_stream, tool_call_stream

from luxx_nb import Chat, tool
from luxx_nb.agent import ITERATION_LIMIT_MESSAGE
from luxx_nb.config import OPENAI_BASE_URL, resolve_endpoint

KEY = "sk-test-canary-0123456789abcdef"


def make_chat(server, **kwargs):
    kwargs.setdefault("model", "test-model")
    return Chat(base_url=server.base_url, api_key=KEY, **kwargs)


async def collect(chat, prompt, **kwargs):
    return [event async for event in chat.stream(prompt, **kwargs)]


@tool
def add(a: int, b: int) -> int:
    """Add two numbers.

    a: the first
    b: the second
    """
    return a + b


@tool
def slow(label: str) -> str:
    """Sleep one second, then echo the label.

    label: what to echo
    """
    time.sleep(1)
    return label


@tool
def explode(reason: str) -> str:
    """Always fails.

    reason: why
    """
    raise ValueError(f"boom: {reason}")


def last_role(body):
    return body["messages"][-1]["role"]


def test_text_reply_steps_usage_and_request(llm_server):
    llm_server.enqueue(text_stream("Hello there, world!", fragment_size=5))
    reply = make_chat(llm_server).send("hi")
    assert reply.text == "Hello there, world!"
    assert reply.error is None and reply.message_id
    assert [s.to_dict() for s in reply.steps] == [
        {"id": "step-0", "index": 0, "type": "text", "content": "Hello there, world!"}
    ]
    assert reply.usage.completion_tokens == 4 == reply.token_count
    request = llm_server.requests[0]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}
    assert request.body["max_tokens"] == 8192
    assert request.body["messages"] == [{"role": "user", "content": "hi"}]


def test_stream_events_have_the_spec_shapes(llm_server):
    llm_server.enqueue(text_stream("abcdefgh", fragment_size=4, reasoning="hmm"))
    events = asyncio.run(collect(make_chat(llm_server), "hi"))
    assert [e.name for e in events] == ["process_step"] * 3 + ["done"]
    first, last_text = events[0], events[2]
    assert first.data == {
        "step": {"id": "step-0", "index": 0, "type": "thinking", "content": "hmm"}
    }
    assert last_text.data["step"] == {
        "id": "step-1",
        "index": 1,
        "type": "text",
        "content": "abcdefgh",
    }
    assert events[1].data["step"]["content"] == "abcd"  # each event is a snapshot of its time
    done = events[-1].data
    assert set(done) == {"message_id", "token_count", "usage"}
    assert set(done["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    text = events[0].sse()
    assert text.startswith("event: process_step\ndata: {") and text.endswith("}\n\n")
    assert json.loads(text.split("data: ", 1)[1]) == first.data


def test_non_ascii_is_kept_in_sse():
    from luxx_nb.events import ErrorEvent

    assert 'data: {"content": "héllo ✓"}' in ErrorEvent(message="héllo ✓").sse()


def test_token_count_estimated_without_usage(llm_server):
    llm_server.enqueue(text_stream("x" * 40, usage=False))
    reply = make_chat(llm_server).send("hi")
    assert reply.token_count == 10 and reply.usage is None


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_thinking_from_either_field(llm_server, field):
    llm_server.enqueue(text_stream("Answer", reasoning="Let me think", reasoning_field=field))
    reply = make_chat(llm_server).send("q")
    assert reply.thinking == "Let me think" and reply.text == "Answer"
    assert [s.type for s in reply.steps] == ["thinking", "text"]


def responder_with_tools(calls):
    """Call ``calls`` when the user spoke last; answer with the tool results otherwise."""

    def respond(body):
        if last_role(body) == "user":
            return tool_call_stream(calls)
        results = [m["content"] for m in body["messages"] if m["role"] == "tool"]
        return text_stream("Results: " + " | ".join(results))

    return respond


def test_tool_round_feeds_results_back(llm_server):
    llm_server.script(responder_with_tools([("add", {"a": 2, "b": 3})]))
    chat = make_chat(llm_server, tools=[add])
    reply = chat.send("what is 2+3?")
    assert reply.text == "Results: 5"
    kinds = [s.to_dict() for s in reply.steps]
    assert [k["type"] for k in kinds] == ["tool_call", "tool_result", "text"]
    call, result = kinds[0], kinds[1]
    assert call["name"] == "add" and json.loads(call["arguments"]) == {"a": 2, "b": 3}
    assert call["id_ref"].startswith("call_")
    assert result == {
        "id": "step-1",
        "index": 1,
        "type": "tool_result",
        "id_ref": "step-0",
        "name": "add",
        "content": "5",
        "success": True,
    }
    first, second = llm_server.requests[0].body, llm_server.requests[1].body
    assert first["tools"][0]["function"]["name"] == "add"
    assistant, tool_message = second["messages"][1], second["messages"][2]
    assert assistant["tool_calls"][0]["id"] == call["id_ref"]
    assert tool_message == {"role": "tool", "tool_call_id": call["id_ref"], "content": "5"}
    assert [m["role"] for m in chat.history] == ["user", "assistant", "tool", "assistant"]


def test_two_slow_tools_overlap(llm_server):
    llm_server.script(responder_with_tools([("slow", {"label": "a"}), ("slow", {"label": "b"})]))
    start = time.perf_counter()
    reply = make_chat(llm_server, tools=[slow]).send("go")
    elapsed = time.perf_counter() - start
    assert elapsed < 1.8, elapsed
    assert sorted(s.content for s in reply.steps if s.type == "tool_result") == ["a", "b"]


def test_failing_malformed_and_unknown_calls_become_failed_results(llm_server):
    calls = [
        ("explode", {"reason": "x"}),
        ("add", '{"a": 1, "b": '),
        ("add", {"a": "one", "b": 2}),
        ("nope", {}),
    ]
    llm_server.script(responder_with_tools(calls))
    reply = make_chat(llm_server, tools=[add, explode]).send("go")
    results = {s.id_ref: s for s in reply.steps if s.type == "tool_result"}
    assert len(results) == 4 and not any(r.success for r in results.values())
    messages = [json.loads(r.content)["error"] for r in results.values()]
    assert any("boom: x" in m for m in messages)
    assert any("not valid JSON" in m or "JSON" in m for m in messages)
    assert any("a: Input should be a valid integer" in m for m in messages)
    assert any("nope" in m for m in messages)
    assert reply.error is None and reply.text.startswith("Results:")
    assert "Traceback" not in reply.text  # the model sees messages, not tracebacks
    failed = next(r for r in results.values() if "boom" in r.content)
    assert "Traceback" in (failed.detail or "")


def test_iteration_cap_keeps_what_was_produced(llm_server):
    llm_server.script(lambda body: tool_call_stream([("add", {"a": 1, "b": 1})]))
    chat = make_chat(llm_server, tools=[add], max_iterations=3)
    reply = chat.send("loop forever")
    assert reply.error == ITERATION_LIMIT_MESSAGE
    assert len(llm_server.requests) == 3
    assert [s.type for s in reply.steps].count("tool_result") == 3
    assert chat.history[-1]["role"] == "tool"  # valid for the next request
    events = []
    llm_server.script(None)
    llm_server.enqueue(text_stream("fine"))
    assert chat.send("again").text == "fine"
    assert not events


def test_error_event_mid_stream_keeps_text(llm_server):
    llm_server.enqueue(
        sse(
            [
                {"choices": [{"index": 0, "delta": {"content": "Partial "}}]},
                {"choices": [{"index": 0, "delta": {"content": "answer"}}]},
                'event: error\ndata: {"error": {"message": "Upstream overloaded"}}\n\n',
            ],
            done=False,
        )
    )
    chat = make_chat(llm_server)
    events = asyncio.run(collect(chat, "hi"))
    assert events[-1].name == "error" and events[-1].data == {"content": "Upstream overloaded"}
    reply = chat.last_reply
    assert reply.text == "Partial answer" and reply.error == "Upstream overloaded"
    assert chat.history[-1] == {"role": "assistant", "content": "Partial answer"}


def test_stream_ending_early_is_an_error_that_keeps_text(llm_server):
    llm_server.enqueue(sse([{"choices": [{"index": 0, "delta": {"content": "Half"}}]}], done=False))
    chat = make_chat(llm_server)
    reply = chat.send("hi")
    assert reply.text == "Half" and "ended before" in reply.error
    assert chat.history[-1]["content"] == "Half"


def test_401_quotes_the_provider_and_never_the_key(llm_server):
    llm_server.enqueue(json_error(401, "Incorrect API key provided: sk-tes****cdef"))
    reply = make_chat(llm_server).send("hi")
    assert reply.error == "HTTP 401 Unauthorized: Incorrect API key provided: sk-tes****cdef"
    assert KEY not in reply.error and "Traceback" not in reply.error
    assert len(llm_server.requests) == 1  # never retried


def test_429_is_retried_honouring_retry_after(llm_server):
    llm_server.enqueue(
        json_error(429, "Slow down", headers={"Retry-After": "0.3"}), text_stream("ok")
    )
    chat = make_chat(llm_server)
    start = time.perf_counter()
    events = asyncio.run(collect(chat, "hi", include_status=True))
    assert chat.last_reply.text == "ok"
    assert time.perf_counter() - start >= 0.3
    retry = [e for e in events if e.name == "status" and e.state == "retrying"]
    assert retry and "Slow down" in retry[0].detail
    assert len(llm_server.requests) == 2


def test_5xx_gives_up_after_three_tries(llm_server):
    llm_server.enqueue(*[json_error(503, "busy", headers={"Retry-After": "0"})] * 3)
    reply = make_chat(llm_server).send("hi")
    assert reply.error == "HTTP 503 Service Unavailable: busy"
    assert len(llm_server.requests) == 3


def test_connection_refused_is_a_clear_error():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    reply = Chat(model="m", base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY).send("hi")
    assert reply.error.startswith(f"Could not connect to http://127.0.0.1:{port}/v1")
    assert "Traceback" not in reply.error


def test_read_timeout_is_an_error(llm_server):
    llm_server.enqueue(hang(3))
    reply = make_chat(llm_server, timeout=0.5).send("hi")
    assert "sent nothing for 0.5 s" in reply.error


def test_http_error_json_body_instead_of_stream(llm_server):
    body = {"error": {"code": 400, "message": "the request exceeds the available context size"}}
    llm_server.enqueue(json_error(400, "", body=body))
    chat = make_chat(llm_server)
    reply = chat.send("hi")
    # Words only, no numbers, for a prompt alone: plain words with an estimate, the server's own
    # message kept as the error's detail, and one request, not a retry of the same window.
    assert reply.error.startswith("The prompt is too long for this model: about ")
    assert "tokens, and the server refused it without saying how many fit." in reply.error
    assert "--max-tokens" in reply.error and len(llm_server.requests) == 1
    assert "the request exceeds the available context size" in (reply.error_detail or "")


def test_history_continues_and_reset(llm_server):
    llm_server.enqueue(text_stream("one"), text_stream("two"))
    chat = make_chat(llm_server, system="Be brief.")
    chat.send("first")
    chat.send("second")
    sent = llm_server.requests[1].body["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[2]["content"] == "one"
    assert len(chat.history) == 4
    chat.reset()
    assert chat.history == [] and chat.replies == []


def test_send_works_inside_a_running_loop(llm_server):
    llm_server.enqueue(text_stream("inside"))
    chat = make_chat(llm_server)

    async def cell():
        return chat.send("hi")  # as a notebook cell does, with the kernel's loop running

    assert asyncio.run(cell()).text == "inside"


def test_asend(llm_server):
    llm_server.enqueue(text_stream("async"))
    assert asyncio.run(make_chat(llm_server).asend("hi")).text == "async"


def test_thinking_is_sent_back_in_a_tool_round(llm_server):
    def respond(body):
        if last_role(body) == "user":
            return sse(
                [
                    {"choices": [{"index": 0, "delta": {"reasoning_content": "need add"}}]},
                    {
                        "choices": [
                            {
                                "index": 0,
                                "delta": {
                                    "tool_calls": [
                                        {
                                            "index": 0,
                                            "id": "c1",
                                            "function": {
                                                "name": "add",
                                                "arguments": '{"a":1,"b":2}',
                                            },
                                        }
                                    ]
                                },
                                "finish_reason": "tool_calls",
                            }
                        ]
                    },
                ]
            )
        return text_stream("3")

    llm_server.script(respond)
    make_chat(llm_server, tools=[add], thinking=True).send("1+2")
    first, second = llm_server.requests[0].body, llm_server.requests[1].body
    assert first["thinking"] == {"type": "enabled"}
    assert second["messages"][1]["reasoning_content"] == "need add"


def test_repr_never_shows_the_key(llm_server):
    chat = make_chat(llm_server)
    assert KEY not in repr(chat) and KEY not in str(chat)
    assert KEY not in repr(chat.endpoint)


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    assert resolve_endpoint().base_url == OPENAI_BASE_URL
    monkeypatch.setenv("LUXX_BASE_URL", "http://luxx/v1")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://openai/v1")
    monkeypatch.setenv("LUXX_MODEL", "m1")
    monkeypatch.setenv("LUXX_API_KEY", "sk-luxx")
    endpoint = resolve_endpoint()
    assert (endpoint.base_url, endpoint.model, endpoint.api_key) == (
        "http://luxx/v1",
        "m1",
        "sk-luxx",
    )
    assert resolve_endpoint("m2", "http://x/v1", "k").base_url == "http://x/v1"


def test_no_endpoint_means_the_local_model():
    assert resolve_endpoint().local
    assert resolve_endpoint("local").local
    assert resolve_endpoint("/models/x.gguf").local_path == "/models/x.gguf"


def test_remote_without_model_is_a_clear_error(llm_server):
    reply = Chat(base_url=llm_server.base_url, api_key=KEY).send("hi")
    assert reply.error.startswith("No model is set") and not llm_server.requests


def test_cancel_during_tools_leaves_a_valid_history(llm_server):
    llm_server.script(responder_with_tools([("slow", {"label": "a"})]))
    chat = make_chat(llm_server, tools=[slow])

    async def run():
        task = asyncio.ensure_future(chat.asend("go"))
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    reply = chat.last_reply
    assert reply.interrupted and reply.state == "interrupted"
    assert [m["role"] for m in chat.history] == ["user", "assistant", "tool"]
    assert "interrupted" in json.loads(chat.history[-1]["content"])["error"]
    llm_server.script(None)
    llm_server.enqueue(text_stream("after"))
    assert chat.send("again").text == "after"
    sent = llm_server.requests[-1].body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "user"]


def test_cancel_mid_stream_keeps_partial_text_and_disconnects(llm_server):
    llm_server.enqueue(text_stream("word " * 100, fragment_size=5, delay=0.05))
    chat = make_chat(llm_server)

    async def run():
        task = asyncio.ensure_future(chat.asend("go"))
        await asyncio.sleep(0.6)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    assert llm_server.wait_for_disconnect(timeout=2)
    partial = chat.history[-1]
    assert partial["role"] == "assistant" and partial["content"].startswith("word word")
    assert chat.last_reply.text == partial["content"]
