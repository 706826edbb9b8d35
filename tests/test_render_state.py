"""The state of a run (luxx_nb/render/state.py): one reducer, no widgets, no kernel."""

from __future__ import annotations

import subprocess
import sys

from luxx_nb.events import (
    DoneEvent,
    ErrorEvent,
    StatusEvent,
    StepEvent,
    TextBuffer,
    TextStep,
    ThinkingStep,
    ToolCallStep,
    ToolResultStep,
    Usage,
)
from luxx_nb.render.state import Failure, RunState, Text, Thinking, ToolCall, token_count


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def grow(kind, index, parts):
    buffer = TextBuffer()
    for part in parts:
        buffer.append(part)
        yield StepEvent(step=kind._view(index, buffer), delta=part)


def test_items_in_order_with_thinking_timed_and_tools_matched() -> None:
    clock = Clock()
    run = RunState(clock=clock)
    run.start(model="m")
    assert run.state == "connecting" and run.elapsed() == 0.0
    changes = [run.apply(e) for e in grow(ThinkingStep, 0, ["a", "bc"])]
    assert changes[0].new and not changes[1].new and changes[1].fragment == "bc"
    clock.now += 1.5
    call = ToolCallStep(index=1, id_ref="c", name="f", arguments='{"x": 1}')
    change = run.apply(StepEvent(step=call))
    assert change.new and [t.label for t in change.folded] == ["Thought for 1.5 s"]
    result = ToolResultStep(index=2, id_ref="step-1", name="f", content="ok", success=True)
    change = run.apply(StepEvent(step=result))
    assert not change.new and change.item.result is result and change.item.call is call
    for event in grow(TextStep, 3, ["hi"]):
        run.apply(event)
    kinds = [type(item) for item in run.items]
    assert kinds == [Thinking, ToolCall, Text]
    assert [step.index for step in run.steps] == [0, 1, 2, 3]
    assert run.chars == len("abc") + len('{"x": 1}') + len("hi") and run.estimate == run.chars // 4
    assert run.state == "streaming"


def test_tokens_fall_back_once_and_errors_are_kept() -> None:
    def done(completion: int, total: int, count: int) -> DoneEvent:
        usage = Usage(completion_tokens=completion, total_tokens=total)
        return DoneEvent(message_id="x", token_count=count, usage=usage)

    assert [token_count(done(5, 9, 3)), token_count(done(0, 9, 3)), token_count(done(0, 0, 3))] == [
        5,
        9,
        3,
    ]
    run = RunState(clock=Clock())
    run.start(model="m")
    run.apply(done(0, 9, 3))
    assert run.tokens == 9 and run.usage.total_tokens == 9
    change = run.apply(ErrorEvent(message="bad", detail="why"))
    assert change.new and change.item == run.items[-1] and run.error == "bad"
    assert not run.finish("error", "bad again").new  # already reported by an event
    assert run.state == "error" and run.finished


def test_finish_reports_an_unreported_error_and_stops_the_clock() -> None:
    clock = Clock()
    run = RunState(clock=clock)
    run.start(model="m")
    for event in grow(ThinkingStep, 0, ["t"]):
        run.apply(event)
    clock.now += 2
    change = run.finish("error", "No model", "detail")
    assert isinstance(change.item, Failure) and change.item.detail == "detail"
    assert [t.seconds for t in change.folded] == [2]
    clock.now += 5
    assert run.elapsed() == 2


def test_window_and_notice_notes_stay_for_the_run() -> None:
    run = RunState(clock=Clock())
    run.start(model="m")
    run.apply(StatusEvent(state="notice", detail="a server left out"))
    run.apply(StatusEvent(state="window", detail="sent the last 2"))
    run.apply(StatusEvent(state="retrying", detail="in 1 s"))
    assert run.window == "a server left out sent the last 2"
    assert (run.state, run.detail) == ("retrying", "in 1 s")


def test_the_state_loads_no_widget_and_no_ipython() -> None:
    code = (
        "import sys, luxx_nb.render.state;"
        "print(sorted(m for m in ('ipywidgets', 'IPython', 'markdown_it') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
