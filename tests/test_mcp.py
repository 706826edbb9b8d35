"""MCP servers as tool sources (luxx_nb/mcp_tools.py) against real servers: ``mcp-server-time``
from PyPI, ``@modelcontextprotocol/server-everything`` from npm where ``npx`` exists, and
``tests/mcp_fake.py`` for images and names. The failure rows (a command that does not exist,
a crash, a hang...) are in the fault table (tests/test_faults.py)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from support.builders import text_stream, tool_call_stream
from support.ci import in_ci
from support.server import LLMServer

import luxx_nb
from luxx_nb import Chat, MCPServer
from luxx_nb.render.saved.snapshot import HtmlRenderer

TESTS = Path(__file__).resolve().parent
FAKE = str(TESTS / "mcp_fake.py")
TIME_COMMAND = [sys.executable, "-m", "mcp_server_time", "--local-timezone", "UTC"]


@pytest.fixture(scope="module")
def time_server() -> Any:
    server = MCPServer(TIME_COMMAND, name="time")
    yield server
    server.stop()


def offered(request: Any) -> dict[str, dict[str, Any]]:
    return {t["function"]["name"]: t["function"] for t in request.body.get("tools", [])}


def test_get_current_time_through_chat(llm_server: LLMServer, time_server: MCPServer) -> None:
    llm_server.enqueue(
        tool_call_stream([("get_current_time", {"timezone": "Europe/Oslo"})]),
        text_stream("It is late in Oslo."),
    )
    chat = Chat(model="m", base_url=llm_server.base_url, api_key="k", tools=[time_server])
    reply = chat.send("What time is it in Oslo?")
    assert reply.state == "done" and reply.text == "It is late in Oslo.", reply.error
    result = next(s for s in reply.steps if s.type == "tool_result")
    assert result.success and json.loads(result.content)["timezone"] == "Europe/Oslo"
    assert re.match(r"\d{4}-\d\d-\d\dT", json.loads(result.content)["datetime"])
    tools = offered(llm_server.requests[0])
    assert set(tools) == {"get_current_time", "convert_time"}
    schema = tools["get_current_time"]["parameters"]
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object" and schema["required"] == ["timezone"]
    assert "title" not in schema and "IANA" in schema["properties"]["timezone"]["description"]
    assert time_server.running  # started once, kept for the next run
    assert "get_current_time" in repr(chat)


def test_bad_arguments_and_is_error_are_failed_calls(
    llm_server: LLMServer, time_server: MCPServer
) -> None:
    llm_server.enqueue(
        tool_call_stream(
            [("get_current_time", {"timezone": 3}), ("get_current_time", {"timezone": "No/Where"})]
        ),
        text_stream("Sorry."),
    )
    chat = Chat(model="m", base_url=llm_server.base_url, api_key="k", tools=[time_server])
    reply = chat.send("Time?")
    results = [s for s in reply.steps if s.type == "tool_result"]
    assert [r.success for r in results] == [False, False]
    errors = sorted(json.loads(r.content)["error"] for r in results)
    assert errors[0].startswith("Error executing tool get_current_time: Invalid timezone")
    assert errors[1] == (
        "Invalid arguments for get_current_time: timezone: 3 is not of type 'string'"
    )


def test_a_clashing_name_is_prefixed_with_the_server(
    llm_server: LLMServer, time_server: MCPServer
) -> None:
    @luxx_nb.tool
    def get_current_time() -> str:
        """A function with the server's tool's name."""
        return "function"

    llm_server.enqueue(
        tool_call_stream(
            [("get_current_time", {}), ("time__get_current_time", {"timezone": "UTC"})]
        ),
        text_stream("Both."),
    )
    chat = Chat(
        model="m", base_url=llm_server.base_url, api_key="k", tools=[get_current_time, time_server]
    )
    reply = chat.send("Time?")
    assert set(offered(llm_server.requests[0])) == {
        "get_current_time",
        "time__get_current_time",
        "convert_time",
    }
    contents = {s.name: s.content for s in reply.steps if s.type == "tool_result"}
    assert contents["get_current_time"] == "function"
    assert json.loads(contents["time__get_current_time"])["timezone"] == "UTC"


def test_a_tool_named_as_a_built_in_is_prefixed_through_chat_too(llm_server: LLMServer) -> None:
    """A server's ``query`` beside the built-in ``query`` (a Chat with a namespace): the built-in
    keeps its name and the server's is ``clash__query``, as in ``%%luxx``."""
    server = MCPServer([sys.executable, FAKE, "clash"], name="clash")
    llm_server.enqueue(
        tool_call_stream([("query", {"sql": "SELECT 41 + 1 AS n"}), ("clash__query", {})]),
        text_stream("Both."),
    )
    chat = Chat(model="m", base_url=llm_server.base_url, api_key="k", tools=[server], namespace={})
    try:
        reply = chat.send("Query both.")
        listed = [t.name for t in chat.all_tools()]
    finally:
        server.stop()
    names = list(offered(llm_server.requests[0]))
    assert names.count("query") == 1 and "clash__query" in names, names
    assert "query" in listed and "clash__query" in listed, listed
    contents = {s.name: s.content for s in reply.steps if s.type == "tool_result"}
    assert contents["clash__query"] == "server query"
    assert "42" in contents["query"] and "server" not in contents["query"]


