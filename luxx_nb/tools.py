"""Typed functions become tools; ``invoke`` runs one call and always gives text back.

``@tool`` reads the signature and docstring at decoration and refuses what it cannot describe,
so mistakes surface in the cell that defines the tool, not mid-conversation. Variables reach
tools only through ``ToolContext.namespace`` (see :mod:`luxx_nb.namespace`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import copy
import dataclasses
import inspect
import json
import re
import sys
import threading
import traceback
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from luxx_nb import capture
from luxx_nb.errors import ToolDefinitionError
from luxx_nb.events import Image, tool_result_success

if TYPE_CHECKING:
    from luxx_nb.history import NotebookHistory
    from luxx_nb.namespace import NamespaceView, namespace_tools

__all__ = [
    "NamespaceView",
    "Tool",
    "ToolContext",
    "ToolOutput",
    "invoke",
    "make_tool",
    "namespace_tools",
    "on_cancel",
    "registered_tools",
    "tool",
]

_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass(frozen=True)
class ToolContext:
    """What luxx_nb hands a tool that asks for it: the variables, the chat, the call id, and
    the notebook's earlier cells (``notebook_history``, a ``luxx_nb.history.NotebookHistory``
    read when the run started; None outside a ``%%luxx`` cell)."""

    namespace: Mapping[str, Any] = field(default_factory=lambda: types.MappingProxyType({}))
    chat: Any = None
    call_id: str = ""
    notebook_history: NotebookHistory | None = None


@dataclass(frozen=True)
class ToolOutput:
    """One call's result. ``detail`` is for a person (a traceback); the model never sees it.

    ``output`` is what the tool printed (stdout and stderr); ``variables`` the notebook
    variables it read through its context, in order.
    """

    content: str
    success: bool
    detail: str | None = None
    output: str = ""
    variables: tuple[str, ...] = ()
    images: tuple[Image, ...] = ()
    """Images to show in the call's step (an MCP tool's); the model gets a note of each."""


@dataclass(frozen=True, eq=False)
class Tool:
    """A function plus the schema the model sees. Calling it calls the function.

    ``validate`` turns the model's JSON arguments into the function's keyword arguments
    (``luxx_nb.schema.Arguments`` for a Python function, the server's schema for an MCP
    tool), raising ``ArgumentsError``; ``source`` names where a tool from elsewhere comes
    from (an MCP server).
    """

    name: str
    description: str
    parameters: dict[str, Any]
    fn: Callable[..., Any] = field(repr=False)
    context_params: tuple[str, ...] = field(default=(), repr=False)
    validate: Callable[[str], dict[str, Any]] | None = field(default=None, repr=False)
    source: str = field(default="", repr=False)

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.fn)

    @property
    def __wrapped__(self) -> Callable[..., Any]:  # lets inspect.signature and help() see fn
        return self.fn

    def definition(self) -> dict[str, Any]:
        """The entry for the request's ``tools`` list (a copy: callers may mutate it)."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": copy.deepcopy(self.parameters),
            },
        }

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Tool {self.name}({', '.join(self.parameters.get('properties', {}))})>"


_registry: dict[str, Tool] = {}


def registered_tools() -> list[Tool]:
    """Every ``@tool`` defined so far; re-running a cell replaces the tool, keeping its place."""
    return list(_registry.values())


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Decorate a typed, documented function to make it a tool (``@tool`` or ``@tool(...)``)."""
    localns = _caller_locals()

    def decorate(f: Callable[..., Any]) -> Tool:
        made = make_tool(f, name=name, description=description, localns=localns)
        _registry[made.name] = made
        return made

    return decorate if fn is None else decorate(fn)


def _caller_locals() -> dict[str, Any] | None:
    """The defining scope's locals, so string annotations naming local classes resolve."""
    try:
        frame = sys._getframe(2)
    except (AttributeError, ValueError):
        return None
    return None if frame.f_locals is frame.f_globals else dict(frame.f_locals)


