"""A plain-text view of a run, for terminals and notebooks converted to text.

Text streams as it comes; thinking is a prefixed block; tools and errors get one line each;
a status line closes the run. Colors only when the stream is a terminal, so captured output
and nbconvert text stay free of ANSI escapes. The run's numbers (time, tokens with their
fallback, the estimate) come from its state (``render/state.py``), as in the other views.
"""

from __future__ import annotations

import re
import sys
import time
from typing import TextIO

from luxx_nb.events import (
    ErrorEvent,
    Event,
    StatusEvent,
    StepEvent,
    TextStep,
    ThinkingStep,
    ToolCallStep,
    ToolResultStep,
)
from luxx_nb.render.formatting import call_title, first_lines
from luxx_nb.render.state import Change, RunState, ToolCall

__all__ = ["TextRenderer"]

THINKING_PREFIX = "│ "

_LINES = re.compile(r"[^\n]*\n|[^\n]+")

_DIM, _RED, _GREEN, _BOLD, _RESET = "\x1b[2m", "\x1b[31m", "\x1b[32m", "\x1b[1m", "\x1b[0m"


class TextRenderer:
    """A ``Renderer`` that prints; ``stream`` defaults to ``sys.stdout`` at the time of use."""

    def __init__(self, stream: TextIO | None = None, *, color: bool | None = None) -> None:
        self._stream = stream
        self._color = color
        self.run_state = RunState()
        self._created = time.monotonic()  # the clock of a run finished without a start
        self._step: int | None = None
        self._kind = ""
        self._at_line_start = True

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stdout

    @property
    def model(self) -> str:
        return self.run_state.model

    def start(self, *, model: str, local: bool = False) -> None:
        self.run_state.start(model=model, local=local)
        if local:
            self._line("(answer from a tiny local model running on this machine)", _DIM)

    def handle(self, event: Event) -> None:
        change = self.run_state.apply(event)
        if isinstance(event, StepEvent):
            self._on_step(event, change)
        elif isinstance(event, ErrorEvent):
            self._line(f"Error: {event.message}", _RED)
        elif isinstance(event, StatusEvent) and event.state == "retrying":
            self._line(f"… retrying {event.detail}".rstrip(), _DIM)
        elif isinstance(event, StatusEvent) and event.state in ("window", "notice"):
            self._line(f"… {event.detail}", _DIM)

    def finish(self, state: str, message: str | None = None, detail: str | None = None) -> None:
        run = self.run_state
        change = run.finish(state, message, detail)
        if change.new:  # an error no event reported
            self._line(f"Error: {message}", _RED)
        elapsed = run.elapsed()
        if elapsed is None:
            elapsed = time.monotonic() - self._created
        tokens = f"{run.tokens:,} tokens" if run.tokens else f"~{run.estimate:,} tokens"
        parts = [run.model or "luxx", state, f"{elapsed:.1f} s", tokens]
        self._line(" · ".join(parts), _DIM)

    def _on_step(self, event: StepEvent, change: Change) -> None:
        step = event.step
        if isinstance(step, (ThinkingStep, TextStep)):
            if step.index != self._step:
                self._begin(step.index, step.type)
            self._write_growing(event.delta)
        elif isinstance(step, ToolCallStep):
            self._line(f"→ {call_title(step.name, step.arguments, limit=120)}")
        elif isinstance(step, ToolResultStep):
            name = change.item.name if isinstance(change.item, ToolCall) else step.name
            lines = first_lines(step.content) or ["(empty)"]
            mark, color = ("✓", _GREEN) if step.success else ("✗", _RED)
            self._line(
                f"{mark} {name}: " + "\n  ".join(lines if step.success else lines[:1]), color
            )
            if step.output.strip():
                self._line("  printed: " + "\n  ".join(first_lines(step.output)), _DIM)

    def _begin(self, index: int, kind: str) -> None:
        """A new thinking or text step starts on a fresh line, a blank one after thinking."""
        if self._step is not None or not self._at_line_start:
            self._end_line()
            if self._kind == "thinking" and kind == "text":
                self._write("\n")
        self._step, self._kind = index, kind

    def _write_growing(self, fragment: str) -> None:
        if self._kind != "thinking":
            self._write(fragment)
            self._at_line_start = fragment.endswith("\n") if fragment else self._at_line_start
            return
        for piece in _LINES.findall(fragment):
            ends = piece.endswith("\n")
            if self._at_line_start:
                prefix = THINKING_PREFIX.rstrip() if piece == "\n" else THINKING_PREFIX
                self._write(self._paint(prefix, _DIM))
            self._write(self._paint(piece[:-1] if ends else piece, _DIM) + ("\n" if ends else ""))
            self._at_line_start = ends

    def _end_line(self) -> None:
        if not self._at_line_start:
            self._write("\n")
            self._at_line_start = True

    def _line(self, text: str, style: str = "") -> None:
        """A line of its own, after whatever streamed before it."""
        self._end_line()
        self._write(self._paint(text, style) + "\n")
        self._step, self._kind = None, ""

    def _paint(self, text: str, style: str) -> str:
        color = self._color if self._color is not None else _isatty(self.stream)
        return f"{style}{text}{_RESET}" if color and style and text else text

    def _write(self, text: str) -> None:
        stream = self.stream
        stream.write(text)
        stream.flush()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
