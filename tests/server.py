"""A real OpenAI-compatible chat-completions server for tests, over loopback HTTP.

The project's rule is that tests talk real HTTP to a real server and replay real provider
streams byte for byte, so nothing here fakes a client: a ``ThreadingHTTPServer`` answers
``POST /v1/chat/completions`` from a FIFO queue of scripted responses (or a responder
callable), records every request, and notices when a client hangs up mid-stream.

Used two ways, sharing this code:

* in process, through the ``llm_server`` fixture in ``conftest.py``;
* as a process (``python tests/server.py --port 0``), printing its base URL on stdout, so a
  Jupyter kernel in another process can be pointed at it; tests then script it through the
  JSON control endpoints under ``/_control/``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import http.server
import importlib.util
import itertools
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "CHAT_PATHS",
    "FIXTURES_DIR",
    "WIRE_PATHS",
    "ClientGone",
    "Drop",
    "Hang",
    "LLMServer",
    "RecordedRequest",
    "Response",
    "ServerProcess",
    "Stream",
    "chunks_file",
    "default_corpus_dir",
    "drop_after",
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

FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures"
CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
WIRE_PATHS = (*CHAT_PATHS, "/v1/responses", "/responses", "/v1/messages", "/messages")
"""Where each wire posts: chat completions, the Responses API, Anthropic's Messages API."""
DEFAULT_MODEL = "test-model"

# How often a pending response looks at its socket for a hang-up. Small, so an interrupt
# test sees the disconnect well within a second.
_POLL = 0.02


def default_corpus_dir() -> Path:
    """Where the shared recordings live: ``$LUXX_CORPUS``, else ``<repo>/../shared/corpus``.

    CI puts ``shared/`` beside the clone (``X/main`` and ``X/shared``), so the corpus is never
    copied into the project.
    """
    env = os.environ.get("LUXX_CORPUS")
    if env:
        return Path(env).expanduser().resolve()
    return Path(__file__).resolve().parents[2] / "shared" / "corpus"


# -- responses ----------------------------------------------------------------------------


class ClientGone(Exception):
    """The client closed its connection before the response was complete."""


class Response:
    """Something the server can answer one request with."""

    def send(self, conn: _Conn) -> None:
        raise NotImplementedError

    def to_spec(self) -> dict[str, Any]:
        """A JSON description, so an in-process response can be enqueued on a server process."""
        raise NotImplementedError


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclasses.dataclass
class Stream(Response):
    """Send ``pieces`` in order, exactly as given, with ``delay`` seconds between pieces.

    ``framing`` is ``"chunked"`` (one HTTP chunk per piece, so timing reaches the client),
    ``"close"`` (no Content-Length; the body ends when the server closes) or ``"length"``
    (Content-Length, for plain JSON bodies).
    """

    pieces: list[bytes]
    status: int = 200
    content_type: str | None = "text/event-stream"
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    delay: float = 0.0
    framing: str = "chunked"

    @property
    def body(self) -> bytes:
        return b"".join(self.pieces)

    def send(self, conn: _Conn) -> None:
        headers = dict(self.headers)
        if self.content_type is not None:
            headers.setdefault("Content-Type", self.content_type)
        if self.framing == "length":
            body = self.body
            headers["Content-Length"] = str(len(body))
            conn.start(self.status, headers, framing="length")
            conn.write(body)
            conn.end()
            return
        if self.content_type and "event-stream" in self.content_type:
            headers.setdefault("Cache-Control", "no-cache")
        conn.start(self.status, headers, framing=self.framing)
        for i, piece in enumerate(self.pieces):
            if i and self.delay:
                conn.pause(self.delay)
            conn.write(piece)
        conn.end()

    def to_spec(self) -> dict[str, Any]:
        return {
            "kind": "raw",
            "pieces_b64": [_b64(p) for p in self.pieces],
            "status": self.status,
            "content_type": self.content_type,
            "headers": self.headers,
            "delay": self.delay,
            "framing": self.framing,
        }


