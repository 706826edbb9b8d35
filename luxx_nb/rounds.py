"""One round of a turn: a request's stream folded into steps, then the round's tool calls run.

``Turn`` is the record of a whole turn (steps, usage, the text and thinking, the window); a
``Round`` is one request and its stream, with at most one thinking and one text step.
``stream_round`` folds a request's deltas into step events; ``run_tools`` runs the round's
calls all at once and leaves a result for every call in the conversation, even when the run is
cut short. Pure logic over the provider's deltas and the tools: no HTTP, no views.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from .accumulate import ToolCall, ToolCallAccumulator
from .approval import STOPPED, ApprovalRequest, Decision, no_front_end
from .config import Settings
from .errors import redact
from .events import (
    DoneEvent,
    ErrorEvent,
    Event,
    FinishDelta,
    ReplayDelta,
    StatusEvent,
    Step,
    StepEvent,
    TextBuffer,
    TextDelta,
    TextStep,
    ThinkingDelta,
    ThinkingStep,
    ToolCallDelta,
    ToolCallStep,
    ToolResultStep,
    Usage,
    UsageDelta,
)
from .providers.wire import REPLAY_KEY, Provider
from .tools import Tool, ToolContext, ToolOutput, invoke
from .tools.result import failure
from .window import Window

__all__ = ["INTERRUPTED_RESULT", "Round", "Turn", "run_tools", "stream_round"]

INTERRUPTED_RESULT = json.dumps(
    {"success": False, "error": "The run was interrupted before this tool finished."}
)


@dataclass
class Turn:
    """Everything one turn produced; kept whole even when the turn is cut short."""

    steps: list[Step] = field(default_factory=list)
    usage: Usage | None = None
    error: ErrorEvent | None = None
    """The error that ended the turn. The agent yields it; whoever runs the turn records it
    (``Chat``, in one place, with the key hidden)."""
    done: DoneEvent | None = None
    iterations: int = 0
    text_parts: list[str] = field(default_factory=list)
    thinking_parts: list[str] = field(default_factory=list)
    window: Window | None = None
    """What the last request sent of the conversation."""
    window_note: str = ""
    """What the requests left out, as the status line says it ("" when nothing)."""
    unsent: list[ToolResultStep] = field(default_factory=list)
    """Results written when the turn was cut short (calls declined while they waited), for
    the views to show after the turn's last event."""
    _count: int = 0

    def next_index(self) -> int:
        """The next step's number: ``step-0`` first, then one more for every step of the turn."""
        index = self._count
        self._count += 1
        return index

    @property
    def text(self) -> str:
        return "\n\n".join(part for part in self.text_parts if part)

    @property
    def thinking(self) -> str:
        return "\n\n".join(part for part in self.thinking_parts if part)

    def record(self, step: Step) -> None:
        """Keep the latest snapshot of each step, in step order."""
        if self.steps and self.steps[-1].index == step.index:
            self.steps[-1] = step
        else:
            self.steps.append(step)


class Round:
    """One request and its stream: at most one thinking and one text step."""

    def __init__(self, turn: Turn) -> None:
        self.turn = turn
        self.thinking: TextBuffer | None = None
        self.text: TextBuffer | None = None
        self.thinking_index = self.text_index = 0
        self.calls = ToolCallAccumulator()
        self.replay: list[ReplayDelta] = []  # the wire's own items, sent back in a tool round
        self.finish: str | None = None  # why the stream ended, as the wire said (``length``)

    @property
    def received(self) -> bool:
        """Whether anything of an answer arrived (text, thinking or a tool call)."""
        return bool(self.text or self.thinking or self.calls)

    def fold(self, delta: ThinkingDelta | TextDelta) -> StepEvent:
        """The event for one fragment; the step's snapshot shares its round's buffer."""
        text = delta.text
        if type(delta) is TextDelta:
            buffer, index, kind = self.text, self.text_index, TextStep
            if buffer is None:
                buffer, index = self._open("text")
        else:
            buffer, index, kind = self.thinking, self.thinking_index, ThinkingStep
            if buffer is None:
                buffer, index = self._open("thinking")
        buffer.append(text)
        step: Step = kind._view(index, buffer)  # type: ignore[assignment]
        steps = self.turn.steps
        if steps and steps[-1].index == index:
            steps[-1] = step
        elif len(steps) > 1 and steps[-2].index == index:  # text, thinking, then text again
            steps[-2] = step
        else:
            steps.append(step)
        return StepEvent(step=step, delta=text)

    def _open(self, kind: str) -> tuple[TextBuffer, int]:
        turn, buffer = self.turn, TextBuffer()
        index = turn.next_index()
        if kind == "text":
            self.text, self.text_index = buffer, index
            turn.text_parts.append("")
        else:
            self.thinking, self.thinking_index = buffer, index
            turn.thinking_parts.append("")
        return buffer, index

    def settle(self) -> None:
        """Write this round's text into the turn's parts (once the round's stream is over)."""
        if self.thinking is not None:
            self.turn.thinking_parts[-1] = self.thinking.text()
        if self.text is not None:
            self.turn.text_parts[-1] = self.text.text()

    def assistant_message(self, calls: list[ToolCall] | None = None) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": self.text.text() if self.text else "",
        }
        if calls:
            message["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments or "{}"},
                }
                for call in calls
            ]
            if self.thinking is not None:
                message["reasoning_content"] = self.thinking.text()
            if self.replay:
                items = [delta.item for delta in self.replay]
                message[REPLAY_KEY] = {"wire": self.replay[0].wire, "items": items}
        return message


