"""The typed vocabulary of a turn: deltas in from a provider, steps and events out.

Data flows one way: provider chunks become *deltas*; the agent folds deltas into *steps*
and emits *events*; renderers and front doors consume events. Nothing here does I/O.

The step and event shapes are those of the original service (see SPEC.md): ``to_dict()``
on a step and ``.data`` / ``.sse()`` on an event give them exactly.

A thinking or text step grows by one fragment per event. Each event carries a snapshot of
its step whose ``content`` is read lazily from a shared append-only buffer, so emitting an
event per fragment costs O(fragment), not O(text): long answers stay linear.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = [
    "DoneEvent",
    "ErrorEvent",
    "Event",
    "FinishDelta",
    "Image",
    "ReplayDelta",
    "StatusEvent",
    "Step",
    "StepEvent",
    "TextBuffer",
    "TextDelta",
    "TextStep",
    "ThinkingDelta",
    "ThinkingStep",
    "ToolCallDelta",
    "ToolCallStep",
    "ToolResultStep",
    "Usage",
    "UsageDelta",
    "tool_result_success",
]


# -- usage -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Usage:
    """Token counts as the provider reported them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Usage:
        def num(key: str) -> int:
            value = raw.get(key)
            return int(value) if isinstance(value, (int, float)) else 0

        prompt, completion = num("prompt_tokens"), num("completion_tokens")
        return cls(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=num("total_tokens") or prompt + completion,
        )

    def to_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


# -- deltas: what a provider's chunk means ----------------------------------------------


@dataclass(frozen=True, slots=True)
class ThinkingDelta:
    text: str


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A fragment of a tool call. ``index`` is None when the provider sent none."""

    index: int | None = None
    id: str | None = None
    name: str | None = None
    arguments: str | None = None


@dataclass(frozen=True, slots=True)
class UsageDelta:
    usage: Usage


@dataclass(frozen=True, slots=True)
class FinishDelta:
    reason: str


@dataclass(frozen=True, slots=True)
class ReplayDelta:
    """An item the wire must send back in the next request of a tool round, never shown
    (a Responses reasoning item, an Anthropic thinking block with its signature)."""

    wire: str
    item: dict[str, Any]


Delta = ThinkingDelta | TextDelta | ToolCallDelta | UsageDelta | FinishDelta | ReplayDelta


# -- steps ---------------------------------------------------------------------------------


class TextBuffer:
    """Append-only text shared by every snapshot of one growing step.

    Fragments are a few characters each, and a small ``str`` costs about 50 bytes of header:
    kept one by one, a 10 MB answer would hold 150 MB. So every ``_RUN`` fragments are
    joined into one string, and every ``_RUN`` of those into one large string: the buffer
    stays within a few percent of its text's size, and its long-lived pieces are few and
    large, so they do not pin the memory of the short-lived objects that stream around them
    (measured: with only 1 KB pieces, the kernel's resident memory grew by about one more
    byte per character of the answer).
    """

    __slots__ = ("_large", "_length", "_parts", "_recent")

    _RUN = 256

    def __init__(self, text: str = "") -> None:
        self._large = [text] if text else []
        self._parts: list[str] = []
        self._recent: list[str] = []
        self._length = len(text)

    def __len__(self) -> int:
        return self._length

    def append(self, fragment: str) -> None:
        recent = self._recent
        recent.append(fragment)
        self._length += len(fragment)
        if len(recent) >= self._RUN:
            parts = self._parts
            parts.append("".join(recent))
            recent.clear()
            if len(parts) >= self._RUN:
                self._large.append("".join(parts))
                parts.clear()

    def text(self, end: int | None = None) -> str:
        large = self._large
        if self._parts or self._recent:
            large.append("".join(self._parts) + "".join(self._recent))
            self._parts.clear()
            self._recent.clear()
        if len(large) > 1:
            large[:] = ["".join(large)]
        whole = large[0] if large else ""
        return whole if end is None or end >= self._length else whole[:end]


class _GrowingStep:
    """A thinking or text step: ``content`` is the whole text at the time of the snapshot."""

    type: ClassVar[str]
    __slots__ = ("_buffer", "_end", "index")

    def __init__(self, *, index: int, content: str = "") -> None:
        self.index = index
        self._buffer = TextBuffer(content)
        self._end = len(content)

    @classmethod
    def _view(cls, index: int, buffer: TextBuffer) -> _GrowingStep:
        step = cls.__new__(cls)
        step.index, step._buffer, step._end = index, buffer, len(buffer)
        return step

    @property
    def id(self) -> str:
        return f"step-{self.index}"

    @property
    def content(self) -> str:
        return self._buffer.text(self._end)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "index": self.index, "type": self.type, "content": self.content}

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and other.index == self.index  # type: ignore[attr-defined]
            and other.content == self.content  # type: ignore[attr-defined]
        )

    def __hash__(self) -> int:
        return hash((self.type, self.index, self._end))

    def __repr__(self) -> str:
        text = self.content
        shown = text if len(text) <= 60 else text[:57] + "..."
        return f"{type(self).__name__}(index={self.index}, content={shown!r})"


class ThinkingStep(_GrowingStep):
    type = "thinking"
    __slots__ = ()


class TextStep(_GrowingStep):
    type = "text"
    __slots__ = ()


class _ToolStep:
    """``id`` and the SPEC's dict for a tool step, from the fields ``shape`` names."""

    index: int
    type: ClassVar[str]
    shape: ClassVar[tuple[str, ...]]

    @property
    def id(self) -> str:
        return f"step-{self.index}"

    def to_dict(self) -> dict[str, Any]:
        head = {"id": self.id, "index": self.index, "type": self.type}
        return head | {name: getattr(self, name) for name in self.shape}


