"""The chat-completions wire: ``POST {base}/chat/completions``, the OpenAI-compatible default.

The request is the conversation as it is kept (chat messages); the stream's ``data:`` chunks go
through ``chunks.ChunkParser``. Its decoder is the hot path of a long answer, so it scans JSON
without ``json.loads``'s extra frames and reads a whole network read at a time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import StreamError
from ..events import Delta, FinishDelta
from .chunks import ChunkParser, error_message
from .sse import ServerSentEvent
from .wire import DEFAULT_MAX_TOKENS, Request, load_json, maybe_json, without_replay

__all__ = ["ChatWire", "request_body"]


def request_body(
    request: Request,
    messages: Sequence[Mapping[str, Any]],
    tools: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The JSON body of a streaming chat completion."""
    max_tokens, thinking = request.max_tokens, request.thinking
    body: dict[str, Any] = {
        "model": request.model,
        "messages": without_replay(messages),
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": max_tokens if max_tokens is not None else DEFAULT_MAX_TOKENS,
    }
    if tools:
        body["tools"] = list(tools)
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if thinking is not None:
        body["thinking"] = {"type": "enabled" if thinking else "disabled"}
    if request.extra:
        body.update(request.extra)
    return body


class ChatWire:
    """Chat completions, as OpenAI and every OpenAI-compatible server speak them."""

    name = "chat"
    path = "/chat/completions"

    def headers(self, api_key: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def body(
        self,
        request: Request,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        return request_body(request, messages, tools)

    def decoder(self) -> ChatDecoder:
        return ChatDecoder()


_SCAN = json.JSONDecoder().scan_once
"""``json.loads`` without its two Python frames and two regex scans: chunks start with ``{``."""


class ChatDecoder:
    """Chat-completion chunks into deltas; finished at ``[DONE]`` or a finish reason."""

    def __init__(self) -> None:
        self.parser = ChunkParser()
        self.finished = False

    def whole(self, payload: Any) -> list[Delta]:
        return self.parser.feed(payload) + self.parser.flush()

    def flush(self) -> list[Delta]:
        return self.parser.flush()

    def feed(self, events: list[ServerSentEvent], out: list[Delta]) -> bool:
        scan, feed = _SCAN, self.parser.feed
        for event, data in events:
            if event:  # a named event: "error" ends the stream, others are not ours to read
                if event == "error":
                    payload = maybe_json(data)
                    raise StreamError(error_message(payload or data or "error event"), detail=data)
                if event != "message":
                    continue
            if not data:
                continue
            if data[0] != "{" and data.strip() == "[DONE]":
                self.finished = True
                return True
            try:
                chunk, end = scan(data, 0)
                if end != len(data) and data[end:].strip():
                    chunk = load_json(data)  # "extra data": raises the readable error
            except (StopIteration, ValueError):
                chunk = load_json(data)  # leading blanks parse; anything else raises readably
            for delta in feed(chunk):
                out.append(delta)
                if type(delta) is FinishDelta:
                    self.finished = True
        return False
