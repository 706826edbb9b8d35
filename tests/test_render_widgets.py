"""The live widget tree, checked through get_state() and a recording comm (no frontend)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import comm
import ipywidgets
import pytest
from comm.base_comm import BaseComm

from luxx_nb.events import DoneEvent, TextStep, ThinkingStep, Usage
from luxx_nb.render import ChatView, Renderer, RunWidget, render_markdown
from luxx_nb.render.demo import ANSWER, growing, replay, sample_events
from luxx_nb.render.parts import ErrorView, ToolCallView
from luxx_nb.render.stream import StreamWidget, common_prefix_length, utf16_length


@dataclass
class Message:
    kind: str
    comm_id: str
    data: dict[str, Any]
    at: float = field(default_factory=time.monotonic)

    @property
    def size(self) -> int:
        return len(json.dumps(self.data, ensure_ascii=False).encode())


class Wire:
    """Every comm message the kernel side sends, as a frontend would receive them."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def custom(self, widget: ipywidgets.Widget) -> list[dict[str, Any]]:
        return [
            m.data["content"]
            for m in self.messages
            if m.comm_id == widget.model_id and m.data.get("method") == "custom"
        ]

    def after(self, start: float) -> list[Message]:
        return [m for m in self.messages if m.at >= start and m.kind == "comm_msg"]


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Iterator[Wire]:
    recorded = Wire()

    class RecordingComm(BaseComm):
        def publish_msg(self, msg_type: str, data: Any = None, *args: Any, **kw: Any) -> None:
            recorded.messages.append(Message(msg_type, self.comm_id, data or {}))

    monkeypatch.setattr(comm, "create_comm", RecordingComm)
    yield recorded


def descendants(widget: ipywidgets.Widget) -> Iterator[ipywidgets.Widget]:
    yield widget
    for child in getattr(widget, "children", ()):
        yield from descendants(child)


def html_values(widget: ipywidgets.Widget) -> list[str]:
    values = []
    for node in descendants(widget):
        state = node.get_state()
        values += [state[key] for key in ("value", "html") if isinstance(state.get(key), str)]
    return values


def page_apply(state: dict[str, Any], message: dict[str, Any]) -> None:
    """The frontend's bookkeeping (stream.js ``receive``), with JavaScript's UTF-16 lengths."""
    if message["type"] == "snapshot":
        state.update(version=message["version"], blocks=list(message["blocks"]))
        state["tail"] = message["tail"]
        return
    assert message["version"] == state["version"] + 1
    units = state["tail"].encode("utf-16-le")[: 2 * message["keep"]]
    text = units + message["add"].encode("utf-16-le")
    at = 0
    for length in message["blocks"]:
        state["blocks"].append(text[at : at + 2 * length].decode("utf-16-le"))
        at += 2 * length
    state["tail"] = text[at:].decode("utf-16-le")
    state["version"] = message["version"]


def run_sample() -> RunWidget:
    run = RunWidget()
    asyncio.run(replay(run, sample_events(), model="gpt-test", delay=0.002))
    return run


def test_run_widget_is_a_renderer_with_a_stable_repr(wire: Wire) -> None:
    run = RunWidget(model="m")
    assert isinstance(run, Renderer)
    assert repr(run) == "<luxx run: m>"
    assert run._repr_mimebundle_()["text/plain"] == "<luxx run: m>"


def test_steps_appear_in_order(wire: Wire) -> None:
    run = run_sample()
    kinds = [type(child).__name__ for child in run.children[1:]]
    assert kinds == ["StreamWidget", "ToolCallView", "ToolCallView", "StreamWidget", "ErrorView"]
    thinking, text = run.children[1], run.children[4]
    assert thinking.kind == "thinking" and text.kind == "text"
    assert text.html == render_markdown("".join(ANSWER))


def test_thinking_is_open_while_it_streams_and_collapses_when_text_starts(wire: Wire) -> None:
    async def scenario() -> tuple[bool, bool, str]:
        run = RunWidget()
        run.start(model="m")
        for event in growing(ThinkingStep, 0, ["a", "b"]):
            run.handle(event)
        thinking = run.children[1]
        during = thinking.get_state()["expanded"]
        for event in growing(TextStep, 1, ["answer"]):
            run.handle(event)
        after = thinking.get_state()["expanded"]
        run.finish("done")
        return during, after, thinking.label

    during, after, label = asyncio.run(scenario())
    assert during is True and after is False
    assert label.startswith("Thought for")


def test_tool_calls_are_collapsed_accordions_with_results(wire: Wire) -> None:
    run = run_sample()
    ok, failed = run.children[2], run.children[3]
    assert isinstance(ok, ToolCallView) and isinstance(failed, ToolCallView)
    assert ok.get_state()["titles"] == ('✓ get_weather(city="Paris")',)
    assert failed.get_state()["titles"] == ('✗ read_variable(name="df")',)
    assert ok.selected_index is None and failed.selected_index is None
    body = ok.children[0]
    result_html = body.children[1].value
    assert "max-height" in result_html and "overflow:auto" in result_html
    traceback = failed.children[0].children[-1]
    assert isinstance(traceback, ipywidgets.Accordion) and traceback.selected_index is None
    assert "Traceback" in traceback.children[0].value


