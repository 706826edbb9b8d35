"""The static snapshot of a run: its HTML, and its transcript saved in the output's metadata.

The HTML is checked by parsing it (no browser: ``test_browser.py`` shows it in one); the
saved outputs and ``%luxx resume`` through real kernels against the loopback server.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from support.builders import json_error, text_stream, tool_call_stream
from support.sample_run import growing, replay, sample_events

from luxx_nb.events import (
    ErrorEvent,
    StepEvent,
    TextStep,
    ThinkingStep,
    ToolCallStep,
    ToolResultStep,
)
from luxx_nb.render.live.inline import TRANSCRIPT_KEY
from luxx_nb.render.protocol import Renderer
from luxx_nb.render.saved.snapshot import SHOWN_CHARS, HtmlRenderer
from luxx_nb.transcript import read_conversations

KEY = "sk-canary-snapshot-0b1c2d3e4f5a6b7c8d9e"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
HOSTILE = (
    "<script>alert(1)</script><img src=x onerror=alert(2)><svg onload=alert(3)></svg>"
    '<iframe src="https://evil.invalid/"></iframe>'
)


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text, as a browser's parser sees them."""

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def named(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def render(events, state: str = "done") -> HtmlRenderer:
    renderer = HtmlRenderer()
    asyncio.run(replay(renderer, events, model="demo-model", state=state))
    return renderer


def assert_inert(markup: str) -> None:
    """No element that runs or fetches anything, and no handler or script URL anywhere."""
    page = Elements(markup)
    names = {name for name, _ in page.tags}
    assert not names & {"script", "img", "svg", "iframe", "object", "embed", "form", "link"}
    for _, attrs in page.tags:
        assert not [a for a in attrs if a.startswith("on")], attrs
        for value in attrs.values():
            assert "javascript:" not in (value or "").lower()


def test_html_renderer_is_a_renderer():
    assert isinstance(HtmlRenderer(), Renderer)


def test_snapshot_folds_thinking_and_tools_and_renders_the_answer():
    snapshot = render(sample_events())
    page = Elements(snapshot.html())
    details = page.named("details")
    # Thinking, two calls, the failed call's traceback (inside it), the error's detail.
    assert [d.get("class") for d in details] == [
        "luxx-thinking",
        "luxx-tool",
        "luxx-tool",
        None,
        None,
    ]
    assert all("open" not in d for d in details), "everything starts folded"
    text = "".join(page.text)
    assert re.search(r"Thought for 0\.\d s", text)  # under a second, in tenths
    assert '✓ get_weather(city="Paris")' in text and '✗ read_variable(name="df")' in text
    assert '"city": "Paris"' in text and "traceback" in text and "HTTP 502" in text
    assert page.named("table") and page.named("math") and page.named("pre")
    assert "demo-model · done" in text and "42 tokens" in text
    assert [step.type for step in snapshot.steps] == [
        "thinking",
        "tool_call",
        "tool_result",
        "tool_call",
        "tool_result",
        "text",
    ]


def test_hostile_text_from_model_tool_and_error_stays_text():
    link = "[click](javascript:alert(4)) ![pixel](https://evil.invalid/p.png)"
    events = [
        *growing(TextStep, 0, [f"Answer {HOSTILE} {link}"]),
        StepEvent(step=ToolCallStep(index=1, id_ref="c1", name="t", arguments=HOSTILE)),
        StepEvent(
            step=ToolResultStep(
                index=2, id_ref="step-1", name="t", content=HOSTILE, success=False, detail=HOSTILE
            )
        ),
        ErrorEvent(message=HOSTILE, detail=HOSTILE),
    ]
    markup = render(events, state="error").html()
    assert_inert(markup)
    # The answer, the call title and arguments, the result and traceback, the error twice.
    assert markup.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 7
    assert markup.count("<style>") == 1  # ours, with constant rules
    css = markup[markup.index("<style>") : markup.index("</style>")]
    assert css.count("{") == css.count("}") and "}}" not in css


def test_snapshot_of_a_failed_run_says_so_once():
    snapshot = HtmlRenderer()
    snapshot.start(model="m")
    snapshot.finish("error", "No model is set", "detail here")
    text = "".join(Elements(snapshot.html()).text)
    assert text.count("No model is set") == 1 and "m · error" in text
    assert snapshot.error == "No model is set"


def test_an_interrupted_run_keeps_its_partial_answer_and_folds_its_thinking():
    events = [*growing(ThinkingStep, 0, ["Let me "]), *growing(TextStep, 1, ["half an ans"])]
    snapshot = render(events, state="interrupted")
    text = "".join(Elements(snapshot.html()).text)
    assert re.search(r"Thought for 0\.\d s", text) and "Thinking…" not in text
    assert "half an ans" in text and "demo-model · interrupted" in text

    thinking_only = render([*growing(ThinkingStep, 0, ["Let me "])], state="interrupted")
    assert re.search(r"Thought for 0\.\d s", "".join(Elements(thinking_only.html()).text))


def test_long_tool_output_is_cut():
    content = "x" * (SHOWN_CHARS + 500)
    events = [
        StepEvent(step=ToolCallStep(index=0, id_ref="c", name="big", arguments="{}")),
        StepEvent(
            step=ToolResultStep(index=1, id_ref="step-0", name="big", content=content, success=True)
        ),
    ]
    markup = render(events).html()
    assert "(500 more characters not shown)" in markup and "x" * (SHOWN_CHARS + 1) not in markup


def run_notebook(cells, **kwargs):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    NotebookClient(nb, kernel_name="python3", timeout=120, **kwargs).execute()
    return nb


def luxx(server, body, extra=""):
    options = f"-m test-model --base-url {server.base_url} --api-key-env LUXX_TEST_KEY {extra}"
    return f"%%luxx {options}\n{body}"


@pytest.fixture
def key_env(monkeypatch):
    monkeypatch.setenv("LUXX_TEST_KEY", KEY)


def test_a_finished_run_leaves_the_snapshot_and_its_transcript(llm_server, key_env, tmp_path):
    llm_server.enqueue(
        tool_call_stream([("get_variable", {"name": "x"})]),
        text_stream("x is **42**.", reasoning="Look it up."),
        text_stream("Still 42."),
        text_stream("A fresh start."),
    )
    nb = run_notebook(
        [
            "%load_ext luxx_nb\nx = 42",
            luxx(llm_server, "What is x?"),
            luxx(llm_server, "Sure?"),
            luxx(llm_server, "Hello", "--new --chat other"),
        ],
        store_widget_state=True,
    )
    outputs = nb.cells[1].outputs
    assert len(outputs) == 1 and outputs[0].output_type == "display_data"
    data, saved = outputs[0].data, outputs[0].metadata[TRANSCRIPT_KEY]
    assert WIDGET_VIEW not in data, "a saved notebook must not point at a widget that is gone"
    page = Elements(data["text/html"])
    assert [d.get("class") for d in page.named("details")] == ["luxx-tool", "luxx-thinking"]
    assert "x is 42." in "".join(page.text) and page.named("strong")
    assert data["text/plain"].splitlines()[-1].startswith("test-model · done")
    assert saved["chat"] == "default" and saved["starts_conversation"] is True
    assert saved["model"] == "test-model" and saved["state"] == "done"
    assert saved["usage"]["completion_tokens"] > 0
    assert [m["role"] for m in saved["messages"]] == ["user", "assistant", "tool", "assistant"]
    assert saved["messages"][0]["content"] == "What is x?"
    assert [s["type"] for s in saved["steps"]] == ["tool_call", "tool_result", "thinking", "text"]
    second = nb.cells[2].outputs[0].metadata[TRANSCRIPT_KEY]
    assert second["starts_conversation"] is False
    assert [m["content"] for m in second["messages"]] == ["Sure?", "Still 42."]
    assert nb.cells[3].outputs[0].metadata[TRANSCRIPT_KEY]["chat"] == "other"

    path = tmp_path / "saved.ipynb"
    nbformat.write(nb, path)
    saved_text = path.read_text()
    assert KEY not in saved_text and KEY[8:] not in saved_text
    conversations = read_conversations(path)
    assert [m["content"] for m in conversations["other"]] == ["Hello", "A fresh start."]
    assert len(conversations["default"]) == 6


def test_resume_rebuilds_the_conversation_in_a_new_kernel(
    llm_server, key_env, tmp_path, monkeypatch
):
    llm_server.enqueue(text_stream("one"), text_stream("two"), text_stream("after reset"))
    first = run_notebook(
        [
            "%load_ext luxx_nb",
            luxx(llm_server, "first"),
            luxx(llm_server, "second"),
            "%luxx reset",
            luxx(llm_server, "third"),
        ]
    )
    path = tmp_path / "analysis.ipynb"
    nbformat.write(first, path)
    # Named on the line, or found through the variable jupyter_server gives its kernels.
    monkeypatch.setenv("JPY_SESSION_NAME", str(path))
    llm_server.reset()
    llm_server.enqueue(text_stream("by path"), text_stream("by session"))
    nb = run_notebook(
        [
            "%load_ext luxx_nb",
            f"%luxx resume {path}",
            luxx(llm_server, "fourth"),
            "%luxx resume",
            luxx(llm_server, "fifth"),
            "%luxx resume nowhere.ipynb",
        ],
        allow_errors=True,
    )
    said = "".join(o.get("text", "") for o in nb.cells[1].outputs)
    assert "Conversation 'default': 1 prompt(s), 2 messages resumed." in said
    bodies = [[m["content"] for m in r.body["messages"]] for r in llm_server.requests]
    assert bodies[0] == ["third", "after reset", "fourth"]
    assert bodies[1] == ["third", "after reset", "fifth"]  # resume replaces, it does not add
    shown = json.dumps(nb.cells[5].outputs)
    assert "No notebook at nowhere.ipynb" in shown


def test_resume_without_a_notebook_says_how(tmp_path, monkeypatch):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    empty = tmp_path / "empty.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), empty)
    nb = run_notebook(
        ["%load_ext luxx_nb", "%luxx resume", f"%luxx resume {empty}"], allow_errors=True
    )
    assert "name it, as in %luxx resume analysis.ipynb" in json.dumps(nb.cells[1].outputs)
    assert "No luxx_nb run is saved in" in json.dumps(nb.cells[2].outputs)


def test_read_conversations_refuses_what_is_not_a_notebook(tmp_path: Path):
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="is not a notebook"):
        read_conversations(bad)


