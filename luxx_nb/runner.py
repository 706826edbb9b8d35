"""One synchronous door into async code, that works inside a running notebook cell.

A notebook cell already runs inside the kernel's event loop, so ``asyncio.run`` refuses.
Measured alternatives (FIELD-NOTES): re-entering the kernel's loop or joining a fresh thread
both leave the stream running after a kernel interrupt. A persistent loop in a daemon thread,
with the caller's future cancelled on any BaseException, stops cleanly: the coroutine gets
CancelledError, its ``finally`` closes the HTTP stream, and the caller waits for that.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run_sync"]

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
CANCEL_GRACE = 10.0


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="luxx-loop", daemon=True)
            thread.start()
            _loop = loop
        return _loop


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to its end on the background loop; an interrupt cancels it cleanly."""
    finished = threading.Event()

    async def guarded() -> T:
        try:
            return await coro
        finally:
            finished.set()

    future = asyncio.run_coroutine_threadsafe(guarded(), _background_loop())
    try:
        while not future.done():
            concurrent.futures.wait([future], timeout=0.25)
        return future.result()
    except BaseException:
        future.cancel()
        finished.wait(CANCEL_GRACE)
        raise