def test_images_show_in_the_step_and_only_checked_ones(llm_server: LLMServer) -> None:
    server = MCPServer([sys.executable, FAKE, "image"], name="drawing")
    llm_server.enqueue(tool_call_stream([("picture", {})]), text_stream("Drawn."))
    chat = Chat(model="m", base_url=llm_server.base_url, api_key="k", tools=[server])
    html = HtmlRenderer()
    chat.add_view(_Views(html))
    try:
        reply = chat.send("Draw.")
    finally:
        server.stop()
    result = next(s for s in reply.steps if s.type == "tool_result")
    assert [i.mime for i in result.images] == ["image/png", "image/jpeg"]
    assert "was shown to the person; you cannot see it" in result.content
    assert "not a PNG or JPEG was not shown" in result.content  # the SVG
    assert "not valid base64 was not shown" in result.content
    sent = llm_server.requests[1].body["messages"][-1]
    assert sent["role"] == "tool" and "image/png" in sent["content"]
    assert "iVBOR" not in sent["content"]  # the model gets a note, not the bytes
    snapshot = html.html()
    images = re.findall(r"<img [^>]*>", snapshot)
    assert len(images) == 2
    for tag in images:
        assert re.fullmatch(
            r'<img src="data:image/(png|jpeg);base64,[A-Za-z0-9+/=]+" alt="[^"<>]*" '
            r'style="[^"<>]*">',
            tag,
        ), tag
    assert "svg" not in snapshot.lower() and "onload" not in snapshot
    from luxx_nb.render.live.parts import ToolCallView

    call = next(s for s in reply.steps if s.type == "tool_call")
    live = ToolCallView(call, result)._html.value  # the live widget's markup
    assert re.findall(r"<img [^>]*>", live) == images


class _Views:
    """``Chat.add_view`` for one renderer."""

    def __init__(self, renderer: Any) -> None:
        self.renderer = renderer

    def open_run(self, *, model: str, local: bool = False) -> Any:
        return self.renderer


def test_calls_of_one_round_run_in_parallel(llm_server: LLMServer) -> None:
    """Three calls of a server that takes 1 s a call, in one round: about 1 s, not 3."""
    server = MCPServer([sys.executable, FAKE, "slow"], name="sleepy")
    server.list_tools_sync()  # started before the clock runs
    llm_server.enqueue(tool_call_stream([("nap", {"seconds": 1})] * 3), text_stream("Rested."))
    chat = Chat(model="m", base_url=llm_server.base_url, api_key="k", tools=[server])
    try:
        started = time.monotonic()
        reply = chat.send("Nap thrice.")
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    results = [s for s in reply.steps if s.type == "tool_result"]
    assert [r.content for r in results] == ["slept 1"] * 3 and reply.text == "Rested."
    assert elapsed < 2.5, f"three 1 s calls took {elapsed:.2f} s: not in parallel"