@dataclass(frozen=True, kw_only=True)
class ToolCallStep(_ToolStep):
    index: int
    id_ref: str
    name: str
    arguments: str
    type: ClassVar[str] = "tool_call"
    shape: ClassVar[tuple[str, ...]] = ("id_ref", "name", "arguments")


@dataclass(frozen=True)
class Image:
    """An image a tool gave (an MCP server's): ``mime`` is ``image/png`` or ``image/jpeg``,
    read from the bytes themselves, and ``data`` their canonical base64 (see
    ``luxx_nb.images.checked``); nothing else is ever shown as an image."""

    mime: str
    data: str = field(repr=False)


@dataclass(frozen=True, kw_only=True)
class ToolResultStep(_ToolStep):
    """``id_ref`` names the ``tool_call`` step (``step-N``), not the provider's call id."""

    index: int
    id_ref: str
    name: str
    content: str
    success: bool
    detail: str | None = field(default=None, repr=False, compare=False)
    output: str = field(default="", repr=False, compare=False)
    """What the tool printed; shown with the step, not part of the original wire."""
    variables: tuple[str, ...] = field(default=(), repr=False, compare=False)
    """The notebook variables the tool read, in order; shown with the step, not on the wire."""
    images: tuple[Image, ...] = field(default=(), repr=False, compare=False)
    """Images shown with the step (the model got a note of each), not on the wire."""
    html: tuple[str, ...] = field(default=(), repr=False, compare=False)
    """Rich output shown with the step (what ``run_python``'s code displayed: a DataFrame's
    table), untrusted HTML that every view sanitizes; not on the wire."""
    decision: str = field(default="", repr=False, compare=False)
    """Who decided a call that asks first (``approved by the person``), not on the wire."""
    type: ClassVar[str] = "tool_result"
    shape: ClassVar[tuple[str, ...]] = ("id_ref", "name", "content", "success")


Step = ThinkingStep | TextStep | ToolCallStep | ToolResultStep


def tool_result_success(content: str) -> bool:
    """True unless the content is a JSON object whose ``success`` is false."""
    if not content.lstrip().startswith("{"):
        return True
    try:
        parsed = json.loads(content)
    except ValueError:
        return True
    return not (isinstance(parsed, dict) and parsed.get("success") is False)


# -- events --------------------------------------------------------------------------------


def _sse(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@dataclass(frozen=True, kw_only=True)
class StepEvent:
    """A step started or grew. ``delta`` is the fragment this event added ("" for tools)."""

    step: Step
    delta: str = ""
    name: ClassVar[str] = "process_step"

    @property
    def data(self) -> dict[str, Any]:
        return {"step": self.step.to_dict()}

    def sse(self) -> str:
        return _sse(self.name, self.data)


@dataclass(frozen=True, kw_only=True)
class ErrorEvent:
    """The turn ended on a failure. ``detail`` holds what a person may want one click away."""

    message: str
    kind: str = "error"
    detail: str | None = field(default=None, repr=False)
    name: ClassVar[str] = "error"

    @property
    def data(self) -> dict[str, Any]:
        return {"content": self.message}

    def sse(self) -> str:
        return _sse(self.name, self.data)


@dataclass(frozen=True, kw_only=True)
class DoneEvent:
    message_id: str
    token_count: int
    usage: Usage
    name: ClassVar[str] = "done"

    @property
    def data(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "token_count": self.token_count,
            "usage": self.usage.to_dict(),
        }

    def sse(self) -> str:
        return _sse(self.name, self.data)


@dataclass(frozen=True, kw_only=True)
class StatusEvent:
    """Progress that is not a step: waiting for the server, running tools, retrying.

    Not part of the original wire: ``Chat.stream`` leaves it out unless asked; views use it
    for their status line.
    """

    state: str
    detail: str = ""
    name: ClassVar[str] = "status"

    @property
    def data(self) -> dict[str, Any]:
        return {"state": self.state, "detail": self.detail}

    def sse(self) -> str:
        return _sse(self.name, self.data)


Event = StepEvent | ErrorEvent | DoneEvent | StatusEvent
