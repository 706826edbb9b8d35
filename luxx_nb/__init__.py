"""luxx_nb: watch a language model think, call tools and answer inside a Jupyter notebook.

``%load_ext luxx_nb`` registers the ``%%luxx`` magic; ``Chat`` and ``ChatView`` embed the same
engine in code. Importing this package does not import IPython or ipywidgets.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .chat import Chat
    from .errors import (
        ConfigError,
        HTTPStatusError,
        LuxxError,
        ProviderError,
        StreamError,
        ToolDefinitionError,
        TransportError,
    )
    from .events import DoneEvent, ErrorEvent, StatusEvent, StepEvent
    from .mcp_tools import MCPServer, MCPServerError
    from .render.live.chat_view import ChatView
    from .reply import Reply
    from .tools import Tool, ToolContext, registered_tools, tool

_HOMES = {
    "Chat": "chat",
    "ChatView": "render.live.chat_view",
    "Reply": "reply",
    "MCPServer": "mcp_tools",
    "MCPServerError": "mcp_tools",
    "Tool": "tools",
    "ToolContext": "tools",
    "registered_tools": "tools",
    "tool": "tools",
    **dict.fromkeys(("DoneEvent", "ErrorEvent", "StatusEvent", "StepEvent"), "events"),
    **dict.fromkeys(
        (
            "ConfigError",
            "HTTPStatusError",
            "LuxxError",
            "ProviderError",
            "StreamError",
            "ToolDefinitionError",
            "TransportError",
        ),
        "errors",
    ),
}
"""Where each public name lives. Each is imported when first asked for (PEP 562), so
``import luxx_nb`` and ``%load_ext luxx_nb`` wait only for what they use: with the
package split by job (#15) the eager imports took 0.14 s of a 0.3 s budget."""

__all__ = [
    "Chat",
    "ChatView",
    "ConfigError",
    "DoneEvent",
    "ErrorEvent",
    "HTTPStatusError",
    "LuxxError",
    "MCPServer",
    "MCPServerError",
    "ProviderError",
    "Reply",
    "StatusEvent",
    "StepEvent",
    "StreamError",
    "Tool",
    "ToolContext",
    "ToolDefinitionError",
    "TransportError",
    "load_ipython_extension",
    "registered_tools",
    "tool",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:  # a submodule, as ``luxx_nb.tools.on_cancel`` reads it
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
        raise AttributeError(f"module 'luxx_nb' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # asked once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext luxx_nb``: register the ``%%luxx`` magics."""
    from .magic import LuxxMagics

    ipython.register_magics(LuxxMagics(shell=ipython))
