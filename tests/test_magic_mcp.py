"""``%luxx mcp add | list | remove``, ``%luxx tools`` and ``--tools`` with MCP servers, in a
real kernel (nbclient), with ``mcp-server-time`` and ``tests/mcp_fake.py``; an interrupt during
an MCP call and a killed kernel, in a kernel driven over ZMQ (``support.kernel``)."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from nbclient import NotebookClient
from support.builders import text_stream, tool_call_stream
from support.kernel import Kernel, kernel_env
from support.server import LLMServer

KEY = "sk-canary-mcp-magic-1b2c3d4e5f60718293"
FAKE = Path(__file__).resolve().parent / "mcp_fake.py"
TIME = f"{sys.executable} -m mcp_server_time --local-timezone UTC"


def run_notebook(cells: list[str]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    NotebookClient(nb, kernel_name="python3", timeout=120, allow_errors=True).execute()
    return nb


def text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type == "error":
            parts.append(f"{output.ename}: {output.evalue}")
        else:
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def luxx(server: LLMServer, body: str, extra: str = "") -> str:
    options = f"--model test-model --base-url {server.base_url} --api-key-env LUXX_TEST_KEY"
    return f"%%luxx {options} {extra}\n{body}"


def test_mcp_add_list_tools_pick_and_remove(llm_server: LLMServer, monkeypatch) -> None:
    monkeypatch.setenv("LUXX_TEST_KEY", KEY)
    llm_server.enqueue(
        tool_call_stream([("get_current_time", {"timezone": "Asia/Tokyo"})]),
        text_stream("Tokyo it is."),
        tool_call_stream([("good_one", {"n": 5})]),
        text_stream("Five."),
    )
    nb = run_notebook(
        [
            "%load_ext luxx_nb",
            f"%luxx mcp add time -- {TIME}",
            f"%luxx mcp add fake -- {sys.executable} {FAKE} bad-schema",
            "%luxx mcp list",
            "%luxx tools",
            luxx(llm_server, "Time in Tokyo?", "--tools time"),
            luxx(llm_server, "Good one.", "--tools good_one --new"),
            "%luxx mcp list",
            "%luxx mcp remove fake",
            "%luxx mcp list",
            luxx(llm_server, "No such.", "--tools good_one"),
            "%luxx mcp add bad name -- x",
        ]
    )
    cells = [text(c) for c in nb.cells]
    assert "MCP server 'time' added" in cells[1]
    assert "time: " in cells[3] and "(not started)" in cells[3]
    listed = cells[4]
    assert "list_variables:" in listed
    assert "get_current_time (MCP server time): Get current time" in listed
    assert "good_one (MCP server fake): Works." in listed
    assert "the tool 'bad_schema' is left out" in listed
    assert "Tokyo it is." in cells[5] and "Traceback" not in cells[5]
    first = llm_server.requests[0].body
    assert {t["function"]["name"] for t in first["tools"]} == {"get_current_time", "convert_time"}
    result = [m for m in llm_server.requests[1].body["messages"] if m["role"] == "tool"]
    assert json.loads(result[0]["content"])["timezone"] == "Asia/Tokyo"
    assert "Five." in cells[6]
    assert [t["function"]["name"] for t in llm_server.requests[2].body["tools"]] == ["good_one"]
    assert "time: " in cells[7] and "running, 2 tools" in cells[7]
    assert "MCP server 'fake' removed." in cells[8]
    assert "fake" not in cells[9]
    assert "UsageError: Unknown tool(s): good_one" in cells[10]
    assert "UsageError" in cells[11]
    assert KEY not in json.dumps(nb)


def test_an_interrupt_cancels_a_call_and_a_killed_kernel_takes_its_servers(
    llm_server: LLMServer,
) -> None:
    """In one real kernel: a kernel interrupt during an MCP call that never answers ends the
    cell at once, the call's result says it was interrupted, the next cell's MCP call (another
    server, on the same background loop) works; then the kernel is killed with SIGKILL and both
    servers' processes go with it."""
    llm_server.enqueue(
        tool_call_stream([("stall", {})]),
        tool_call_stream([("get_current_time", {"timezone": "Europe/Paris"})]),
        text_stream("Paris it is."),
    )
    kernel = Kernel(kernel_env(LUXX_TEST_KEY=KEY))
    try:
        kernel.run("%load_ext luxx_nb")
        kernel.run(f"%luxx mcp add staller -- {sys.executable} {FAKE} hang")
        kernel.run(f"%luxx mcp add time -- {TIME}")
        msg_id = kernel.start(luxx(llm_server, "Stall.", "--tools staller"))
        assert llm_server.wait_for_requests(1, timeout=60)
        time.sleep(1.0)  # the call is out: the server sleeps on it for an hour
        started = time.monotonic()
        kernel.km.interrupt_kernel()
        cell = kernel.finish(msg_id, timeout=30)
        assert time.monotonic() - started < 10
        assert cell.reply["ename"] == "KeyboardInterrupt", cell.reply
        history = kernel.value(
            "get_ipython().magics_manager.registry['LuxxMagics'].chats['default'].history"
        )
        result = [m["content"] for m in history if m["role"] == "tool"]
        assert len(result) == 1 and "interrupted before this tool finished" in result[0]

        following = kernel.run(luxx(llm_server, "Time in Paris?", "--tools time --new"))
        assert "Paris it is." in kernel.seen_and_hidden(following)[0]
        sent = [m for m in llm_server.requests[-1].body["messages"] if m["role"] == "tool"]
        assert json.loads(sent[-1]["content"])["timezone"] == "Europe/Paris"

        pid = kernel.value("__import__('os').getpid()")
        servers = psutil.Process(pid).children(recursive=True)
        commands = [" ".join(p.cmdline()) for p in servers]
        assert any("mcp_fake.py hang" in c for c in commands), commands
        assert any("mcp_server_time" in c for c in commands), commands
        os.kill(pid, signal.SIGKILL)
        _, alive = psutil.wait_procs(servers, timeout=10)
        assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], alive
    finally:
        kernel.close()


def test_mcp_add_approve_makes_every_call_ask(capsys) -> None:
    """``--approve`` before the command is luxx_nb's; after ``--`` it is the server's own."""
    from IPython.core.error import UsageError

    from luxx_nb.line_commands import mcp_command

    servers: dict = {}
    mcp_command(servers, "add --approve acts -- python -m some_server")
    mcp_command(servers, "add reads -- python -m some_server --approve")
    mcp_command(servers, "add web --approve https://example.test/mcp")
    assert servers["acts"].approve and servers["web"].approve and not servers["reads"].approve
    assert servers["acts"].command == ["python", "-m", "some_server"]
    assert servers["reads"].command == ["python", "-m", "some_server", "--approve"]
    assert "Each call of its tools asks for your approval." in capsys.readouterr().out
    mcp_command(servers, "list")
    listed = capsys.readouterr().out.splitlines()
    assert "acts: python -m some_server (not started, each call asks first)" in listed
    assert "reads: python -m some_server --approve (not started)" in listed
    for line in ("add --approve", "add --approve only", "add --approve x y"):
        with pytest.raises(UsageError, match=r"add \[--approve\] NAME"):
            mcp_command(servers, line)
