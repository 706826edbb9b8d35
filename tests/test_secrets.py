"""A canary key appears in zero bytes of anything luxx_nb shows, sends to a page, logs or saves.

"Appears" means any run of 10 characters of the key (``luxx_nb.errors.SECRET_RUN``): a
provider's own masking ("sk-ca****9c2e") shows less and is kept as written. The key is used
through ``Chat(api_key=...)`` in process, and through ``--api-key-env`` and ``Chat(api_key=
os.environ[...])`` in a real kernel, through successes and through every failure that could
quote it: an error echoing it whole, a stream error carrying it, a tool returning it, a variable
holding it under an innocent name, a key with a newline or a character HTTP cannot carry.
"""

from __future__ import annotations

import asyncio
import json
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from support.builders import json_error, sse, text_stream, tool_call_stream
from support.faults.checks import Recorder, walk
from support.kernel import Kernel, kernel_env
from support.server import LLMServer

from luxx_nb import Chat, ToolContext
from luxx_nb.errors import REDACTED, SECRET_RUN, redact
from luxx_nb.providers.openai import OpenAIProvider
from luxx_nb.tools import make_tool

KEY = "sk-canary-7f3a9c1e5b2d4f6a8c0e1b3d5f7a9c2e"
MASKED = "sk-ca****9c2e"
CANARY_ENV = "LUXX_CANARY_KEY"
BAD_ENV = "LUXX_CANARY_BAD_KEY"
BAD_KEY = KEY[:20] + "\u2019" + KEY[20:]  # a smart quote from a copy and paste


def windows(key: str = KEY) -> list[str]:
    return [key[i : i + SECRET_RUN] for i in range(len(key) - SECRET_RUN + 1)]


def assert_clean(blob: str | bytes, where: str) -> None:
    """No run of ``SECRET_RUN`` characters of the key, as text or as UTF-8 bytes."""
    for window in windows():
        needle: str | bytes = window.encode() if isinstance(blob, bytes) else window
        assert needle not in blob, f"{where} holds part of the key: {window!r}"


def leak(context: ToolContext) -> str:
    """Returns and prints the key it finds in the notebook's settings."""
    import os

    key = os.environ.get(CANARY_ENV) or context.namespace["settings"]["credential"]
    print(f"using {key}")
    return f"the key is {key}"


def test_redact_hides_runs_of_the_key_and_keeps_a_providers_mask() -> None:
    masked = f"Incorrect API key provided: {MASKED}. Find yours at platform.example."
    assert redact(masked, KEY) == masked
    assert redact(f"header b'Bearer {KEY}\\n'", KEY) == f"header b'Bearer {REDACTED}\\n'"
    assert redact(f"{KEY[3:17]} and {KEY[-12:]}", KEY) == f"{REDACTED} and {REDACTED}"
    assert redact("short key none", "none") == "short key none"


def scenarios() -> list[list[Any]]:
    """Server answers that each put the key somewhere a careless client would show it."""
    return [
        [
            tool_call_stream([("leak", {}), ("get_variable", {"name": "settings"})]),
            text_stream("Done with the tools."),
        ],
        [json_error(401, f"Incorrect API key provided: {MASKED}")],
        [json_error(401, f"Incorrect API key provided: {KEY}")],
        [json_error(500, "boom", body=f'{{"error": "upstream rejected key {KEY}"}}')] * 3,
        [sse([f'event: error\ndata: {{"message": "bad key {KEY}"}}\n\n'], done=False)],
    ]


def everything_shown(chat: Chat, recorder: Recorder, events: list[Any]) -> str:
    """All the text a person, a log or a program could see of these runs."""
    parts = [repr(chat), str(chat), repr(chat.endpoint), repr(vars(chat).get("endpoint"))]
    parts += [e.sse() + repr(e) for e in events]
    for reply in chat.replies:
        parts += [repr(reply), reply.error or "", reply.error_detail or "", reply.text]
        for step in reply.steps:
            parts += [json.dumps(step.to_dict()), repr(step)]
            parts += [getattr(step, "detail", None) or "", getattr(step, "output", "")]
    parts.append(json.dumps(chat.history))
    for run in recorder.runs:
        parts.append(run.transcript.getvalue())
        parts += [json.dumps(state, default=str) for state, _ in walk(run.widget)]
    return "\n".join(parts)


