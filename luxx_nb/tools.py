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
import enum
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
from typing import TYPE_CHECKING, Any, Literal, Union

from luxx_nb import capture
from luxx_nb.errors import ToolDefinitionError
from luxx_nb.events import tool_result_success

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
_PRIMITIVES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
_SECTION_RE = re.compile(
    r"^(Args|Arguments|Parameters|Params|Keyword Args|Returns?|Yields?|Raises|Examples?|Notes?)"
    r"\s*:?\s*$"
)
_PARAM_PATTERNS = (
    re.compile(r"^:param\s+(?:[^:]*\s)?\*{0,2}(\w+)\s*:\s*(.*)$"),  # :param [type] name: desc
    re.compile(r"^(\w+)\s+:\s*(.*)$"),  # numpy: "name : type", description indented below
    re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$"),  # Google or plain "name: desc"
)


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


@dataclass(frozen=True, eq=False)
class Tool:
    """A function plus the schema the model sees. Calling it calls the function."""

    name: str
    description: str
    parameters: dict[str, Any]
    fn: Callable[..., Any] = field(repr=False)
    context_params: tuple[str, ...] = field(default=(), repr=False)
    converters: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict, repr=False)

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

    summary, param_docs = _parse_docstring(doc, list(signature.parameters))
    properties: dict[str, Any] = {}
    required: list[str] = []
    context_params: list[str] = []
    converters: dict[str, Callable[[Any], Any]] = {}
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
        try:
            schema = _schema(annotation)
        except TypeError as exc:
            raise refuse(f"parameter {param.name!r}: {exc}") from None
        if param.default is param.empty:
            required.append(param.name)
        else:
            default = param.default.value if isinstance(param.default, enum.Enum) else param.default
            if default is None:
                schema = _nullable(schema)
            with contextlib.suppress(TypeError, ValueError):  # leave out what JSON cannot show
                schema["default"] = json.loads(json.dumps(default))
        if param_docs.get(param.name):
            schema = {"description": param_docs[param.name], **schema}
        properties[param.name] = schema
        converter = _converter(annotation)
        if converter is not None:
            converters[param.name] = converter
    if not (description or summary):
        raise refuse("its docstring has no description before the parameters")
    schema = {"type": "object", "properties": properties, "required": required}
    schema["additionalProperties"] = False
    return Tool(name, description or summary, schema, fn, tuple(context_params), converters)


def _parse_docstring(doc: str, names: list[str]) -> tuple[str, dict[str, str]]:
    """First paragraph, and one description per parameter in any common docstring style."""
    lines = doc.expandtabs().splitlines()
    first: list[str] = []
    for line in lines:
        if not line.strip() or _SECTION_RE.match(line.strip()) or line.startswith(":param"):
            break
        first.append(line.strip())
    described: dict[str, str] = {}
    for i, line in enumerate(lines):
        stripped, indent = line.strip(), len(line) - len(line.lstrip())
        for number, pattern in enumerate(_PARAM_PATTERNS):
            match = pattern.match(stripped)
            if not match or match.group(1) not in names or match.group(1) in described:
                continue
            text = [] if number == 1 else [match.group(2).strip()]
            for more in lines[i + 1 :]:
                if not more.strip() or len(more) - len(more.lstrip()) <= indent:
                    break
                text.append(more.strip())
            described[match.group(1)] = " ".join(t for t in text if t)
            break
    return " ".join(first), described


