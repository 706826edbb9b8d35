"""Answers built for tests: recordings replayed byte for byte, OpenAI streams (``sse``,
``text_stream``, ``tool_call_stream``), JSON bodies and errors, stalls and drops, and any of
them from its JSON description.

``response_from_spec`` is how a server process (``/_control/enqueue``, ``--script``) rebuilds
what a test queued: the inverse of ``Response.to_spec``.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from support.responses import (
    DEFAULT_MODEL,
    FIXTURES_DIR,
    Drop,
    Hang,
    Response,
    Stream,
    default_corpus_dir,
)

__all__ = [
    "chunks_file",
    "drop_after",
    "dumps",
    "hang",
    "json_error",
    "json_response",
    "replay",
    "replay_capture",
    "response_from_spec",
    "sse",
    "text_stream",
    "tool_call_stream",
]

Chunk = Mapping[str, Any] | str


def _read(path_or_bytes: bytes | str | os.PathLike[str]) -> bytes:
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        return bytes(path_or_bytes)
    return Path(path_or_bytes).read_bytes()


def _split(data: bytes, size: int | None) -> list[bytes]:
    if not size:
        return [data]
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


def replay(
    path_or_bytes: bytes | str | os.PathLike[str],
    *,
    chunk_size: int | None = None,
    delay: float = 0.0,
    content_type: str = "text/event-stream",
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    framing: str = "chunked",
) -> Stream:
    """Send a recorded body byte for byte, in one piece or in ``chunk_size``-byte pieces."""
    return Stream(
        _split(_read(path_or_bytes), chunk_size),
        status=status,
        content_type=content_type,
        headers=dict(headers or {}),
        delay=delay,
        framing=framing,
    )


_HOP_BY_HOP = {"transfer-encoding", "content-length", "connection", "keep-alive", "date", "server"}


def replay_capture(
    path: str | os.PathLike[str], *, chunk_size: int | None = None, delay: float = 0.0
) -> Stream:
    """Replay a llama.cpp capture with the status and headers of its sibling ``.headers`` file.

    The error captures are HTTP 400 JSON answers to a streaming request, which only mean
    something with their status line.
    """
    path = Path(path)
    lines = path.with_suffix(".headers").read_text().splitlines()
    status = int(lines[0].split()[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep and name.strip().lower() not in _HOP_BY_HOP:
            headers[name.strip()] = value.strip()
    content_type = next(
        (v for k, v in headers.items() if k.lower() == "content-type"), "text/event-stream"
    )
    headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    return replay(
        path,
        chunk_size=chunk_size,
        delay=delay,
        content_type=content_type,
        status=status,
        headers=headers,
        framing="chunked" if "event-stream" in content_type or chunk_size else "length",
    )


def chunks_file(path: str | os.PathLike[str], *, delay: float = 0.0) -> Stream:
    """Frame a ``*.chunks.txt`` recording (one JSON payload per line) as SSE, then ``[DONE]``.

    The payload bytes are kept; only the ``data: `` framing and the ``[DONE]`` are ours.
    """
    lines = [line for line in Path(path).read_bytes().split(b"\n") if line.strip()]
    pieces = [b"data: " + line + b"\n\n" for line in lines] + [b"data: [DONE]\n\n"]
    return Stream(pieces, delay=delay)


def dumps(obj: Any) -> str:
    """Compact JSON, as providers send it."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def sse(
    chunks: Sequence[Chunk],
    *,
    delay: float = 0.0,
    done: bool = True,
    comments: str | None = None,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Stream:
    """Build a stream from dicts (each sent as ``data: <json>``) and raw strings (sent as is).

    ``comments`` puts a ``: <comments>`` line before every event, as OpenRouter does with
    ``OPENROUTER PROCESSING``. Each event is its own piece, so ``delay`` paces events.
    """
    pieces: list[bytes] = []
    for chunk in chunks:
        if comments is not None:
            pieces.append(f": {comments}\n\n".encode())
        if isinstance(chunk, str):
            pieces.append(chunk.encode())
        else:
            pieces.append(f"data: {dumps(chunk)}\n\n".encode())
    if done:
        pieces.append(b"data: [DONE]\n\n")
    return Stream(pieces, status=status, headers=dict(headers or {}), delay=delay)


