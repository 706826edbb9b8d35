"""A widget for Markdown that grows, sending only what changed.

Re-sending a whole HTML value per fragment makes the bytes on IOPub grow with the square of
the answer (FIELD-NOTES: 534x for 20 KB). This widget keeps the rendered state in the kernel
and sends increments as custom messages: blocks that became final are promoted out of the
tail by length, and the tail travels as ``{keep, add}`` against what the page already has. So
each character crosses the wire about once while streaming, and once more in the final
``html`` trait that saved widget state needs.
"""

from __future__ import annotations

import threading
from importlib import resources
from typing import Any

import anywidget
import traitlets

from luxx_nb.render.markdown import CODE_CSS, IncrementalMarkdown, Update

__all__ = ["StreamWidget", "common_prefix_length", "utf16_length"]

_STATIC = resources.files("luxx_nb.render").joinpath("static")


def utf16_length(text: str) -> int:
    """Length as JavaScript counts it: characters outside the BMP take two units."""
    return len(text) if text.isascii() else len(text.encode("utf-16-le")) // 2


def common_prefix_length(a: str, b: str) -> int:
    """Length of the longest common prefix, by bisection so the comparisons run in C."""
    low, high = 0, min(len(a), len(b))
    if a[:high] == b[:high]:
        return high
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


class StreamWidget(anywidget.AnyWidget):
    """Markdown text or thinking that streams in; ``kind="thinking"`` sits in a ``<details>``."""

    _esm = _STATIC.joinpath("stream.js").read_text(encoding="utf-8")
    _css = _STATIC.joinpath("stream.css").read_text(encoding="utf-8") + CODE_CSS

    kind = traitlets.Unicode(
        "text", help="'text', or 'thinking' to render inside a collapsible <details>."
    ).tag(sync=True)
    html = traitlets.Unicode(
        "", help="The whole HTML, set once when the step is complete, for saved widget state."
    ).tag(sync=True)
    expanded = traitlets.Bool(
        True,
        help="Whether the thinking <details> is open (``open`` is taken by Widget.open()); "
        "the page writes it back when the person clicks.",
    ).tag(sync=True)
    label = traitlets.Unicode("", help="The <summary> line of a thinking step.").tag(sync=True)

    def __init__(self, kind: str = "text", **kwargs: Any) -> None:
        thinking = kind == "thinking"
        kwargs.setdefault("label", "Thinking…" if thinking else "")
        super().__init__(kind=kind, expanded=thinking, **kwargs)
        self._markdown = IncrementalMarkdown()
        self._pending: list[str] = []
        self._blocks: list[str] = []
        self._tail = ""
        self._version = 0
        self._complete = False
        self._lock = threading.Lock()
        self.chars = 0
        self.on_msg(self._on_message)

    @property
    def dirty(self) -> bool:
        """True while fragments wait for the next flush."""
        return bool(self._pending)

    @property
    def complete(self) -> bool:
        return self._complete

    def append(self, fragment: str) -> None:
        """Buffer a fragment; nothing is rendered or sent until ``flush``."""
        if fragment and not self._complete:
            self._pending.append(fragment)
            self.chars += len(fragment)

    def flush(self) -> None:
        """Render what was buffered and send the page the difference."""
        if self._pending and not self._complete:
            delta = "".join(self._pending)
            self._pending.clear()
            self._apply(self._markdown.feed(delta))

    def finalize(self) -> None:
        """Flush, make every block final, and set the ``html`` trait once."""
        if self._complete:
            return
        self.flush()
        self._apply(self._markdown.finish())
        self._complete = True
        self.html = "".join(self._blocks)

    def full_html(self) -> str:
        """All HTML rendered so far (final blocks and tail)."""
        with self._lock:
            return "".join(self._blocks) + self._tail

    def _apply(self, update: Update) -> None:
        with self._lock:
            old = self._tail
            new = "".join(update.blocks) + update.tail
            keep = common_prefix_length(old, new)
            if not update.blocks and keep == len(old) == len(new):
                return
            self._blocks.extend(update.blocks)
            self._tail = update.tail
            self._version += 1
            self.send(
                {
                    "type": "delta",
                    "version": self._version,
                    "keep": utf16_length(old[:keep]),
                    "add": new[keep:],
                    "blocks": [utf16_length(block) for block in update.blocks],
                }
            )

    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        """Answer a page's ``sync`` request (a late view, a reload) with the whole state."""
        if not isinstance(content, dict) or content.get("type") != "sync":
            return
        with self._lock:
            done = self._complete
            self.send(
                {
                    "type": "snapshot",
                    "version": self._version,
                    "blocks": [] if done else list(self._blocks),
                    "tail": "" if done else self._tail,
                }
            )
