"""Tests of the test server itself, with plain httpx: if these fail, every other test lies."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import httpx_sse
import pytest
from support.builders import (
    chunks_file,
    drop_after,
    hang,
    json_error,
    replay,
    replay_capture,
    sse,
    text_stream,
    tool_call_stream,
)
from support.responses import FIXTURES_DIR
from support.server import LLMServer, ServerProcess

CHAT = {"model": "test-model", "stream": True, "messages": [{"role": "user", "content": "hi"}]}

CORPUS_FILES = [
    "recorded/openrouter_grok4_processing_comments.sse",
    "llamacpp/llamacpp_smollm2_ctx_full_midstream.sse",
    "recorded/groq_gptoss_reasoning_then_event_error.sse",
    "recorded/mistral_magistral_thinking_content_array.sse",
    "recorded/huggingface_together_r1_think_in_content.sse",
    "llamacpp/llamacpppython_smollm2_tool_auto.sse",  # 200 with an empty body
]

SSE_FIXTURES = sorted(p.name for p in FIXTURES_DIR.glob("*.sse"))
GOOD_SSE_FIXTURES = [name for name in SSE_FIXTURES if not name.startswith("broken_")]


def post_raw(url: str, *, body: dict[str, Any] | None = None) -> tuple[httpx.Response, bytes]:
    """POST a chat request and return the response and its raw body bytes."""
    with httpx.Client(timeout=10) as client, client.stream("POST", url, json=body or CHAT) as r:
        return r, b"".join(r.iter_raw())


def sse_payloads(url: str) -> list[httpx_sse.ServerSentEvent]:
    """Every SSE event of one chat response, decoded by httpx_sse as a real client would."""
    with (
        httpx.Client(timeout=10) as client,
        httpx_sse.connect_sse(client, "POST", url, json=CHAT) as source,
    ):
        return list(source.iter_sse())


def chat_url(server: LLMServer | ServerProcess) -> str:
    return f"{server.base_url}/chat/completions"


# -- byte-for-byte replay -----------------------------------------------------------------


@pytest.mark.parametrize("name", CORPUS_FILES)
@pytest.mark.parametrize("chunk_size", [None, 97])
def test_replay_corpus_byte_for_byte(
    llm_server: LLMServer, corpus_dir: Path, name: str, chunk_size: int | None
) -> None:
    expected = (corpus_dir / name).read_bytes()
    llm_server.enqueue(replay(corpus_dir / name, chunk_size=chunk_size))
    response, body = post_raw(chat_url(llm_server))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers["transfer-encoding"] == "chunked"
    assert body == expected


def test_replay_corpus_async_client(llm_server: LLMServer, corpus_dir: Path) -> None:
    path = corpus_dir / "recorded/openrouter_grok4_processing_comments.sse"
    llm_server.enqueue(replay(path, chunk_size=512))

    async def fetch() -> bytes:
        async with (
            httpx.AsyncClient(timeout=10) as client,
            client.stream("POST", chat_url(llm_server), json=CHAT) as r,
        ):
            return b"".join([piece async for piece in r.aiter_raw()])

    assert asyncio.run(fetch()) == path.read_bytes()


def test_replay_connection_close_framing(llm_server: LLMServer, fixtures_dir: Path) -> None:
    path = fixtures_dir / "crlf.sse"
    llm_server.enqueue(replay(path, framing="close"))
    response, body = post_raw(chat_url(llm_server))
    assert "content-length" not in response.headers
    assert "transfer-encoding" not in response.headers
    assert body == path.read_bytes()


def test_replay_capture_uses_recorded_status(llm_server: LLMServer, corpus_dir: Path) -> None:
    path = corpus_dir / "llamacpp/llamacpp_smollm2_error_ctx_exceeded.sse"
    llm_server.enqueue(replay_capture(path))
    response, body = post_raw(chat_url(llm_server))
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert body == path.read_bytes()
    assert json.loads(body)["error"]["type"] == "exceed_context_size_error"


def test_chunks_file_framing_corpus(llm_server: LLMServer, corpus_dir: Path) -> None:
    path = corpus_dir / "recorded/groq_llama33_single_chunk_tool_call.chunks.txt"
    lines = path.read_bytes().splitlines()
    llm_server.enqueue(chunks_file(path))
    _, body = post_raw(chat_url(llm_server))
    assert body == b"".join(b"data: " + line + b"\n\n" for line in lines) + b"data: [DONE]\n\n"


def test_chunks_file_framing_fixture(llm_server: LLMServer, fixtures_dir: Path) -> None:
    path = fixtures_dir / "tool_call_single_chunk.chunks.txt"
    llm_server.enqueue(chunks_file(path))
    events = sse_payloads(chat_url(llm_server))
    assert [e.data for e in events] == [*path.read_text().splitlines(), "[DONE]"]


# -- timing -------------------------------------------------------------------------------


def test_chunked_delivery_arrives_in_pieces(llm_server: LLMServer, fixtures_dir: Path) -> None:
    path = fixtures_dir / "text_basic.sse"
    size, delay = 200, 0.05
    pieces = -(-path.stat().st_size // size)
    llm_server.enqueue(replay(path, chunk_size=size, delay=delay))
    arrivals: list[tuple[float, bytes]] = []
    with (
        httpx.Client(timeout=10) as client,
        client.stream("POST", chat_url(llm_server), json=CHAT) as r,
    ):
        for piece in r.iter_raw():
            arrivals.append((time.monotonic(), piece))
    assert b"".join(p for _, p in arrivals) == path.read_bytes()
    assert len(arrivals) >= 2
    assert arrivals[-1][0] - arrivals[0][0] >= (pieces - 1) * delay * 0.8


def test_sse_delay_paces_events(llm_server: LLMServer) -> None:
    llm_server.enqueue(text_stream("abcdefgh", fragment_size=4, delay=0.1, usage=False))
    times: list[float] = []
    with (
        httpx.Client(timeout=10) as client,
        httpx_sse.connect_sse(client, "POST", chat_url(llm_server), json=CHAT) as source,
    ):
        for _ in source.iter_sse():
            times.append(time.monotonic())
    assert len(times) == 5  # role, 2 fragments, finish, [DONE]
    assert times[-1] - times[0] >= 0.35


# -- errors and failures ------------------------------------------------------------------


def test_json_error(llm_server: LLMServer) -> None:
    llm_server.enqueue(
        json_error(429, "Rate limit reached", headers={"Retry-After": "3"}, code="rate_limit")
    )
    response, body = post_raw(chat_url(llm_server))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.headers["content-type"] == "application/json"
    assert json.loads(body) == {
        "error": {"message": "Rate limit reached", "type": "rate_limit_error", "code": "rate_limit"}
    }


def test_json_error_custom_body(llm_server: LLMServer) -> None:
    llm_server.enqueue(json_error(503, "", body="upstream unavailable"))
    response, body = post_raw(chat_url(llm_server))
    assert (response.status_code, body) == (503, b"upstream unavailable")


def test_empty_queue_answers_500(llm_server: LLMServer) -> None:
    response, body = post_raw(chat_url(llm_server))
    assert response.status_code == 500
    error = json.loads(body)["error"]
    assert "no response was scripted" in error["message"]
    assert error["code"] == "no_scripted_response"


def test_drop_after_closes_mid_body(llm_server: LLMServer, fixtures_dir: Path) -> None:
    data = (fixtures_dir / "text_basic.sse").read_bytes()
    llm_server.enqueue(drop_after(data, 300))
    received = bytearray()
    with (
        httpx.Client(timeout=10) as client,
        pytest.raises(httpx.RemoteProtocolError),
        client.stream("POST", chat_url(llm_server), json=CHAT) as r,
    ):
        for piece in r.iter_raw():
            received += piece
    assert bytes(received) == data[:300]
    assert llm_server.disconnects == 0  # the server hung up, not the client


def test_hang_trips_read_timeout_and_is_seen_as_disconnect(llm_server: LLMServer) -> None:
    llm_server.enqueue(hang(30))
    timeout = httpx.Timeout(10, read=0.3)
    with (
        httpx.Client(timeout=timeout) as client,
        pytest.raises(httpx.ReadTimeout),
        client.stream("POST", chat_url(llm_server), json=CHAT) as r,
    ):
        assert r.status_code == 200
        for _ in r.iter_raw():
            pass
    assert llm_server.wait_for_disconnect(1.0)


def test_hang_before_headers(llm_server: LLMServer) -> None:
    llm_server.enqueue(hang(30, send_headers=False))
    with (
        httpx.Client(timeout=httpx.Timeout(10, read=0.3)) as client,
        pytest.raises(httpx.ReadTimeout),
    ):
        client.post(chat_url(llm_server), json=CHAT)


# -- disconnects --------------------------------------------------------------------------


def test_client_closing_mid_stream_is_a_disconnect_sync(llm_server: LLMServer) -> None:
    llm_server.enqueue(text_stream("x" * 200, fragment_size=2, delay=0.2))
    with (
        httpx.Client(timeout=10) as client,
        client.stream("POST", chat_url(llm_server), json=CHAT) as r,
    ):
        next(r.iter_raw())
    closed = time.monotonic()
    assert llm_server.wait_for_disconnect(1.0)
    assert time.monotonic() - closed < 1.0
    [request] = llm_server.requests
    assert request.disconnected and not request.finished


def test_client_closing_mid_stream_is_a_disconnect_async(llm_server: LLMServer) -> None:
    llm_server.enqueue(text_stream("y" * 200, fragment_size=2, delay=0.2))

    async def interrupt() -> None:
        async with (
            httpx.AsyncClient(timeout=10) as client,
            client.stream("POST", chat_url(llm_server), json=CHAT) as r,
        ):
            async for _ in r.aiter_raw():
                break

    asyncio.run(interrupt())
    assert llm_server.wait_for_disconnect(1.0)
    assert llm_server.disconnects == 1


def test_cancelled_task_is_a_disconnect(llm_server: LLMServer) -> None:
    """An interrupted notebook cell cancels the streaming task; the server must notice."""
    llm_server.enqueue(text_stream("z" * 200, fragment_size=2, delay=0.2))

    async def consume(client: httpx.AsyncClient, first: asyncio.Event) -> None:
        async with client.stream("POST", chat_url(llm_server), json=CHAT) as r:
            async for _ in r.aiter_raw():
                first.set()

    async def main() -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            first = asyncio.Event()
            task = asyncio.create_task(consume(client, first))
            await asyncio.wait_for(first.wait(), 5)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())
    assert llm_server.wait_for_disconnect(1.0)


def test_complete_response_is_not_a_disconnect(llm_server: LLMServer) -> None:
    llm_server.enqueue(text_stream("done", delay=0.01))
    post_raw(chat_url(llm_server))
    assert llm_server.wait_for_requests(1)
    assert not llm_server.wait_for_disconnect(0.2)
    [request] = llm_server.requests
    assert request.finished and not request.disconnected


# -- recording and scripting --------------------------------------------------------------


def test_fifo_and_request_recording(llm_server: LLMServer) -> None:
    llm_server.enqueue(text_stream("first"), text_stream("second"))
    before = time.time()
    texts = []
    with httpx.Client(timeout=10, headers={"Authorization": "Bearer sk-test"}) as client:
        for n, path in enumerate(["/v1/chat/completions", "/chat/completions"]):
            body = {**CHAT, "messages": [{"role": "user", "content": f"q{n}"}]}
            url = llm_server.url + path
            with httpx_sse.connect_sse(client, "POST", url, json=body) as source:
                chunks = [e.json() for e in source.iter_sse() if e.data != "[DONE]"]
            texts.append(
                "".join(
                    c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]
                )
            )
    assert texts == ["first", "second"]
    first, second = llm_server.requests
    assert (first.method, first.path, second.path) == (
        "POST",
        "/v1/chat/completions",
        "/chat/completions",
    )
    assert first.headers["authorization"] == "Bearer sk-test"
    assert first.headers["content-type"] == "application/json"
    assert first.body["messages"][0]["content"] == "q0"
    assert second.messages == [{"role": "user", "content": "q1"}]
    assert before <= first.time <= second.time <= time.time()
    assert llm_server.pending == 0


def test_responder_drives_an_agent_loop(llm_server: LLMServer) -> None:
    """Tool call while the user spoke last, text once a tool result is in."""
    seen: list[list[dict[str, Any]]] = []

    def responder(body: dict[str, Any]) -> Any:
        seen.append(body["messages"])
        if body["messages"][-1]["role"] == "user":
            return tool_call_stream([("get_weather", {"city": "Paris"})])
        return text_stream(f"It is {body['messages'][-1]['content']}.")

    llm_server.script(responder)
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather in Paris?"}]
    with httpx.Client(timeout=10) as client:
        for _ in range(2):
            body = {**CHAT, "messages": messages}
            with httpx_sse.connect_sse(client, "POST", chat_url(llm_server), json=body) as source:
                chunks = [e.json() for e in source.iter_sse() if e.data != "[DONE]"]
            deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
            calls = [tc for d in deltas for tc in d.get("tool_calls") or []]
            if not calls:
                answer = "".join(d.get("content") or "" for d in deltas)
                break
            call_id, name = calls[0]["id"], calls[0]["function"]["name"]
            args = "".join(tc["function"]["arguments"] for tc in calls)
            assert (name, json.loads(args)) == ("get_weather", {"city": "Paris"})
            messages = [
                *messages,
                {"role": "assistant", "tool_calls": [{"id": call_id, "type": "function"}]},
                {"role": "tool", "tool_call_id": call_id, "content": "sunny"},
            ]
    assert answer == "It is sunny."
    assert [m[-1]["role"] for m in seen] == ["user", "tool"]
    assert [r.body["messages"] for r in llm_server.requests] == seen


def test_queue_takes_precedence_over_responder(llm_server: LLMServer) -> None:
    llm_server.script(lambda body: {"kind": "text_stream", "text": "from responder"})
    llm_server.enqueue({"kind": "text_stream", "text": "from queue"})
    texts = []
    for _ in range(2):
        events = sse_payloads(chat_url(llm_server))
        chunks = [e.json() for e in events if e.data != "[DONE]"]
        texts.append(
            "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
        )
    assert texts == ["from queue", "from responder"]


def test_responder_error_is_a_500_and_kept(llm_server: LLMServer) -> None:
    def responder(body: Any) -> Any:
        raise ValueError("bad script")

    llm_server.script(responder)
    response, body = post_raw(chat_url(llm_server))
    assert response.status_code == 500
    assert "bad script" in json.loads(body)["error"]["message"]
    assert "ValueError: bad script" in llm_server.errors[0]


def test_unknown_route_is_404(llm_server: LLMServer) -> None:
    response = httpx.post(f"{llm_server.url}/v1/completions", json={}, timeout=10)
    assert response.status_code == 404
    assert llm_server.requests == []


# -- builders -----------------------------------------------------------------------------


def test_sse_builder_dicts_raw_strings_and_comments(llm_server: LLMServer) -> None:
    error = {"error": {"message": "boom", "type": "server_error"}}
    stream = sse(
        [{"a": 1}, ": keep-alive\n\n", f"event: error\ndata: {json.dumps(error)}\n\n"],
        comments="OPENROUTER PROCESSING",
        done=False,
    )
    assert stream.body.startswith(b': OPENROUTER PROCESSING\n\ndata: {"a":1}\n\n')
    assert not stream.body.endswith(b"[DONE]\n\n")
    llm_server.enqueue(stream)
    events = sse_payloads(chat_url(llm_server))
    assert [(e.event, e.data) for e in events] == [
        ("message", '{"a":1}'),
        ("error", json.dumps(error)),
    ]


def test_text_stream_shape(llm_server: LLMServer) -> None:
    llm_server.enqueue(text_stream("Hello world", reasoning="hmm", reasoning_field="reasoning"))
    events = sse_payloads(chat_url(llm_server))
    assert events[-1].data == "[DONE]"
    chunks = [e.json() for e in events[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert "".join(d.get("reasoning", "") for d in deltas) == "hmm"
    assert "".join(d.get("content", "") for d in deltas) == "Hello world"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["total_tokens"] > 0


def test_tool_call_stream_shape(llm_server: LLMServer) -> None:
    llm_server.enqueue(tool_call_stream([("a", {"x": 1}), ("b", '{"y": "two"}')], fragment_size=3))
    events = sse_payloads(chat_url(llm_server))
    chunks = [e.json() for e in events if e.data != "[DONE]"]
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for choice in chunk["choices"]:
            for tc in choice["delta"].get("tool_calls") or []:
                call = calls.setdefault(tc["index"], {"id": "", "name": "", "args": ""})
                call["id"] += tc.get("id", "")
                call["name"] += tc["function"].get("name", "")
                call["args"] += tc["function"]["arguments"]
    assert [(c["name"], json.loads(c["args"])) for c in calls.values()] == [
        ("a", {"x": 1}),
        ("b", {"y": "two"}),
    ]
    assert calls[0]["id"] != calls[1]["id"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"


# -- the project's own fixtures ------------------------------------------------------------


@pytest.mark.parametrize("name", GOOD_SSE_FIXTURES)
def test_fixture_parses_as_sse(llm_server: LLMServer, fixtures_dir: Path, name: str) -> None:
    path = fixtures_dir / name
    llm_server.enqueue(replay(path, chunk_size=50))
    events = sse_payloads(chat_url(llm_server))
    assert events, f"{name} decoded to no events"
    for event in events:
        if event.data != "[DONE]":
            assert isinstance(json.loads(event.data), dict), (name, event.data)
    assert (events[-1].data == "[DONE]") != (name in {"no_done.sse", "event_error.sse"})


def test_fixture_list_is_documented(fixtures_dir: Path) -> None:
    readme = (fixtures_dir / "README.md").read_text()
    for path in fixtures_dir.iterdir():
        if path.name != "README.md":
            assert f"`{path.name}`" in readme, f"{path.name} is not described in README.md"


def test_chunks_fixture_lines_are_json(fixtures_dir: Path) -> None:
    for path in fixtures_dir.glob("*.chunks.txt"):
        for line in path.read_text().splitlines():
            assert isinstance(json.loads(line), dict)


def test_broken_fixtures_are_broken(llm_server: LLMServer, fixtures_dir: Path) -> None:
    truncated = (fixtures_dir / "broken_truncated.sse").read_bytes()
    assert not truncated.endswith(b"\n") and b"[DONE]" not in truncated
    llm_server.enqueue(replay(fixtures_dir / "broken_invalid_json.sse"))
    bad = []
    for event in sse_payloads(chat_url(llm_server)):
        if event.data == "[DONE]":
            continue
        try:
            json.loads(event.data)
        except ValueError:
            bad.append(event.data)
    assert len(bad) == 2 and bad[-1] == "upstream timeout, please retry"


def test_crlf_fixture_really_uses_crlf(fixtures_dir: Path) -> None:
    data = (fixtures_dir / "crlf.sse").read_bytes()
    assert data.count(b"\r\n") == data.count(b"\n") > 0


# -- lifecycle ----------------------------------------------------------------------------


def test_stop_does_not_wait_for_a_hanging_response() -> None:
    server = LLMServer().start()
    server.enqueue(hang(60))
    errors: list[BaseException] = []

    def client() -> None:
        try:
            with httpx.Client(timeout=30) as c, c.stream("POST", chat_url(server), json=CHAT) as r:
                for _ in r.iter_raw():
                    pass
        except httpx.HTTPError as exc:
            errors.append(exc)

    thread = threading.Thread(target=client)
    thread.start()
    assert server.wait_for_requests(1)
    started = time.monotonic()
    server.stop()
    thread.join(5)
    assert time.monotonic() - started < 2
    assert not thread.is_alive() and errors
    assert server.disconnects == 0  # shutting down is not the client's disconnect


# -- process mode -------------------------------------------------------------------------


def test_process_control_round_trip(server_process: ServerProcess, fixtures_dir: Path) -> None:
    server_process.reset()
    queued = server_process.enqueue(
        {"kind": "replay", "fixture": "reasoning_content.sse"},
        text_stream("in-process builder", fragment_size=5),
        {"kind": "json_error", "status": 401, "message": "bad key"},
        {"kind": "tool_call_stream", "calls": [["get_time", {}]]},
    )
    assert queued == 4
    url = chat_url(server_process)
    _, body = post_raw(url, body={**CHAT, "messages": [{"role": "user", "content": "one"}]})
    assert body == (fixtures_dir / "reasoning_content.sse").read_bytes()
    chunks = [e.json() for e in sse_payloads(url) if e.data != "[DONE]"]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "in-process builder"
    response, body = post_raw(url)
    assert response.status_code == 401
    assert json.loads(body)["error"]["type"] == "authentication_error"
    assert server_process.pending() == 1
    requests = server_process.requests()
    assert len(requests) == 3
    assert requests[0]["body"]["messages"] == [{"role": "user", "content": "one"}]
    assert requests[0]["path"] == "/v1/chat/completions"
    assert requests[0]["finished"] is True
    server_process.reset()
    assert server_process.pending() == 0 and server_process.requests() == []


def test_process_sees_disconnect(server_process: ServerProcess) -> None:
    server_process.reset()
    server_process.enqueue({"kind": "text_stream", "text": "w" * 100, "delay": 0.2})
    with (
        httpx.Client(timeout=10) as client,
        client.stream("POST", chat_url(server_process), json=CHAT) as r,
    ):
        next(r.iter_raw())
    assert server_process.wait_for_disconnect(1.0)
    assert server_process.requests()[0]["disconnected"] is True


def test_process_replays_corpus(server_process: ServerProcess, corpus_dir: Path) -> None:
    server_process.reset()
    name = "llamacpp/llamacpp_smollm2_ctx_full_midstream.sse"
    server_process.enqueue({"kind": "replay", "corpus": name, "chunk_size": 64})
    _, body = post_raw(chat_url(server_process))
    assert body == (corpus_dir / name).read_bytes()


def test_process_bad_spec_is_rejected(server_process: ServerProcess) -> None:
    with pytest.raises(Exception, match="400"):
        server_process.enqueue({"kind": "nonsense"})


def test_process_script_files(tmp_path: Path) -> None:
    json_script = tmp_path / "script.json"
    json_script.write_text(json.dumps([{"kind": "text_stream", "text": "scripted"}]))
    py_script = tmp_path / "script.py"
    py_script.write_text(
        "from support.builders import text_stream\n\n"
        "def responder(body):\n"
        "    return text_stream('echo: ' + body['messages'][-1]['content'])\n"
    )
    for script, expected in [(json_script, "scripted"), (py_script, "echo: hi")]:
        proc = ServerProcess.start(script=script)
        try:
            chunks = [e.json() for e in sse_payloads(chat_url(proc)) if e.data != "[DONE]"]
            text = "".join(
                c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]
            )
            assert text == expected
        finally:
            proc.stop()
        assert proc.proc.returncode == 0


def test_env_is_clean() -> None:
    import os

    for name in (
        "LUXX_BASE_URL",
        "LUXX_API_KEY",
        "LUXX_MODEL",
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
    ):
        assert name not in os.environ
