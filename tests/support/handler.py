"""The socket side of the test server: one request recorded, one response written to it.

``Connection`` writes a response (chunked, closed or with a length) and turns a hang-up into
``ClientGone`` however it shows up; ``Handler`` hands every request to the owning
``LLMServer``; ``HTTPServer`` is the threading server that holds them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import select
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from support.responses import POLL, ClientGone, Response

if TYPE_CHECKING:
    from support.server import LLMServer

__all__ = ["Aborted", "Connection", "HTTPServer", "Handler", "RecordedRequest", "Responder"]


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


class Connection:
    """Writes one response, and turns a hang-up into ``ClientGone`` however it shows up."""

    def __init__(self, handler: Handler, stopping: threading.Event) -> None:
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
            self.check_alive(min(left, POLL))

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
        raise Aborted

    def _guard(self, fn: Callable[[], Any]) -> None:
        try:
            fn()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as exc:
            raise ClientGone(str(exc)) from exc


class Aborted(Exception):
    """The response closed the connection on purpose (drop, hang): not a client disconnect."""


# -- the server ---------------------------------------------------------------------------


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HTTPServer

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


class HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: LLMServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client closing its idle keep-alive connection is normal, not worth a traceback."""
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)
