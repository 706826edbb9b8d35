"""Which view a run gets when nobody chose one: widgets in a kernel, text in a terminal.

Nothing is imported unless IPython is already running, so a plain script that calls
``Chat.send`` gets no output and pays for no widget import.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["inline_renderer", "shell_kind"]


def shell_kind() -> str:
    """``"kernel"`` (Jupyter), ``"terminal"`` (IPython in a terminal) or ``"none"``."""
    if "IPython" not in sys.modules:
        return "none"
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        return "none"
    return "kernel" if getattr(shell, "kernel", None) is not None else "terminal"


def inline_renderer(*, model: str, force: bool = False) -> Any:
    """A renderer shown in the current cell's output, or None where there is nowhere to show.

    Must be called on the thread that runs the cell, so the display lands in that cell.
    """
    kind = shell_kind()
    if kind == "kernel":
        from IPython.display import display

        from .widgets import RunWidget

        widget = RunWidget()
        display(widget)
        return widget
    if kind == "terminal" or force:
        from .text import TextRenderer

        return TextRenderer()
    return None
