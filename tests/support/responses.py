"""What the test server can answer with: the response types, and recorded bodies replayed.

A ``Response`` writes itself to a ``Connection`` (``handler.py``) and describes itself as JSON
(``to_spec``), so a response built in the test's process can be queued on a server process.
``Stream`` sends pieces as given; ``Hang`` stalls; ``Drop`` cuts the connection. What builds
them (streams, errors, recordings replayed) is ``builders.py``.
"""

from __future__ import annotations

import base64
import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from support.handler import Connection

__all__ = [
    "CHAT_PATHS",
    "FIXTURES_DIR",
    "WIRE_PATHS",
    "ClientGone",
    "Drop",
    "Hang",
    "Response",
    "Stream",
    "default_corpus_dir",
]

FIXTURES_DIR = Path(__file__).resolve().parents[1] / "fixtures"
CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
WIRE_PATHS = (*CHAT_PATHS, "/v1/responses", "/responses", "/v1/messages", "/messages")
"""Where each wire posts: chat completions, the Responses API, Anthropic's Messages API."""
DEFAULT_MODEL = "test-model"

# How often a pending response looks at its socket for a hang-up. Small, so an interrupt
# test sees the disconnect well within a second.
POLL = 0.02


def default_corpus_dir() -> Path:
    """Where the shared recordings live: ``$LUXX_CORPUS``, else ``<repo>/../shared/corpus``.

    CI puts ``shared/`` beside the clone (``X/main`` and ``X/shared``), so the corpus is never
    copied into the project.
    """
    env = os.environ.get("LUXX_CORPUS")
    if env:
        return Path(env).expanduser().resolve()
    return Path(__file__).resolve().parents[3] / "shared" / "corpus"


# -- responses ----------------------------------------------------------------------------


class ClientGone(Exception):
    """The client closed its connection before the response was complete."""


class Response:
    """Something the server can answer one request with."""

    def send(self, conn: Connection) -> None:
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

    def send(self, conn: Connection) -> None:
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

    def send(self, conn: Connection) -> None:
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

    def send(self, conn: Connection) -> None:
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
