"""An endpoint made ready for a run: the local server started, the model and the key checked.

``ready_endpoint`` yields the local server's progress as status events, then the endpoint to
send to; a setting that cannot work (no model for a remote endpoint, a key an HTTP header
cannot carry, the local model asked for another wire) or a local server that would not start
ends it with an error event instead. ``provider_for`` is the HTTP provider for a ready
endpoint; ``local_crash`` says so when the local server died under a run.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from .config import Endpoint
from .errors import ConfigError, redact_url
from .events import ErrorEvent, StatusEvent
from .providers import wire_for

if TYPE_CHECKING:
    import httpx

    from .providers.openai import OpenAIProvider

__all__ = ["check_key", "local_crash", "provider_for", "ready_endpoint"]


async def ready_endpoint(endpoint: Endpoint) -> AsyncIterator[StatusEvent | ErrorEvent | Endpoint]:
    """Status events while the local server starts, then the endpoint; or an error event."""
    try:
        if endpoint.local and endpoint.api != "chat":
            raise ConfigError(
                f"The local model speaks chat completions only, not api={endpoint.api!r}: "
                "give a base URL or a key for that API, or use api='chat'."
            )
        if endpoint.local:
            async for item in _start_local(endpoint.local_path):
                if isinstance(item, Endpoint):
                    endpoint = item
                else:
                    yield item
        elif not endpoint.model:
            raise ConfigError(
                f"No model is set for {redact_url(endpoint.base_url or '')}: pass model=..., "
                "set LUXX_MODEL, or use %config LuxxMagics.model = '...'."
            )
        check_key(endpoint.api_key)
    except Exception as exc:  # a setting, or the local server that would not start
        kind = "config" if isinstance(exc, ConfigError) else "local"
        yield ErrorEvent(message=str(exc), kind=kind)
        return
    yield endpoint


async def _start_local(path: str | None) -> AsyncIterator[StatusEvent | Endpoint]:
    """Start (or reuse) the local server off the loop, passing on its progress."""
    from .local import HTTP_HEADERS, ensure_local_server

    loop = asyncio.get_running_loop()
    progress: asyncio.Queue[str] = asyncio.Queue()

    def report(message: str) -> None:
        loop.call_soon_threadsafe(progress.put_nowait, message)

    starting = asyncio.ensure_future(asyncio.to_thread(ensure_local_server, path, report))
    while not starting.done() or not progress.empty():
        message = asyncio.ensure_future(progress.get())
        done, _ = await asyncio.wait({starting, message}, return_when=asyncio.FIRST_COMPLETED)
        if message in done:
            yield StatusEvent(state="starting_local", detail=message.result())
        else:
            message.cancel()
    server = starting.result()
    yield Endpoint(
        base_url=server.base_url,
        model=server.model_name,
        headers=HTTP_HEADERS,
        context_window=server.n_ctx,
    )


def check_key(key: str | None) -> None:
    """An HTTP header holds printable ASCII only: say which character is wrong, never the key."""
    for position, char in enumerate(key or "", start=1):
        if not " " < char < "\x7f":
            raise ConfigError(
                f"The API key cannot be sent: its character number {position} is {char!r} "
                f"(U+{ord(char):04X}), which an HTTP header cannot carry. A copy and paste may "
                "have brought it in (a smart quote, a non-breaking space): set the key again."
            )


def local_crash(error: ErrorEvent) -> ErrorEvent:
    """Say so when the local server died under the run; the next run starts a new one."""
    from .local import local_server_crash

    crash = local_server_crash(wait=1.0)
    if crash is None:
        return error
    return ErrorEvent(
        message=f"The local model server stopped unexpectedly ({crash}). "
        "The next run starts it again.",
        kind="local",
        detail=error.message,
    )


def provider_for(endpoint: Endpoint, timeout: float | httpx.Timeout | None) -> OpenAIProvider:
    """The HTTP provider for ``endpoint``'s wire; ``timeout`` the read timeout, when set."""
    import httpx  # here, not at import: 55 ms that loading the package need not wait for

    from .providers.openai import OpenAIProvider

    provider = OpenAIProvider(
        base_url=endpoint.base_url or "",
        api_key=endpoint.api_key,
        headers=dict(endpoint.headers),
        wire=wire_for(endpoint.api),
    )
    if timeout is not None:
        provider.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
    return provider