def make_tool(
    fn: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    localns: Mapping[str, Any] | None = None,
) -> Tool:
    """Build a Tool without registering it (for luxx_nb's own tools)."""
    label = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)

    def refuse(why: str) -> ToolDefinitionError:
        return ToolDefinitionError(f"Cannot make a tool from {label}: {why}")

    name = name if name is not None else getattr(fn, "__name__", "")
    if not _NAME_RE.match(name):
        raise refuse(
            f"the tool name {name!r} must be 1-64 letters, digits, '_' or '-'; "
            "pass @tool(name=...) to choose one"
        )
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        raise refuse("generator functions are not supported; return the whole result instead")
    doc = inspect.getdoc(fn) or ""
    if not doc.strip() and not description:
        raise refuse("it has no docstring; its first paragraph tells the model what the tool does")
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise refuse(f"its signature cannot be read ({exc})") from None
    try:
        hints = typing.get_type_hints(fn, localns=dict(localns or {}), include_extras=True)
    except Exception as exc:
        raise refuse(f"its annotations cannot be resolved ({type(exc).__name__}: {exc})") from None

    from luxx_nb import schema  # pydantic: imported where tools are made, not at import

    summary, param_docs = schema.describe(doc, list(signature.parameters))
    described: list[tuple[inspect.Parameter, Any]] = []
    context_params: list[str] = []
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            star = "*" if param.kind is param.VAR_POSITIONAL else "**"
            raise refuse(f"{star}{param.name} is not supported; list each parameter by name")
        if param.kind is param.POSITIONAL_ONLY:
            raise refuse(f"parameter {param.name!r} is positional-only; tools are called by name")
        if param.name not in hints:
            raise refuse(f"parameter {param.name!r} has no type annotation")
        annotation = hints[param.name]
        if annotation is ToolContext or annotation == (ToolContext | None):
            context_params.append(param.name)
            continue
        described.append((param, annotation))
    if not (description or summary):
        raise refuse("its docstring has no description before the parameters")
    try:
        parameters, validate = schema.arguments_model(name, described, param_docs)
    except TypeError as exc:
        raise refuse(str(exc)) from None
    return Tool(name, description or summary, parameters, fn, tuple(context_params), validate)


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _failure(
    message: str, detail: str | None = None, *, max_chars: int = 20_000, **extra: Any
) -> ToolOutput:
    content = json.dumps({"success": False, "error": _cut(message, max_chars)}, ensure_ascii=False)
    return ToolOutput(content=content, success=False, detail=detail, **extra)


