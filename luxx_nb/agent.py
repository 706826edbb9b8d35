"""The agent loop: stream a completion, fold deltas into steps, run tools, go round.

``run_turn`` is an async generator of events. It appends to the conversation it is given as
it goes, and whatever way it ends (done, error, the iteration cap, cancellation by a kernel
interrupt) it leaves that conversation valid for the next request: partial text is kept as
an assistant message, and a tool call left without a result gets one saying why. A turn ends
after a ``DoneEvent`` or an ``ErrorEvent``; the caller records the error (``Chat`` does, in one
place). One round's stream and its tool calls are ``rounds.py``'s; the window of the
conversation each request sends is ``window.py``'s.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import aclosing, asynccontextmanager
from typing import Any

from .approval import ApprovalRequest, Decision
from .config import Settings
from .errors import ContextTooSmallError, HTTPStatusError, LuxxError, ProviderError, redact
from .events import DoneEvent, ErrorEvent, Event, StatusEvent, Usage
from .overflow import ContextOverflow, context_overflow
from .providers.wire import Provider, Request
from .rounds import Round, Turn, run_tools, stream_round
from .tools import Tool, ToolContext
from .window import MAX_REFUSALS, TokenEstimate, Window, answer_tokens, with_system
from .windower import Windower

__all__ = [
    "ITERATION_LIMIT_MESSAGE",
    "Turn",
    "error_event",
    "failures_as_events",
    "redacted_error",
    "run_turn",
]

ITERATION_LIMIT_MESSAGE = "Exceeded maximum tool call iterations"


async def run_turn(
    *,
    provider: Provider,
    messages: list[dict[str, Any]],
    tools: Mapping[str, Tool],
    settings: Settings,
    model: str,
    context: Callable[[str], ToolContext],
    turn: Turn,
    windower: Windower | None = None,
    approve: Callable[[ApprovalRequest], Awaitable[Decision]] | None = None,
) -> AsyncIterator[Event]:
    """Events of one turn. ``messages`` is the conversation; it is extended in place.

    ``approve`` decides each call of a tool marked ``approve`` (``approval.py``); without it,
    such calls are declined.

    Each request sends the window of it that ``windower`` picks (``window.py``); a request
    refused as too long for the model's context is sent again, smaller, a few times at most.
    """
    definitions = [t.definition() for t in tools.values()]
    windower = _sized_for(windower, settings.system, definitions)
    ask = _Ask(provider, settings.request(model), settings.system, definitions)
    async with provider.client() as client, _asking_size(provider, client, model, windower):
        for iteration in range(1, settings.max_iterations + 1):
            turn.iterations = iteration
            round_, failed = Round(turn), False
            async with aclosing(_answer(ask, client, messages, windower, round_)) as events:
                async for event in events:
                    failed = type(event) is ErrorEvent
                    yield event
            if failed:
                return
            round_.settle()
            calls = round_.calls.calls()
            messages.append(round_.assistant_message(calls))
            if not calls:
                turn.done = _done_event(turn)
                yield turn.done
                return
            running = run_tools(
                calls, tools, settings, context, messages, turn, provider.api_key, approve
            )
            async with aclosing(running) as events:
                async for event in events:
                    yield event
    yield ErrorEvent(message=ITERATION_LIMIT_MESSAGE, kind="iterations")


class _Ask:
    """What every request of a turn sends besides the window: the provider, the request's
    settings, the system prompt and the tools' definitions."""

    def __init__(
        self,
        provider: Provider,
        request: Request,
        system: str | None,
        definitions: list[dict[str, Any]],
    ) -> None:
        self.provider, self.request = provider, request
        self.system, self.definitions = system, definitions

    def body(self, window: Window) -> dict[str, Any]:
        """The request of one round, in the shape of the provider's wire."""
        messages = with_system(self.system, window.messages)
        request, most = self.request, answer_tokens(self.request.max_tokens, window.budget)
        if most != request.max_tokens:  # the room the window kept for the answer
            request = dataclasses.replace(request, max_tokens=most)
        return self.provider.request_body(request, messages, self.definitions)


def _sized_for(
    windower: Windower | None, system: str | None, definitions: list[dict[str, Any]]
) -> Windower:
    """The turn's windower (a fresh one when none is kept), told the tools' size."""
    if windower is None:
        windower = Windower(estimate=TokenEstimate(), system=system)
    windower.extra_chars = len(json.dumps(definitions, ensure_ascii=False)) if definitions else 0
    return windower