def test_errors_show_the_message_and_hide_the_detail(wire: Wire) -> None:
    error = run_sample().children[5]
    assert isinstance(error, ErrorView)
    line, detail = error.children
    assert "The server closed the stream" in line.value
    assert isinstance(detail, ipywidgets.Accordion) and detail.selected_index is None


def test_hostile_strings_are_escaped_everywhere(wire: Wire) -> None:
    values = html_values(run_sample())
    assert any("&lt;img src=x onerror=alert(1)&gt;" in value for value in values)
    for value in values:
        assert "<img" not in value and "<script" not in value
    for message in wire.messages:
        assert "<img" not in json.dumps(message.data.get("content", ""))


def test_status_ends_in_done_with_the_providers_token_count(wire: Wire) -> None:
    run = run_sample()
    status = run.children[0].value
    assert "gpt-test" in status and ">done<" in status
    assert status.endswith("42 tokens</div>")
    assert run.state == "done"


def test_status_estimates_tokens_while_streaming(wire: Wire) -> None:
    run = RunWidget()
    run.start(model="m", local=True)
    for event in growing(TextStep, 0, ["x" * 400]):
        run.handle(event)
    status = run.children[0].value
    assert "streaming" in status and "~100 tokens" in status and "tiny model" in status
    run.handle(DoneEvent(message_id="1", token_count=7, usage=Usage(completion_tokens=7)))
    run.finish("done")
    assert " · 7 tokens" in run.children[0].value


def test_finish_with_an_error_and_no_error_event_shows_it(wire: Wire) -> None:
    run = RunWidget()
    run.start(model="m")
    run.finish("error", "boom <b>", "trace")
    assert isinstance(run.children[1], ErrorView)
    assert "boom &lt;b&gt;" in run.children[1].children[0].value
    run.handle(DoneEvent(message_id="1", token_count=1, usage=Usage()))  # ignored after finish
    assert len(run.children) == 2


def test_works_without_a_running_loop(wire: Wire) -> None:
    run = RunWidget()
    run.start(model="m")
    for event in growing(TextStep, 0, ["Hello ", "*world*"]):
        run.handle(event)
    run.finish("interrupted")
    assert run.children[1].html == "<p>Hello <em>world</em></p>\n"
    assert "interrupted" in run.children[0].value


def test_a_late_view_gets_a_snapshot(wire: Wire) -> None:
    stream = StreamWidget()
    stream.append("para one\n\npara two")
    stream.flush()
    stream._handle_custom_msg({"type": "sync"}, [])
    snapshot = wire.custom(stream)[-1]
    assert snapshot["type"] == "snapshot"
    assert "".join(snapshot["blocks"]) + snapshot["tail"] == render_markdown("para one\n\npara two")


def test_utf16_lengths_and_common_prefix() -> None:
    assert utf16_length("a🙂b") == 4 and utf16_length("abc") == 3
    assert common_prefix_length("<p>abc</p>", "<p>abcd</p>") == 6
    assert common_prefix_length("same", "same") == 4 and common_prefix_length("", "x") == 0


def test_chat_view_collects_runs(wire: Wire) -> None:
    class FakeChat:
        def __init__(self) -> None:
            self.views: list[Any] = []

        def add_view(self, view: Any) -> None:
            self.views.append(view)

    chat = FakeChat()
    view = ChatView(chat)
    assert chat.views == [view] and repr(view) == "<luxx chat view>"
    first = view.open_run(model="a")
    second = view.open_run(model="b", local=True)
    assert isinstance(first, RunWidget) and view.children == (first, second)
    asyncio.run(replay(second, sample_events()))
    view.clear()
    assert view.children == ()


def test_traffic_is_linear_in_the_answer_and_flushes_are_throttled(wire: Wire) -> None:
    sentence = "Streaming is fun 🙂 "  # 20 characters, one outside the BMP
    fragments = [sentence] * 4900 + ["\n\n" + sentence[:18]] * 100
    text = "".join(fragments)

    async def scenario() -> tuple[RunWidget, float, float, float]:
        run = RunWidget()
        run.start(model="m")
        events = list(growing(TextStep, 0, fragments))  # the test's own setup, not timed
        started = time.monotonic()
        run.handle(events[0])
        await asyncio.sleep(0.15)
        first_seen = wire.after(started)
        first_delay = first_seen[0].at - started if first_seen else float("inf")
        for index in range(1, len(events), 50):
            for event in events[index : index + 50]:
                run.handle(event)
            await asyncio.sleep(0.012)
        streamed = time.monotonic() - started
        run.finish("done")
        return run, started, streamed, first_delay

    run, started, streamed, first_delay = asyncio.run(scenario())
    stream = run.children[1]
    deltas = [m for m in wire.custom(stream) if m["type"] == "delta"]
    traffic = sum(m.size for m in wire.after(started))
    assert first_delay < 0.1
    assert len(deltas) <= 30 * streamed + 3
    assert traffic < 3 * len(text.encode()) + 1024 * len(deltas)
    page: dict[str, Any] = {"version": 0, "blocks": [], "tail": ""}
    for message in wire.custom(stream):
        page_apply(page, message)
    assert "".join(page["blocks"]) + page["tail"] == stream.full_html() == render_markdown(text)
    assert stream.html == ""  # long: kept in the kernel as blocks, not sent again whole
    print(f"\n{traffic / len(text):.2f} bytes per character, {len(deltas)} flushes")
