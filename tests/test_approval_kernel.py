"""Stop and approvals in a real kernel, without a browser (jupyter_client, nbclient).

A client that creates no kernel subshell is a client that cannot click while a cell runs
(nbclient, papermill, this test's own client at first): calls that ask first are declined
with the reason, and the run has no Stop button. Creating a subshell, as JupyterLab and
Notebook 7 do, makes the buttons appear; a click sent to that subshell as the front end sends
it (a ``comm_msg`` whose header names the subshell) reaches the button while the cell runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import nbformat
import pytest
from nbclient import NotebookClient
from support.builders import text_stream, tool_call_stream
from support.clicks import button as _button
from support.clicks import click as _click
from support.clicks import create_subshell as _create_subshell
from support.kernel import Kernel, kernel_env
from support.server import LLMServer

KEY = "sk-test-canary-0123456789abcdef"
TOOL = '''
import luxx_nb
LAUNCHED = []

@luxx_nb.tool(approve=True)
def launch(target: str) -> str:
    """Launch something.

    target: what to launch
    """
    LAUNCHED.append(target)
    return f"launched {target}"
'''


def luxx(base_url: str, prompt: str, chat: str) -> str:
    return (
        f"%%luxx --chat {chat} --model test-model --base-url {base_url} "
        f"--api-key-env LUXX_TEST_KEY --tools launch\n{prompt}"
    )


@pytest.fixture(scope="module")
def server() -> Iterator[LLMServer]:
    with LLMServer() as running:
        yield running


@pytest.fixture(scope="module")
def kernel() -> Iterator[Kernel]:
    running = Kernel(kernel_env(LUXX_TEST_KEY=KEY))
    try:
        running.run("%load_ext luxx_nb\nimport luxx_nb.render.live.clicks\n" + TOOL)
        yield running
    finally:
        running.close()


def test_no_front_end_declines_with_the_reason(kernel: Kernel, server: LLMServer) -> None:
    assert kernel.value("luxx_nb.render.live.clicks.subshells()") == []  # ipykernel 7: none yet
    server.reset()
    server.enqueue(tool_call_stream([("launch", {"target": "moon"})]), text_stream("Declined."))
    cell = kernel.run(luxx(server.base_url, "Launch it.", "nofront"))
    assert "nobody can approve this call here" in cell.snapshot
    assert "Stop" not in [s.get("description") for s in kernel.states.values()]
    assert kernel.value("LAUNCHED") == []
    sent = server.requests[-1].body["messages"][-1]
    assert sent["role"] == "tool" and "The person declined this call." in sent["content"]


def test_nbclient_declines_and_the_notebook_runs_on(server: LLMServer, tmp_path) -> None:
    server.reset()
    server.enqueue(tool_call_stream([("launch", {"target": "moon"})]), text_stream("No."))
    cells = ["%load_ext luxx_nb\n" + TOOL, luxx(server.base_url, "Launch.", "nb"), "LAUNCHED"]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    import os

    os.environ["LUXX_TEST_KEY"] = KEY
    try:
        NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    finally:
        del os.environ["LUXX_TEST_KEY"]
    outputs = notebook.cells[1].outputs
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "nobody can approve this call here" in html
    assert notebook.cells[2].outputs[0]["data"]["text/plain"] == "[]"


def test_interrupt_while_waiting_declines(kernel: Kernel, server: LLMServer) -> None:
    subshell = _create_subshell(kernel)  # as JupyterLab does: now clicks can arrive
    assert kernel.value("luxx_nb.render.live.clicks.clicks_can_arrive()") is True
    server.reset()
    server.enqueue(tool_call_stream([("launch", {"target": "moon"})]), text_stream("Next."))
    since = len(kernel.messages)
    msg_id = kernel.start(luxx(server.base_url, "Launch.", "wait"))
    _button(kernel, "Approve", since)
    time.sleep(0.3)
    kernel.km.interrupt_kernel()
    cell = kernel.finish(msg_id, timeout=30)
    assert cell.reply["ename"] == "KeyboardInterrupt"
    assert "the run ended before anyone decided" in cell.snapshot
    assert kernel.value("LAUNCHED") == []
    assert subshell


def test_a_click_on_stop_reaches_the_running_cell(kernel: Kernel, server: LLMServer) -> None:
    subshell = _create_subshell(kernel)
    server.reset()
    server.enqueue(text_stream("word " * 600, fragment_size=5, delay=0.02), text_stream("Yes."))
    since = len(kernel.messages)
    msg_id = kernel.start(luxx(server.base_url, "Talk.", "stop"))
    stop = _button(kernel, "Stop", since)
    time.sleep(0.8)
    clicked = time.monotonic()
    _click(kernel, stop, subshell)
    cell = kernel.finish(msg_id, timeout=30)
    took = time.monotonic() - clicked
    assert cell.reply["status"] == "ok", cell.reply  # a Stop is not an error
    print(f"Stop click to the cell idle: {took:.2f} s")
    assert took < 2.0, took
    assert "stopped" in cell.snapshot and "word word" in cell.snapshot
    assert (
        kernel.value(
            "get_ipython().magics_manager.registry['LuxxMagics'].chats['stop'].last_reply.state"
        )
        == "stopped"
    )
    cell = kernel.run(luxx(server.base_url, "Still there?", "stop"))
    assert "Yes." in cell.snapshot


def test_stop_from_code(kernel: Kernel, server: LLMServer) -> None:
    server.reset()
    server.enqueue(text_stream("word " * 600, fragment_size=5, delay=0.02))
    code = (
        "import threading, time, luxx_nb\n"
        f"chat = luxx_nb.Chat(base_url={server.base_url!r}, api_key={KEY!r}, model='m')\n"
        "threading.Timer(0.5, chat.stop).start()\n"
        "t0 = time.monotonic(); reply = chat.send('Talk.', display=False)\n"
        "print(reply.state, round(time.monotonic() - t0, 2), len(reply.text) > 0)"
    )
    state, seconds, kept = kernel.run(code).stdout.split()
    assert state == "stopped" and float(seconds) < 1.5 and kept == "True"
