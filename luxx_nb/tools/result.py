"""What one tool call gives back: ``ToolOutput``, and the bounded text of a result or a failure.

``cut`` and ``failure`` are shared by everything that writes a result the model reads (the
built-in tools, ``invoke``, the MCP sources), so a cut always says how much was cut.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from luxx_nb.config import DEFAULTS
from luxx_nb.events import Image

__all__ = ["ToolOutput", "cut", "failure"]


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
    html: tuple[str, ...] = ()
    """Rich output to show in the step (``run_python``'s tables); the views sanitize it."""


def failure(
    message: str,
    detail: str | None = None,
    *,
    max_chars: int = DEFAULTS.max_result_chars,
    **extra: Any,
) -> ToolOutput:
    """A failed result: ``{"success": false, "error": message}`` (cut), ``detail`` for a person."""
    content = json.dumps({"success": False, "error": cut(message, max_chars)}, ensure_ascii=False)
    return ToolOutput(content=content, success=False, detail=detail, **extra)


def cut(text: str, max_chars: int) -> str:
    """``text`` within ``max_chars``, with a note of how much was cut."""
    if len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}\n[... cut {len(text) - max_chars:,} of {len(text):,} characters]"
