"""``run_python`` without a kernel: off by default, behind approval, what the code leaves in the
notebook's namespace, what the model reads and the step shows, and how it is ended (the time
limit, Stop) without leaving code running. The kernel's side (the main thread, matplotlib,
the saved snapshot) is in ``test_code_tool_kernel.py``."""

from __future__ import annotations

import json
import threading
import time

from support.builders import text_stream, tool_call_stream

from luxx_nb import Chat
from luxx_nb.approval import NO_FRONT_END
from luxx_nb.code_tool import CODE_TOOL
from luxx_nb.events import ToolCallStep, ToolResultStep
from luxx_nb.render.markup import tool_body
from luxx_nb.render.saved.snapshot import HtmlRenderer

KEY = "sk-test-canary-0123456789abcdef"


def chat_for(server, namespace, **kwargs) -> Chat:
    return Chat(base_url=server.base_url, api_key=KEY, model="m", namespace=namespace, **kwargs)


def run_code(server, namespace, code: str, **kwargs):
    server.enqueue(tool_call_stream([(CODE_TOOL, {"code": code})]), text_stream("Done."))
    chat = chat_for(server, namespace, approve_code=False, **kwargs)
    reply = chat.send("go", display=False)
    result = next(s for s in reply.steps if isinstance(s, ToolResultStep))
    return chat, reply, result


def test_off_by_default_and_asks_first_when_on(llm_server):
    namespace: dict = {}
    assert CODE_TOOL not in [t.name for t in chat_for(llm_server, namespace).all_tools()]
    tools = {t.name: t for t in chat_for(llm_server, namespace, allow_code=True).all_tools()}
    assert tools[CODE_TOOL].approve  # on, and behind approval unless told otherwise
    unasked = chat_for(llm_server, namespace, allow_code=True, approve_code=False)
    assert not {t.name: t for t in unasked.all_tools()}[CODE_TOOL].approve
    assert CODE_TOOL not in [t.name for t in Chat(model="m", allow_code=True).all_tools()]


def test_with_nobody_to_approve_the_code_never_runs(llm_server):
    namespace: dict = {}
    llm_server.enqueue(
        tool_call_stream([(CODE_TOOL, {"code": "made = 1"})]), text_stream("Declined.")
    )
    reply = chat_for(llm_server, namespace, allow_code=True).send("go", display=False)
    result = next(s for s in reply.steps if isinstance(s, ToolResultStep))
    assert "made" not in namespace
    assert not result.success and result.decision == NO_FRONT_END


def test_code_runs_in_the_namespace_and_the_model_reads_text(llm_server):
    namespace = {"sales": [3, 4, 5]}
    code = "total = sum(sales)\nprint('summing', len(sales))\ntotal * 2"
    chat, reply, result = run_code(llm_server, namespace, code, allow_code=True)
    assert namespace["total"] == 12  # it may create variables
    assert result.success and result.output == "summing 3\n"
    assert result.content == "Output:\nsumming 3\n\nValue: 24"
    sent = [m for m in chat.history if m["role"] == "tool"]
    assert sent[0]["content"] == result.content
    assert reply.text == "Done."


def test_an_error_gives_the_traceback_of_the_code_only(llm_server):
    namespace: dict = {}
    code = "x = 1\ndef f():\n    return 1 / 0\nf()"
    _, _, result = run_code(llm_server, namespace, code, allow_code=True)
    assert not result.success and namespace["x"] == 1
    assert result.content.startswith("Error:\nTraceback (most recent call last):")
    assert 'File "<run_python' in result.content and "return 1 / 0" in result.content
    assert "ZeroDivisionError: division by zero" in result.content
    assert "code_tool.py" not in result.content  # none of luxx_nb's own frames


def test_a_syntax_error_says_the_code_did_not_run(llm_server):
    _, _, result = run_code(llm_server, {}, "print('a'\n", allow_code=True)
    assert not result.success and "SyntaxError" in result.content
    assert "(the code did not run)" in result.content


def test_a_long_value_is_cut_for_the_model(llm_server):
    _, _, result = run_code(llm_server, {}, "'x' * 50_000", allow_code=True)
    assert result.success and len(result.content) < 2_200 and "[... cut" in result.content


def test_the_time_limit_ends_busy_code_and_nothing_runs_on(llm_server):
    namespace: dict = {"ticks": 0}
    code = "while True:\n    ticks += 1"
    started = time.monotonic()
    _, reply, result = run_code(llm_server, namespace, code, allow_code=True, tool_timeout=0.5)
    assert time.monotonic() - started < 5
    assert not result.success and "timed out after 0.5 s" in result.content
    seen = namespace["ticks"]
    time.sleep(0.2)
    assert seen > 0 and namespace["ticks"] == seen  # the loop was ended, not left running
    assert reply.text == "Done."


def test_the_time_limit_ends_a_blocking_sleep_too(llm_server):
    namespace: dict = {}
    code = "import time\nstarted = True\ntime.sleep(30)\nfinished = True"
    started = time.monotonic()
    _, _, result = run_code(llm_server, namespace, code, allow_code=True, tool_timeout=0.5)
    assert time.monotonic() - started < 8  # a worker thread: ended at the next instruction
    assert not result.success and namespace.get("started") is True


def test_stop_ends_the_code_and_the_turn(llm_server):
    namespace: dict = {"ticks": 0}
    llm_server.enqueue(tool_call_stream([(CODE_TOOL, {"code": "while True:\n    ticks += 1"})]))
    chat = chat_for(llm_server, namespace, allow_code=True, approve_code=False)

    def stop_later() -> None:
        time.sleep(0.5)
        chat.stop()

    threading.Thread(target=stop_later).start()
    reply = chat.send("go", display=False)
    assert reply.state == "stopped"
    seen = namespace["ticks"]
    time.sleep(0.2)
    assert seen > 0 and namespace["ticks"] == seen
    assert chat.history[-1]["role"] == "tool"  # the history stays valid for the next turn
    llm_server.enqueue(text_stream("Next."))
    assert chat.send("again", display=False).text == "Next."


def test_the_step_shows_the_code_highlighted_and_sanitized_displays():
    code = "df.head()  # <b>not bold</b>"
    call = ToolCallStep(index=0, id_ref="c1", name=CODE_TOOL, arguments=json.dumps({"code": code}))
    hostile = '<table><tr><td onclick="x()">1</td></tr></table><script>alert(1)</script>'
    result = ToolResultStep(
        index=1,
        id_ref=call.id,
        name=CODE_TOOL,
        content="Value: 1",
        success=True,
        html=(hostile,),
    )
    body = tool_body(call, result, plain="", scroll="")
    assert ">code<" in body and 'class="luxx-code"' in body
    assert "&lt;b&gt;not bold&lt;/b&gt;" in body and "<b>not bold" not in body
    assert "<td>1</td>" in body and "onclick" not in body and "<script" not in body
    assert "alert(1)" not in body


def test_the_saved_snapshot_shows_what_the_code_displayed(llm_server):
    namespace: dict = {}
    chat, _, _ = run_code(llm_server, namespace, "x = 2", allow_code=True)
    renderer = HtmlRenderer()
    llm_server.enqueue(tool_call_stream([(CODE_TOOL, {"code": "y = 3\ny"})]), text_stream("Three."))
    chat.add_view(type("V", (), {"open_run": lambda self, **kw: renderer})())
    chat.send("again")
    html = renderer.html()
    assert "Value: 3" in html and 'class="luxx-code"' in html and namespace["y"] == 3
