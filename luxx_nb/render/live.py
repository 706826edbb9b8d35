"""Which view a run gets when nobody chose one: widgets in a kernel, text in a terminal.

In a kernel the run is live widgets while it streams, and a static snapshot once it ends:
HTML, a transcript, and the run as data in the output's metadata, which ``%luxx resume``
reads back. Nothing is imported unless IPython is already running, so a plain script that
calls ``Chat.send`` gets no output and pays for no widget import.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from luxx_nb.events import Event
from luxx_nb.render.text import TextRenderer

if TYPE_CHECKING:
    from luxx_nb.render.html import HtmlRenderer

__all__ = [
    "TRANSCRIPT_KEY",
    "InlineRun",
    "Recording",
    "inline_renderer",
    "read_conversations",
    "recording",
    "shell_kind",
]


def shell_kind() -> str:
    """``"kernel"`` (Jupyter), ``"terminal"`` (IPython in a terminal) or ``"none"``."""
    if "IPython" not in sys.modules:
        return "none"
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        return "none"
    return "kernel" if getattr(shell, "kernel", None) is not None else "terminal"


TRANSCRIPT_KEY = "luxx_nb"
"""The output-metadata key that holds a run's transcript (read back by ``%luxx resume``)."""
TRANSCRIPT_VERSION = 1


@dataclass(frozen=True)
class Recording:
    """Which conversation a run belongs to: its name and its live message list."""

    chat: str
    history: list[dict[str, Any]]


_recording: ContextVar[Recording | None] = ContextVar("luxx_recording", default=None)


@contextlib.contextmanager
def recording(chat: str, history: list[dict[str, Any]]) -> Iterator[None]:
    """Runs shown inline in this block store the messages they add to ``history``.

    ``Chat`` builds its inline view without saying which conversation it serves, so the
    front door that knows (``%%luxx``) says it here.
    """
    token = _recording.set(Recording(chat, history))
    try:
        yield
    finally:
        _recording.reset(token)


class InlineRun:
    """A run shown in the cell's output: the live widget tree, then a static snapshot.

    While the run streams, the cell shows the widget tree. When it is over, ``publish()``
    (called on the cell's own thread, so the update lands in that cell) replaces the output
    with a static rendering of the same run: sanitized HTML, a plain transcript, and the
    run's messages and steps in the output's metadata. The widgets are then closed.

    Why replace rather than add: measured in JupyterLab 4.6 with jupyterlab_widgets 3.0, a
    widget-view output whose model is gone shows "Error displaying widget: model not found"
    in a trusted notebook (one JupyterLab saved itself), even with ``text/html`` in the same
    bundle; that HTML is used only by nbconvert, nbviewer and untrusted notebooks. A bundle
    without the widget view reads the same everywhere, and the page never shows both.
    """

    def __init__(
        self,
        *,
        model: str,
        local: bool = False,
        chat: str | None = None,
        history: list[dict[str, Any]] | None = None,
    ) -> None:
        from IPython.display import display

        from .html import HtmlRenderer
        from .widgets import RunWidget

        self.widget = RunWidget(model=model, local=local, saved_state=False)  # replaced at the end
        self.snapshot: HtmlRenderer = HtmlRenderer()
        self._transcript = io.StringIO()
        self._text = TextRenderer(self._transcript, color=False)
        ambient = _recording.get()
        if ambient is not None and (history is None or history is ambient.history):
            chat, history = chat or ambient.chat, ambient.history
        self._chat = chat
        self._history = history
        self._first = len(history) if history is not None else 0
        self._handle = display(self.widget, display_id=True)

    def start(self, *, model: str, local: bool = False) -> None:
        self.widget.start(model=model, local=local)
        self._text.start(model=model, local=local)
        self.snapshot.start(model=model, local=local)

    def handle(self, event: Event) -> None:
        self.widget.handle(event)
        self._text.handle(event)
        self.snapshot.handle(event)

    def finish(self, state: str, message: str | None = None, detail: str | None = None) -> None:
        self.widget.finish(state, message, detail)
        self._text.finish(state, message, detail)
        self.snapshot.finish(state, message, detail)

    def transcript(self) -> dict[str, Any]:
        """The run as data: enough to rebuild the conversation, and no endpoint or key."""
        snap = self.snapshot
        messages = self._history[self._first :] if self._history is not None else []
        return {
            "version": TRANSCRIPT_VERSION,
            "chat": self._chat,
            "starts_conversation": self._history is not None and self._first == 0,
            "model": snap.model,
            "state": snap.state,
            "error": snap.error,
            "usage": snap.usage.to_dict() if snap.usage is not None else None,
            "messages": json.loads(json.dumps(messages, default=str)),
            "steps": [step.to_dict() for step in snap.steps],
        }

    def publish(self) -> None:
        """Swap the widgets for the snapshot; on the cell's thread, so it lands in that cell."""
        text = self._transcript.getvalue().rstrip("\n") or repr(self.widget)
        bundle = {"text/html": self.snapshot.html(), "text/plain": text}
        if self._handle is not None:
            self._handle.update(bundle, metadata={TRANSCRIPT_KEY: self.transcript()}, raw=True)
            _close_tree(self.widget)


def read_conversations(notebook: str | os.PathLike[str]) -> dict[str, list[dict[str, Any]]]:
    """Each conversation's messages, rebuilt from the transcripts saved in a notebook.

    Outputs are read in cell order. A run that started its conversation (the first run, or
    the first after ``--new`` or ``%luxx reset``) drops what came before it.
    """
    with open(notebook, encoding="utf-8") as file:
        try:
            document = json.load(file)
        except ValueError as exc:
            raise ValueError(f"{notebook} is not a notebook: {exc}") from None
    conversations: dict[str, list[dict[str, Any]]] = {}
    for cell in document.get("cells", ()):
        for output in cell.get("outputs", ()) if cell.get("cell_type") == "code" else ():
            saved = (output.get("metadata") or {}).get(TRANSCRIPT_KEY)
            if not isinstance(saved, dict) or not isinstance(saved.get("chat"), str):
                continue
            messages = conversations.setdefault(saved["chat"], [])
            if saved.get("starts_conversation"):
                messages.clear()
            messages.extend(m for m in saved.get("messages", ()) if isinstance(m, dict))
    return conversations


def _close_tree(widget: Any) -> None:
    """Close a widget and its descendants: the page and the kernel both let go of them."""
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    widget.close()


def inline_renderer(
    *,
    model: str,
    local: bool = False,
    force: bool = False,
    chat: str | None = None,
    history: list[dict[str, Any]] | None = None,
) -> Any:
    """A renderer shown in the current cell's output, or None where there is nowhere to show.

    Must be called on the thread that runs the cell, so the display lands in that cell.
    ``history`` (the conversation's message list) lets the snapshot save this run's messages.
    """
    kind = shell_kind()
    if kind == "kernel":
        return InlineRun(model=model, local=local, chat=chat, history=history)
    if kind == "terminal" or force:
        return TextRenderer()
    return None