def test_a_server_starts_on_first_use_and_once(llm_server: LLMServer, tmp_path: Path) -> None:
    """Nothing runs when it is made; the first run starts it; later runs and other chats use
    the same process."""
    marks = tmp_path / "marks.txt"
    server = MCPServer([sys.executable, FAKE, "record", str(marks)], name="once")

    def processes() -> list[int]:
        return [pid for pid, line in _own_children() if str(marks) in line]

    assert not server.running and processes() == []
    for label in ("first", "second", "third"):
        llm_server.enqueue(tool_call_stream([("mark", {"label": label})]), text_stream("Ok."))
    try:
        first = Chat(model="m", base_url=llm_server.base_url, api_key="k", tools=[server])
        assert first.send("One.").error is None
        started = processes()
        assert len(started) == 1
        assert first.send("Two.").error is None
        other = Chat(model="m", base_url=llm_server.base_url, api_key="k", tools=[server])
        assert other.send("Three.").error is None
        assert processes() == started and marks.read_text() == "first\nsecond\nthird\n"
    finally:
        server.stop()


def _own_children() -> list[tuple[int, str]]:
    """This process's live descendants, each with its command line."""
    import psutil

    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            found.append((child.pid, " ".join(child.cmdline())))
        except psutil.Error:  # gone, or a zombie, since it was listed
            continue
    return found


def test_env_adds_variables_and_the_kernels_others_stay_out(
    llm_server: LLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LUXX_MCP_KERNEL_SECRET", "sk-kernel-only-0123456789")
    server = MCPServer([sys.executable, FAKE, "env"], env={"LUXX_MCP_PROBE": "given"}, name="env")
    llm_server.enqueue(
        tool_call_stream(
            [
                ("read_env", {"name": "LUXX_MCP_PROBE"}),
                ("read_env", {"name": "LUXX_MCP_KERNEL_SECRET"}),
                ("read_env", {"name": "PATH"}),
            ]
        ),
        text_stream("Read."),
    )
    chat = Chat(model="m", base_url=llm_server.base_url, api_key="k", tools=[server])
    try:
        reply = chat.send("Read them.")
    finally:
        server.stop()
    calls = {s.id: json.loads(s.arguments)["name"] for s in reply.steps if s.type == "tool_call"}
    seen = {calls[s.id_ref]: s.content for s in reply.steps if s.type == "tool_result"}
    assert seen["LUXX_MCP_PROBE"] == "given"
    assert seen["LUXX_MCP_KERNEL_SECRET"] == "(unset)"  # the SDK passes only HOME, PATH...
    assert seen["PATH"] not in ("", "(unset)")


def test_a_stdio_server_dies_with_a_killed_parent(tmp_path: Path) -> None:
    """The kernel killed with SIGKILL (no atexit, no stdin closed in order): the server goes."""
    script = tmp_path / "parent.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys, time
            from luxx_nb import MCPServer
            server = MCPServer([sys.executable, {FAKE!r}, "hang"], name="orphan")
            server.list_tools_sync()
            print("ready", flush=True)
            time.sleep(600)
            """
        )
    )
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None and parent.stdout.readline().strip() == "ready"
        children = _children(parent.pid)
        assert len(children) == 1, children
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while _alive(children[0]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(children[0]), "the MCP server outlived its killed parent"
    finally:
        parent.kill()


def _children(pid: int) -> list[int]:
    import psutil

    return [c.pid for c in psutil.Process(pid).children(recursive=True)]


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_server_is_stopped_at_interpreter_exit(tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            from luxx_nb import MCPServer
            server = MCPServer([sys.executable, {FAKE!r}, "hang"], name="leaving")
            server.list_tools_sync()
            import psutil
            print(psutil.Process().children(recursive=True)[0].pid, flush=True)
            """
        )
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert not _alive(int(out.stdout.strip()))


def test_construction_needs_a_command_or_a_url() -> None:
    server = MCPServer(["x"])
    assert server.name == "x" and not server.running and server.approve is False
    with pytest.raises(ValueError, match=r"a command .* or a url"):
        MCPServer()


