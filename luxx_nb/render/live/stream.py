"""The live streaming-text widget: Markdown that grows, sending only what changed.

Re-sending a whole HTML value per fragment makes the bytes on IOPub grow with the square of
the answer (FIELD-NOTES: 534x for 20 KB). This widget keeps the rendered state in the kernel
and sends increments as custom messages: blocks that became final are promoted out of the
tail by length, and the tail travels as ``{keep, add}`` against what the page already has. So
each character crosses the wire about once while streaming, and once more in the final
``html`` trait for saved widget state, unless ``saved_state`` keeps that copy in the kernel
(a page that loads the widget later still gets it, by asking for the state).
"""

from __future__ import annotations

import threading
import uuid
import zlib
from collections.abc import Iterator
from importlib import resources
from typing import Any

import anywidget
import ipywidgets
import traitlets

from luxx_nb.render.markdown import CODE_CSS, IncrementalMarkdown, Update
from luxx_nb.render.markup import CHUNK, CHUNK_STYLE

__all__ = ["StreamCode", "StreamWidget", "common_prefix_length", "stream_code", "utf16_length"]

_FRONTEND = resources.files("luxx_nb.render").joinpath("frontend")

SAVED_STATE_LIMIT = 4_000
"""Characters of HTML up to which a step's final HTML is sent for saved widget state.

Past this, that copy is what would take a long answer over three times its size on IOPub
(increments, saved state, the cell's plain transcript, plus HTML markup), so the kernel keeps
it: saved state then holds what the page asked for, and the cell's transcript has the text.
"""


def _compact(source: str) -> str:
    """Source without comment lines, indentation or blank lines.

    Every stream widget (one per thinking or text step) carries its module and stylesheet
    in the message that opens it; this makes that message about half as long. Only whole
    ``//`` comment lines go, so a ``//`` inside code or a string is never touched.
    """
    lines = (line.strip() for line in source.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("//"))


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


THINKING_LABEL = "Thinking…"
"""A thinking step's summary line until it is folded."""


class BlockStore:
    """Final HTML blocks, kept compressed a group at a time.

    A long answer's HTML is about as big as the answer, and the kernel keeps it for a page
    that loads the view later and for the snapshot that replaces the view at the end. Kept
    as strings it is one more copy of the answer in memory beside the text itself; packed
    every ``GROUP`` characters (zlib level 1, about 0.1 s for 10 MB) it costs about a third
    of that. Groups this large do not pin the memory of the objects streaming around them.
    """

    GROUP = 524_288
    PIECE = CHUNK
    """A drained group comes back in pieces of whole blocks of about this many characters
    (the snapshot lays each out only near the screen: ``render/markup.py``)."""

    def __init__(self) -> None:
        self._packed: list[tuple[bytes, list[int]]] = []  # each with its pieces' ends
        self._recent: list[str] = []
        self._recent_size = 0
        self._cuts: list[int] = []
        self._piece = 0
        self.size = 0

    def extend(self, blocks: list[str]) -> None:
        for block in blocks:
            self._recent.append(block)
            self._recent_size += len(block)
            self.size += len(block)
            self._piece += len(block)
            if self._piece >= self.PIECE:
                self._cuts.append(self._recent_size)
                self._piece = 0
        if self._recent_size >= self.GROUP:
            group = "".join(self._recent).encode("utf-8", "surrogatepass")
            self._packed.append((zlib.compress(group, 1), self._cuts))
            self._recent, self._recent_size, self._cuts, self._piece = [], 0, [], 0

    def blocks(self) -> list[str]:
        """Every block so far (a packed group comes back as one block)."""
        return [*(_unpack(group) for group, _ in self._packed), *self._recent]

    def drain(self) -> Iterator[str]:
        """Every block, handed over: the store is empty at once, and lets go as it goes.

        A packed group comes back in pieces of whole blocks (``PIECE``)."""
        packed, recent = self._packed, self._recent
        self._packed, self._recent, self._recent_size, self.size = [], [], 0, 0
        self._cuts, self._piece = [], 0
        return _drained(packed, recent)


def _drained(packed: list[tuple[bytes, list[int]]], recent: list[str]) -> Iterator[str]:
    packed.reverse()
    while packed:
        group, cuts = packed.pop()  # popped: each group is let go of once unpacked
        text = _unpack(group)
        start = 0
        for end in (*cuts, len(text)):
            if end > start:
                yield text[start:end]
            start = end
    yield from recent


def _unpack(group: bytes) -> str:
    return zlib.decompress(group).decode("utf-8", "surrogatepass")


