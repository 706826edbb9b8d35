"""The HTTP provider: send a wire's request over httpx, retry, read the stream, yield deltas.

This is the only module that talks HTTP, for every wire (``wire.py``: chat completions,
Responses, Anthropic Messages); a wire only says what to send and how to read what comes back.
Retries follow what the official SDKs do for the same servers: 429 and 5xx (Anthropic's 529
``overloaded_error`` too) before the stream starts are tried again (3 tries in all), with
exponential backoff and jitter, honouring ``retry-after-ms`` and ``Retry-After``. 400, 401,
403 and 404 are never retried: their message is the provider's own.
"""

from __future__ import annotations

import asyncio
import email.utils
import http
import random
import re
import socket
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..errors import (
    HTTPStatusError,
    IncompleteStreamError,
    StreamError,
    TransportError,
    redact_url,
)
from ..events import Delta, StatusEvent
from .chat import ChatWire, request_body
from .chunks import error_message
from .sizes import context_from_models, context_from_props, props_url
from .sse import SSEDecoder
from .wire import DEFAULT_MAX_TOKENS, Request, Wire, load_json, maybe_json

__all__ = ["DEFAULT_MAX_TOKENS", "OpenAIProvider", "redact_url", "request_body"]

MAX_RETRY_WAIT = 60.0
SIZE_TIMEOUT = 5.0
"""Seconds each request asking a server its context size may take (it runs beside a turn)."""


