"""The live widget tree, checked through get_state() and a recording comm (no frontend)."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import comm
import ipywidgets
import pytest
from comm.base_comm import BaseComm
from support.sample_run import ANSWER, growing, replay, sample_events

from benchmarks.harness import max_per_second  # the benchmark's own window count
from luxx_nb.events import (
    DoneEvent,
    Event,
    StatusEvent,
    StepEvent,
    TextStep,
    ThinkingStep,
    ToolCallStep,
    ToolResultStep,
    Usage,
)
from luxx_nb.render import ChatView, Renderer, RunWidget, render_markdown
from luxx_nb.render.formatting import call_title
from luxx_nb.render.live.parts import ErrorView, ToolCallView
from luxx_nb.render.live.stream import StreamWidget, common_prefix_length, utf16_length
from luxx_nb.render.live.tree import FLUSH_INTERVAL, WARMUP_INTERVAL


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


async def next_turns() -> None:
    """Two turns of the event loop: a callback due now (``call_later(0)``) has run.

    The task's own wake-up is queued before a timer that falls due in the same turn, so
    one ``sleep(0)`` is not enough; no wall clock is involved, so load cannot fail it."""
    await asyncio.sleep(0)
    await asyncio.sleep(0)


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
        await asyncio.sleep(FLUSH_INTERVAL)  # a new step shows at the next flush, at once
        thinking = run.children[1]
        during = thinking.get_state()["expanded"]
        for event in growing(TextStep, 1, ["answer"]):
            run.handle(event)
        await asyncio.sleep(2 * FLUSH_INTERVAL)
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
    (details,) = body.children  # arguments and result in one widget
    assert details.value.index("arguments") < details.value.index("result")
    assert "max-height" in details.value and "overflow:auto" in details.value
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


def test_the_first_fragment_goes_out_at_the_next_turn_of_the_loop(wire: Wire) -> None:
    """Even right after a status flush: a run's first step does not wait out the pacing.

    At full speed the loop gets control only between network reads, so a flush timer set
    even 30 ms ahead fires much later than that; the first fragment must not be behind one.
    """

    async def scenario() -> list[dict[str, Any]]:
        run = RunWidget()
        run.start(model="m")
        run.handle(StatusEvent(state="connecting"))
        await asyncio.sleep(0.002)  # that flush runs: the last flush is a moment ago
        assert run._throttle._last > 0
        for event in growing(TextStep, 0, ["Hello", " there"]):
            run.handle(event)
        await asyncio.sleep(0.002)  # well inside one flush interval
        streams = [c for c in run.children if isinstance(c, StreamWidget)]
        return wire.custom(streams[0]) if streams else []

    sent = asyncio.run(scenario())
    assert sent and sent[0]["type"] == "delta" and "Hello there" in sent[0]["add"], sent


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

    async def scenario() -> tuple[RunWidget, float, float, bool]:
        run = RunWidget()
        run.start(model="m")
        events = list(growing(TextStep, 0, fragments))  # the test's own setup, not timed
        started = time.monotonic()
        run.handle(events[0])
        await next_turns()
        first_shown = bool(wire.after(started))  # at the loop's next turn, not after a timer
        await asyncio.sleep(0.15)
        for index in range(1, len(events), 50):
            for event in events[index : index + 50]:
                run.handle(event)
            await asyncio.sleep(0.012)
        streamed = time.monotonic() - started
        run.finish("done")
        return run, started, streamed, first_shown

    run, started, streamed, first_shown = asyncio.run(scenario())
    stream = run.children[1]
    deltas = [m for m in wire.custom(stream) if m["type"] == "delta"]
    traffic = sum(m.size for m in wire.after(started))
    assert first_shown
    assert len(deltas) <= 30 * streamed + 3
    assert traffic < 3 * len(text.encode()) + 1024 * len(deltas)
    page: dict[str, Any] = {"version": 0, "blocks": [], "tail": ""}
    for message in wire.custom(stream):
        page_apply(page, message)
    assert "".join(page["blocks"]) + page["tail"] == stream.full_html() == render_markdown(text)
    assert stream.html == ""  # long: kept in the kernel as blocks, not sent again whole
    print(f"\n{traffic / len(text):.2f} bytes per character, {len(deltas)} flushes")


def tool_round(index: int, *, thinking: bool = False) -> list[Event]:
    """One round of a tool loop as the agent emits it: (thinking,) a call, its result."""
    events: list[Event] = [StatusEvent(state="streaming")]
    if thinking:
        events += growing(ThinkingStep, index, [f"Round {index}: ", "I look it up."])
        index += 1
    call = ToolCallStep(index=index, id_ref=f"c{index}", name="lookup", arguments=ARGUMENTS)
    events += [
        StepEvent(step=call),
        StatusEvent(state="running_tools", detail="lookup"),
        StepEvent(
            step=ToolResultStep(
                index=index + 1,
                id_ref=call.id,
                name="lookup",
                content=f"found {index} <b>",
                success=True,
                output="looked\n",
                variables=("sales",),
            )
        ),
    ]
    return events


ARGUMENTS = json.dumps({"query": "x" * 400})


def test_tool_rounds_cost_few_messages(wire: Wire) -> None:
    rounds = 20

    async def scenario() -> tuple[RunWidget, float, float]:
        run = RunWidget()
        run.start(model="m")
        started = time.monotonic()
        run.handle(tool_round(0)[1])  # the run's first step: shown at once
        await next_turns()
        first_shown = bool(wire.after(started))
        for number in range(rounds):
            for event in tool_round(2 * number)[2 if number == 0 else 0 :]:
                run.handle(event)
            await asyncio.sleep(0.004)
        run.finish("done")
        return run, started, first_shown

    run, started, first_shown = asyncio.run(scenario())
    sent = [m for m in wire.messages if m.at >= started]
    opened = [m for m in sent if m.kind == "comm_open"]
    assert first_shown
    assert [type(view) for view in run.children[1:]] == [ToolCallView] * rounds
    assert all(view.titles[0].startswith("✓ lookup(") for view in run.children[1:])
    assert len(opened) <= 3 * rounds  # an accordion, its body, one HTML: no layout, no style
    assert len(sent) <= 5 * rounds, f"{len(sent) / rounds:.1f} messages a round"
    print(f"\n{len(sent) / rounds:.1f} messages a round, {len(opened)} widgets opened")


def test_tool_steps_flush_at_most_30_times_a_second(
    wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    flushes: list[tuple[float, float]] = []
    flush = RunWidget._flush

    def timed(self: RunWidget) -> None:
        began = time.monotonic()
        flush(self)
        flushes.append((began, time.monotonic()))

    monkeypatch.setattr(RunWidget, "_flush", timed)
    stalls: list[tuple[float, float, float]] = []  # (slept at, woke at, how late it woke)

    async def scenario() -> tuple[float, float]:
        run = RunWidget()
        run.start(model="m")
        started = time.monotonic()
        index = 0
        while time.monotonic() - started < 1.5:  # a new step every 2 ms: 500 a second
            for event in tool_round(index, thinking=True):
                run.handle(event)
                asked = time.monotonic()
                await asyncio.sleep(0.002)
                woke = time.monotonic()
                stalls.append((asked, woke, woke - asked - 0.002))
            index += 3
        ended = time.monotonic()
        run.finish("done")
        return started, ended

    started, ended = asyncio.run(scenario())
    streaming = [m for m in wire.messages if started <= m.at < ended]
    # Every message leaves in a flush: nothing is sent as its event arrives.
    assert all(any(a <= m.at <= b for a, b in flushes) for m in streaming)
    starts = [a for a, _ in flushes]
    assert max_per_second(starts) <= 30, max_per_second(starts)
    # Kept up to date: no gap between flushes longer than the pacing allows, beyond the time
    # the whole loop stood still (a loaded machine: the test's own 2 ms sleeps that woke over
    # 10 ms late; a throttle that stopped flushing would not delay them).
    late = [
        (b - a) - sum(lag for asked, woke, lag in stalls if lag > 0.01 and a <= woke and asked <= b)
        for a, b in itertools.pairwise(starts)
    ]
    assert len(starts) >= 20 and max(late) < WARMUP_INTERVAL + 0.05, late
    print(f"\n{len(starts)} flushes, {len(streaming)} messages")


def test_tool_steps_show_in_order_with_their_results(wire: Wire) -> None:
    events: list[Event] = []
    for number in range(20):
        events += tool_round(3 * number, thinking=True)
    events += growing(TextStep, 60, ["The answer ", "is here."])

    async def scenario() -> RunWidget:
        run = RunWidget()
        await replay(run, events, model="m", delay=0.0)
        return run

    run = asyncio.run(scenario())
    kinds = [getattr(child, "kind", type(child).__name__) for child in run.children[1:]]
    assert kinds == ["thinking", "ToolCallView"] * 20 + ["text"]
    for number, view in enumerate(run.children[2:-1:2]):
        assert isinstance(view, ToolCallView) and view.selected_index is None
        assert view.call_id == f"step-{3 * number + 1}"
        assert view.titles == (f"✓ {call_title('lookup', ARGUMENTS)} · read: sales",)
        (body,) = view.children
        (details,) = body.children
        value = details.value
        for part in ("arguments", "x" * 400, "result", f"found {3 * number + 1} &lt;b&gt;"):
            assert part in value
        assert value.index("arguments") < value.index("result") < value.index("printed")
        assert "variables read: sales" in value and "<b>" not in value
    thinking = run.children[1::2][:20]
    assert all(not view.expanded and view.label.startswith("Thought for") for view in thinking)
    assert run.children[-1].html == render_markdown("The answer is here.")


def test_a_result_after_its_call_updates_two_traits(wire: Wire) -> None:
    async def scenario() -> tuple[RunWidget, list[Message]]:
        run = RunWidget()
        run.start(model="m")
        call, _, result = tool_round(0)[1:]
        run.handle(call)
        await asyncio.sleep(0.01)
        before = len(wire.messages)
        run.handle(result)
        await asyncio.sleep(WARMUP_INTERVAL + 0.05)
        sent = wire.messages[before:]
        run.finish("done")
        return run, sent

    run, sent = asyncio.run(scenario())
    view = run.children[1]
    assert isinstance(view, ToolCallView)
    html = view.children[0].children[0]
    changed = {m.comm_id: set(m.data["state"]) for m in sent if m.kind == "comm_msg"}
    assert not [m for m in sent if m.kind == "comm_open"]
    assert changed.pop(view.model_id) == {"titles"}
    assert changed.pop(html.model_id) == {"value"}
    assert set(changed) <= {run.children[0].model_id}  # and the status line
    assert "result" in html.value and view.titles[0].startswith("✓ ")


def test_thinking_folds_when_a_tool_call_shows(wire: Wire) -> None:
    async def scenario() -> tuple[list[str], bool, bool, bool]:
        run = RunWidget()
        run.start(model="m")
        first, *rest = tool_round(0, thinking=True)[1:]
        run.handle(first)
        await asyncio.sleep(FLUSH_INTERVAL)
        thinking = run.children[1]
        during = thinking.expanded
        for event in rest:
            run.handle(event)
        await asyncio.sleep(WARMUP_INTERVAL + 0.05)
        kinds = [type(child).__name__ for child in run.children[1:]]
        after = thinking.expanded
        run.finish("done")
        return kinds, during, after, thinking.label.startswith("Thought for")

    kinds, during, after, labelled = asyncio.run(scenario())
    assert kinds == ["StreamWidget", "ToolCallView"]
    assert during is True and after is False and labelled


def test_the_first_streams_widget_opens_with_the_run_before_its_first_fragment(wire: Wire) -> None:
    """Measured in JupyterLab (``benchmarks/page.py``, #18): with the stream widget opened at
    the first fragment, the page dispatched that fragment 26 to 37 ms after the server sent it
    (the page was still making the model); opened with the run, 6 to 9 ms."""

    async def scenario(steps: list[tuple[type, str]]) -> tuple[RunWidget, Any]:
        run = RunWidget()
        run.start(model="m")
        early = run._spare
        for index, (step, text) in enumerate(steps):
            for event in growing(step, index, [text]):
                run.handle(event)
            await next_turns()
        run.finish("done")
        return run, early

    run, early = asyncio.run(scenario([(ThinkingStep, "hmm"), (TextStep, "Hi.")]))
    thinking, text = run.children[1], run.children[2]
    assert early is thinking  # opened before the first fragment, shown with it, as thinking
    assert thinking.kind == "thinking" and thinking.label.startswith("Thought for")
    assert text.kind == "text" and text.html == render_markdown("Hi.")
    sent = [m.data for m in wire.messages if m.comm_id == thinking.model_id]
    assert sent[0]["state"]["kind"] == "text"  # then changed before any fragment went out
    kind_at = next(i for i, d in enumerate(sent) if d.get("state", {}).get("kind") == "thinking")
    first_delta = next(i for i, d in enumerate(sent) if d.get("method") == "custom")
    assert kind_at < first_delta

    async def no_stream() -> StreamWidget:
        run = RunWidget()
        run.start(model="m")
        spare = run._spare
        assert spare is not None and spare.comm is not None
        run.handle(StepEvent(step=ToolCallStep(index=0, id_ref="c", name="f", arguments="{}")))
        await next_turns()
        run.finish("done")
        return spare

    assert asyncio.run(no_stream()).comm is None  # never shown: closed with the run
