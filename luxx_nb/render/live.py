"""Which view a run gets when nobody chose one: widgets in a kernel, text in a terminal.

Nothing is imported unless IPython is already running, so a plain script that calls
``Chat.send`` gets no output and pays for no widget import.
"""

from __future__ import annotations

import io
import sys
from typing import Any

from luxx_nb.events import Event

__all__ = ["InlineRun", "inline_renderer", "shell_kind"]


def shell_kind() -> str:
    """``"kernel"`` (Jupyter), ``"terminal"`` (IPython in a terminal) or ``"none"``."""
    if "IPython" not in sys.modules:
        return "none"
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        return "none"
    return "kernel" if getattr(shell, "kernel", None) is not None else "terminal"


class InlineRun:
    """A run shown in the cell's output: the live widget tree, and a plain transcript.

    The widget is what a person sees. When the run is over, ``publish()`` (called on the
    cell's own thread, so the update lands in that cell) puts a plain-text transcript beside
    the widget in the same output, for nbconvert to text and any viewer without widgets.
    """

    def __init__(self, *, model: str, local: bool = False) -> None:
        from IPython.display import display

        from .text import TextRenderer
        from .widgets import RunWidget

        self.widget = RunWidget(model=model, local=local)
        self._transcript = io.StringIO()
        self._text = TextRenderer(self._transcript, color=False)
        self._handle = display(self.widget, display_id=True)

    def start(self, *, model: str, local: bool = False) -> None:
        self.widget.start(model=model, local=local)
        self._text.start(model=model, local=local)

    def handle(self, event: Event) -> None:
        self.widget.handle(event)
        self._text.handle(event)

    def finish(self, state: str, message: str | None = None, detail: str | None = None) -> None:
        self.widget.finish(state, message, detail)
        self._text.finish(state, message, detail)

    def publish(self) -> None:
        bundle = self.widget._repr_mimebundle_() or {}
        bundle["text/plain"] = self._transcript.getvalue().rstrip("\n") or repr(self.widget)
        if self._handle is not None:
            self._handle.update(bundle, raw=True)


def inline_renderer(*, model: str, local: bool = False, force: bool = False) -> Any:
    """A renderer shown in the current cell's output, or None where there is nowhere to show.

    Must be called on the thread that runs the cell, so the display lands in that cell.
    """
    kind = shell_kind()
    if kind == "kernel":
        return InlineRun(model=model, local=local)
    if kind == "terminal" or force:
        from .text import TextRenderer

        return TextRenderer()
    return None