def test_a_key_passed_to_chat_shows_nowhere(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = {"credential": KEY, "region": "north"}
    shown, masked_errors = [], []
    with LLMServer() as server, warnings.catch_warnings(record=True) as caught:
        for scripted in scenarios():
            server.enqueue(*scripted)
            chat = Chat(
                model="m",
                base_url=server.base_url,
                api_key=KEY + "\n",  # a newline from a file is stripped, not sent
                tools=[make_tool(leak)],
                namespace={"settings": settings},
            )
            recorder = Recorder()
            chat.add_view(recorder)
            events = asyncio.run(collect(chat))
            shown.append(everything_shown(chat, recorder, events))
            masked_errors.append(chat.last_reply.error or "")
        requests = server.requests
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in requests)
    for request in requests:
        assert_clean(request.raw_body, "a request body")
    assert "the key is [redacted]" in shown[0] and "using [redacted]" in shown[0]
    assert masked_errors[1] == f"HTTP 401 Unauthorized: Incorrect API key provided: {MASKED}"
    assert masked_errors[2] == f"HTTP 401 Unauthorized: Incorrect API key provided: {REDACTED}"
    for text in shown:
        assert_clean(text, "a run")
    assert_clean(caplog.text, "the log")
    assert_clean("\n".join(str(w.message) for w in caught), "a warning")
    provider = OpenAIProvider(base_url="http://x/v1", api_key=KEY)
    assert_clean(repr(provider), "the provider's repr")


async def collect(chat: Chat) -> list[Any]:
    return [event async for event in chat.stream("hi", include_status=True)]


def test_a_key_http_cannot_carry_is_refused_without_quoting_it() -> None:
    with LLMServer() as server:
        reply = Chat(model="m", base_url=server.base_url, api_key=BAD_KEY).send("hi")
        assert not server.requests
    assert reply.error.startswith("The API key cannot be sent: its character number 21")
    assert "(U+2019)" in reply.error
    assert_clean(reply.error, "the error")


@pytest.fixture
def isolated(tmp_path: Path) -> dict[str, Path]:
    """Every place a kernel writes to, under one directory to read back byte by byte."""
    places = {
        name: tmp_path / name for name in ("home", "tmp", "ipython", "runtime", "data", "config")
    }
    for path in places.values():
        path.mkdir()
    return places


@pytest.fixture
def kernel(isolated: dict[str, Path], tmp_path: Path) -> Iterator[tuple[Kernel, Path]]:
    log = tmp_path / "kernel.log"
    env = kernel_env(
        **{CANARY_ENV: KEY, BAD_ENV: BAD_KEY},
        HOME=str(isolated["home"]),
        TMPDIR=str(isolated["tmp"]),
        IPYTHONDIR=str(isolated["ipython"]),
        JUPYTER_RUNTIME_DIR=str(isolated["runtime"]),
        JUPYTER_DATA_DIR=str(isolated["data"]),
        JUPYTER_CONFIG_DIR=str(isolated["config"]),
    )
    with log.open("wb") as sink:
        running = Kernel(env, stdout=sink, stderr=sink)
        try:
            yield running, log
        finally:
            running.close()


def cells(url: str) -> list[str]:
    luxx = f"%%luxx --model m --base-url {url} --api-key-env {CANARY_ENV}"
    return [
        "%config HistoryManager.db_log_output = True\n%load_ext luxx_nb\n"
        "import logging, os, luxx_nb, test_secrets\n"
        "logging.basicConfig(level=logging.DEBUG, force=True)\n"
        "luxx_nb.tool(test_secrets.leak)\n"
        "settings = {'credential': os.environ['LUXX_CANARY_KEY'], 'region': 'north'}",
        f"{luxx} --tools leak,get_variable\nUse the tools.",
        f"{luxx} --no-tools\nAgain.",
        f"{luxx} --no-tools\nAgain.",
        f"{luxx} --no-tools\nAgain.",
        f"{luxx} --no-tools\nAgain.",
        f"%%luxx --model m --base-url {url} --api-key-env {BAD_ENV} --no-tools\nBad key.",
        f"chat = luxx_nb.Chat(model='m', base_url='{url}', api_key=os.environ['{CANARY_ENV}'],"
        " namespace=globals(), tools=[test_secrets.leak])\nreply = chat.send('From code.')\n"
        "reply",
        "chat",
        "chat.endpoint",
        "print({k: v for k, v in vars(chat).items() if k != '_namespace'})",
        "chat.send('Once more.')",
        "%luxx config",
        "%config LuxxMagics",
        "%luxx history",
        "get_ipython().history_manager.writeout_cache()",
    ]


