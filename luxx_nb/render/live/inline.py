"""The inline view: a run in the cell's own output, live while it streams, saved once over.

Which view a run gets when nobody chose one: widgets in a kernel, text in a terminal. In a
kernel the run is live widgets while it streams, and a static snapshot once it ends: HTML, a
plain-text excerpt, and the run as data in the output's metadata, which ``%luxx resume``
reads back (``luxx_nb.transcript``). Nothing is imported unless IPython is already running,
so a plain script that calls ``Chat.send`` gets no output and pays for no widget import.
"""

from __future__ import annotations

import io
import sys
from typing import TYPE_CHECKING, Any

from luxx_nb import transcript
from luxx_nb.events import Event
from luxx_nb.render.text import TextRenderer

if TYPE_CHECKING:
    from luxx_nb.render.saved.snapshot import HtmlRenderer

__all__ = [
    "TRANSCRIPT_KEY",
    "Excerpt",
    "InlineRun",
    "inline_renderer",
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


TRANSCRIPT_KEY = transcript.KEY
"""The output-metadata key that holds a run's transcript (read back by ``%luxx resume``)."""
EXCERPT_HEAD = 1_500
EXCERPT_TAIL = 500
"""Characters of the plain transcript kept in ``text/plain``: its start and its end."""


class Excerpt(io.TextIOBase):
    """A text stream that keeps its first ``head`` and last ``tail`` characters.

    The cell's ``text/plain`` is for frontends that cannot show HTML. The whole run is
    already in the HTML and in the metadata; a third whole copy would make a long answer's
    last message alone over three times its size (issue #5's bound for a whole turn).
    """

    def __init__(self, head: int = EXCERPT_HEAD, tail: int = EXCERPT_TAIL) -> None:
        super().__init__()
        self._room, self._tail_size = head, tail
        self._head: list[str] = []
        self._tail: list[str] = []
        self._tail_length = 0
        self._dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        size = len(text)
        if self._room:
            taken = text[: self._room]
            self._head.append(taken)
            self._room -= len(taken)
            text = text[len(taken) :]
        if text:
            self._tail.append(text)
            self._tail_length += len(text)
            if self._tail_length > 2 * self._tail_size + 4096:
                self._trim()
        return size

    def _trim(self) -> None:
        whole = "".join(self._tail)
        kept = whole[-self._tail_size :]
        self._dropped += len(whole) - len(kept)
        self._tail, self._tail_length = [kept], len(kept)

    def getvalue(self) -> str:
        self._trim()
        tail = self._tail[0] if self._tail else ""
        if not self._dropped:
            return "".join(self._head) + tail
        dropped = self._dropped  # a read: the next write and getvalue count from the same place
        line_start = tail.find("\n")
        if 0 <= line_start < len(tail) - 1:
            dropped += line_start + 1
            tail = tail[line_start + 1 :]
        gap = (
            f"\n[… {dropped:,} characters not shown in plain text: the whole run is in "
            "this output's HTML, and in its metadata for %luxx resume …]\n"
        )
        return "".join(self._head) + gap + tail


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
        """``chat``: the conversation's name, saved with the run for ``%luxx resume``."""
        from IPython.display import display

        from luxx_nb.render.live.tree import RunWidget
        from luxx_nb.render.saved.snapshot import HtmlRenderer

        self.widget = RunWidget(model=model, local=local, saved_state=False)  # replaced at the end
        self.snapshot: HtmlRenderer = HtmlRenderer()
        self._excerpt = Excerpt()
        self._text = TextRenderer(self._excerpt, color=False)
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
        return transcript.dump(
            chat=self._chat,
            starts_conversation=self._history is not None and self._first == 0,
            model=snap.model,
            state=snap.state,
            error=snap.error,
            usage=snap.usage.to_dict() if snap.usage is not None else None,
            messages=messages,
            steps=[step.to_dict() for step in snap.steps],
        )

    def publish(self) -> None:
        """Swap the widgets for the snapshot; on the cell's thread, so it lands in that cell."""
        from luxx_nb.render.live.iopub import send_update_display
        from luxx_nb.render.live.parts import close_tree

        if self._handle is None:
            return
        if self.snapshot.chars >= TRIM_ABOVE:
            _trim_heap()
        metadata = {TRANSCRIPT_KEY: self.transcript()}
        text = self._excerpt.getvalue().rstrip("\n") or repr(self.widget)
        # The widgets' HTML of each step, handed over: the page drops the widgets next.
        html = self.snapshot.pieces(self.widget.take_rendered())
        if not send_update_display(self._handle.display_id, html, text, metadata):
            bundle = {"text/html": "".join(html), "text/plain": text}
            self._handle.update(bundle, metadata=metadata, raw=True)
        close_tree(self.widget)


TRIM_ABOVE = 1_000_000
"""Characters a run streams from which its end first gives free heap memory back."""


def _trim_heap() -> None:
    """Give the C heap's free pages back to the system (glibc's ``malloc_trim``; elsewhere
    nothing), as dask's workers do.

    Millions of small objects stream through a long answer, and the heap they were freed
    into stays resident; the end of the turn then grows on top of it. Measured on a 4 MB
    answer: 4.8 MB given back, and the turn's peak resident memory went from 5.7 to 4.3
    times the answer.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, for one)
        return
    trim(0)


def inline_renderer(
    *,
    model: str,
    local: bool = False,
    force: bool = False,
    chat: str | None = None,
    history: list[dict[str, Any]] | None = None,
) -> InlineRun | TextRenderer | None:
    """A renderer shown in the current cell's output, or None where there is nowhere to show.

    Must be called on the thread that runs the cell, so the display lands in that cell.
    ``chat`` (the conversation's name) and ``history`` (its message list) let the snapshot
    save this run's messages for ``%luxx resume``. An ``InlineRun`` is published by the
    chat when the run is over (``Publishes``).
    """
    kind = shell_kind()
    if kind == "kernel":
        return InlineRun(model=model, local=local, chat=chat, history=history)
    if kind == "terminal" or force:
        return TextRenderer()
    return None
