"""What a wire is: the seam between the one HTTP provider and each API's own shapes.

The agent speaks one conversation form, OpenAI chat messages (as ``Chat.history`` keeps them
and transcripts save them), and one vocabulary of deltas (``events.py``). A wire turns the
first into its API's request body, path and headers, and its API's server-sent events into the
second; ``providers/openai.py`` does the HTTP, the retries and the errors for every wire. Three
wires: ``chat`` (chat completions, ``providers/chat.py``), ``responses`` (OpenAI's Responses
API) and ``anthropic`` (Anthropic's Messages API). Pure: no I/O.

What a wire must send back in the next request but never show (Responses reasoning items,
Anthropic thinking blocks and their signatures) arrives as ``ReplayDelta``s; the agent keeps
them in the assistant message under ``REPLAY_KEY``, tagged with the wire's name. Only that wire
reads them; the chat wire strips the key before sending.

``Request`` is what a run asks of every request beside the conversation and the tools (model,
temperature, answer size, thinking, extra body fields): one object each wire's ``body`` takes.
``Provider`` is what the agent needs of the HTTP side (``providers/openai.py`` is the one).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import StreamError
from ..events import Delta, StatusEvent
from .sse import ServerSentEvent

__all__ = [
    "API_NAMES",
    "DEFAULT_MAX_TOKENS",
    "REPLAY_KEY",
    "Provider",
    "Request",
    "StreamDecoder",
    "Wire",
    "load_json",
    "maybe_json",
    "replayed",
    "without_replay",
]

API_NAMES = ("chat", "responses", "anthropic")
DEFAULT_MAX_TOKENS = 8192
REPLAY_KEY = "luxx_replay"
"""The assistant message's key for a wire's own items: ``{"wire": NAME, "items": [...]}``."""


@dataclass(frozen=True, kw_only=True)
class Request:
    """What every request of a run asks of the model, beside the conversation and the tools."""

    model: str
    temperature: float | None = None
    max_tokens: int | None = None
    """Most tokens in the answer; None: ``DEFAULT_MAX_TOKENS``."""
    thinking: bool | None = None
    extra: Mapping[str, Any] | None = None
    """Added to the body as is, last (so it may override any field)."""


class StreamDecoder(Protocol):
    """One response's stream: server-sent events in, deltas out, in order. No I/O."""

    finished: bool
    """The stream said the answer is complete (a finish reason, ``message_stop``...)."""

    def feed(self, events: list[ServerSentEvent], out: list[Delta]) -> bool:
        """Append the deltas of one read's events to ``out``; True when reading should stop.

        Raises ``StreamError`` for an error the stream carries, or data that is not JSON.
        """
        ...

    def whole(self, payload: Any) -> list[Delta]:
        """The deltas of a body that came as one JSON document, not a stream."""
        ...

    def flush(self) -> list[Delta]:
        """Whatever was held back, once the body has ended."""
        ...


class Wire(Protocol):
    """One API's request and stream shapes."""

    name: str
    path: str
    """Appended to the base URL: ``/chat/completions``, ``/responses``, ``/messages``."""

    def headers(self, api_key: str | None) -> dict[str, str]:
        """The authentication (and version) headers for ``api_key``."""
        ...

    def body(
        self,
        request: Request,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        """The JSON body of a streaming request for the conversation ``messages`` (chat form,
        system messages included) and the tools' chat-form definitions."""
        ...

    def decoder(self) -> StreamDecoder:
        """A fresh decoder for one response."""
        ...


class Provider(Protocol):
    """What the agent needs of the HTTP side: a client, a request body, the answer's deltas."""

    api_key: str | None
    """The key, so that nothing the run shows can carry it."""

    def request_body(
        self,
        request: Request,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        """The wire's JSON body for ``messages`` (system message included) and the tools."""
        ...

    def client(self) -> AbstractAsyncContextManager[Any]:
        """An HTTP client for the requests of one turn, closed when the turn ends."""
        ...

    def batches(
        self, client: Any, body: dict[str, Any]
    ) -> AsyncIterator[list[Delta] | StatusEvent]:
        """The answer's deltas, one list per network read; status events while it retries."""
        ...

    async def reported_context(self, client: Any, model: str) -> int | None:
        """The context size, in tokens, the server reports for ``model``; None when it says none."""
        ...


def replayed(message: Mapping[str, Any], wire: str) -> list[dict[str, Any]]:
    """The items ``wire`` left in an assistant message to be sent back, or none."""
    kept = message.get(REPLAY_KEY)
    if isinstance(kept, Mapping) and kept.get("wire") == wire:
        items = kept.get("items")
        return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []
    return []


def without_replay(messages: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The messages as a chat endpoint may see them: no wire's private items."""
    return [
        m if REPLAY_KEY not in m else {k: v for k, v in m.items() if k != REPLAY_KEY}
        for m in messages
    ]


def maybe_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def load_json(data: str) -> Any:
    """``data`` parsed, or a ``StreamError`` that quotes the start of what did not parse."""
    try:
        return json.loads(data)
    except ValueError:
        shown = data if len(data) <= 200 else data[:200] + "…"
        raise StreamError(f"The provider sent data that is not valid JSON: {shown!r}") from None


def text_of(content: Any) -> str:
    """A chat message's content as text (a string, or a list of text parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "") if isinstance(part, dict) else str(part) for part in content
        )
    return "" if content is None else str(content)


def arguments_object(arguments: Any) -> dict[str, Any]:
    """A tool call's JSON arguments as an object (what Anthropic's ``input`` must be)."""
    if isinstance(arguments, dict):
        return arguments
    parsed = maybe_json(arguments) if isinstance(arguments, str) and arguments.strip() else {}
    return parsed if isinstance(parsed, dict) else {"arguments": arguments}
