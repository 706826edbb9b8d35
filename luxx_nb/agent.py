"""The agent loop: stream a completion, fold deltas into steps, run tools, go round.

``run_turn`` is an async generator of events. It appends to the conversation it is given as
it goes, and whatever way it ends (done, error, the iteration cap, cancellation by a kernel
interrupt) it leaves that conversation valid for the next request: partial text is kept as
an assistant message, and a tool call left without a result gets one saying why.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import traceback
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import ContextTooSmallError, HTTPStatusError, LuxxError, ProviderError, redact
from .events import (
    DoneEvent,
    ErrorEvent,
    Event,
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
from .providers.wire import REPLAY_KEY
from .tools import Tool, ToolContext, ToolOutput, invoke
from .window import (
    MAX_REFUSALS,
    ContextOverflow,
    TokenEstimate,
    Window,
    Windower,
    context_overflow,
    with_system,
)

if TYPE_CHECKING:
    from .providers.openai import OpenAIProvider

__all__ = ["ITERATION_LIMIT_MESSAGE", "Settings", "ToolCallAccumulator", "Turn", "run_turn"]

ITERATION_LIMIT_MESSAGE = "Exceeded maximum tool call iterations"
INTERRUPTED_RESULT = json.dumps(
    {"success": False, "error": "The run was interrupted before this tool finished."}
)


@dataclass(kw_only=True)
class Settings:
    """What one turn sends and how far it may go."""

    model: str
    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    thinking: bool | None = None
    max_iterations: int = 10
    tool_timeout: float = 60.0
    max_result_chars: int = 20_000
    extra_body: dict[str, Any] | None = None


@dataclass
class _Call:
    id: str = ""
    name: str = ""
    arguments: str = ""


class ToolCallAccumulator:
    """Folds tool-call fragments into whole calls, in order of first appearance.

    Keyed by ``index``; a fragment without one continues the last call unless it brings a
    new id. An id or name that arrives again, or arrives empty, never overwrites.
    """

    def __init__(self) -> None:
        self._calls: dict[Any, _Call] = {}
        self._last: Any = None

    def add(self, delta: ToolCallDelta) -> None:
        key: Any = delta.index
        if key is None:
            last = self._calls.get(self._last)
            new_id = delta.id and (last is None or (last.id and last.id != delta.id))
            key = ("unindexed", len(self._calls)) if new_id or last is None else self._last
        call = self._calls.setdefault(key, _Call())
        self._last = key
        if delta.id and not call.id:
            call.id = delta.id
        if delta.name and delta.name != call.name:
            call.name += delta.name
        if delta.arguments:
            call.arguments += delta.arguments

    def calls(self) -> list[_Call]:
        for call in self._calls.values():
            call.id = call.id or f"call_{uuid.uuid4().hex[:24]}"
        return list(self._calls.values())

    def __bool__(self) -> bool:
        return bool(self._calls)


@dataclass
class Turn:
    """Everything one turn produced; kept whole even when the turn is cut short."""

    steps: list[Step] = field(default_factory=list)
    usage: Usage | None = None
    error: ErrorEvent | None = None
    done: DoneEvent | None = None
    iterations: int = 0
    text_parts: list[str] = field(default_factory=list)
    thinking_parts: list[str] = field(default_factory=list)
    window: Window | None = None
    """What the last request sent of the conversation."""
    window_note: str = ""
    """What the requests left out, as the status line says it ("" when nothing)."""
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


class _Round:
    """One request and its stream: at most one thinking and one text step."""

    def __init__(self, turn: Turn) -> None:
        self.turn = turn
        self.thinking: TextBuffer | None = None
        self.text: TextBuffer | None = None
        self.thinking_index = self.text_index = 0
        self.calls = ToolCallAccumulator()
        self.replay: list[ReplayDelta] = []  # the wire's own items, sent back in a tool round

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

    def assistant_message(self, calls: list[_Call] | None = None) -> dict[str, Any]:
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


async def run_turn(
    *,
    provider: OpenAIProvider,
    messages: list[dict[str, Any]],
    tools: Mapping[str, Tool],
    settings: Settings,
    context: Callable[[str], ToolContext],
    turn: Turn,
    windower: Windower | None = None,
) -> AsyncIterator[Event]:
    """Events of one turn. ``messages`` is the conversation; it is extended in place.

    Each request sends the window of it that ``windower`` picks (``window.py``); a request
    refused as too long for the model's context is sent again, smaller, a few times at most.
    """
    definitions = [t.definition() for t in tools.values()]
    if windower is None:
        windower = Windower(estimate=TokenEstimate(), system=settings.system)
    windower.extra_chars = len(json.dumps(definitions, ensure_ascii=False)) if definitions else 0
    async with provider.client() as client:
        for iteration in range(1, settings.max_iterations + 1):
            turn.iterations = iteration
            refusals, retry = 0, None
            while True:
                round_ = _Round(turn)
                try:
                    window = retry or windower.window(messages)
                except ContextTooSmallError as exc:
                    turn.error = _error_event(exc)
                    yield turn.error
                    return
                turn.window, note = window, window.note()
                if note and note != turn.window_note:
                    turn.window_note = note
                    yield StatusEvent(state="window", detail=note)
                body = _body(provider, settings, window.messages, definitions)
                usage = turn.usage
                try:
                    async with aclosing(_stream_round(provider, client, body, round_)) as events:
                        async for event in events:
                            yield event
                except BaseException as exc:
                    overflow = _overflow(exc, round_)
                    if overflow is not None and refusals < MAX_REFUSALS:
                        refusals += 1
                        try:
                            retry = windower.refused(overflow, window, messages)
                        except ContextTooSmallError as too_small:
                            exc, retry = too_small, None  # the server's numbers say so
                        if retry is not None:
                            continue
                    round_.settle()
                    if round_.text is not None or round_.thinking is not None:
                        messages.append(round_.assistant_message())
                    if not isinstance(exc, Exception):
                        raise
                    turn.error = _error_event(exc, provider.api_key)
                    yield turn.error
                    return
                if turn.usage is not None and turn.usage is not usage:
                    windower.learn(window, turn.usage.prompt_tokens)
                break
            round_.settle()
            calls = round_.calls.calls()
            messages.append(round_.assistant_message(calls))
            if not calls:
                turn.done = _done_event(turn)
                yield turn.done
                return
            running = _run_tools(calls, tools, settings, context, messages, turn, provider.api_key)
            async with aclosing(running) as ev:
                async for event in ev:
                    yield event
    turn.error = ErrorEvent(message=ITERATION_LIMIT_MESSAGE, kind="iterations")
    yield turn.error


def _body(
    provider: OpenAIProvider,
    settings: Settings,
    messages: list[Any],
    definitions: list[dict[str, Any]],
) -> dict[str, Any]:
    """The request of one round, in the shape of the provider's wire."""
    return provider.request_body(
        model=settings.model,
        messages=with_system(settings.system, messages),
        tools=definitions,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        thinking=settings.thinking,
        extra=settings.extra_body,
    )