class _Decider:
    """A view whose runs take clicks: Approve for the labels in ``yes``, Deny for the others,
    each from another thread, as the Approve/Deny buttons do (``approval.RunControls``)."""

    def __init__(self, yes: set[str]) -> None:
        self.yes, self.asked = yes, []

    def open_run(self, *, model: str, local: bool = False) -> Any:
        decider = self

        class Run:
            def start(self, *, model: str, local: bool = False) -> None:
                from luxx_nb.approval import current_controls

                current_controls().offer(decider)

            def handle(self, event: Any) -> None:
                pass

            def finish(self, state: str, message: Any = None, detail: Any = None) -> None:
                pass

        return Run()

    def ask(self, request: Any, controls: Any) -> None:
        import threading

        self.asked.append(request.title)
        label = json.loads(request.arguments)["label"]
        threading.Timer(0.05, controls.settle, (request.call_id, label in self.yes)).start()

    def decided(self, request: Any, decision: Any) -> None:
        pass


def test_approve_gates_every_call_of_the_server(llm_server: LLMServer, tmp_path: Path) -> None:
    """``approve=True``: each call waits for a decision; a denied one never reaches the server
    (its file shows only the approved call), and where nobody can decide, none does."""
    marks = tmp_path / "marks.txt"
    server = MCPServer([sys.executable, FAKE, "record", str(marks)], name="rec", approve=True)
    llm_server.enqueue(
        tool_call_stream([("mark", {"label": "yes-one"}), ("mark", {"label": "no-one"})]),
        text_stream("One marked."),
        tool_call_stream([("mark", {"label": "unattended"})]),
        text_stream("Nobody decided."),
    )
    chat = Chat(model="m", base_url=llm_server.base_url, api_key="k", tools=[server])
    decider = _Decider({"yes-one"})
    chat.add_view(decider)
    try:
        reply = chat.send("Mark both.")
        assert reply.state == "done" and reply.text == "One marked.", reply.error
        assert sorted(decider.asked) == ['mark(label="no-one")', 'mark(label="yes-one")']
        assert marks.read_text() == "yes-one\n"
        calls = {json.loads(s.arguments)["label"]: s for s in reply.steps if s.type == "tool_call"}
        outcomes = {
            label: next(r for r in reply.steps if r.type == "tool_result" and r.id_ref == c.id)
            for label, c in calls.items()
        }
        assert outcomes["yes-one"].success and outcomes["yes-one"].content == "marked yes-one"
        assert outcomes["yes-one"].decision == "approved by the person"
        assert not outcomes["no-one"].success
        assert outcomes["no-one"].decision == "declined by the person"
        assert "declined" in json.loads(outcomes["no-one"].content)["error"]

        unattended = Chat(model="m", base_url=llm_server.base_url, api_key="k", tools=[server])
        reply = unattended.send("Mark it.", display=False)  # no view, no terminal: declined
        result = next(s for s in reply.steps if s.type == "tool_result")
        assert not result.success and "nobody can approve" in result.decision
        assert reply.text == "Nobody decided." and marks.read_text() == "yes-one\n"
    finally:
        server.stop()


def test_names_from_commands() -> None:
    assert MCPServer(TIME_COMMAND).name == "mcp_server_time"
    assert MCPServer(["npx", "-y", "@modelcontextprotocol/server-everything"]).name == (
        "server-everything"
    )
    assert MCPServer("uvx mcp-server-fetch").name == "mcp-server-fetch"
    assert MCPServer(url="https://mcp.example.org/mcp").name == "mcp_example_org"


# -- @modelcontextprotocol/server-everything, from npm --------------------------------------

EVERYTHING = "@modelcontextprotocol/server-everything"


