"""``run_python`` in a real kernel: approved with a click as JupyterLab sends it, the code runs
on the kernel's main thread in the notebook's namespace, a matplotlib figure and a DataFrame
show in the step's saved snapshot (the kernel's PNG, a sanitized table) and not again in the
cell; the time limit ends a blocking call; the kernel's interrupt ends the run and the kernel
stays usable."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from support.builders import text_stream, tool_call_stream
from support.clicks import button, click, create_subshell
from support.kernel import Kernel, kernel_env
from support.server import LLMServer

KEY = "sk-test-canary-0123456789abcdef"

PLOT = """
import threading
import matplotlib.pyplot as plt
import pandas as pd
on_main = threading.current_thread() is threading.main_thread()
fig, ax = plt.subplots(figsize=(2, 2))
ax.plot([1, 2, 3], [3, 1, 2])
ax.set_title("made by the model")
print("plotted")
frame = pd.DataFrame({"region": ["north", "<b>south</b>"], "sold": [7, 9]})
frame
"""


def luxx(base_url: str, prompt: str, options: str = "") -> str:
    return (
        f"%%luxx --chat code --model test-model --base-url {base_url} "
        f"--api-key-env LUXX_TEST_KEY {options}\n{prompt}"
    )


@pytest.fixture(scope="module")
def server() -> Iterator[LLMServer]:
    with LLMServer() as running:
        yield running


@pytest.fixture(scope="module")
def kernel() -> Iterator[Kernel]:
    running = Kernel(kernel_env(LUXX_TEST_KEY=KEY))
    try:
        # matplotlib's first import in a fresh environment builds its font cache (tens of
        # seconds): paid here, not inside a tool's time limit.
        running.run("%load_ext luxx_nb\n%matplotlib inline\nimport matplotlib.pyplot", 600)
        yield running
    finally:
        running.close()


def test_approved_code_plots_and_shows_a_table(kernel: Kernel, server: LLMServer) -> None:
    subshell = create_subshell(kernel)  # as JupyterLab does: clicks can arrive
    server.reset()
    server.enqueue(tool_call_stream([("run_python", {"code": PLOT})]), text_stream("Plotted."))
    since = len(kernel.messages)
    msg_id = kernel.start(luxx(server.base_url, "Plot it.", "--allow-code"))
    click(kernel, button(kernel, "Approve", since), subshell)
    cell = kernel.finish(msg_id, timeout=60)
    assert cell.reply["status"] == "ok", cell.reply
    assert kernel.value("on_main") is True  # the kernel's main thread, as a cell
    assert kernel.value("list(frame['sold'])") == [7, 9]  # variables the code made stay
    snapshot = cell.snapshot
    assert "approved by the person" in snapshot
    assert snapshot.count('<img src="data:image/png;base64,') == 1  # the figure, once
    assert "<td>north</td>" in snapshot and "&lt;b&gt;south&lt;/b&gt;" in snapshot
    assert "<b>south</b>" not in snapshot
    assert "plotted" in snapshot and "Plotted." in snapshot
    # The figure is the step's: the cell's own outputs hold no second copy.
    pngs = [c for c in cell.of("display_data") if "image/png" in c.get("data", {})]
    assert pngs == [] and kernel.value("plt.get_fignums()") == []
    sent = server.requests[-1].body["messages"][-1]
    assert sent["role"] == "tool" and "plotted" in sent["content"]
    assert "was shown to the person" in sent["content"] and "north" in sent["content"]


def test_denied_code_never_runs(kernel: Kernel, server: LLMServer) -> None:
    subshell = create_subshell(kernel)
    server.reset()
    server.enqueue(
        tool_call_stream([("run_python", {"code": "touched = True"})]), text_stream("Ok.")
    )
    since = len(kernel.messages)
    msg_id = kernel.start(luxx(server.base_url, "Touch.", "--allow-code"))
    click(kernel, button(kernel, "Deny", since), subshell)
    cell = kernel.finish(msg_id, timeout=60)
    assert cell.reply["status"] == "ok"
    assert kernel.value("'touched' in globals()") is False
    assert "declined by the person" in cell.snapshot


def test_the_time_limit_ends_a_blocking_call(kernel: Kernel, server: LLMServer) -> None:
    kernel.run("%config LuxxMagics.approve_code = False\n%config LuxxMagics.tool_timeout = 1.0")
    server.reset()
    code = "import time\nbefore = True\ntime.sleep(60)\nafter = True"
    server.enqueue(tool_call_stream([("run_python", {"code": code})]), text_stream("Late."))
    started = time.monotonic()
    cell = kernel.run(luxx(server.base_url, "Sleep.", "--allow-code"), timeout=60)
    assert time.monotonic() - started < 15
    assert cell.reply["status"] == "ok" and "timed out after 1 s" in cell.snapshot
    assert kernel.value("before") is True and kernel.value("'after' in globals()") is False
    assert "Late." in cell.snapshot


def test_the_kernel_interrupt_ends_the_run(kernel: Kernel, server: LLMServer) -> None:
    kernel.run("%config LuxxMagics.approve_code = False\n%config LuxxMagics.tool_timeout = 60.0")
    server.reset()
    code = "import time\nfor tick in range(600):\n    time.sleep(0.1)"
    server.enqueue(tool_call_stream([("run_python", {"code": code})]), text_stream("Never."))
    msg_id = kernel.start(luxx(server.base_url, "Loop.", "--allow-code"))
    deadline = time.monotonic() + 30
    while len(server.requests) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    kernel.km.interrupt_kernel()
    cell = kernel.finish(msg_id, timeout=30)
    assert cell.reply["ename"] == "KeyboardInterrupt"
    assert kernel.value("tick") < 590  # it stopped, not ran out
    ticked = kernel.value("tick")
    time.sleep(0.3)
    assert kernel.value("tick") == ticked
    kernel.run("%config LuxxMagics.approve_code = True")
    assert kernel.value("1 + 1") == 2


def test_offered_only_when_allowed(kernel: Kernel, server: LLMServer) -> None:
    config = kernel.run("%luxx config").stdout
    assert "allow_code: False" in config and "approve_code: True" in config
    help_text = "get_ipython().find_cell_magic('luxx').__doc__"  # what %%luxx? pages
    assert kernel.value(f"'--allow-code' in {help_text}") is True
    server.reset()
    server.enqueue(text_stream("a"), text_stream("b"), text_stream("c"))
    kernel.run(luxx(server.base_url, "Hi."))
    kernel.run(luxx(server.base_url, "Hi.", "--allow-code"))
    kernel.run(luxx(server.base_url, "Hi.", "--allow-code --no-tools"))
    offered = [
        [t["function"]["name"] for t in request.body.get("tools", [])]
        for request in server.requests
    ]
    assert "run_python" not in offered[0] and "query" in offered[0]
    assert "run_python" in offered[1] and offered[2] == []


def test_code_sent_from_a_chat_view_runs_on_the_main_thread(
    kernel: Kernel, server: LLMServer
) -> None:
    """A ``ChatView``'s turn has no cell waiting on the main thread: the code is posted to the
    kernel's own loop, between cells, rather than run on the panel's worker thread."""
    server.reset()
    code = "import threading\npanel_main = threading.current_thread() is threading.main_thread()"
    server.enqueue(tool_call_stream([("run_python", {"code": code})]), text_stream("Ran."))
    kernel.run(
        "import luxx_nb\n"
        f"pchat = luxx_nb.Chat(base_url={server.base_url!r}, api_key={KEY!r}, model='m',\n"
        "    namespace=globals(), allow_code=True, approve_code=False)\n"
        "view = luxx_nb.ChatView(pchat)\n"
        "sent = view.send('Run it.')"
    )
    deadline = time.monotonic() + 30
    while not kernel.value("sent.done()") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert kernel.value("sent.result().state") == "done"
    assert kernel.value("panel_main") is True
    assert kernel.value("sent.result().text") == "Ran."