@dataclasses.dataclass
class Hang(Response):
    """Stall for ``seconds`` (after the headers, or before them), then close the connection.

    Nothing is written while stalling, so a client read timeout really fires.
    """

    seconds: float
    send_headers: bool = True
    status: int = 200
    content_type: str = "text/event-stream"

    def send(self, conn: _Conn) -> None:
        if self.send_headers:
            conn.start(self.status, {"Content-Type": self.content_type}, framing="chunked")
        conn.pause(self.seconds)
        conn.abort()

    def to_spec(self) -> dict[str, Any]:
        return {"kind": "hang", **dataclasses.asdict(self)}


@dataclasses.dataclass
class Drop(Response):
    """Send the headers and the first ``n`` bytes of ``body``, then close the socket.

    ``reset=True`` closes with a TCP RST instead of a FIN (the client may then lose bytes it
    had not read yet, as with a real crashed proxy).
    """

    body: bytes
    n: int
    status: int = 200
    content_type: str = "text/event-stream"
    reset: bool = False

    def send(self, conn: _Conn) -> None:
        conn.start(self.status, {"Content-Type": self.content_type}, framing="chunked")
        conn.write(self.body[: self.n])
        conn.abort(reset=self.reset)

    def to_spec(self) -> dict[str, Any]:
        return {
            "kind": "drop_after",
            "body_b64": _b64(self.body),
            "n": self.n,
            "status": self.status,
            "content_type": self.content_type,
            "reset": self.reset,
        }


# -- factories ----------------------------------------------------------------------------

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


def _dumps(obj: Any) -> str:
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
            pieces.append(f"data: {_dumps(chunk)}\n\n".encode())
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
        args_json = args if isinstance(args, str) else _dumps(args)
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
    data = body if isinstance(body, bytes) else _dumps(body).encode()
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


@dataclasses.dataclass
class RecordedRequest:
    """One request as the server saw it, and how its response ended."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw_body: bytes
    time: float
    disconnected: bool = False
    finished: bool = False

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat messages sent (empty when the body had none)."""
        if isinstance(self.body, dict):
            return list(self.body.get("messages") or [])
        return []

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["raw_body"] = self.raw_body.decode("utf-8", "replace")
        return data


Responder = Callable[[Any], Response | Mapping[str, Any] | None]


# -- the connection a response writes to --------------------------------------------------


class _Conn:
    """Writes one response, and turns a hang-up into ``ClientGone`` however it shows up."""

    def __init__(self, handler: _Handler, stopping: threading.Event) -> None:
        self.handler = handler
        self.sock: socket.socket = handler.connection
        self.stopping = stopping
        self.framing = "length"
        self.started = False

    def start(self, status: int, headers: Mapping[str, str], *, framing: str) -> None:
        h = self.handler
        self.framing = framing
        h.send_response(status)
        if framing == "chunked":
            h.send_header("Transfer-Encoding", "chunked")
        elif framing == "close":
            h.send_header("Connection", "close")
            h.close_connection = True
        for name, value in headers.items():
            h.send_header(name, value)
        self.started = True
        self._guard(h.end_headers)

    def write(self, data: bytes) -> None:
        if not data:
            return  # an empty HTTP chunk would end a chunked body
        if self.framing == "chunked":
            data = b"%x\r\n%s\r\n" % (len(data), data)
        self._guard(lambda: self.handler.wfile.write(data))
        self._guard(self.handler.wfile.flush)

    def end(self) -> None:
        if self.framing == "chunked":
            self._guard(lambda: self.handler.wfile.write(b"0\r\n\r\n"))
            self._guard(self.handler.wfile.flush)

    def pause(self, seconds: float) -> None:
        """Wait, watching the socket: a readable socket with nothing to read is a hang-up."""
        deadline = time.monotonic() + seconds
        while True:
            if self.stopping.is_set():
                raise ClientGone("server stopping")
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.check_alive(min(left, _POLL))

    def check_alive(self, timeout: float = 0.0) -> None:
        try:
            readable, _, _ = select.select([self.sock], [], [], timeout)
            if readable:
                if not self.sock.recv(1, socket.MSG_PEEK):
                    raise ClientGone("client closed the connection")
                time.sleep(timeout)  # the client sent bytes (pipelining): don't spin on them
        except (ConnectionError, OSError, ValueError) as exc:
            raise ClientGone(str(exc)) from exc

    def abort(self, *, reset: bool = False) -> None:
        """Close the connection without finishing the body."""
        self.handler.close_connection = True
        with contextlib.suppress(OSError):
            if reset:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                self.sock.shutdown(socket.SHUT_WR)
        raise _Aborted

    def _guard(self, fn: Callable[[], Any]) -> None:
        try:
            fn()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as exc:
            raise ClientGone(str(exc)) from exc


