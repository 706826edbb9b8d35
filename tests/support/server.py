"""The loopback test server: ``LLMServer`` in a thread, ``ServerProcess`` in a child process.

The project's rule is that tests talk real HTTP to a real server and replay real provider
streams byte for byte, so nothing here fakes a client: a ``ThreadingHTTPServer`` answers
``POST /v1/chat/completions`` (and the Responses and Anthropic paths) from a FIFO queue of
scripted responses (or a responder callable), records every request, and notices when a client
hangs up mid-stream.

Used two ways, sharing this code:

* in process, through the ``llm_server`` fixture in ``conftest.py``;
* as a process (``ServerProcess``, which runs ``python -m support --port 0``), printing its base
  URL on stdout, so a Jupyter kernel in another process can be pointed at it; tests then script
  it through the JSON control endpoints under ``/_control/``.

What it answers with is in ``responses.py`` (the types) and ``builders.py`` (the streams and
errors); the socket side is ``handler.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import traceback
import urllib.request
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from support.builders import dumps, json_error, json_response, response_from_spec
from support.handler import Aborted, Connection, Handler, HTTPServer, RecordedRequest, Responder
from support.responses import (
    DEFAULT_MODEL,
    FIXTURES_DIR,
    POLL,
    WIRE_PATHS,
    ClientGone,
    Response,
    default_corpus_dir,
)

__all__ = ["LLMServer", "ServerProcess"]

TESTS = Path(__file__).resolve().parents[1]


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
        self._httpd = HTTPServer((host, port), Handler)
        self._httpd.owner = self
        self._thread: threading.Thread | None = None
        self._lock = threading.Condition()
        self._queue: deque[Response] = deque()
        self._responder: Responder | None = None
        self._requests: list[RecordedRequest] = []
        self.answers: dict[str, Response] = {}
        """Answers to GET requests by path (``/v1/models``, ``/props``), beside the default
        model list; such requests are not in ``requests``, their paths are in ``gets``."""
        self.gets: list[str] = []
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
        """Forget queued responses, the responder, GET answers, requests and disconnects."""
        with self._lock:
            self._queue.clear()
            self._responder = None
            self.answers.clear()
            self.gets.clear()
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

    def _handle(self, h: Handler, method: str) -> None:
        raw = h.read_body()
        path = h.path.split("?", 1)[0]
        if path.startswith("/_control/"):
            self._control(h, method, path, raw)
            return
        if method == "GET":
            self.gets.append(path)
        if method == "GET" and path in self.answers:
            self._send(h, self.answers[path])
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

    def _send(self, h: Handler, response: Response, record: RecordedRequest | None = None) -> None:
        conn = Connection(h, self._stopping)
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
        except Aborted:
            return
        if record is not None:
            with self._lock:
                record.finished = True
                self._lock.notify_all()

    def _control(self, h: Handler, method: str, path: str, raw: bytes) -> None:
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
        cmd = [sys.executable, "-m", "support", "--port", "0"]
        cmd += ["--corpus", str(corpus_dir or default_corpus_dir())]
        if script is not None:
            cmd += ["--script", str(script)]
        env = dict(os.environ)  # this package, found as the tests find it
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
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
        data = None if payload is None else dumps(payload).encode()
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
            time.sleep(POLL)
        return True

    @property
    def env(self) -> dict[str, str]:
        """Environment pointing a kernel at this server."""
        return {
            "LUXX_BASE_URL": self.base_url,
            "LUXX_API_KEY": "test-key",
            "LUXX_MODEL": DEFAULT_MODEL,
        }