async def stream_round(
    provider: Provider, client: Any, body: dict[str, Any], round_: Round
) -> AsyncIterator[Event]:
    """One request: text and thinking become step events, tool-call fragments accumulate."""
    yield StatusEvent(state="connecting", detail=body["model"])
    streaming = False
    fold, calls, turn = round_.fold, round_.calls, round_.turn
    async with aclosing(provider.batches(client, body)) as batches:
        async for batch in batches:
            if isinstance(batch, StatusEvent):
                yield batch
                continue
            for item in batch:
                kind = type(item)
                if kind is TextDelta or kind is ThinkingDelta:
                    if not streaming:
                        streaming = True
                        yield StatusEvent(state="streaming", detail=body["model"])
                    yield fold(item)  # type: ignore[arg-type]
                elif kind is ToolCallDelta:
                    calls.add(item)  # type: ignore[arg-type]
                elif kind is UsageDelta:
                    turn.usage = item.usage  # type: ignore[union-attr]
                elif kind is ReplayDelta:
                    round_.replay.append(item)  # type: ignore[arg-type]
                elif kind is FinishDelta:
                    round_.finish = item.reason  # type: ignore[union-attr]


async def run_tools(
    calls: list[ToolCall],
    tools: Mapping[str, Tool],
    settings: Settings,
    context: Callable[[str], ToolContext],
    messages: list[dict[str, Any]],
    turn: Turn,
    secret: str | None = None,
    approve: Callable[[ApprovalRequest], Awaitable[Decision]] | None = None,
) -> AsyncIterator[Event]:
    """Emit the calls, run them all at once, emit each result as it comes.

    A call of a tool marked ``approve`` waits for ``approve``'s decision (each on its own,
    side by side) and runs only when approved; declined, its result is a failure the model
    reads. A result never carries the API key (a tool may have read it from the
    environment), not to the model, not to a view.
    """
    call_steps: dict[str, ToolCallStep] = {}
    for call in calls:
        step = ToolCallStep(
            index=turn.next_index(), id_ref=call.id, name=call.name, arguments=call.arguments
        )
        call_steps[call.id] = step
        turn.record(step)
        yield StepEvent(step=step)
    yield StatusEvent(state="running_tools", detail=", ".join(c.name for c in calls))

    ran: set[str] = set()  # approved (or free) calls that started

    async def one(call: ToolCall) -> tuple[ToolCall, Any, Decision | None]:
        tool, decision = tools.get(call.name), None
        if tool is not None and tool.approve:
            request = ApprovalRequest(call.id, call.name, call.arguments)
            decision = no_front_end(request) if approve is None else await approve(request)
            if not decision.approved:
                return call, failure(decision.message), decision
        ran.add(call.id)
        output = await invoke(
            tools,
            call.name,
            call.arguments,
            context(call.id),
            timeout=settings.tool_timeout,
            max_chars=settings.max_result_chars,
        )
        return call, _scrub(output, secret), decision

    tasks = [asyncio.ensure_future(one(call)) for call in calls]
    answered: set[str] = set()
    try:
        for next_done in asyncio.as_completed(tasks):
            call, output, decision = await next_done
            step = ToolResultStep(
                index=turn.next_index(),
                id_ref=call_steps[call.id].id,
                name=call.name,
                content=output.content,
                success=output.success,
                detail=output.detail,
                output=output.output,
                variables=output.variables,
                images=output.images,
                html=output.html,
                decision=decision.label if decision else "",
            )
            turn.record(step)
            messages.append({"role": "tool", "tool_call_id": call.id, "content": output.content})
            answered.add(call.id)
            yield StepEvent(step=step)
    finally:
        for task in tasks:
            task.cancel()
        for call in calls:
            if call.id not in answered:
                content = INTERRUPTED_RESULT
                tool = tools.get(call.name)
                if tool is not None and tool.approve and call.id not in ran:
                    declined = failure(Decision(False, "luxx", STOPPED).message)
                    content = declined.content
                    step = ToolResultStep(
                        index=turn.next_index(),
                        id_ref=call_steps[call.id].id,
                        name=call.name,
                        content=content,
                        success=False,
                        decision=STOPPED,
                    )
                    turn.record(step)
                    turn.unsent.append(step)
                messages.append({"role": "tool", "tool_call_id": call.id, "content": content})


def _scrub(output: ToolOutput, secret: str | None) -> ToolOutput:
    if not secret:
        return output
    return dataclasses.replace(
        output,
        content=redact(output.content, secret),
        detail=output.detail and redact(output.detail, secret),
        output=redact(output.output, secret),
        html=tuple(redact(fragment, secret) for fragment in output.html),
    )
