"""The loopback server's other two tongues: Responses and Anthropic Messages streams for tests.

``on_wire(wire, response)`` turns a chat-completions answer built by ``builders.py`` (a
``text_stream``, a ``tool_call_stream``, a fault row's stream, an OpenAI-style JSON error) into
the same answer on another wire, event for event: text deltas stay text deltas, reasoning
becomes a reasoning item with a summary (Responses) or a thinking block with a signature
(Anthropic), tool-call fragments become function-call argument deltas or ``input_json_delta``s,
the finish and usage become ``response.completed`` or ``message_delta``/``message_stop``.
Blocks that are not chat chunks (the faults: data that is not JSON, unknown events) pass
through byte for byte, and bytes that are not UTF-8 stay as they were. The shapes follow each
API's documented streaming events.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from support.responses import Response, Stream

__all__ = ["AnthropicWriter", "ResponsesWriter", "anthropic_error", "on_wire"]

_ids = itertools.count(1)


def _event(kind: str, data: dict[str, Any]) -> bytes:
    text = json.dumps({"type": kind, **data}, ensure_ascii=False)
    return f"event: {kind}\ndata: {text}\n\n".encode("utf-8", "surrogateescape")


class ResponsesWriter:
    """A Responses stream: items by ``output_index``, each opened, grown and closed."""

    def __init__(self, model: str = "test-model", encrypted: str | None = None) -> None:
        n = next(_ids)
        self.id, self.model, self.n = f"resp_{n}", model, n
        self.items: list[dict[str, Any]] = []
        self.open: dict[str, Any] | None = None
        self.encrypted = encrypted or f"enc-{n}"

    def start(self) -> list[bytes]:
        response = {"id": self.id, "object": "response", "status": "in_progress", "output": []}
        return [_event("response.created", {"response": response})]

    def _open(self, kind: str, key: Any = None) -> list[bytes]:
        if self.open is not None and self.open["type"] == kind and self.open.get("key") == key:
            return []
        out = self.close()
        index = len(self.items)
        item: dict[str, Any] = {"type": kind, "key": key, "text": "", "index": index}
        if kind == "reasoning":
            item.update(id=f"rs_{self.n}_{index}")
            added = {"id": item["id"], "type": "reasoning", "summary": []}
        elif kind == "message":
            item.update(id=f"msg_{self.n}_{index}")
            added = {"id": item["id"], "type": "message", "role": "assistant", "content": []}
        else:
            call_id, name = key
            item.update(id=f"fc_{self.n}_{index}", call_id=call_id, name=name)
            added = {"id": item["id"], "type": "function_call", "status": "in_progress"}
            added.update(call_id=call_id, name=name, arguments="")
        self.open = item
        out.append(_event("response.output_item.added", {"output_index": index, "item": added}))
        if kind == "reasoning":
            part = {"type": "summary_text", "text": ""}
            where = {"item_id": item["id"], "output_index": index, "summary_index": 0}
            out.append(_event("response.reasoning_summary_part.added", {**where, "part": part}))
        return out

    def _done_item(self, item: dict[str, Any]) -> dict[str, Any]:
        if item["type"] == "reasoning":
            summary = [{"type": "summary_text", "text": item["text"]}]
            return {
                "id": item["id"],
                "type": "reasoning",
                "summary": summary,
                "encrypted_content": f"{self.encrypted}-{item['index']}",
            }
        if item["type"] == "message":
            content = [{"type": "output_text", "text": item["text"], "annotations": []}]
            return {
                "id": item["id"],
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": content,
            }
        return {
            "id": item["id"],
            "type": "function_call",
            "status": "completed",
            "call_id": item["call_id"],
            "name": item["name"],
            "arguments": item["text"],
        }

    def close(self) -> list[bytes]:
        item, self.open = self.open, None
        if item is None:
            return []
        index = item["index"]
        done = self._done_item(item)
        self.items.append(done)
        where = {"item_id": item["id"], "output_index": index}
        out = []
        if item["type"] == "function_call":
            args = {**where, "arguments": item["text"]}
            out.append(_event("response.function_call_arguments.done", args))
        elif item["type"] == "reasoning":
            summary = {**where, "summary_index": 0, "text": item["text"]}
            out.append(_event("response.reasoning_summary_text.done", summary))
        out.append(_event("response.output_item.done", {"output_index": index, "item": done}))
        return out

    def text(self, fragment: str) -> list[bytes]:
        out = self._open("message")
        self.open["text"] += fragment  # type: ignore[index]
        where = {"item_id": self.open["id"], "output_index": self.open["index"]}  # type: ignore[index]
        out.append(
            _event("response.output_text.delta", {**where, "content_index": 0, "delta": fragment})
        )
        return out

    def thinking(self, fragment: str) -> list[bytes]:
        out = self._open("reasoning")
        self.open["text"] += fragment  # type: ignore[index]
        where = {"item_id": self.open["id"], "output_index": self.open["index"]}  # type: ignore[index]
        out.append(
            _event(
                "response.reasoning_summary_text.delta",
                {**where, "summary_index": 0, "delta": fragment},
            )
        )
        return out

    def call(self, call_id: str, name: str, fragment: str) -> list[bytes]:
        out = self._open("function_call", (call_id, name))
        self.open["text"] += fragment  # type: ignore[index]
        where = {"item_id": self.open["id"], "output_index": self.open["index"]}  # type: ignore[index]
        if fragment:
            out.append(
                _event("response.function_call_arguments.delta", {**where, "delta": fragment})
            )
        return out

    def end(self, usage: dict[str, int] | None) -> list[bytes]:
        out = self.close()
        response: dict[str, Any] = {"id": self.id, "object": "response", "status": "completed"}
        response["output"] = self.items
        if usage:
            response["usage"] = {
                "input_tokens": usage.get("prompt_tokens", 0),
                "output_tokens": usage.get("completion_tokens", 0),
                "total_tokens": usage.get("total_tokens", 0),
            }
        return [*out, _event("response.completed", {"response": response})]


class AnthropicWriter:
    """A Messages stream: content blocks by ``index``, each started, grown and stopped."""

    def __init__(self, model: str = "test-model", signature: str | None = None) -> None:
        n = next(_ids)
        self.id, self.model, self.n = f"msg_{n}", model, n
        self.blocks = 0
        self.open: dict[str, Any] | None = None
        self.signature = signature or f"sig-{n}"
        self.tool = False

    def start(self) -> list[bytes]:
        message = {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": 10, "output_tokens": 1},
        }
        return [_event("message_start", {"message": message})]

    def _open(self, kind: str, key: Any = None) -> list[bytes]:
        if self.open is not None and self.open["type"] == kind and self.open.get("key") == key:
            return []
        out = self.close()
        index, self.blocks = self.blocks, self.blocks + 1
        self.open = {"type": kind, "key": key, "index": index}
        if kind == "thinking":
            block: dict[str, Any] = {"type": "thinking", "thinking": "", "signature": ""}
        elif kind == "text":
            block = {"type": "text", "text": ""}
        else:
            self.tool = True
            block = {"type": "tool_use", "id": key[0], "name": key[1], "input": {}}
        out.append(_event("content_block_start", {"index": index, "content_block": block}))
        return out

    def close(self) -> list[bytes]:
        block, self.open = self.open, None
        if block is None:
            return []
        out = []
        if block["type"] == "thinking":
            signed = {"type": "signature_delta", "signature": f"{self.signature}-{block['index']}"}
            out.append(_event("content_block_delta", {"index": block["index"], "delta": signed}))
        out.append(_event("content_block_stop", {"index": block["index"]}))
        return out

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return _event("content_block_delta", {"index": self.open["index"], "delta": delta})  # type: ignore[index]

    def text(self, fragment: str) -> list[bytes]:
        return [*self._open("text"), self._delta({"type": "text_delta", "text": fragment})]

    def thinking(self, fragment: str) -> list[bytes]:
        out = self._open("thinking")
        return [*out, self._delta({"type": "thinking_delta", "thinking": fragment})]

    def call(self, call_id: str, name: str, fragment: str) -> list[bytes]:
        out = self._open("tool_use", (call_id, name))
        if fragment:
            out.append(self._delta({"type": "input_json_delta", "partial_json": fragment}))
        return out

    def end(self, usage: dict[str, int] | None) -> list[bytes]:
        out = self.close()
        delta = {"stop_reason": "tool_use" if self.tool else "end_turn", "stop_sequence": None}
        data: dict[str, Any] = {"delta": delta}
        if usage:
            data["usage"] = {"output_tokens": usage.get("completion_tokens", 0)}
        return [*out, _event("message_delta", data), _event("message_stop", {})]


def anthropic_error(status: int, message: str, kind: str = "invalid_request_error") -> Stream:
    """An error body as Anthropic sends it."""
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return Stream(
        [json.dumps(body).encode()],
        status=status,
        content_type="application/json",
        framing="length",
    )


def _chat_error(response: Stream) -> Stream:
    """An OpenAI-style JSON error in Anthropic's shape; anything else unchanged."""
    try:
        error = json.loads(response.body).get("error")
    except (ValueError, AttributeError):
        return response
    if not isinstance(error, dict) or "message" not in error:
        return response
    body = {
        "type": "error",
        "error": {"type": error.get("type") or "api_error", "message": error["message"]},
    }
    return Stream(
        [json.dumps(body).encode()],
        status=response.status,
        content_type=response.content_type,
        headers=response.headers,
        framing=response.framing,
    )


