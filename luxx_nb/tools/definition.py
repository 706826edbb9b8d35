"""What a tool is: a typed, documented function with the schema the model sees; ``@tool`` and
the session's registry.

``@tool`` reads the signature and docstring at decoration and refuses what it cannot describe,
so mistakes surface in the cell that defines the tool, not mid-conversation. Variables reach
tools only through ``ToolContext.namespace`` (see :mod:`luxx_nb.namespace`). pydantic is
imported where the first tool is made (``luxx_nb.tools.schema``), not by ``import luxx_nb``.
"""

from __future__ import annotations

import copy
import inspect
import re
import sys
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from luxx_nb.errors import ToolDefinitionError

if TYPE_CHECKING:
    from luxx_nb.history import NotebookHistory

__all__ = ["Tool", "ToolContext", "make_tool", "registered_tools", "tool"]

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


@dataclass(frozen=True, eq=False)
class Tool:
    """A function plus the schema the model sees. Calling it calls the function.

    ``validate`` turns the model's JSON arguments into the function's keyword arguments
    (``luxx_nb.tools.arguments.Arguments`` for a Python function, the server's schema for an MCP
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
    approve: bool = field(default=False, repr=False)
    """Whether a person approves each call before it runs (a tool that acts)."""

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
    approve: bool = False,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Decorate a typed, documented function to make it a tool (``@tool`` or ``@tool(...)``).

    ``approve=True`` marks a tool that acts: each call waits for a person's Approve or Deny.
    """
    localns = _caller_locals()

    def decorate(f: Callable[..., Any]) -> Tool:
        made = make_tool(f, name=name, description=description, localns=localns, approve=approve)
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
    approve: bool = False,
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

    # pydantic: imported where tools are made, not at import
    from luxx_nb.tools.docstrings import describe
    from luxx_nb.tools.schema import arguments_model

    summary, param_docs = describe(doc, list(signature.parameters))
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
        parameters, validate = arguments_model(name, described, param_docs)
    except TypeError as exc:
        raise refuse(str(exc)) from None
    return Tool(
        name,
        description or summary,
        parameters,
        fn,
        tuple(context_params),
        validate,
        approve=approve,
    )