@pytest.fixture(scope="module")
def everything_binary() -> Any:
    """The npm server installed in a temp dir (never a browser). No npx: skipped everywhere;
    npx present but the install fails: a failure in CI, a skip with the reason elsewhere."""
    if shutil.which("npx") is None or shutil.which("npm") is None:
        pytest.skip("npx is not installed here: the npm MCP server cannot run")
    where = Path(tempfile.mkdtemp(prefix="luxx-npm-"))
    env = {**os.environ, "PUPPETEER_SKIP_DOWNLOAD": "1"}
    install = subprocess.run(
        [
            "npm",
            "install",
            "--no-audit",
            "--no-fund",
            "--silent",
            "--prefix",
            str(where),
            EVERYTHING,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    binary = where / "node_modules" / ".bin" / "mcp-server-everything"
    if install.returncode != 0 or not binary.exists():
        message = f"npm install {EVERYTHING} failed: {install.stderr[-800:]}"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    yield binary
    shutil.rmtree(where, ignore_errors=True)


@pytest.fixture(scope="module")
def everything(everything_binary: Path) -> Any:
    server = MCPServer([str(everything_binary)], name="everything")
    yield server
    server.stop()


@pytest.fixture
def everything_over_http(everything_binary: Path) -> Any:
    """The same npm server speaking streamable HTTP on a free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [str(everything_binary), "streamableHttp"],
        env={**os.environ, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stderr.readline() if process.stderr else ""
            if "listening" in line.lower() or process.poll() is not None:
                break
        assert process.poll() is None, "the streamable HTTP server did not start"
        server = MCPServer(url=f"http://127.0.0.1:{port}/mcp", name="everything-http")
        yield server
        server.stop()
    finally:
        process.kill()
        process.wait(10)


def test_headers_reach_a_streamable_http_server_and_stay_out_of_view(
    llm_server: LLMServer,
) -> None:
    """``MCPServer(url=..., headers=...)`` against the SDK's own HTTP server
    (``tests/mcp_http_fake.py``): the call's request carries the headers; the token is not in
    the server's or the chat's repr, nor in the reply."""
    token = "Bearer sk-mcp-header-canary-0123456789"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, str(TESTS / "mcp_http_fake.py"), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}/mcp?session=secret"
        server = MCPServer(url=url, headers={"Authorization": token, "X-Team": "blue"})
        llm_server.enqueue(
            tool_call_stream(
                [("header", {"name": "Authorization"}), ("header", {"name": "X-Team"})]
            ),
            text_stream("Both came."),
        )
        chat = Chat(model="m", base_url=llm_server.base_url, api_key="k", tools=[server])
        try:
            reply = chat.send("Which headers?")
        finally:
            server.stop()
    finally:
        process.kill()
        process.wait(10)
    assert reply.error is None and reply.text == "Both came."
    assert sorted(s.content for s in reply.steps if s.type == "tool_result") == [token, "blue"]
    assert repr(server) == f"MCPServer('127_0_0_1', 'http://127.0.0.1:{port}/mcp', not started)"
    assert "sk-mcp-header" not in repr(chat) and "secret" not in repr(server)
    assert "pw" not in repr(MCPServer(url="https://user:pw@mcp.example.org:8443/mcp"))


def test_a_streamable_http_server_by_url(llm_server: LLMServer, everything_over_http) -> None:
    names = {t.name for t in everything_over_http.list_tools_sync()}
    assert "echo" in names, names
    llm_server.enqueue(
        tool_call_stream([("echo", {"message": "over http"})]), text_stream("Echoed.")
    )
    chat = Chat(model="m", base_url=llm_server.base_url, api_key="k", tools=[everything_over_http])
    reply = chat.send("Echo it.")
    result = next(s for s in reply.steps if s.type == "tool_result")
    assert reply.error is None and result.success and "over http" in result.content


def test_server_everything_echo_and_its_image(llm_server: LLMServer, everything: MCPServer) -> None:
    names = {t.name for t in everything.list_tools_sync()}
    image_tool = next(n for n in ("get-tiny-image", "getTinyImage") if n in names)
    echo = "echo"
    assert echo in names, names
    llm_server.enqueue(
        tool_call_stream([(echo, {"message": "hello from luxx"}), (image_tool, {})]),
        text_stream("Seen."),
    )
    chat = Chat(model="m", base_url=llm_server.base_url, api_key="k", tools=[everything])
    reply = chat.send("Echo and draw.")
    results = {s.name: s for s in reply.steps if s.type == "tool_result"}
    assert results[echo].success and "hello from luxx" in results[echo].content
    picture = results[image_tool]
    assert picture.success and [i.mime for i in picture.images] == ["image/png"]
    assert "was shown to the person" in picture.content
    for tool in offered(llm_server.requests[0]).values():
        jsonschema.Draft202012Validator.check_schema(tool["parameters"])