_ids = itertools.count(1)


def _chunk(model: str, cid: str, delta: dict[str, Any] | None, finish: str | None = None) -> dict:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": model,
        "choices": choices,
    }


def _fragments(text: str, size: int) -> list[str]:
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)]


def _usage_chunk(model: str, cid: str, completion_tokens: int) -> dict[str, Any]:
    chunk = _chunk(model, cid, None)
    chunk["usage"] = {
        "prompt_tokens": 10,
        "completion_tokens": completion_tokens,
        "total_tokens": 10 + completion_tokens,
    }
    return chunk


def text_stream(
    text: str,
    *,
    model: str = DEFAULT_MODEL,
    fragment_size: int = 4,
    delay: float = 0.0,
    usage: bool = True,
    reasoning: str | None = None,
    reasoning_field: str = "reasoning_content",
    finish_reason: str = "stop",
) -> Stream:
    """A standard OpenAI stream: role chunk, optional reasoning, text fragments, finish, usage.

    Usage (when on) comes in a final chunk with empty ``choices``, as with
    ``stream_options.include_usage``; completion tokens count the fragments sent.
    """
    cid = f"chatcmpl-test{next(_ids)}"
    chunks: list[Chunk] = [_chunk(model, cid, {"role": "assistant", "content": ""})]
    n = 0
    for frag in _fragments(reasoning or "", fragment_size):
        chunks.append(_chunk(model, cid, {reasoning_field: frag}))
        n += 1
    for frag in _fragments(text, fragment_size):
        chunks.append(_chunk(model, cid, {"content": frag}))
        n += 1
    chunks.append(_chunk(model, cid, {}, finish_reason))
    if usage:
        chunks.append(_usage_chunk(model, cid, n))
    return sse(chunks, delay=delay)


ToolCall = tuple[str, str | Mapping[str, Any]]


