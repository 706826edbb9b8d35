"""Tool-call fragments folded into whole calls: the one stateful piece of reading a stream.

A streamed tool call arrives in fragments (an index, an id, a name, pieces of the arguments'
JSON), in the shapes every server sends: indexed or not, the id and the name repeated or sent
once, several calls interleaved. ``ToolCallAccumulator`` keeps them in order of first
appearance. Pure: no I/O.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from .events import ToolCallDelta

__all__ = ["ToolCall", "ToolCallAccumulator"]


@dataclass
class ToolCall:
    """One whole call: its id, the tool's name and the arguments' JSON text."""

    id: str = ""
    name: str = ""
    arguments: str = ""


class ToolCallAccumulator:
    """Folds tool-call fragments into whole calls, in order of first appearance.

    Keyed by ``index``; a fragment without one continues the last call unless it brings a
    new id. An id or name that arrives again, or arrives empty, never overwrites.
    """

    def __init__(self) -> None:
        self._calls: dict[Any, ToolCall] = {}
        self._last: Any = None

    def add(self, delta: ToolCallDelta) -> None:
        key: Any = delta.index
        if key is None:
            last = self._calls.get(self._last)
            new_id = delta.id and (last is None or (last.id and last.id != delta.id))
            key = ("unindexed", len(self._calls)) if new_id or last is None else self._last
        call = self._calls.setdefault(key, ToolCall())
        self._last = key
        if delta.id and not call.id:
            call.id = delta.id
        if delta.name and delta.name != call.name:
            call.name += delta.name
        if delta.arguments:
            call.arguments += delta.arguments

    def calls(self) -> list[ToolCall]:
        for call in self._calls.values():
            call.id = call.id or f"call_{uuid.uuid4().hex[:24]}"
        return list(self._calls.values())

    def __bool__(self) -> bool:
        return bool(self._calls)
