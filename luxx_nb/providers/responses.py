"""The OpenAI Responses wire: ``POST {base}/responses`` with ``stream: true``, stateless.

The request is built from the chat-form conversation: system messages become
``instructions``, tool calls ``function_call`` items, tool results ``function_call_output``
items, tools flat ``function`` entries (``strict: false``, so optional parameters stay
optional). Nothing is stored on the server (``store: false``): the reasoning items a
reasoning model returns, encrypted (``include: ["reasoning.encrypted_content"]``), are kept as
``ReplayDelta``s and sent back in the next request of a tool round, in their place among the
answer's items; they are never shown. The stream's events become the usual deltas: output text
and refusals text; reasoning summaries (``reasoning_summary_text``, one paragraph per part) and
raw reasoning (``reasoning_text``, as DeepSeek and OpenRouter send it) thinking; function calls
and their argument fragments tool calls, keyed by ``output_index`` (GitHub Copilot changes
``item_id`` on every event); ``response.completed``/``incomplete`` usage and the end;
``error`` and ``response.failed`` errors.
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
from .wire import DEFAULT_MAX_TOKENS, Request, load_json, replayed, text_of

__all__ = ["ResponsesWire", "input_of"]

NAME = "responses"
_TEXT = ("response.output_text.delta", "response.refusal.delta")
_THINKING = ("response.reasoning_summary_text.delta", "response.reasoning_text.delta")
_ENDS = ("response.completed", "response.incomplete")


class ResponsesWire:
    """OpenAI's Responses API (and servers that speak it: vLLM, Ollama, OpenRouter...)."""

    name = NAME
    path = "/responses"

    def headers(self, api_key: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def body(
        self,
        request: Request,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        instructions, items = input_of(messages)
        model, max_tokens = request.model, request.max_tokens
        body: dict[str, Any] = {"model": model, "input": items, "stream": True, "store": False}
        if instructions:
            body["instructions"] = instructions
        body["max_output_tokens"] = max_tokens if max_tokens is not None else DEFAULT_MAX_TOKENS
        if tools:
            body["tools"] = [_tool(definition) for definition in tools]
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.thinking is not False:  # --no-thinking: no reasoning options (for gpt-4o)
            body["reasoning"] = {"summary": "auto"}
            body["include"] = ["reasoning.encrypted_content"]
        if request.extra:
            body.update(request.extra)
        return body

    def decoder(self) -> ResponsesDecoder:
        return ResponsesDecoder()


def _tool(definition: Mapping[str, Any]) -> dict[str, Any]:
    function = definition.get("function") or definition
    return {
        "type": "function",
        "name": function.get("name", ""),
        "description": function.get("description", ""),
        "parameters": function.get("parameters") or {"type": "object", "properties": {}},
        "strict": False,
    }


def _call_item(call: Mapping[str, Any], item_id: str | None = None) -> dict[str, Any]:
    function = call.get("function") or {}
    item: dict[str, Any] = {"type": "function_call"}
    if item_id:
        item["id"] = item_id
    item["call_id"] = call.get("id", "")
    item["name"] = function.get("name", "")
    item["arguments"] = function.get("arguments") or "{}"
    return item


def _assistant_items(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    """An assistant message as input items: its reasoning items back in their places."""
    said = text_of(message.get("content"))
    calls = {call.get("id"): call for call in message.get("tool_calls") or ()}
    items: list[dict[str, Any]] = []
    for kept in replayed(message, NAME):
        kind = kept.get("type")
        if kind == "reasoning":
            items.append(kept)
        elif kind == "message" and said:
            text = {"type": "output_text", "text": said, "annotations": []}
            items.append({**kept, "role": "assistant", "content": [text], "status": "completed"})
            said = ""
        elif kind == "function_call" and kept.get("call_id") in calls:
            items.append(_call_item(calls.pop(kept["call_id"]), kept.get("id")))
    if said:
        items.append({"role": "assistant", "content": said})
    items.extend(_call_item(call) for call in calls.values())
    return items


def input_of(messages: Sequence[Mapping[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """The instructions and the input items of a chat-form conversation."""
    instructions: list[str] = []
    items: list[dict[str, Any]] = []
    for message in messages:
        role, content = message.get("role"), message.get("content")
        if role in ("system", "developer"):
            instructions.append(text_of(content))
        elif role == "assistant":
            items.extend(_assistant_items(message))
        elif role == "tool":
            call_id = message.get("tool_call_id", "")
            output = text_of(content)
            items.append({"type": "function_call_output", "call_id": call_id, "output": output})
        else:
            items.append({"role": "user", "content": text_of(content)})
    return "\n\n".join(part for part in instructions if part), items


class ResponsesDecoder:
    """One Responses stream; finished at ``response.completed`` or ``response.incomplete``."""

    def __init__(self) -> None:
        self.finished = False
        self._items: dict[int, dict[str, Any]] = {}  # output_index -> the item, when done
        self._calls: set[int] = set()  # function calls announced
        self._arguments: set[int] = set()  # function calls whose arguments arrived
        self._last: dict[str, Any] = {"text": None, "thinking": None}
        self._held = ""  # blank text before the answer's first visible character

    def whole(self, payload: Any) -> list[Delta]:
        """A whole response (a non-streamed answer), or an error object."""
        if not isinstance(payload, dict) or payload.get("object") != "response":
            raise StreamError(_error_text(payload), detail=json.dumps(payload)[:4000])
        out: list[Delta] = []
        for index, item in enumerate(payload.get("output") or ()):
            if isinstance(item, dict):
                self._whole_item(index, item, out)
        self._end({"response": payload}, out)
        return out

    def _whole_item(self, index: int, item: dict[str, Any], out: list[Delta]) -> None:
        kind = item.get("type")
        parts = item.get("summary") or item.get("content") or ()
        for part in parts if isinstance(parts, list) else ():
            if not isinstance(part, dict):
                continue
            text = part.get("text") or part.get("refusal")
            where = "thinking" if kind == "reasoning" else "text"
            self._say(where, (index, id(part)), text, out)
        self._item_done({"output_index": index, "item": item}, out)

    def flush(self) -> list[Delta]:
        return []

    def feed(self, events: list[ServerSentEvent], out: list[Delta]) -> bool:
        for event, data in events:
            if not data:
                continue
            if data[0] != "{" and data.strip() == "[DONE]":
                return True
            try:
                payload = load_json(data)
            except StreamError:
                if event and event != "error" and not event.startswith("response."):
                    continue  # an event of a kind this wire does not read
                raise
            if not isinstance(payload, dict):
                raise StreamError(f"The provider sent data that is not a JSON object: {data:.200}")
            kind = payload.get("type") or event
            index = payload.get("output_index")
            if kind in _TEXT:
                self._say("text", index, payload.get("delta"), out)
            elif kind in _THINKING:
                part = payload.get("summary_index", payload.get("content_index"))
                self._say("thinking", (index, kind, part), payload.get("delta"), out)
            elif kind == "response.function_call_arguments.delta":
                self._arguments_of(index, payload.get("delta"), out)
            elif kind == "response.output_item.added":
                self._item_added(payload, out)
            elif kind == "response.function_call_arguments.done":
                if index not in self._arguments:
                    self._arguments_of(index, payload.get("arguments"), out)
            elif kind == "response.output_item.done":
                self._item_done(payload, out)
            elif kind in _ENDS:
                self._end(payload, out)
            elif kind == "response.failed":
                response = payload.get("response") or {}
                failure = response.get("error") if isinstance(response, dict) else None
                raise StreamError(_error_text(failure or "The response failed."), detail=data)
            elif kind == "error":
                raise StreamError(_error_text(payload), detail=data)
        return False

    def _say(self, kind: str, where: Any, text: Any, out: list[Delta]) -> None:
        """Text or thinking; a new part or item after an earlier one starts a paragraph."""
        if not isinstance(text, str) or not text:
            return
        last = self._last[kind]
        if kind == "text" and last is None:
            text, self._held = self._held + text, ""
            if not text.strip():  # blank lines before any answer (then reasoning): held back
                self._held = text
                return
        if last is not None and last != where:
            text = "\n\n" + text
        self._last[kind] = where
        out.append(TextDelta(text) if kind == "text" else ThinkingDelta(text))

    def _arguments_of(self, index: Any, fragment: Any, out: list[Delta]) -> None:
        if (
            isinstance(index, int)
            and index in self._calls
            and isinstance(fragment, str)
            and fragment
        ):
            self._arguments.add(index)
            out.append(ToolCallDelta(index=index, arguments=fragment))

    def _item_added(self, payload: dict[str, Any], out: list[Delta]) -> None:
        item, index = payload.get("item"), payload.get("output_index")
        if not isinstance(item, dict) or not isinstance(index, int):
            return
        if item.get("type") == "function_call" and index not in self._calls:
            self._calls.add(index)
            call_id, name = item.get("call_id") or None, item.get("name") or None
            out.append(ToolCallDelta(index=index, id=call_id, name=name))
            self._arguments_of(index, item.get("arguments"), out)

    def _item_done(self, payload: dict[str, Any], out: list[Delta]) -> None:
        item, index = payload.get("item"), payload.get("output_index")
        if not isinstance(item, dict) or not isinstance(index, int):
            return
        if item.get("type") == "function_call":
            self._item_added(payload, out)  # a call announced only when done
            if index not in self._arguments:
                self._arguments_of(index, item.get("arguments"), out)
        if item.get("type") in ("reasoning", "message", "function_call"):
            self._items[index] = item

    def _end(self, payload: dict[str, Any], out: list[Delta]) -> None:
        response = payload.get("response")
        response = response if isinstance(response, dict) else {}
        usage = response.get("usage")
        if isinstance(usage, dict):
            prompt, output = usage.get("input_tokens") or 0, usage.get("output_tokens") or 0
            total = usage.get("total_tokens") or prompt + output
            usage_now = Usage(prompt_tokens=prompt, completion_tokens=output, total_tokens=total)
            out.append(UsageDelta(usage_now))
        out.extend(self._replay())
        details = response.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        out.append(FinishDelta(reason or response.get("status") or "completed"))
        self.finished = True

    def _replay(self) -> list[ReplayDelta]:
        """The reasoning items, and where the answer's other items stood among them."""
        items = [self._items[index] for index in sorted(self._items)]
        if not any(item.get("type") == "reasoning" for item in items):
            return []  # nothing to send back that the conversation does not already hold
        kept: list[ReplayDelta] = []
        for item in items:
            if item.get("type") != "reasoning":
                keys = ("type", "id", "call_id", "phase")
                item = {key: item[key] for key in keys if item.get(key) is not None}
            kept.append(ReplayDelta(NAME, item))
        return kept


def _error_text(error: Any) -> str:
    """The message of an ``error`` event or a failed response, with its code when it adds one."""
    inner = error.get("error", error) if isinstance(error, dict) else error
    inner = inner if inner else error
    message = error_message(inner)
    code = inner.get("code") if isinstance(inner, dict) else None
    if isinstance(code, str) and code and code not in message:
        return f"{message} ({code})"
    return message