def final_bundle(messages):
    """The output a person would see last: the display, with every update applied."""
    shown = {}
    for msg in messages:
        if msg["msg_type"] in ("display_data", "update_display_data"):
            display_id = msg["content"].get("transient", {}).get("display_id")
            shown[display_id] = msg["content"]
    assert len(shown) == 1, shown
    return next(iter(shown.values()))


def test_an_interrupted_or_failed_run_ends_in_its_snapshot_too(llm_server):
    from jupyter_client.manager import start_new_kernel
    from test_magic import execute, wait_reply

    llm_server.enqueue(
        text_stream("word " * 200, fragment_size=5, delay=0.05),
        json_error(401, "Incorrect API key provided <b>sk-…</b>"),
    )
    cell = f"%%luxx -m test-model --base-url {llm_server.base_url} --no-tools\n"
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        execute(kc, "%load_ext luxx_nb")
        msg_id = kc.execute(cell + "long answer please")
        time.sleep(1.5)
        km.interrupt_kernel()
        assert wait_reply(kc, msg_id, timeout=15)["content"]["ename"] == "KeyboardInterrupt"
        messages = []
        while True:
            msg = kc.get_iopub_msg(timeout=10)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            messages.append(msg)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        interrupted = final_bundle(messages)
        assert WIDGET_VIEW not in interrupted["data"]
        text = "".join(Elements(interrupted["data"]["text/html"]).text)
        assert "test-model · interrupted" in text and "word word" in text
        saved = interrupted["metadata"][TRANSCRIPT_KEY]
        assert saved["state"] == "interrupted" and saved["messages"][-1]["role"] == "assistant"

        failed = final_bundle(execute(kc, cell + "again"))
        page = Elements(failed["data"]["text/html"])
        text = "".join(page.text)
        assert "test-model · error" in text and "Incorrect API key provided <b>" in text
        assert "&lt;b&gt;sk-" in failed["data"]["text/html"], "the server's markup stays text"
        assert failed["metadata"][TRANSCRIPT_KEY]["error"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_snapshot_shows_what_a_tool_printed_and_the_variables_it_read():
    from luxx_nb.events import StepEvent, ToolCallStep, ToolResultStep
    from luxx_nb.render.saved.snapshot import HtmlRenderer

    view = HtmlRenderer()
    view.start(model="m")
    call = ToolCallStep(index=1, id_ref="c1", name="peek", arguments='{"name": "sales"}')
    result = ToolResultStep(
        index=2,
        id_ref="step-1",
        name="peek",
        content="3 rows",
        success=True,
        output="<b>printed</b> line",
        variables=("sales", "prices"),
    )
    view.handle(StepEvent(step=call))
    view.handle(StepEvent(step=result))
    view.finish("done")
    html = view.html()
    assert "&lt;b&gt;printed&lt;/b&gt; line" in html and "<b>printed</b>" not in html
    assert "variables read: sales, prices" in html
    assert "read: sales, prices" in html.split("</summary>")[0]