def _cut(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}\n[... cut {len(text) - max_chars:,} of {len(text):,} characters]"


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
    fn: Callable[..., Any], kwargs: dict[str, Any], label: str, output: capture.Capture
) -> asyncio.Future[Any]:
    """Run ``fn`` on its own daemon thread, so a hung tool never blocks others or shutdown.

    What it prints goes to ``output`` for as long as the thread lives, even past its time
    limit, so a late print never lands in another cell. When the future is cancelled (the
    time limit, an interrupt), what the tool gave ``on_cancel`` runs.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()
    context.run(capture.set_current, output)
    cancel = _Cancel()
    context.run(_cancel.set, cancel)
    future.add_done_callback(lambda done: cancel.fire() if done.cancelled() else None)

    def deliver(ok: bool, value: Any) -> None:
        if not future.done():  # else it timed out or was cancelled: nobody is waiting
            (future.set_result if ok else future.set_exception)(value)

    def run() -> None:
        try:
            outcome = (True, context.run(fn, **kwargs))
        except Exception as exc:
            outcome = (False, exc)
        except BaseException as exc:  # SystemExit in a tool must not reach the kernel's loop
            wrapped = RuntimeError(f"the tool raised {type(exc).__name__}: {exc}")
            wrapped.__cause__ = exc
            outcome = (False, wrapped)
        finally:
            capture.release()
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody to tell
            loop.call_soon_threadsafe(deliver, *outcome)

    capture.hold()
    try:
        threading.Thread(target=run, name=f"luxx-tool-{label}", daemon=True).start()
    except BaseException:
        capture.release()
        raise
    return future


async def invoke(
    tools: Mapping[str, Tool],
    name: str,
    arguments: str,
    context: ToolContext,
    *,
    timeout: float | None = 60.0,
    max_chars: int = 20_000,
) -> ToolOutput:
    """Run one tool call as the model streamed it; every failure becomes a result, not a raise.

    Only cancellation of the awaiting task propagates (a kernel interrupt must stop the turn).
    What the tool printed is kept in ``output``; the model sees it only when the tool returned
    nothing (``None``), as the tool's content.
    """
    chosen = tools.get(name)
    if chosen is None:
        available = ", ".join(tools) or "none"
        return _failure(f"Unknown tool {name!r}. Available tools: {available}")
    prefix = f"Invalid arguments for {name}: "
    try:
        args = json.loads(arguments) if arguments and arguments.strip() else {}
    except ValueError as exc:
        return _failure(f"{prefix}not valid JSON ({exc})", max_chars=max_chars)
    if not isinstance(args, dict):
        return _failure(f"{prefix}expected a JSON object, got {_show(args)}", max_chars=max_chars)
    if chosen.validate is not None:
        from luxx_nb.schema import ArgumentsError

        try:
            args = chosen.validate(arguments if arguments and arguments.strip() else "{}")
        except ArgumentsError as exc:
            return _failure(prefix + "; ".join(exc.lines), max_chars=max_chars)
    kwargs = dict(args)
    for param in chosen.context_params:
        kwargs[param] = context
    output = capture.Capture()

    async def call() -> tuple[bool, Any]:
        try:
            if chosen.is_async:
                with capture.capturing(output):
                    return True, await chosen.fn(**kwargs)
            value = await _run_in_thread(chosen.fn, kwargs, name, output)
            if inspect.isawaitable(value):
                with capture.capturing(output):
                    value = await value
            return True, value
        except Exception as exc:  # caught here so a tool's own TimeoutError is not our timeout
            return False, exc

    try:
        ok, value = await asyncio.wait_for(call(), timeout)
    except asyncio.TimeoutError:
        left = None if chosen.is_async else "Its thread may still be running in the background."
        return _failure(
            f"Tool {name} timed out after {timeout:g} s", left, **_seen(output, context)
        )
    seen = _seen(output, context)
    if not ok:
        trace = "".join(traceback.format_exception(type(value), value, value.__traceback__))
        return _failure(f"{type(value).__name__}: {value}", trace, max_chars=max_chars, **seen)
    if isinstance(value, ToolOutput):  # a source that says itself how the call went (MCP)
        cut = _cut(value.content, max_chars)
        return dataclasses.replace(value, content=cut, output=value.output or seen["output"])
    if value is None and seen["output"]:
        content = seen["output"]
    elif isinstance(value, str) and value:
        content = value
    else:
        try:
            content = json.dumps(value, ensure_ascii=False, default=_plain)
        except Exception as exc:  # TypeError, ValueError (a cycle), RecursionError (too deep)
            return _failure(
                f"Tool {name} returned a {type(value).__name__}, which could not be serialised "
                "to JSON; return a str, dict or list instead",
                f"{type(exc).__name__}: {exc}",
                **seen,
            )
    note = None
    if len(content) > max_chars:
        note = f"The result had {len(content):,} characters; the model saw {max_chars:,}."
    success = tool_result_success(content)
    return ToolOutput(content=_cut(content, max_chars), success=success, detail=note, **seen)


def _plain(value: Any) -> Any:
    """A numpy scalar or array as the number or list it holds (``df["x"].sum()`` is a
    ``numpy.int64``, the most common result a notebook tool returns without meaning to); a
    pydantic model, a dataclass, a date, a UUID... as pydantic writes them in JSON."""
    if type(value).__module__.split(".")[0] == "numpy" and hasattr(value, "tolist"):
        return value.tolist()
    from luxx_nb.schema import jsonable

    return jsonable(value)


def _seen(output: capture.Capture, context: ToolContext) -> dict[str, Any]:
    """What the call printed and which variables it read, for its step."""
    reads = getattr(context.namespace, "reads", ())
    return {"output": output.text(), "variables": tuple(reads)}


def __getattr__(name: str) -> Any:
    """``NamespaceView`` and ``namespace_tools`` live in luxx_nb.namespace, which imports us."""
    if name in ("NamespaceView", "namespace_tools"):
        from luxx_nb import namespace

        return getattr(namespace, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
