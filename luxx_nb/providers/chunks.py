"""OpenAI-compatible chunks -> typed deltas. Pure: no I/O, tested on recorded streams.

Providers disagree in small ways; each rule below exists because a real server does it:
``reasoning_content`` (DeepSeek, vLLM, llama.cpp) or ``reasoning`` (Groq, OpenRouter);
``<think>`` at the start of ``content`` (R1 through routers, llama.cpp without a reasoning
format); Mistral's content arrays of typed parts; ``refusal`` instead of content; usage in
any chunk or under ``x_groq``; several choices (only the first is followed); chunks with no
choices but a top-level ``content``; ``error`` objects inside a chunk.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import StreamError
from ..events import (
    Delta,
    FinishDelta,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    Usage,
    UsageDelta,
)

__all__ = ["ChunkParser", "ThinkSplitter", "error_message"]

_OPEN, _CLOSE = "<think>", "</think>"


def error_message(error: Any) -> str:
    """The human part of a provider's error object, whatever its shape."""
    if isinstance(error, dict):
        for key in ("message", "error", "detail", "msg"):
            value = error.get(key)
            if isinstance(value, (str, dict)) and value:
                return error_message(value)
        return json.dumps(error, ensure_ascii=False)[:500]
    return str(error)


class ThinkSplitter:
    """Routes ``<think>…</think>`` at the very start of the content to thinking.

    A tag may arrive split over fragments (``"<"``, ``"/"``, ``"think"``, ``">"``), so a
    fragment that could be the start of a tag is held back until the next one decides.
    """

    __slots__ = ("_held", "_state")

    def __init__(self) -> None:
        self._state = "start"  # start -> thinking -> after -> text, or start -> text
        self._held = ""

    def feed(self, fragment: str) -> list[Delta]:
        if self._state == "text":
            return [TextDelta(fragment)]
        if self._state == "after":  # the blank lines between </think> and the answer
            fragment = fragment.lstrip("\r\n")
            if fragment:
                self._state = "text"
            return [TextDelta(fragment)] if fragment else []
        self._held += fragment
        out: list[Delta] = []
        if self._state == "start":
            lead = self._held.lstrip()
            if not lead or (len(lead) < len(_OPEN) and _OPEN.startswith(lead)):
                return out
            if not lead.startswith(_OPEN):
                self._state, text, self._held = "text", self._held, ""
                return [TextDelta(text)]
            self._state, self._held = "thinking", lead[len(_OPEN) :]
        end = self._held.find(_CLOSE)
        if end >= 0:
            thinking, rest = self._held[:end], self._held[end + len(_CLOSE) :].lstrip("\r\n")
            self._state, self._held = ("text" if rest else "after"), ""
            if thinking:
                out.append(ThinkingDelta(thinking))
            if rest:
                out.append(TextDelta(rest))
            return out
        keep = _partial_suffix(self._held, _CLOSE)
        ready, self._held = (
            self._held[: len(self._held) - keep],
            self._held[len(self._held) - keep :],
        )
        if ready:
            out.append(ThinkingDelta(ready))
        return out

    def flush(self) -> list[Delta]:
        held, self._held = self._held, ""
        if not held:
            return []
        return [ThinkingDelta(held) if self._state == "thinking" else TextDelta(held)]


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest end of ``text`` that is a proper start of ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


class ChunkParser:
    """Turns one decoded chunk (a JSON object) into the deltas it carries, in order."""

    def __init__(self) -> None:
        self._think = ThinkSplitter()

    def feed(self, chunk: Any) -> list[Delta]:
        if type(chunk) is not dict and not isinstance(chunk, dict):
            raise StreamError(f"The provider sent data that is not a JSON object: {chunk!r:.200}")
        error = chunk.get("error")
        if error:
            raise StreamError(error_message(error), detail=json.dumps(chunk, ensure_ascii=False))
        out: list[Delta] = []
        choices = chunk.get("choices")
        if choices:
            choice = _first_choice(choices)
            if choice is not None:
                self._choice(choice, out)
        elif "content" in chunk:
            self._content(chunk["content"], out)
        elif isinstance(chunk.get("message"), dict):
            self._content(chunk["message"].get("content"), out)
        usage = chunk.get("usage")
        if usage is None and "x_groq" in chunk:
            usage = (chunk["x_groq"] or {}).get("usage")
        if isinstance(usage, dict):
            out.append(UsageDelta(Usage.from_dict(usage)))
        return out

    def flush(self) -> list[Delta]:
        return self._think.flush()

    def _choice(self, choice: dict[str, Any], out: list[Delta]) -> None:
        delta = choice.get("delta")
        if type(delta) is not dict:
            delta = choice.get("message")  # a whole completion, not a stream
        if isinstance(delta, dict):
            # ``key in dict`` before reading: a chunk carries one or two of these keys, and a
            # membership test is far cheaper than a ``get`` call (this runs once per token).
            if "reasoning_content" in delta or "reasoning" in delta:
                reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                if reasoning and isinstance(reasoning, str):
                    out.append(ThinkingDelta(reasoning))
            if "content" in delta:
                content = delta["content"]
                if content:
                    if type(content) is str and self._think._state == "text":
                        out.append(TextDelta(content))  # past any <think> check
                    else:
                        self._content(content, out)
            if "refusal" in delta:
                refusal = delta["refusal"]
                if refusal and isinstance(refusal, str):
                    out.append(TextDelta(refusal))
            if "tool_calls" in delta:
                for call in delta["tool_calls"] or ():
                    if isinstance(call, dict):
                        out.append(_tool_call_delta(call))
        if "finish_reason" in choice:
            reason = choice["finish_reason"]
            if reason and isinstance(reason, str):
                out.append(FinishDelta(reason))

    def _content(self, content: Any, out: list[Delta]) -> None:
        if isinstance(content, str):
            if content:
                out.extend(self._think.feed(content))
        elif isinstance(content, list):
            for part in content:
                _content_part(part, out, self._think)


def _first_choice(choices: Any) -> dict[str, Any] | None:
    if type(choices) is not list and not isinstance(choices, list):
        return None
    first = choices[0]
    if type(first) is dict and ("index" not in first or first["index"] == 0):
        return first
    for choice in choices:
        if isinstance(choice, dict) and choice.get("index", 0) == 0:
            return choice
    return None


def _content_part(part: Any, out: list[Delta], think: ThinkSplitter) -> None:
    """One typed part of a content array (Mistral's thinking and text parts)."""
    if isinstance(part, str):
        out.extend(think.feed(part))
    elif isinstance(part, dict):
        kind = part.get("type")
        if kind == "thinking":
            inner = part.get("thinking")
            texts = inner if isinstance(inner, list) else [inner]
            text = "".join(t.get("text", "") if isinstance(t, dict) else str(t) for t in texts if t)
            if text:
                out.append(ThinkingDelta(text))
        elif isinstance(part.get("text"), str) and part["text"]:
            out.extend(think.feed(part["text"]))


def _tool_call_delta(call: dict[str, Any]) -> ToolCallDelta:
    function = call.get("function") or {}
    index = call.get("index")
    return ToolCallDelta(
        index=index if isinstance(index, int) else None,
        id=call.get("id") or None,
        name=function.get("name") or None,
        arguments=_arguments(function.get("arguments")),
    )


def _arguments(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    return json.dumps(value, ensure_ascii=False)  # some servers send an object, not text