def _overflow(exc: BaseException, round_: _Round) -> ContextOverflow | None:
    """What a refusal says of the context, when the request was refused before any answer."""
    if not isinstance(exc, HTTPStatusError) or round_.text or round_.thinking or round_.calls:
        return None
    return context_overflow(exc.status_code, exc.message, exc.detail)


async def _stream_round(
    provider: OpenAIProvider, client: Any, body: dict[str, Any], round_: _Round
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


async def _run_tools(
    calls: list[_Call],
    tools: Mapping[str, Tool],
    settings: Settings,
    context: Callable[[str], ToolContext],
    messages: list[dict[str, Any]],
    turn: Turn,
    secret: str | None = None,
) -> AsyncIterator[Event]:
    """Emit the calls, run them all at once, emit each result as it comes.

    A result never carries the API key (a tool may have read it from the environment), not
    to the model, not to a view.
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

    async def one(call: _Call) -> tuple[_Call, Any]:
        output = await invoke(
            tools,
            call.name,
            call.arguments,
            context(call.id),
            timeout=settings.tool_timeout,
            max_chars=settings.max_result_chars,
        )
        return call, _scrub(output, secret)

    tasks = [asyncio.ensure_future(one(call)) for call in calls]
    answered: set[str] = set()
    try:
        for next_done in asyncio.as_completed(tasks):
            call, output = await next_done
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
                messages.append(
                    {"role": "tool", "tool_call_id": call.id, "content": INTERRUPTED_RESULT}
                )


def _done_event(turn: Turn) -> DoneEvent:
    usage = turn.usage or Usage()
    count = usage.completion_tokens if turn.usage else len(turn.text) // 4
    return DoneEvent(message_id=f"msg-{uuid.uuid4().hex}", token_count=count, usage=usage)


def _scrub(output: ToolOutput, secret: str | None) -> ToolOutput:
    if not secret:
        return output
    return dataclasses.replace(
        output,
        content=redact(output.content, secret),
        detail=output.detail and redact(output.detail, secret),
        output=redact(output.output, secret),
    )


def _error_event(exc: BaseException, secret: str | None = None) -> ErrorEvent:
    """The event for a failure, with the key hidden wherever a message may have quoted it."""
    if isinstance(exc, ProviderError):
        message, kind, detail = exc.message, exc.kind, exc.detail
    elif isinstance(exc, ContextTooSmallError):
        message, kind, detail = exc.message, exc.kind, None
    elif isinstance(exc, LuxxError):
        message, kind, detail = str(exc), "config", None
    else:
        message, kind = f"Internal error: {type(exc).__name__}: {exc}", "error"
        detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return ErrorEvent(
        message=redact(message, secret),
        kind=kind,
        detail=detail and redact(detail, secret),
    )
