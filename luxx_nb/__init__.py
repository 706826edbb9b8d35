"""luxx_nb: watch a language model think, call tools and answer inside a Jupyter notebook.

``%load_ext luxx_nb`` registers the ``%%luxx`` magic; ``Chat`` and ``ChatView`` embed the same
engine in code. Importing this package does not import IPython or ipywidgets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .chat import Chat, Reply
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
from .tools import Tool, ToolContext, registered_tools, tool

if TYPE_CHECKING:
    from .render.live.tree import ChatView

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
    if name == "ChatView":  # ipywidgets is imported only when a view is asked for
        from .render.live.tree import ChatView

        return ChatView
    raise AttributeError(f"module 'luxx_nb' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext luxx_nb``: register the ``%%luxx`` magics."""
    from .magic import LuxxMagics

    ipython.register_magics(LuxxMagics(shell=ipython))
