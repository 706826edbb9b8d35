"""One synchronous door into async code, that works inside a running notebook cell.

A notebook cell already runs inside the kernel's event loop, so ``asyncio.run`` refuses.
Measured alternatives (FIELD-NOTES): re-entering the kernel's loop or joining a fresh thread
both leave the stream running after a kernel interrupt. A persistent loop in a daemon thread,
with the caller's future cancelled on any BaseException, stops cleanly: the coroutine gets
CancelledError, its ``finally`` closes the HTTP stream, and the caller waits for that.

``on_caller(fn)`` runs ``fn`` on the thread that waits in ``run_sync`` (the cell's main
thread): what must happen there (asking on the terminal's stdin, where Ctrl-C interrupts the
question itself; ``run_python``'s code) is posted to it and awaited on the loop. A turn no
cell waits for (a ``ChatView``'s) names the kernel's main loop instead. Outside
``run_sync``, in a worker.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import queue
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["on_caller", "run_sync"]

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


class _Caller:
    """The waiting thread's inbox: calls posted from the loop, and a bell for each."""

    def __init__(self) -> None:
        self.inbox: queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future[Any]]]
        self.inbox = queue.SimpleQueue()
        self.bell = threading.Event()

    def submit(self, fn: Callable[[], Any], result: concurrent.futures.Future[Any]) -> None:
        self.inbox.put((fn, result))
        self.bell.set()

    def drain(self) -> None:
        while True:
            try:
                fn, result = self.inbox.get_nowait()
            except queue.Empty:
                return
            if not result.set_running_or_notify_cancel():
                continue
            try:
                result.set_result(fn())
            except Exception as exc:
                result.set_exception(exc)
            # An interrupt leaves ``result`` unset: ``run_sync`` cancels the run, which stops
            # waiting for it (a KeyboardInterrupt set on it would escape the loop's thread).


class _LoopCaller:
    """Work posted to an event loop's own thread: the kernel's main one, idle between cells,
    for a turn no cell waits for (a ``ChatView``'s prompt). An interrupt there fails the work
    only: it must not escape into the kernel's loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def submit(self, fn: Callable[[], Any], result: concurrent.futures.Future[Any]) -> None:
        def call() -> None:
            if not result.set_running_or_notify_cancel():
                return
            try:
                result.set_result(fn())
            except Exception as exc:
                result.set_exception(exc)
            except BaseException as exc:  # the kernel's interrupt, while the kernel was idle
                result.set_exception(RuntimeError(f"interrupted ({type(exc).__name__})"))

        self.loop.call_soon_threadsafe(call)


_caller: contextvars.ContextVar[_Caller | _LoopCaller | None] = contextvars.ContextVar(
    "luxx_caller", default=None
)


async def on_caller(fn: Callable[[], T]) -> T:
    """``fn()`` on the thread waiting in ``run_sync`` (else in a worker thread), awaited."""
    caller = _caller.get()
    if caller is None:
        return await asyncio.get_running_loop().run_in_executor(None, fn)
    result: concurrent.futures.Future[T] = concurrent.futures.Future()
    caller.submit(fn, result)
    return await asyncio.wrap_future(result)


def run_sync(
    coro: Coroutine[Any, Any, T], *, caller_loop: asyncio.AbstractEventLoop | None = None
) -> T:
    """Run ``coro`` to its end on the background loop; an interrupt cancels it cleanly.

    ``on_caller`` work goes to this thread, or to ``caller_loop``'s thread if given.
    """
    finished = threading.Event()
    caller = _Caller()
    posted = _LoopCaller(caller_loop) if caller_loop is not None else caller

    async def guarded() -> T:
        _caller.set(posted)
        try:
            return await coro
        finally:
            finished.set()

    future = asyncio.run_coroutine_threadsafe(guarded(), _background_loop())
    future.add_done_callback(lambda _: caller.bell.set())
    try:
        while not future.done():
            caller.bell.wait(0.25)
            caller.bell.clear()
            caller.drain()
        return future.result()
    except BaseException:
        future.cancel()
        finished.wait(CANCEL_GRACE)
        raise
