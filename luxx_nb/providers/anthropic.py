"""The Anthropic Messages wire: ``POST {base}/messages``, ``x-api-key``, ``anthropic-version``.

The request is built from the chat-form conversation: system messages become ``system``, tool
calls ``tool_use`` blocks, tool results ``tool_result`` blocks in a user turn (consecutive
turns of one role are merged, as the API wants them alternating). The stream's events become
the usual deltas: ``text_delta`` text, ``thinking_delta`` thinking, ``tool_use`` blocks and their
``input_json_delta`` fragments tool calls, ``message_start``/``message_delta`` usage. Thinking
blocks (with their ``signature``) and ``redacted_thinking`` blocks are kept as ``ReplayDelta``s
and sent back unchanged before the tool calls of their turn, as the API requires; they are
never shown (a redacted block has nothing to show). Server-run tools (web search, code
execution, MCP) are the server's: their blocks are not ours to run, and are skipped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import StreamError
from ..events import (
    Delta,
    FinishDelta,
    ReplayDelta,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    Usage,
    UsageDelta,
)
from .chunks import error_message
from .sse import ServerSentEvent
from .wire import DEFAULT_MAX_TOKENS, Request, arguments_object, load_json, replayed, text_of

__all__ = ["ANTHROPIC_VERSION", "AnthropicWire", "messages_of"]

ANTHROPIC_VERSION = "2023-06-01"
MIN_THINKING_BUDGET = 1024
"""The smallest ``budget_tokens`` the API accepts; it must also be below ``max_tokens``."""
NAME = "anthropic"
_EVENTS = {
    "message_start",
    "message_delta",
    "message_stop",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "error",
}


class AnthropicWire:
    """Anthropic's Messages API (and servers that speak it)."""

    name = NAME
    path = "/messages"

    def headers(self, api_key: str | None) -> dict[str, str]:
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if api_key:
            headers["x-api-key"] = api_key
        return headers

    def body(
        self,
        request: Request,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        system, turns = messages_of(messages)
        thinking, extra = request.thinking, request.extra
        most = request.max_tokens if request.max_tokens is not None else DEFAULT_MAX_TOKENS
        body: dict[str, Any] = {"model": request.model, "max_tokens": most, "messages": turns}
        if system:
            body["system"] = system
        if tools:
            body["tools"] = [_tool(definition) for definition in tools]
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if thinking:
            budget = max(MIN_THINKING_BUDGET, most // 2)
            body["max_tokens"] = max(most, budget + MIN_THINKING_BUDGET)
            body["thinking"] = {"type": "enabled", "budget_tokens": budget}
        elif thinking is False:
            body["thinking"] = {"type": "disabled"}
        body["stream"] = True
        if extra:
            body.update(extra)
        return body

    def decoder(self) -> AnthropicDecoder:
        return AnthropicDecoder()


def _tool(definition: Mapping[str, Any]) -> dict[str, Any]:
    function = definition.get("function") or definition
    schema = function.get("parameters") or {"type": "object", "properties": {}}
    tool = {"name": function.get("name", ""), "input_schema": schema}
    if function.get("description"):
        tool["description"] = function["description"]
    return tool


def messages_of(messages: Sequence[Mapping[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """The system prompt and the turns of a chat-form conversation, in Anthropic's shapes."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        elif blocks:
            turns.append({"role": role, "content": blocks})

    for message in messages:
        role, content = message.get("role"), message.get("content")
        if role in ("system", "developer"):
            system.append(text_of(content))
        elif role == "tool":
            result = {
                "type": "tool_result",
                "tool_use_id": message.get("tool_call_id", ""),
                "content": text_of(content),
            }
            add("user", [result])
        elif role == "assistant":
            blocks = [dict(item) for item in replayed(message, NAME)]
            said = text_of(content)
            if said.strip():  # the API refuses a text block of whitespace only
                blocks.append({"type": "text", "text": said})
            for call in message.get("tool_calls") or ():
                function = call.get("function") or {}
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": call.get("id", ""),
                        "name": function.get("name", ""),
                        "input": arguments_object(function.get("arguments")),
                    }
                )
            if any(block["type"] in ("text", "tool_use") for block in blocks):
                add("assistant", blocks)
        else:
            said = text_of(content)
            add("user", [{"type": "text", "text": said}] if said else [])
    return "\n\n".join(part for part in system if part), turns


class AnthropicDecoder:
    """One Messages stream: content blocks by ``index``; finished at ``message_stop``."""

    def __init__(self) -> None:
        self.finished = False
        self._blocks: dict[int, dict[str, Any]] = {}
        self._seen = {"text": False, "thinking": False}
        self._gap = {"text": False, "thinking": False}
        self._prompt = self._output = 0
        self._held = ""  # blank text before the answer's first visible character

    def whole(self, payload: Any) -> list[Delta]:
        """A whole message (a non-streamed answer), or an error object."""
        if not isinstance(payload, dict) or payload.get("type") != "message":
            raise StreamError(_error_text(payload), detail=json.dumps(payload)[:4000])
        out: list[Delta] = []
        self._start({"message": payload}, out)
        for index, block in enumerate(payload.get("content") or ()):
            self._block_start({"index": index, "content_block": block}, out)
            self._block_stop({"index": index}, out)
        self._message_delta({"delta": payload, "usage": payload.get("usage")}, out)
        self.finished = True
        return out

    def flush(self) -> list[Delta]:
        return []

    def feed(self, events: list[ServerSentEvent], out: list[Delta]) -> bool:
        for event, data in events:
            if event == "ping" or not data:
                continue
            if data[0] != "{" and data.strip() == "[DONE]":
                return True
            try:
                payload = load_json(data)
            except StreamError:
                if event and event not in _EVENTS:
                    continue  # an event of a kind this wire does not read
                raise
            if not isinstance(payload, dict):
                raise StreamError(f"The provider sent data that is not a JSON object: {data:.200}")
            kind = payload.get("type") or event
            if kind == "content_block_delta":
                self._block_delta(payload, out)
            elif kind == "content_block_start":
                self._block_start(payload, out)
            elif kind == "content_block_stop":
                self._block_stop(payload, out)
            elif kind == "message_start":
                self._start(payload, out)
            elif kind == "message_delta":
                self._message_delta(payload, out)
            elif kind == "message_stop":
                self.finished = True
            elif kind == "error":
                raise StreamError(_error_text(payload), detail=data)
        return False

    def _start(self, payload: dict[str, Any], out: list[Delta]) -> None:
        message = payload.get("message")
        if isinstance(message, dict):
            self._usage(message.get("usage"), out)

    def _usage(self, usage: Any, out: list[Delta]) -> None:
        if not isinstance(usage, dict):
            return
        keys = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        if any(isinstance(usage.get(key), int) for key in keys):
            self._prompt = sum(usage.get(key) or 0 for key in keys)
        if isinstance(usage.get("output_tokens"), int):
            self._output = usage["output_tokens"]
        prompt, output = self._prompt, self._output
        total = prompt + output
        out.append(
            UsageDelta(Usage(prompt_tokens=prompt, completion_tokens=output, total_tokens=total))
        )

    def _message_delta(self, payload: dict[str, Any], out: list[Delta]) -> None:
        delta = payload.get("delta")
        reason = delta.get("stop_reason") if isinstance(delta, dict) else None
        self._usage(payload.get("usage"), out)
        if isinstance(reason, str) and reason:
            out.append(FinishDelta(reason))

    def _say(self, kind: str, text: Any, out: list[Delta]) -> None:
        if not isinstance(text, str) or not text:
            return
        if kind == "text" and not self._seen["text"]:
            text, self._held = self._held + text, ""
            if not text.strip():  # blank lines before any answer (then thinking): held back
                self._held = text
                return
        if self._gap[kind] and self._seen[kind]:  # a new block after another kind's: a paragraph
            text = "\n\n" + text
        self._gap[kind], self._seen[kind] = False, True
        out.append(TextDelta(text) if kind == "text" else ThinkingDelta(text))

    def _block_start(self, payload: dict[str, Any], out: list[Delta]) -> None:
        index, block = payload.get("index"), payload.get("content_block")
        if not isinstance(block, dict) or not isinstance(index, int):
            return
        kind = block.get("type")
        state: dict[str, Any] = {"type": kind, "parts": [], "signature": "", "input": False}
        self._blocks[index] = state
        for other in ("text", "thinking"):
            if other != kind:
                self._gap[other] = True
        if kind == "text":
            self._say("text", block.get("text"), out)
        elif kind == "thinking":
            state["signature"] = block.get("signature") or ""
            if block.get("thinking"):
                state["parts"].append(block["thinking"])
                self._say("thinking", block["thinking"], out)
        elif kind == "redacted_thinking":
            out.append(ReplayDelta(NAME, dict(block)))
        elif kind == "tool_use":
            out.append(ToolCallDelta(index=index, id=block.get("id"), name=block.get("name")))
            state["start_input"] = block.get("input")

    def _block_delta(self, payload: dict[str, Any], out: list[Delta]) -> None:
        index, delta = payload.get("index"), payload.get("delta")
        state = self._blocks.get(index) if isinstance(index, int) else None
        if not isinstance(delta, dict) or state is None:
            return
        kind = delta.get("type")
        if kind == "text_delta":
            self._say("text", delta.get("text"), out)
        elif kind == "thinking_delta":
            thought = delta.get("thinking")
            if isinstance(thought, str) and thought:
                state["parts"].append(thought)
                self._say("thinking", thought, out)
        elif kind == "signature_delta":
            state["signature"] += delta.get("signature") or ""
        elif kind == "input_json_delta" and state["type"] == "tool_use":
            fragment = delta.get("partial_json")
            if isinstance(fragment, str) and fragment:
                state["input"] = True
                out.append(ToolCallDelta(index=index, arguments=fragment))

    def _block_stop(self, payload: dict[str, Any], out: list[Delta]) -> None:
        index = payload.get("index")
        state = self._blocks.get(index) if isinstance(index, int) else None
        if state is None:
            return
        if state["type"] == "thinking":
            thinking = "".join(state["parts"])
            block = {"type": "thinking", "thinking": thinking, "signature": state["signature"]}
            out.append(ReplayDelta(NAME, block))
        elif state["type"] == "tool_use" and not state["input"]:
            given = state.get("start_input")  # a whole message gives the input at once
            if isinstance(given, dict) and given:
                out.append(ToolCallDelta(index=index, arguments=json.dumps(given)))


def _error_text(payload: Any) -> str:
    """``Overloaded (overloaded_error)``: the message, and the error's type when it adds one."""
    error = payload.get("error", payload) if isinstance(payload, dict) else payload
    message = error_message(error)
    kind = error.get("type") if isinstance(error, dict) else None
    if isinstance(kind, str) and kind and kind not in message:
        return f"{message} ({kind})"
    return message