def saved_notebook(kernel: Kernel, run: list[tuple[str, Any]]) -> str:
    """The notebook as a front end would save it: sources, outputs, widget state."""
    nb = nbformat.v4.new_notebook()
    for source, cell in run:
        code = nbformat.v4.new_code_cell(source)
        for message in cell.messages:
            kind = message["msg_type"]
            if kind == "update_display_data":  # a front end keeps the updated output
                header = {**message["header"], "msg_type": "display_data"}
                message = {**message, "msg_type": "display_data", "header": header}
            if message["msg_type"] in ("stream", "display_data", "execute_result", "error"):
                code.outputs.append(nbformat.v4.output_from_msg(message))
        nb.cells.append(code)
    nb.metadata["widgets"] = {
        "application/vnd.jupyter.widget-state+json": {
            "state": {i: {"state": s} for i, s in kernel.states.items()},
            "version_major": 2,
            "version_minor": 0,
        }
    }
    return nbformat.writes(nb)


@pytest.mark.timeout(240)
def test_a_key_in_a_kernel_shows_nowhere(
    kernel: tuple[Kernel, Path], isolated: dict[str, Path], tmp_path: Path
) -> None:
    running, log = kernel
    with LLMServer() as server:
        for scripted in scenarios():
            server.enqueue(*scripted)
        server.enqueue(
            tool_call_stream([("leak", {})]),
            text_stream("From code, done."),
            json_error(401, f"Incorrect API key provided: {KEY}"),
        )
        run = [(source, running.run(source, ok=False)) for source in cells(server.base_url)]
        requests = server.requests
    replies = [cell.reply for _, cell in run]
    assert all(reply["status"] == "ok" for reply in replies), replies
    assert len(requests) == 11 and all(
        r.headers["authorization"] == f"Bearer {KEY}" for r in requests
    )
    shown = "\n".join("\n".join(running.seen_and_hidden(cell)) for _, cell in run)
    assert MASKED in json.dumps(running.states)  # the provider's mask is kept as written
    assert "The API key cannot be sent" in "\n".join(
        json.dumps(c.messages, default=str) for _, c in run
    )
    assert "Incorrect API key provided: [redacted]" in shown

    for message in running.messages:
        assert_clean(json.dumps(message, default=str), f"an IOPub {message['msg_type']}")
        for buffer in message.get("buffers") or ():
            assert_clean(bytes(buffer), "an IOPub buffer")
    saved = tmp_path / "saved.ipynb"
    saved.write_text(saved_notebook(running, run), encoding="utf-8")
    assert_clean(saved.read_bytes(), "the saved notebook")
    running.close()
    assert log.stat().st_size > 0  # DEBUG logging and the kernel's own output went there
    assert_clean(log.read_bytes(), "the kernel's log")
    written = [p for place in isolated.values() for p in place.rglob("*") if p.is_file()]
    assert any(p.name.startswith("history") for p in written)  # IPython wrote its history
    for path in written:
        assert_clean(path.read_bytes(), str(path.relative_to(tmp_path)))


def test_the_kernel_check_sees_a_leak(kernel: tuple[Kernel, Path]) -> None:
    running, _ = kernel
    cell = running.run(f"import os\nprint(os.environ['{CANARY_ENV}'])")
    with pytest.raises(AssertionError, match="holds part of the key"):
        assert_clean(json.dumps(cell.messages, default=str), "a deliberate print")