def on_wire(wire: str, response: Response, **writer: Any) -> Response:
    """``response`` (a chat-completions answer) as it would come on ``wire``."""
    if wire == "chat" or not isinstance(response, Stream):
        return response
    if "event-stream" not in (response.content_type or ""):
        return _chat_error(response) if wire == "anthropic" else response
    write = ResponsesWriter(**writer) if wire == "responses" else AnthropicWriter(**writer)
    pieces, usage, finished, calls = write.start(), None, False, {}
    blocks = response.body.split(b"\n\n")
    tail = blocks.pop()
    for block in blocks:
        text = block.decode("utf-8", "surrogateescape")
        data = text[5:].strip() if text.startswith("data:") else None
        if data == "[DONE]":
            pieces += write.end(usage)
            finished = False
            usage = None
            continue
        try:
            chunk = json.loads(data) if data else None
        except ValueError:
            chunk = None
        if not isinstance(chunk, dict) or not ("choices" in chunk or "usage" in chunk):
            pieces.append(block + b"\n\n")  # not a chunk: the fault itself, byte for byte
            continue
        usage = chunk.get("usage") or usage
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if reasoning:
                pieces += write.thinking(reasoning)
            if delta.get("content"):
                pieces += write.text(delta["content"])
            for call in delta.get("tool_calls") or ():
                index = call.get("index", 0)
                function = call.get("function") or {}
                if index not in calls:
                    calls[index] = (call.get("id") or f"call_{index}", function.get("name", ""))
                pieces += write.call(*calls[index], function.get("arguments") or "")
            finished = finished or bool(choice.get("finish_reason"))
    if finished:
        pieces += write.end(usage)
    if tail:
        pieces.append(tail)
    return Stream(
        pieces,
        status=response.status,
        content_type=response.content_type,
        headers=response.headers,
        delay=response.delay,
        framing=response.framing,
    )
