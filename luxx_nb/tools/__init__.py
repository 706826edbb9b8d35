"""Tools: typed functions the model may call, and the running of each call.

The pieces, in the order a call meets them: ``definition`` (``Tool``, ``ToolContext``,
``@tool``, ``make_tool``, the session's registry), ``docstrings`` and ``schema`` (the
descriptions and the JSON schema the model sees, through pydantic), ``arguments`` (the model's
arguments checked), ``invoke`` (one call run under a time limit, its output captured) and
``result`` (``ToolOutput``). This package imports neither pydantic nor the notebook-variable
tools (``luxx_nb.variable_tools``): ``import luxx_nb`` stays light, and nothing here imports
back.
"""

from __future__ import annotations

from luxx_nb.tools.definition import Tool, ToolContext, make_tool, registered_tools, tool
from luxx_nb.tools.invoke import invoke, on_cancel
from luxx_nb.tools.result import ToolOutput

__all__ = [
    "Tool",
    "ToolContext",
    "ToolOutput",
    "invoke",
    "make_tool",
    "on_cancel",
    "registered_tools",
    "tool",
]