@dataclass(kw_only=True)
class OpenAIProvider:
    """Streams one wire's answers from ``{base_url}{wire.path}`` (chat completions by default).

    The one ``wire.Provider``: the agent is typed against that protocol, not this class."""

    base_url: str
    api_key: str | None = field(default=None, repr=False)
    timeout: httpx.Timeout = field(
        default_factory=lambda: httpx.Timeout(connect=15.0, read=120.0, write=30.0, pool=15.0)
    )
    headers: dict[str, str] = field(default_factory=dict)
    max_tries: int = 3
    backoff: float = 0.5
    transport: httpx.AsyncBaseTransport | None = field(default=None, repr=False)
    wire: Wire = field(default_factory=ChatWire)

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + self.wire.path

    def request_body(
        self,
        request: Request,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        """The wire's JSON body for a conversation (``Wire.body``)."""
        return self.wire.body(request, messages, tools)

    def client(self) -> httpx.AsyncClient:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-store", **self.headers}
        headers.update(self.wire.headers(self.api_key))
        return httpx.AsyncClient(
            headers=headers, timeout=self.timeout, transport=self.transport, trust_env=False
        )

    async def stream(
        self, client: httpx.AsyncClient, body: dict[str, Any]
    ) -> AsyncIterator[Delta | StatusEvent]:
        """Deltas of one completion; ``StatusEvent``s say when it waits to retry."""
        async with aclosing(self.batches(client, body)) as batches:
            async for batch in batches:
                if isinstance(batch, StatusEvent):
                    yield batch
                else:
                    for delta in batch:
                        yield delta

    async def reported_context(self, client: httpx.AsyncClient, model: str) -> int | None:
        """The context size the server reports (``sizes.py``: vLLM's ``/models``, llama.cpp's
        ``/props``, both asked at once), or None. Chat completions servers only; any failure
        is None, unsaid."""
        if self.wire.name != "chat":
            return None
        base = self.base_url.rstrip("/")

        async def ask(url: str | None) -> Any:
            if url is None:
                return None
            try:
                headers = {"Accept": "application/json"}
                answer = await client.get(url, headers=headers, timeout=SIZE_TIMEOUT)
                return answer.json() if answer.status_code == 200 else None
            except (httpx.HTTPError, ValueError):
                return None

        models, props = await asyncio.gather(ask(f"{base}/models"), ask(props_url(base)))
        return context_from_models(models, model) or context_from_props(props)

    async def batches(
        self, client: httpx.AsyncClient, body: dict[str, Any]
    ) -> AsyncIterator[list[Delta] | StatusEvent]:
        """``stream``, one list of deltas per network read.

        An answer is hundreds of thousands of deltas; handing them on a read at a time saves
        an async generator step per delta, which is most of what the wire costs above JSON.
        """
        stale_retried = False
        for attempt in range(1, self.max_tries + 1):
            answered = False
            try:
                async with client.stream("POST", self.url, json=body) as response:
                    answered = True
                    if response.status_code >= 400:
                        raise await self._status_error(response)
                    if response.is_redirect:
                        raise _redirect_error(response, self.wire.path)
                    if "html" in response.headers.get("content-type", ""):
                        raise await _page_error(response)
                    async for batch in self._read(response):
                        yield batch
                    return
            except HTTPStatusError as exc:
                wait = self._retry_wait(exc, attempt)
                if wait is None:
                    raise _given_up(exc) from None
                yield StatusEvent(
                    state="retrying",
                    detail=f"{exc.message} - trying again in {wait:.1f} s "
                    f"(attempt {attempt + 1} of {self.max_tries})",
                )
                await asyncio.sleep(wait)
            except httpx.TimeoutException as exc:
                raise TransportError(self._timeout_message(exc), detail=_chain(exc)) from None
            except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
                # A pooled connection the server had already closed: nothing was sent back,
                # so sending the request again on a new connection is safe. Once.
                if answered or stale_retried:
                    message = self._transport_message(exc, answered=answered)
                    raise TransportError(message, detail=_chain(exc)) from None
                stale_retried = True
            except httpx.TransportError as exc:
                raise TransportError(self._transport_message(exc), detail=_chain(exc)) from None

    def _retry_wait(self, exc: HTTPStatusError, attempt: int) -> float | None:
        if not exc.retryable or attempt >= self.max_tries:
            return None
        if exc.retry_after is not None:
            return exc.retry_after if exc.retry_after <= MAX_RETRY_WAIT else None
        return min(self.backoff * 2 ** (attempt - 1), 8.0) * (0.75 + random.random() / 2)

    async def _read(self, response: httpx.Response) -> AsyncIterator[list[Delta]]:
        content_type = response.headers.get("content-type", "")
        decoder = self.wire.decoder()
        if "json" in content_type and "stream" not in content_type:
            raw = await response.aread()
            if not raw.strip():
                raise IncompleteStreamError(EMPTY_BODY)
            yield decoder.whole(load_json(raw.decode("utf-8", "replace")))
            return
        sse = SSEDecoder()
        async for text in response.aiter_text():
            batch: list[Delta] = []
            try:
                stop = decoder.feed(sse.feed(text), batch)
            except StreamError:
                yield batch  # what came before the failure, then the failure
                raise
            yield batch
            if stop:
                break
        yield decoder.flush()
        if not decoder.finished and not response.num_bytes_downloaded:
            raise IncompleteStreamError(EMPTY_BODY)
        if not decoder.finished:
            raise IncompleteStreamError(
                "The stream ended before the answer was complete (no [DONE] and no finish reason)."
            )

    async def _status_error(self, response: httpx.Response) -> HTTPStatusError:
        raw = (await response.aread()).decode("utf-8", "replace")
        payload = maybe_json(raw)
        if payload is not None:
            said = error_message(
                payload.get("error", payload) if isinstance(payload, dict) else payload
            )
        else:
            said = _text_of_page(raw)
        status = response.status_code
        message = f"HTTP {status} {status_words(status, response.reason_phrase)}".rstrip()
        if said:
            message += f": {said}"
        return HTTPStatusError(
            message,
            status_code=status,
            retry_after=_retry_after(response.headers),
            detail=raw[:4000] or None,
        )

    def _timeout_message(self, exc: httpx.TimeoutException) -> str:
        where = redact_url(self.url)
        if isinstance(exc, httpx.ConnectTimeout):
            return f"Could not connect to {where}: the connection timed out."
        if isinstance(exc, httpx.ReadTimeout):
            return f"{where} sent nothing for {self.timeout.read:g} s; the request was abandoned."
        return f"The request to {where} timed out ({type(exc).__name__})."

    def _transport_message(self, exc: httpx.TransportError, *, answered: bool = True) -> str:
        where = redact_url(self.url)
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, httpx.ConnectError):
            causes = _causes(exc)
            if any(isinstance(c, socket.gaierror) for c in causes):
                host = urlsplit(self.url).hostname
                return f"Could not connect to {where}: the host {host!r} was not found (DNS)."
            if any(isinstance(c, ConnectionRefusedError) for c in causes):
                return (
                    f"Could not connect to {where}: connection refused "
                    "(is the server running, and is the port right?)"
                )
            return f"Could not connect to {where}: {reason}"
        if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
            if not answered:
                return f"{where} closed the connection without answering (tried twice): {reason}"
            return f"The connection to {where} broke during the answer: {reason}"
        return f"Network error talking to {where}: {reason}"