def tool_call_stream(
    calls: Sequence[ToolCall],
    *,
    model: str = DEFAULT_MODEL,
    fragment_size: int = 8,
    delay: float = 0.0,
    usage: bool = True,
    content: str | None = None,
    ids: Sequence[str] | None = None,
) -> Stream:
    """A standard OpenAI tool-call stream: for each call, one delta with index, id, type, name
    and ``arguments: ""``, then index + argument fragments; finish ``tool_calls``; usage.

    ``calls`` are ``(name, arguments)``; arguments are a JSON string (sent as given, so it may
    be deliberately invalid) or a dict. Ids default to ``call_<n>_<index>``, unique per stream.
    """
    cid = f"chatcmpl-test{next(_ids)}"
    ids = list(ids) if ids is not None else [f"call_{cid[13:]}_{i}" for i in range(len(calls))]
    chunks: list[Chunk] = [_chunk(model, cid, {"role": "assistant", "content": None})]
    n = 0
    for frag in _fragments(content or "", fragment_size):
        chunks.append(_chunk(model, cid, {"content": frag}))
        n += 1
    for index, (name, args) in enumerate(calls):
        args_json = args if isinstance(args, str) else dumps(args)
        head = {
            "index": index,
            "id": ids[index],
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        chunks.append(_chunk(model, cid, {"tool_calls": [head]}))
        for frag in _fragments(args_json, fragment_size):
            part = {"index": index, "function": {"arguments": frag}}
            chunks.append(_chunk(model, cid, {"tool_calls": [part]}))
            n += 1
    chunks.append(_chunk(model, cid, {}, "tool_calls"))
    if usage:
        chunks.append(_usage_chunk(model, cid, n))
    return sse(chunks, delay=delay)


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def json_response(
    body: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> Stream:
    """A plain (non-streamed) JSON answer with Content-Length, e.g. a ``stream: false`` reply."""
    data = body if isinstance(body, bytes) else dumps(body).encode()
    return Stream(
        [data],
        status=status,
        content_type="application/json",
        headers=dict(headers or {}),
        framing="length",
    )


def json_error(
    status: int,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
    type: str | None = None,
    code: str | int | None = None,
) -> Stream:
    """An HTTP error with an OpenAI-style body ``{"error": {"message", "type", "code"}}``.

    ``body`` replaces that body (a dict, or str/bytes sent as is) for providers that differ.
    """
    if body is None:
        kind = type or _ERROR_TYPES.get(status, "server_error" if status >= 500 else "error")
        body = {"error": {"message": message, "type": kind, "code": code}}
    if isinstance(body, str):
        body = body.encode()
    return json_response(body, status=status, headers=headers)


def hang(seconds: float, *, send_headers: bool = True) -> Hang:
    """Stall after the headers (or before them) for ``seconds``, then close."""
    return Hang(seconds, send_headers=send_headers)


def drop_after(bytes_: bytes | str | os.PathLike[str], n: int, *, reset: bool = False) -> Drop:
    """Send the first ``n`` body bytes of ``bytes_`` (bytes or a file), then close the socket."""
    return Drop(_read(bytes_), n, reset=reset)


# -- JSON descriptions, for the control endpoint ------------------------------------------


def _resolve(spec: Mapping[str, Any], corpus_dir: Path, fixtures_dir: Path) -> Path:
    """A spec names its file as ``corpus`` (corpus-relative), ``fixture`` or ``path``."""
    if "corpus" in spec:
        return corpus_dir / spec["corpus"]
    if "fixture" in spec:
        return fixtures_dir / spec["fixture"]
    return Path(spec["path"])


def response_from_spec(
    spec: Mapping[str, Any],
    *,
    corpus_dir: Path | None = None,
    fixtures_dir: Path = FIXTURES_DIR,
) -> Response:
    """Build a response from its JSON description (``{"kind": ..., ...}``).

    Kinds: ``replay`` / ``replay_capture`` / ``chunks_file`` (file from ``corpus``,
    ``fixture`` or ``path``; replay also takes ``body_b64``), ``sse``, ``text_stream``,
    ``tool_call_stream``, ``json_error``, ``json``, ``hang``, ``drop_after``, and ``raw``
    (what ``Response.to_spec`` produces). Other keys are the factory's keyword arguments.
    """
    corpus_dir = corpus_dir or default_corpus_dir()
    kw = dict(spec)
    kind = kw.pop("kind")
    if kind in ("replay", "replay_capture", "chunks_file"):
        if "body_b64" in kw:
            source: bytes | Path = base64.b64decode(kw.pop("body_b64"))
        else:
            source = _resolve(kw, corpus_dir, fixtures_dir)
        for key in ("corpus", "fixture", "path"):
            kw.pop(key, None)
        factory = {"replay": replay, "replay_capture": replay_capture, "chunks_file": chunks_file}
        return factory[kind](source, **kw)
    if kind == "sse":
        return sse(kw.pop("chunks"), **kw)
    if kind == "text_stream":
        return text_stream(kw.pop("text"), **kw)
    if kind == "tool_call_stream":
        return tool_call_stream([tuple(c) for c in kw.pop("calls")], **kw)
    if kind == "json_error":
        return json_error(kw.pop("status"), kw.pop("message", ""), **kw)
    if kind == "json":
        return json_response(kw.pop("body"), **kw)
    if kind == "hang":
        return Hang(**kw)
    if kind == "drop_after":
        body = base64.b64decode(kw.pop("body_b64")) if "body_b64" in kw else None
        if body is None:
            body = _resolve(kw, corpus_dir, fixtures_dir).read_bytes()
            for key in ("corpus", "fixture", "path"):
                kw.pop(key, None)
        return Drop(body, **kw)
    if kind == "raw":
        pieces = [base64.b64decode(p) for p in kw.pop("pieces_b64")]
        return Stream(pieces, **kw)
    raise ValueError(f"unknown response kind {kind!r}")


# -- recording ----------------------------------------------------------------------------
