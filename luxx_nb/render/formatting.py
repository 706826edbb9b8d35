"""Plain-text pieces shared by the widget and text views: call titles, JSON, previews."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from luxx_nb.events import ToolCallStep, ToolResultStep

STATE_LABELS = {
    "idle": "ready",
    "connecting": "connecting",
    "starting_local": "starting the local model",
    "starting_tools": "starting MCP servers",
    "streaming": "streaming",
    "running_tools": "running tools",
    "awaiting_approval": "waiting for your approval",
    "retrying": "retrying",
    "done": "done",
    "error": "error",
    "interrupted": "interrupted",
    "stopped": "stopped",
}
"""What the status line calls each state of a run."""

__all__ = [
    "STATE_LABELS",
    "call_title",
    "first_lines",
    "pretty_json",
    "shorten",
    "thought_label",
    "tool_title",
    "variables_note",
]


def shorten(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def call_title(name: str, arguments: str, limit: int = 60) -> str:
    """``get_weather(city="Paris")``: the call as a person would write it, cut to ``limit``."""
    try:
        parsed = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        inner = ", ".join(
            f"{key}={json.dumps(value, ensure_ascii=False)}" for key, value in parsed.items()
        )
    else:
        inner = arguments
    return shorten(f"{name}({inner})", limit)


def tool_title(call: ToolCallStep | None, result: ToolResultStep | None, name: str) -> str:
    """``✓ get_weather(city="Paris") · read: df``: a tool call's one line, as plain text."""
    title = call_title(call.name, call.arguments) if call is not None else name
    if result is None:
        return title
    read = variables_note(result.variables)
    mark = "✓" if result.success else "✗"
    return f"{mark} {title}" + (f" · {read}" if read else "")


def pretty_json(text: str) -> str:
    """Indented JSON when ``text`` parses, else ``text`` unchanged."""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def first_lines(text: str, count: int = 3, width: int = 100) -> list[str]:
    """The first ``count`` non-blank lines, each cut to ``width``; "…" marks what was left."""
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    shown = [shorten(line, width) if len(line) > width else line for line in lines[:count]]
    if len(lines) > count and shown:
        shown[-1] += " …"
    return shown


def variables_note(names: tuple[str, ...], limit: int = 3) -> str:
    """``read: a, b`` (``read: a, b, c, … 12 variables``): which variables a tool call read."""
    if not names:
        return ""
    shown = ", ".join(names[:limit])
    return f"read: {shown}" + (f", … {len(names)} variables" if len(names) > limit else "")


def thought_label(seconds: float) -> str:
    """``Thought for 0.4 s`` under ten seconds (one decimal), ``Thought for 12 s`` above."""
    if seconds < 10:
        return f"Thought for {max(seconds, 0.1):.1f} s"
    return f"Thought for {round(seconds)} s"
