"""Hostile text from every source renders as inert text, checked on what the kernel sends.

The page sets widget HTML as innerHTML (FIELD-NOTES), so every HTML string a run sends is
parsed here: no element, attribute or link may come from the payloads. Each payload carries a
marker; a marker may appear only as text, never in a tag name or an attribute. Sources: the
model's text (Markdown) and thinking, a tool's arguments, name, result and printed output, a
variable's repr, a provider's error message and the retry status.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
from support.builders import json_error, text_stream, tool_call_stream
from support.faults.checks import Recorder, texts_of, walk
from support.kernel import Kernel, kernel_env
from support.server import LLMServer

from luxx_nb import Chat
from luxx_nb.tools import make_tool
from luxx_nb.variable_tools import namespace_tools

MARK = "LUXXPWN"
PAYLOADS = (
    f"<script>alert('{MARK}-script')</script>",
    f"<img src=x onerror=alert('{MARK}-img')>",
    f"<svg onload=alert('{MARK}-svg')></svg>",
    f"<iframe src=\"javascript:alert('{MARK}-iframe')\"></iframe>",
    f"[click me](javascript:alert('{MARK}-link'))",
    f"<a href=\"javascript:alert('{MARK}-a')\">{MARK}-a</a>",
    f'[title](https://example.org "{MARK}" onmouseover="alert(1)")',
    f"<style>body {{ display: none }} /* {MARK}-style */</style>",
    f'<div style="position:fixed;inset:0;background:red;/*{MARK}*/">css</div>',
    f'<details open class="{MARK}-raw"><summary>raw</summary><b id="{MARK}-b">b</b></details>',
    f"*emphasis* and <b title='{MARK}-inline'>inline html</b> in Markdown",
    f"![{MARK}-image](https://example.org/pixel.png?leak=1)",
)
TEXT = "\n\n".join(PAYLOADS)
BANNED = {
    "script", "iframe", "svg", "img", "object", "embed", "form", "input", "link", "meta",
    "base", "frame", "frameset", "video", "audio", "source",
}  # fmt: skip
"""Elements no run emits. Runs do emit ``style``, ``details`` and ``b``: for those, a payload
shows by its marker (in an attribute, or in the code of a ``style``)."""
NOT_HTML = {"_esm", "_css", "titles", "label", "description", "tooltip"}
"""Widget traits that are not HTML: the widget's own code, and text the page shows as text."""
HTML_MIME = ("text/html", "text/markdown", "image/svg+xml")
LINK_ATTRIBUTES = ("href", "src", "action", "formaction", "xlink:href", "data")


class Hostile:
    """A variable whose repr is the payloads."""

    def __repr__(self) -> str:
        return TEXT


def shout(text: str) -> str:
    """Prints the text, and returns it.

    text: anything
    """
    print(text)
    return text


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.code: list[str] = []  # the text of <style> and <script> elements

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        if self.lasttag in ("style", "script") and self.cdata_elem is not None:
            self.code.append(data)


def problems(markup: str) -> list[str]:
    """What in ``markup`` a payload made live: a banned element, a handler, a marker in markup,
    a script link."""
    parser = _Tags()
    parser.feed(markup)
    parser.close()
    found = [f"code: {code[:80]!r}" for code in parser.code if MARK in code]
    for tag, attrs in parser.tags:
        if tag in BANNED or MARK.lower() in tag:
            found.append(f"<{tag}>")
        for name, value in attrs:
            value = value or ""
            if name.startswith("on") or MARK in value or MARK.lower() in name:
                found.append(f"<{tag} {name}={value!r}>")
            scheme = "".join(value.split()).lower()
            if name in LINK_ATTRIBUTES and scheme.startswith(("javascript:", "vbscript:")):
                found.append(f"<{tag} {name}={value!r}>")
    return found