class _Aborted(Exception):
    """The response closed the connection on purpose (drop, hang): not a client disconnect."""


# -- the server ---------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean; requests are recorded instead

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, add=True)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.owner._track(self.connection, add=False)

    def do_GET(self) -> None:
        self.server.owner._handle(self, "GET")

    def do_POST(self) -> None:
        self.server.owner._handle(self, "POST")

    def do_DELETE(self) -> None:
        self.server.owner._handle(self, "DELETE")

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: LLMServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client closing its idle keep-alive connection is normal, not worth a traceback."""
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


class LLMServer:
    """A scripted OpenAI-compatible server on ``127.0.0.1``, run in a background thread."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        corpus_dir: Path | None = None,
        fixtures_dir: Path = FIXTURES_DIR,
    ) -> None:
        self.corpus_dir = corpus_dir or default_corpus_dir()
        self.fixtures_dir = fixtures_dir
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.owner = self
        self._thread: threading.Thread | None = None
        self._lock = threading.Condition()
        self._queue: deque[Response] = deque()
        self._responder: Responder | None = None
        self._requests: list[RecordedRequest] = []
        self._disconnects = 0
        self._errors: list[str] = []
        self._sockets: set[socket.socket] = set()
        self._stopping = threading.Event()

    # lifecycle

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What a client's ``base_url`` should be: ends in ``/v1``."""
        return f"{self.url}/v1"

    def start(self) -> LLMServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut open connections, so no test leaves a stalled thread behind."""
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # scripting

    def enqueue(self, *responses: Response | Mapping[str, Any]) -> LLMServer:
        """Queue responses, answered FIFO, one per chat request. Dicts are JSON specs."""
        built = [self._build(r) for r in responses]
        with self._lock:
            self._queue.extend(built)
        return self

    def script(self, responder: Responder | None) -> LLMServer:
        """Answer (once the queue is empty) with ``responder(request_body)``.

        For multi-round agent tests: the responder decides from the conversation so far.
        """
        with self._lock:
            self._responder = responder
        return self

    def reset(self) -> None:
        """Forget queued responses, the responder, recorded requests and disconnects."""
        with self._lock:
            self._queue.clear()
            self._responder = None
            self._requests.clear()
            self._disconnects = 0
            self._errors.clear()

    @property
    def pending(self) -> int:
        """Responses queued and not yet served."""
        with self._lock:
            return len(self._queue)

    # observation

    @property
    def requests(self) -> list[RecordedRequest]:
        """Chat requests received so far, oldest first (control requests are not recorded)."""
        with self._lock:
            return list(self._requests)

    @property
    def disconnects(self) -> int:
        """How many responses the client abandoned before they were complete."""
        with self._lock:
            return self._disconnects

    @property
    def errors(self) -> list[str]:
        """Tracebacks of responders that raised (their requests were answered 500)."""
        with self._lock:
            return list(self._errors)

    def wait_for_disconnect(self, timeout: float = 1.0, count: int = 1) -> bool:
        """Wait until at least ``count`` disconnects were seen; False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: self._disconnects >= count, timeout)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until at least ``count`` chat requests arrived; False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: len(self._requests) >= count, timeout)

    # internals

    def _build(self, response: Response | Mapping[str, Any]) -> Response:
        if isinstance(response, Response):
            return response
        return response_from_spec(
            response, corpus_dir=self.corpus_dir, fixtures_dir=self.fixtures_dir
        )

    def _track(self, sock: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._sockets.add(sock)
            else:
                self._sockets.discard(sock)

    def _handle(self, h: _Handler, method: str) -> None:
        raw = h.read_body()
        path = h.path.split("?", 1)[0]
        if path.startswith("/_control/"):
            self._control(h, method, path, raw)
            return
        if method == "GET" and path in ("/v1/models", "/models"):
            model = {"id": DEFAULT_MODEL, "object": "model", "owned_by": "luxx-tests"}
            self._send(h, json_response({"object": "list", "data": [model]}))
            return
        if method != "POST" or path not in WIRE_PATHS:
            self._send(h, json_error(404, f"no route for {method} {path}"))
            return
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        record = RecordedRequest(
            method=method,
            path=path,
            headers={k.lower(): v for k, v in h.headers.items()},
            body=body,
            raw_body=raw,
            time=time.time(),
        )
        with self._lock:
            self._requests.append(record)
            number = len(self._requests)
            response = self._queue.popleft() if self._queue else None
            responder = self._responder
            self._lock.notify_all()
        if response is None and responder is not None:
            try:
                answer = responder(body)
                response = None if answer is None else self._build(answer)
            except Exception:
                tb = traceback.format_exc()
                with self._lock:
                    self._errors.append(tb)
                response = json_error(500, f"test responder raised:\n{tb}", type="server_error")
        if response is None:
            response = json_error(
                500,
                f"no response was scripted for request #{number} "
                f"({method} {path}); enqueue one or set a responder",
                type="server_error",
                code="no_scripted_response",
            )
        self._send(h, response, record)

    def _send(self, h: _Handler, response: Response, record: RecordedRequest | None = None) -> None:
        conn = _Conn(h, self._stopping)
        try:
            response.send(conn)
        except ClientGone:
            h.close_connection = True
            if record is not None and not self._stopping.is_set():
                with self._lock:
                    record.disconnected = True
                    self._disconnects += 1
                    self._lock.notify_all()
            return
        except _Aborted:
            return
        if record is not None:
            with self._lock:
                record.finished = True
                self._lock.notify_all()

    def _control(self, h: _Handler, method: str, path: str, raw: bytes) -> None:
        """``/_control/...``: script and inspect this server from another process."""
        try:
            if method == "POST" and path == "/_control/enqueue":
                payload = json.loads(raw or b"[]")
                specs = payload.get("responses", []) if isinstance(payload, dict) else payload
                if isinstance(specs, dict):
                    specs = [specs]
                self.enqueue(*specs)
                answer: Any = {"queued": self.pending}
            elif method == "GET" and path == "/_control/requests":
                answer = [r.to_dict() for r in self.requests]
            elif method == "GET" and path == "/_control/disconnects":
                answer = {
                    "disconnects": self.disconnects,
                    "requests": [r.disconnected for r in self.requests],
                }
            elif method == "GET" and path == "/_control/pending":
                answer = {"pending": self.pending}
            elif method == "POST" and path == "/_control/reset":
                self.reset()
                answer = {"ok": True}
            else:
                self._send(h, json_error(404, f"no control route {method} {path}"))
                return
        except Exception as exc:
            self._send(h, json_error(400, f"{type(exc).__name__}: {exc}"))
            return
        self._send(h, json_response(answer))


# -- process mode -------------------------------------------------------------------------


class ServerProcess:
    """This server run as a child process (for Jupyter kernels), scripted over HTTP.

    ``enqueue`` takes the same responses as ``LLMServer.enqueue`` (sent as JSON specs).
    """

    def __init__(self, proc: subprocess.Popen[str], base_url: str) -> None:
        self.proc = proc
        self.base_url = base_url
        self.url = base_url.removesuffix("/v1")

    @classmethod
    def start(
        cls, *, corpus_dir: Path | None = None, script: Path | None = None, timeout: float = 20.0
    ) -> ServerProcess:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--port", "0"]
        cmd += ["--corpus", str(corpus_dir or default_corpus_dir())]
        if script is not None:
            cmd += ["--script", str(script)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        stdout = proc.stdout
        assert stdout is not None
        lines: list[str] = []  # read in a thread: select() on pipes is POSIX-only
        reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        line = lines[0].strip() if lines else ""
        if not line.startswith("http://"):
            proc.kill()
            proc.wait()
            raise RuntimeError(f"test server process did not print its URL (got {line!r})")
        return cls(proc, line)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        data = None if payload is None else _dumps(payload).encode()
        req = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def enqueue(self, *responses: Response | Mapping[str, Any]) -> int:
        """Queue responses on the process; returns how many are now pending."""
        specs = [r.to_spec() if isinstance(r, Response) else dict(r) for r in responses]
        return self._call("POST", "/_control/enqueue", specs)["queued"]

    def requests(self) -> list[dict[str, Any]]:
        """Chat requests the process received (``RecordedRequest.to_dict`` shape)."""
        return self._call("GET", "/_control/requests")

    def disconnects(self) -> int:
        return self._call("GET", "/_control/disconnects")["disconnects"]

    def pending(self) -> int:
        return self._call("GET", "/_control/pending")["pending"]

    def reset(self) -> None:
        """Forget queue, requests and disconnects (the process is shared by a test module)."""
        self._call("POST", "/_control/reset", {})

    def wait_for_disconnect(self, timeout: float = 1.0, count: int = 1) -> bool:
        deadline = time.monotonic() + timeout
        while self.disconnects() < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(_POLL)
        return True

    @property
    def env(self) -> dict[str, str]:
        """Environment pointing a kernel at this server."""
        return {
            "LUXX_BASE_URL": self.base_url,
            "LUXX_API_KEY": "test-key",
            "LUXX_MODEL": DEFAULT_MODEL,
        }


def _load_script(path: Path) -> tuple[list[Any], Responder | None]:
    """A ``.json`` script is a list of response specs (or ``{"responses": [...]}``); a ``.py``
    script may define ``RESPONSES`` (specs or responses) and ``responder(body)``.
    """
    if path.suffix == ".py":
        spec = importlib.util.spec_from_file_location("_luxx_test_script", path)
        if spec is None or spec.loader is None:
            raise SystemExit(f"cannot load script {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules.setdefault("server", sys.modules[__name__])  # so scripts can `import server`
        spec.loader.exec_module(module)
        return list(getattr(module, "RESPONSES", [])), getattr(module, "responder", None)
    payload = json.loads(path.read_text())
    specs = payload.get("responses", []) if isinstance(payload, dict) else payload
    return list(specs), None


def main(argv: Iterable[str] | None = None) -> int:
    """Run as a process: print the base URL on stdout, serve until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--script", type=Path, help="a .json list of response specs, or a .py")
    parser.add_argument(
        "--corpus", type=Path, default=None, help="default: $LUXX_CORPUS or ../shared/corpus"
    )
    parser.add_argument("--fixtures", type=Path, default=FIXTURES_DIR)
    args = parser.parse_args(list(argv) if argv is not None else None)

    server = LLMServer(args.host, args.port, corpus_dir=args.corpus, fixtures_dir=args.fixtures)
    if args.script:
        specs, responder = _load_script(args.script)
        server.enqueue(*specs)
        server.script(responder)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    server.start()
    print(server.base_url, flush=True)
    while not done.wait(0.2):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