class StreamCode(anywidget.AnyWidget):
    """The stream view's code and stylesheet, which every ``StreamWidget`` refers to.

    Carried by each stream widget, they made every thinking or text step open with about
    6 KB on IOPub; here they travel once per kernel, and the page imports them once.
    """

    _esm = _compact(_FRONTEND.joinpath("stream.js").read_text(encoding="utf-8"))
    _css = _compact(
        _FRONTEND.joinpath("stream.css").read_text(encoding="utf-8")
        + f".luxx-stream .luxx-chunk {{ {CHUNK_STYLE} }}\n"
        + CODE_CSS
    )


_code: list[StreamCode] = []


def stream_code() -> StreamCode:
    """The kernel's one ``StreamCode``, opened again if something closed it."""
    if not _code or _code[0].comm is None:
        _code[:] = [StreamCode()]
    return _code[0]


class StreamWidget(anywidget.AnyWidget):
    """Markdown text or thinking that streams in; ``kind="thinking"`` sits in a ``<details>``."""

    _esm = _compact(_FRONTEND.joinpath("loader.js").read_text(encoding="utf-8"))

    code = traitlets.Instance(
        StreamCode, help="The shared model that holds the view's code and stylesheet."
    ).tag(sync=True, **ipywidgets.widget_serialization)
    ident = traitlets.Unicode(help="Names this widget's state in the page's shared code.").tag(
        sync=True
    )

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

    def __init__(
        self, kind: str = "text", *, saved_state: bool | None = True, **kwargs: Any
    ) -> None:
        thinking = kind == "thinking"
        kwargs.setdefault("label", THINKING_LABEL if thinking else "")
        kwargs.setdefault("code", stream_code())
        kwargs.setdefault("ident", uuid.uuid4().hex)
        super().__init__(kind=kind, expanded=thinking, **kwargs)
        self.saved_state = saved_state
        self._markdown = IncrementalMarkdown()
        self._pending: list[str] = []
        self._blocks = BlockStore()
        self._tail = ""
        self._version = 0
        self._complete = False
        self._lock = threading.Lock()
        self.chars = 0
        self.on_msg(self._on_message)

    def become(self, kind: str) -> None:
        """Take ``kind`` before the first fragment and before any view shows it."""
        thinking = kind == "thinking"
        with self.hold_sync():
            self.kind, self.expanded = kind, thinking
            self.label = THINKING_LABEL if thinking else ""

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
        rest = "".join(self._pending)
        self._pending.clear()
        self._apply(self._markdown.finish(rest), final=True)  # one message for both
        self._complete = True
        with self._lock:
            if not self._saves(self._blocks.size):
                # The blocks stay in the kernel, packed (a page that loads the widget later
                # asks for them): a long answer's HTML is not copied whole here.
                return
            html = "".join(self._blocks.blocks())
        self.html = html

    def take_blocks(self) -> Iterator[str]:
        """The final HTML, as blocks, handed over: the widget keeps none of it.

        For a view about to be replaced by a snapshot: a long answer's HTML is as big as
        the answer, and the kernel would otherwise hold it twice while the replacement is
        serialized. A page that asks for the state afterwards gets nothing.
        """
        with self._lock:
            blocks, self._blocks, self._tail = self._blocks, BlockStore(), ""
            self._trait_values["html"] = ""
        return blocks.drain()

    def _saves(self, size: int) -> bool:
        """Whether a final HTML of ``size`` characters goes to the page (see ``saved_state``)."""
        if self.saved_state is None:
            return size <= SAVED_STATE_LIMIT
        return self.saved_state

    def full_html(self) -> str:
        """All HTML rendered so far (final blocks and tail)."""
        with self._lock:
            return "".join(self._blocks.blocks()) + self._tail

    def _apply(self, update: Update, *, final: bool = False) -> None:
        with self._lock:
            old = self._tail
            new = "".join(update.blocks) + update.tail
            keep = common_prefix_length(old, new)
            if not final and not update.blocks and keep == len(old) == len(new):
                return
            self._blocks.extend(update.blocks)
            self._tail = update.tail
            self._version += 1
            message = {
                "type": "delta",
                "version": self._version,
                "keep": utf16_length(old[:keep]),
                "add": new[keep:],
                "blocks": [utf16_length(block) for block in update.blocks],
            }
            if final:
                message["final"] = True
            self.send(message)

    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        """Answer a page's ``sync`` request (a late view, a reload) with the whole state."""
        if not isinstance(content, dict) or content.get("type") != "sync":
            return
        with self._lock:
            done = self._complete and bool(self.html)  # the html trait has it all
            self.send(
                {
                    "type": "snapshot",
                    "version": self._version,
                    "blocks": [] if done else self._blocks.blocks(),
                    "tail": "" if done else self._tail,
                }
            )