EMPTY_BODY = (
    "The stream ended before the answer was complete: the server sent an empty body "
    "(no answer and no error message)."
)


_RFC_9110_NAMES = {
    413: "Content Too Large",
    414: "URI Too Long",
    416: "Range Not Satisfiable",
    422: "Unprocessable Content",
}
"""The statuses RFC 9110 renamed; ``http.HTTPStatus`` says the old names before Python 3.13."""


def status_words(status: int, given: str = "") -> str:
    """The words for an HTTP status, the same on every Python and over HTTP/1.1 or HTTP/2.

    A status's standard name (RFC 9110) wins over the server's reason phrase, which HTTP/2 does
    not carry (httpx then takes ``http.HTTPStatus``'s, whose names changed in Python 3.13); an
    unregistered status (Anthropic's 529, say) keeps the phrase the server sent.
    """
    if status in _RFC_9110_NAMES:
        return _RFC_9110_NAMES[status]
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return given


def _given_up(exc: HTTPStatusError) -> HTTPStatusError:
    """The error to show once retrying stops; it says so when the server asked for too long."""
    if not (exc.retryable and exc.retry_after is not None and exc.retry_after > MAX_RETRY_WAIT):
        return exc
    return HTTPStatusError(
        f"{exc.message} (the server asked to wait {exc.retry_after:g} s; try again later)",
        status_code=exc.status_code,
        retry_after=exc.retry_after,
        detail=exc.detail,
    )


def _redirect_error(response: httpx.Response, path: str) -> HTTPStatusError:
    """A redirect is not followed (it would resend the key elsewhere): say where it points."""
    target = response.next_request.url if response.next_request else None
    where = redact_url(str(target)) if target else response.headers.get("location", "elsewhere")
    status = response.status_code
    words = status_words(status, response.reason_phrase)
    return HTTPStatusError(
        f"HTTP {status} {words}: the server sends this request to {where}; "
        f"if that is right, use it as the base URL (without {path}).",
        status_code=status,
    )


async def _page_error(response: httpx.Response) -> StreamError:
    """A web page where a stream should be: a login portal, a proxy, or a wrong base URL."""
    raw = (await response.aread()).decode("utf-8", "replace")
    title = _text_of_page(raw)
    shown = f" ({title!r})" if title else ""
    return StreamError(
        f"The server answered with a web page{shown} instead of a stream: check the base URL "
        "(it usually ends in /v1) and any proxy or login page in between.",
        detail=raw[:4000] or None,
    )


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what caused it, outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _chain(exc: BaseException) -> str:
    """What went wrong on the wire, one line per cause, for a person one click away."""
    return "\n".join(
        f"{'caused by ' if i else ''}{type(c).__module__}.{type(c).__qualname__}: {c}"
        for i, c in enumerate(_causes(exc))
    )


def _text_of_page(raw: str) -> str:
    """A short readable line from an HTML or text error body."""
    title = re.search(r"<title[^>]*>(.*?)</title>", raw, re.I | re.S)
    text = title.group(1) if title else re.sub(r"<[^>]+>", " ", raw)
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:300] + "…"


def _retry_after(headers: httpx.Headers) -> float | None:
    if ms := headers.get("retry-after-ms"):
        try:
            return max(float(ms) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(when.timestamp() - time.time(), 0.0)