def strings(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """Every string inside a message's content, however nested, with the key it is under."""
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from strings(item, str(name))
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from strings(item, key)


def markup_of(message: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """The strings of a message that a page renders as HTML: widget states and updates, and
    rich outputs; not metadata, plain text or the widget's own code."""
    content = message["content"]
    if message["msg_type"] in ("comm_open", "comm_msg"):
        for key, value in strings(content.get("data", {})):
            if key not in NOT_HTML and "<" in value:
                yield key, value
    elif message["msg_type"] in ("display_data", "update_display_data", "execute_result"):
        for mime in HTML_MIME:
            if mime in content.get("data", {}):
                yield mime, content["data"][mime]


def responses() -> list[Any]:
    return [
        tool_call_stream(
            [
                ("shout", {"text": TEXT}),
                ("get_variable", {"name": "hostile"}),
                ("list_variables", {}),
                (f"<img src=x onerror=alert('{MARK}-name')>", {}),
            ],
            content=TEXT,
        ),
        text_stream(TEXT, reasoning=TEXT, fragment_size=7),
    ]


def error_responses() -> list[Any]:
    return [
        json_error(429, TEXT, headers={"Retry-After": "0"}),
        json_error(400, TEXT),
    ]


def run_in_process(server: LLMServer, scripted: list[Any]) -> Recorder:
    server.reset()
    server.enqueue(*scripted)
    chat = Chat(
        model="m",
        base_url=server.base_url,
        api_key="k",
        tools=[make_tool(shout), *namespace_tools()],
        namespace={"hostile": Hostile()},
        variable_tools=False,
    )
    recorder = Recorder()
    chat.add_view(recorder)
    chat.send("go")
    return recorder


@pytest.mark.parametrize("scripted", [responses, error_responses], ids=["run", "errors"])
def test_hostile_text_is_inert_in_the_widget_tree(scripted: Any) -> None:
    with LLMServer() as server:
        recorder = run_in_process(server, scripted())
    run = recorder.runs[0]
    markup = [
        value
        for state, _ in walk(run.widget)
        for value in (state.get("value"), state.get("html"))
        if isinstance(value, str)
    ]
    assert sum(MARK in html.unescape(m) for m in markup) >= 2  # the payloads are there, as text
    for value in markup:
        assert not problems(value), (problems(value), value[:500])
    text = "\n".join(t for state, _ in walk(run.widget) for t in texts_of(state))
    assert f"alert('{MARK}-img')" in text  # shown to the person as the characters it is


def test_the_checker_finds_live_markup() -> None:
    for payload in PAYLOADS:
        assert bool(problems(payload)) is ("<" in payload), payload  # the rest is Markdown
    assert problems('<a href=" JaVa\nScript:alert(1)">x</a>')
    assert not problems(html.escape(TEXT)) and not problems('<a href="https://x.org">x</a>')


@pytest.fixture(scope="module")
def kernel() -> Iterator[Kernel]:
    running = Kernel(kernel_env())
    try:
        running.run(
            "%load_ext luxx_nb\nimport luxx_nb, test_faults_hostile as _h\n"
            "luxx_nb.tool(_h.shout)\nhostile = _h.Hostile()"
        )
        yield running
    finally:
        running.close()


@pytest.mark.parametrize("scripted", [responses, error_responses], ids=["run", "errors"])
def test_hostile_text_is_inert_in_every_message_the_kernel_sends(
    kernel: Kernel, scripted: Any
) -> None:
    tools = "--tools shout,get_variable,list_variables"
    with LLMServer() as server:
        server.enqueue(*scripted())
        start = len(kernel.messages)
        cell = kernel.run(f"%%luxx --model m --base-url {server.base_url} {tools}\ngo")
    assert not cell.of("error") and not cell.streams
    sent = kernel.messages[start:]
    comms = [m for m in sent if m["msg_type"] in ("comm_open", "comm_msg")]
    assert comms
    marked = 0
    for message in sent:
        for key, value in markup_of(message):
            marked += MARK in html.unescape(value)
            found = problems(value)
            assert not found, (message["msg_type"], key, found, value[:500])
    assert marked >= 2