@asynccontextmanager
async def _asking_size(
    provider: Provider, client: Any, model: str, windower: Windower
) -> AsyncIterator[None]:
    """While a turn runs, and only while no context size is known: the server is asked its
    own (``Provider.reported_context``) beside the first request, never before it, so the
    answer waits for nothing; what it says fits the turn's later requests and the next turns."""
    task = None
    if windower.context is None and not windower.asked:  # once an endpoint has answered
        task = asyncio.ensure_future(provider.reported_context(client, model))
        task.add_done_callback(
            lambda done: done.cancelled() or done.exception() or windower.report(done.result())
        )
    try:
        yield
    finally:
        if task is not None and not task.done():
            task.cancel()


async def _answer(
    ask: _Ask, client: Any, messages: list[dict[str, Any]], windower: Windower, round_: Round
) -> AsyncIterator[Event]:
    """One round's request and its stream; sent again, smaller, while the server refuses it as
    too long (``MAX_REFUSALS`` at most). Ends on an ``ErrorEvent`` when the round failed."""
    turn, refusals, retry = round_.turn, 0, None
    while True:
        try:
            window = retry or windower.window(messages)
        except ContextTooSmallError as exc:
            yield error_event(exc)
            return
        turn.window, note = window, window.note()
        if note and note != turn.window_note:
            turn.window_note = note
            yield StatusEvent(state="window", detail=note)
        body, usage = ask.body(window), turn.usage
        try:
            async with aclosing(stream_round(ask.provider, client, body, round_)) as events:
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
                if isinstance(exc, HTTPStatusError):  # no smaller window: say so plainly
                    exc = windower.too_long(overflow, window, exc.message) or exc
            _keep_partial(round_, messages)
            if not isinstance(exc, Exception):
                raise
            yield error_event(exc, ask.provider.api_key)
            return
        if turn.usage is not None and turn.usage is not usage:
            windower.learn(window, turn.usage.prompt_tokens)
        if round_.finish in CUT_AT_LIMIT:
            most = body.get("max_tokens") or body.get("max_output_tokens")
            yield StatusEvent(state="notice", detail=_cut_note(most))
        return


CUT_AT_LIMIT = frozenset({"length", "max_tokens", "max_output_tokens"})
"""Why a stream ended when the answer reached its limit: chat completions' ``length``,
Anthropic's ``max_tokens``, a Responses ``incomplete`` answer's ``max_output_tokens``."""


def _cut_note(most: Any) -> str:
    limit = f"its limit of {most:,} tokens" if isinstance(most, int) else "the server's limit"
    return f"the answer stopped at {limit} (--max-tokens sets it)"


def _overflow(exc: BaseException, round_: Round) -> ContextOverflow | None:
    """What a refusal says of the context, when the request was refused before any answer."""
    if not isinstance(exc, HTTPStatusError) or round_.received:
        return None
    return context_overflow(exc.status_code, exc.message, exc.detail)


def _keep_partial(round_: Round, messages: list[dict[str, Any]]) -> None:
    """What a failed or interrupted round streamed stays in the turn and the conversation."""
    round_.settle()
    if round_.text is not None or round_.thinking is not None:
        messages.append(round_.assistant_message())


def _done_event(turn: Turn) -> DoneEvent:
    usage = turn.usage or Usage()
    count = usage.completion_tokens if turn.usage else len(turn.text) // 4
    return DoneEvent(message_id=f"msg-{uuid.uuid4().hex}", token_count=count, usage=usage)


def error_event(exc: BaseException, secret: str | None = None) -> ErrorEvent:
    """The event for a failure, with the key hidden wherever a message may have quoted it."""
    if isinstance(exc, (ProviderError, ContextTooSmallError)):
        message, kind, detail = exc.message, exc.kind, exc.detail
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


async def failures_as_events(events: AsyncIterator[Event]) -> AsyncIterator[Event]:
    """``events``, with a failure anywhere as a last error event instead of an exception."""
    try:
        async for event in events:
            yield event
    except Exception as exc:
        yield error_event(exc)


def redacted_error(error: ErrorEvent, secret: str | None) -> ErrorEvent:
    """``error`` with the key hidden in its message and detail."""
    return dataclasses.replace(
        error,
        message=redact(error.message, secret),
        detail=error.detail and redact(error.detail, secret),
    )