def _schema(tp: Any) -> dict[str, Any]:
    """JSON schema for one annotation; TypeError says what is unsupported."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        return _schema(args[0])
    if tp is Any:
        return {}
    if tp in _PRIMITIVES:
        return {"type": _PRIMITIVES[tp]}
    if tp is type(None) or tp is None:
        return {"type": "null"}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum_schema([member.value for member in tp])
    if origin is Literal:
        return _enum_schema(list(args))
    if origin in (Union, types.UnionType):
        arms = [a for a in args if a is not type(None)]
        schema = _schema(arms[0]) if len(arms) == 1 else {"anyOf": [_schema(a) for a in arms]}
        return _nullable(schema) if len(arms) < len(args) else schema
    if tp is list or origin is list:
        return {"type": "array", "items": _schema(args[0])} if args else {"type": "array"}
    if tp is dict or origin is dict:
        if args and args[0] is not str:
            raise TypeError(f"dict keys must be str, not {args[0]!r}")
        if not args or args[1] is Any:
            return {"type": "object"}
        return {"type": "object", "additionalProperties": _schema(args[1])}
    raise TypeError(
        f"unsupported annotation {tp!r} (use str, int, float, bool, list[...], dict[str, ...], "
        "Literal[...], an Enum, Optional[...] or Any)"
    )


def _enum_schema(values: list[Any]) -> dict[str, Any]:
    kinds = []
    for value in values:
        kind = "null" if value is None else _PRIMITIVES.get(type(value))
        if kind is None:
            raise TypeError(f"enum value {value!r} is not a str, int, float, bool or None")
        if kind not in kinds:
            kinds.append(kind)
    return {"type": kinds[0] if len(kinds) == 1 else kinds, "enum": values}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if not schema or kind == "null" or (isinstance(kind, list) and "null" in kind):
        return schema
    if kind is None:
        return {"anyOf": [*schema.get("anyOf", [schema]), {"type": "null"}]}
    result = {**schema, "type": [*(kind if isinstance(kind, list) else [kind]), "null"]}
    if "enum" in schema and None not in schema["enum"]:
        result["enum"] = [*schema["enum"], None]
    return result


def _converter(tp: Any) -> Callable[[Any], Any] | None:
    """How to turn validated JSON into what the annotation promises (Enum members, floats)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        return _converter(args[0])
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp
    if tp in (int, float):
        return tp
    if origin in (Union, types.UnionType):
        arms = [a for a in args if a is not type(None)]
        inner = _converter(arms[0]) if len(arms) == 1 else None
        return None if inner is None else (lambda v: None if v is None else inner(v))
    if origin is list and args and (item := _converter(args[0])) is not None:
        return lambda v: [item(x) for x in v]
    if origin is dict and len(args) == 2 and (value := _converter(args[1])) is not None:
        return lambda v: {k: value(x) for k, x in v.items()}
    return None


_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}
_ARTICLES = {"integer": "an integer", "array": "an array", "object": "an object", "null": "null"}


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _expected(schema: dict[str, Any]) -> str:
    if "anyOf" in schema:
        return " or ".join(_expected(s) for s in schema["anyOf"])
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    return " or ".join(_ARTICLES.get(k, f"a {k}") for k in kinds) or "any value"


def _validate(schema: dict[str, Any], value: Any, where: str, errors: list[str]) -> list[str]:
    """Append one message per problem to ``errors`` (returned); covers what ``_schema`` emits."""
    if "anyOf" in schema:
        if all(_validate(arm, value, where, []) for arm in schema["anyOf"]):
            errors.append(f"'{where}' must be {_expected(schema)}, got {_show(value)}")
        return errors
    if "enum" in schema:  # membership implies the type; bool is never equal to 0 or 1 here
        if not any(
            isinstance(value, bool) is isinstance(option, bool) and value == option
            for option in schema["enum"]
        ):
            options = ", ".join(_show(option) for option in schema["enum"])
            errors.append(f"'{where}' must be one of {options}, got {_show(value)}")
        return errors
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    if kinds and not any(_TYPE_CHECKS[k](value) for k in kinds):
        errors.append(f"'{where}' must be {_expected(schema)}, got {_show(value)}")
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            _validate(schema["items"], item, f"{where}[{i}]", errors)
    elif isinstance(value, dict) and "object" in kinds:
        _validate_object(schema, value, f"{where}.", errors)
    return errors


def _validate_object(
    schema: dict[str, Any], value: dict[str, Any], prefix: str, errors: list[str]
) -> None:
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key in schema.get("required", []):
        if key not in value:
            errors.append(f"'{prefix}{key}' is required")
    for key, item in value.items():
        if key in properties:
            _validate(properties[key], item, f"{prefix}{key}", errors)
        elif extra is False:
            known = ", ".join(properties) or "none"
            errors.append(f"unknown argument '{prefix}{key}' (expected: {known})")
        elif isinstance(extra, dict):
            _validate(extra, item, f"{prefix}{key}", errors)


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
    errors: list[str] = []
    _validate_object(chosen.parameters, args, "", errors)
    if errors:
        return _failure(prefix + "; ".join(errors), max_chars=max_chars)
    kwargs = {k: chosen.converters[k](v) if k in chosen.converters else v for k, v in args.items()}
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
    if value is None and seen["output"]:
        content = seen["output"]
    elif isinstance(value, str) and value:
        content = value
    else:
        try:
            content = json.dumps(value, ensure_ascii=False, default=_numpy_plain)
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


def _numpy_plain(value: Any) -> Any:
    """A numpy scalar or array as the number or list it holds: ``df["x"].sum()`` is a
    ``numpy.int64``, the most common result a notebook tool returns without meaning to."""
    if type(value).__module__.split(".")[0] == "numpy" and hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


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
