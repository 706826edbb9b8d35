"""Running one tool call: arguments checked, the function run under a time limit (sync ones on
their own threads), what it printed captured, and every failure made a result, never a raise.

Only cancellation of the awaiting task propagates (a kernel interrupt must stop the turn); a
sync tool learns that its call was given up through ``on_cancel``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import inspect
import json
import threading
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from luxx_nb.capture import Capture, capturing
from luxx_nb.config import DEFAULTS
from luxx_nb.events import tool_result_success
from luxx_nb.tools.definition import Tool, ToolContext
from luxx_nb.tools.result import ToolOutput, cut, failure

__all__ = ["invoke", "on_cancel"]


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


class _Cancel:
    """What a sync tool's call does when nobody waits for it any more (see ``on_cancel``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []
        self.cancelled = False

    def add(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if not self.cancelled:
                self._callbacks.append(callback)
                return
        callback()

    def fire(self) -> None:
        with self._lock:
            self.cancelled = True
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            with contextlib.suppress(Exception):
                callback()


_cancel: contextvars.ContextVar[_Cancel | None] = contextvars.ContextVar(
    "luxx_tool_cancel", default=None
)


def on_cancel(callback: Callable[[], None]) -> bool:
    """From inside a sync tool: call ``callback`` when the call is given up (its time limit
    passed, or the run was interrupted), at once if it already was.

    A thread cannot be killed; this lets a tool stop work it can stop from outside (a database
    query's ``interrupt``). The callback runs on the event loop's thread: it must be quick and
    thread-safe. False outside a tool's thread (nothing will call it).
    """
    cancel = _cancel.get()
    if cancel is None:
        return False
    cancel.add(callback)
    return True


def _run_in_thread(
    fn: Callable[..., Any], kwargs: dict[str, Any], label: str, output: Capture
) -> asyncio.Future[Any]:
    """Run ``fn`` on its own daemon thread, so a hung tool never blocks others or shutdown.

    What it prints goes to ``output`` for as long as the thread lives, even past its time
    limit, so a late print never lands in another cell (``capturing`` holds the
    redirects until the function returns). When the future is cancelled (the time limit, an
    interrupt), what the tool gave ``on_cancel`` runs.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()
    cancel = _Cancel()
    context.run(_cancel.set, cancel)
    future.add_done_callback(lambda done: cancel.fire() if done.cancelled() else None)

    def deliver(ok: bool, value: Any) -> None:
        if not future.done():  # else it timed out or was cancelled: nobody is waiting
            (future.set_result if ok else future.set_exception)(value)

    def captured() -> Any:
        with capturing(output):
            return fn(**kwargs)

    def run() -> None:
        try:
            outcome = (True, context.run(captured))
        except Exception as exc:
            outcome = (False, exc)
        except BaseException as exc:  # SystemExit in a tool must not reach the kernel's loop
            wrapped = RuntimeError(f"the tool raised {type(exc).__name__}: {exc}")
            wrapped.__cause__ = exc
            outcome = (False, wrapped)
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody to tell
            loop.call_soon_threadsafe(deliver, *outcome)

    threading.Thread(target=run, name=f"luxx-tool-{label}", daemon=True).start()
    return future


async def invoke(
    tools: Mapping[str, Tool],
    name: str,
    arguments: str,
    context: ToolContext,
    *,
    timeout: float | None = DEFAULTS.tool_timeout,
    max_chars: int = DEFAULTS.max_result_chars,
) -> ToolOutput:
    """Run one tool call as the model streamed it; every failure becomes a result, not a raise.

    Only cancellation of the awaiting task propagates (a kernel interrupt must stop the turn).
    What the tool printed is kept in ``output``; the model sees it only when the tool returned
    nothing (``None``), as the tool's content.
    """
    chosen = tools.get(name)
    if chosen is None:
        available = ", ".join(tools) or "none"
        return failure(f"Unknown tool {name!r}. Available tools: {available}")
    prefix = f"Invalid arguments for {name}: "
    try:
        args = json.loads(arguments) if arguments and arguments.strip() else {}
    except ValueError as exc:
        return failure(f"{prefix}not valid JSON ({exc})", max_chars=max_chars)
    if not isinstance(args, dict):
        return failure(f"{prefix}expected a JSON object, got {_show(args)}", max_chars=max_chars)
    if chosen.validate is not None:
        from luxx_nb.tools.arguments import ArgumentsError  # pydantic: only a typed tool's

        try:
            args = chosen.validate(arguments if arguments and arguments.strip() else "{}")
        except ArgumentsError as exc:
            return failure(prefix + "; ".join(exc.lines), max_chars=max_chars)
    kwargs = dict(args)
    for param in chosen.context_params:
        kwargs[param] = context
    output = Capture()

    async def call() -> tuple[bool, Any]:
        try:
            if chosen.is_async:
                with capturing(output):
                    return True, await chosen.fn(**kwargs)
            value = await _run_in_thread(chosen.fn, kwargs, name, output)
            if inspect.isawaitable(value):
                with capturing(output):
                    value = await value
            return True, value
        except Exception as exc:  # caught here so a tool's own TimeoutError is not our timeout
            return False, exc

    try:
        ok, value = await asyncio.wait_for(call(), timeout)
    except asyncio.TimeoutError:
        left = None if chosen.is_async else "Its thread may still be running in the background."
        return failure(f"Tool {name} timed out after {timeout:g} s", left, **_seen(output, context))
    seen = _seen(output, context)
    if not ok:
        trace = "".join(traceback.format_exception(type(value), value, value.__traceback__))
        return failure(f"{type(value).__name__}: {value}", trace, max_chars=max_chars, **seen)
    if isinstance(value, ToolOutput):  # a source that says itself how the call went (MCP)
        content = cut(value.content, max_chars)
        return dataclasses.replace(value, content=content, output=value.output or seen["output"])
    if value is None and seen["output"]:
        content = seen["output"]
    elif isinstance(value, str) and value:
        content = value
    else:
        try:
            content = json.dumps(value, ensure_ascii=False, default=_plain)
        except Exception as exc:  # TypeError, ValueError (a cycle), RecursionError (too deep)
            return failure(
                f"Tool {name} returned a {type(value).__name__}, which could not be serialised "
                "to JSON; return a str, dict or list instead",
                f"{type(exc).__name__}: {exc}",
                **seen,
            )
    note = None
    if len(content) > max_chars:
        note = f"The result had {len(content):,} characters; the model saw {max_chars:,}."
    success = tool_result_success(content)
    return ToolOutput(content=cut(content, max_chars), success=success, detail=note, **seen)


def _plain(value: Any) -> Any:
    """A numpy scalar or array as the number or list it holds (``df["x"].sum()`` is a
    ``numpy.int64``, the most common result a notebook tool returns without meaning to); a
    pydantic model, a dataclass, a date, a UUID... as pydantic writes them in JSON."""
    if type(value).__module__.split(".")[0] == "numpy" and hasattr(value, "tolist"):
        return value.tolist()
    from luxx_nb.tools.schema import jsonable

    return jsonable(value)


def _seen(output: Capture, context: ToolContext) -> dict[str, Any]:
    """What the call printed and which variables it read, for its step."""
    reads = getattr(context.namespace, "reads", ())
    return {"output": output.text(), "variables": tuple(reads)}
