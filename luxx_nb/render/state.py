"""The state of one run, folded from its events: the one model every view of a run reads.

``RunState`` is a reducer: ``start``, then ``apply`` for every event, then ``finish``. It
keeps the run's items in the order the page first shows them (thinking, text, tool calls
with their results, errors), each step as last seen, the thinking timers, the token count
with its one fallback, the streamed characters behind the estimate, the run's state and the
notes of its status line. Each call says what it changed (a ``Change``), so a live view can
decide what to send without keeping a second copy of the run.

Pure: no widgets, no IPython, no I/O. The clock is given (``clock``), so a test drives the
timers without waiting. The live widget tree, the saved snapshot and the plain text read it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from luxx_nb.events import (
    DoneEvent,
    ErrorEvent,
    Event,
    StatusEvent,
    Step,
    StepEvent,
    TextStep,
    ThinkingStep,
    ToolCallStep,
    ToolResultStep,
    Usage,
)
from luxx_nb.render.formatting import thought_label

__all__ = [
    "Change",
    "Failure",
    "Item",
    "RunState",
    "Text",
    "Thinking",
    "ToolCall",
    "token_count",
]


@dataclass(eq=False)
class Thinking:
    """A thinking step and its timer: ``seconds`` is set when the thinking stopped."""

    step: ThinkingStep
    since: float
    chars: int = 0
    seconds: float | None = None

    @property
    def index(self) -> int:
        return self.step.index

    @property
    def label(self) -> str:
        """``Thinking…`` while it runs, ``Thought for 1.2 s`` once it stopped."""
        return thought_label(self.seconds) if self.seconds is not None else "Thinking…"


@dataclass(eq=False)
class Text:
    """An answer step."""

    step: TextStep
    chars: int = 0

    @property
    def index(self) -> int:
        return self.step.index


@dataclass(eq=False)
class ToolCall:
    """A tool call and its result as they arrive (either may be missing)."""

    index: int
    name: str
    call: ToolCallStep | None = None
    result: ToolResultStep | None = None


@dataclass(eq=False, frozen=True)
class Failure:
    """An error of the run: the message in view, the detail one click away."""

    message: str
    detail: str | None = None


Item = Thinking | Text | ToolCall | Failure


@dataclass(frozen=True)
class Change:
    """What one call changed: the item it touched, whether that item is new, the text it
    added to a thinking or text item, and the thinking it stopped."""

    item: Item | None = None
    new: bool = False
    fragment: str = ""
    folded: tuple[Thinking, ...] = ()


_NOTHING = Change()


def token_count(event: DoneEvent) -> int:
    """The run's tokens: the answer's as reported, else the total, else the agent's count."""
    usage = event.usage
    return usage.completion_tokens or usage.total_tokens or event.token_count


class RunState:
    """One run's state; ``apply`` every event in order between ``start`` and ``finish``."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.model = ""
        self.local = False
        self.state = "idle"
        self.detail = ""
        self.window = ""
        """What the requests (and the tools) left out: a note that stays for the whole run."""
        self._notices = ""  # what the run left out of its tools (MCP), before any window note
        self.started: float | None = None
        self.ended: float | None = None
        self.usage: Usage | None = None
        self.tokens: int | None = None
        self.error: str | None = None
        """The last error's message (None while nothing failed)."""
        self.chars = 0
        """Characters of thinking, text and tool arguments streamed so far."""
        self.finished = False
        self.items: list[Item] = []
        self._steps: dict[int, Step] = {}
        self._growing: dict[int, Thinking | Text] = {}
        self._calls: dict[str, ToolCall] = {}
        self._thinking: list[Thinking] = []  # thinking whose timer runs

    @property
    def steps(self) -> list[Step]:
        """The run's steps, each as last seen, in order."""
        return [step for _, step in sorted(self._steps.items())]

    @property
    def estimate(self) -> int:
        """Tokens guessed from the characters streamed: four characters a token."""
        return self.chars // 4

    def elapsed(self) -> float | None:
        """Seconds since the start (until the finish, once finished); None before it."""
        if self.started is None:
            return None
        end = self.ended if self.ended is not None else self._clock()
        return end - self.started

    def start(self, *, model: str, local: bool = False) -> None:
        self.model, self.local = model, local
        self.state, self.started = "connecting", self._clock()
        self.window = self._notices = ""

    def apply(self, event: Event) -> Change:
        """Fold one event into the state; say what changed."""
        if isinstance(event, StepEvent):
            return self._on_step(event)
        if isinstance(event, StatusEvent):
            if event.state == "window":
                self.window = _joined(self._notices, event.detail)  # stays for the run
            elif event.state == "notice":
                self._notices = _joined(self._notices, event.detail)  # an MCP server left out
                self.window = _joined(self.window, event.detail)
            else:
                self.state, self.detail = event.state, event.detail
        elif isinstance(event, ErrorEvent):
            failure = Failure(event.message, event.detail)
            self.items.append(failure)
            self.error = event.message
            return Change(failure, new=True)
        elif isinstance(event, DoneEvent):
            self.usage = event.usage
            self.tokens = token_count(event)
        return _NOTHING

    def finish(self, state: str, message: str | None = None, detail: str | None = None) -> Change:
        """The run ended: its final state; an error nobody reported yet becomes an item."""
        self.finished = True
        self.state, self.detail = state, ""
        self.ended = self._clock()
        failure = None
        if state == "error" and message and self.error is None:
            failure = Failure(message, detail)
            self.items.append(failure)
            self.error = message
        return Change(failure, new=failure is not None, folded=self._fold())

    def _on_step(self, event: StepEvent) -> Change:
        step = event.step
        self._steps[step.index] = step
        if isinstance(step, (ThinkingStep, TextStep)):
            return self._on_growing(step, event.delta)
        if isinstance(step, ToolCallStep):
            folded = self._fold()
            tool = self._calls.get(step.id)
            new = tool is None
            if tool is None:
                tool = self._calls[step.id] = ToolCall(step.index, step.name)
                self.items.append(tool)
                self.chars += len(step.arguments)
            tool.call, tool.name = step, step.name
            return Change(tool, new, folded=folded)
        tool = self._calls.get(step.id_ref)
        new = tool is None
        if tool is None:  # a result whose call this run never saw
            tool = self._calls[step.id_ref] = ToolCall(step.index, step.name)
            self.items.append(tool)
        tool.result = step
        return Change(tool, new)

    def _on_growing(self, step: ThinkingStep | TextStep, delta: str) -> Change:
        """A thinking or text step started or grew; read its content only when the event
        carries no delta (a snapshot), so a run stays linear."""
        if self.state != "streaming":
            self.state, self.detail = "streaming", ""
        item = self._growing.get(step.index)
        new, folded = item is None, ()
        if item is None:
            if isinstance(step, ThinkingStep):
                item = Thinking(step, self._clock())
                self._thinking.append(item)
            else:
                folded = self._fold()
                item = Text(step)
            self.items.append(item)
            self._growing[step.index] = item
        item.step = step  # type: ignore[assignment]
        fragment = delta
        if not fragment and len(step.content) > item.chars:
            fragment = step.content[item.chars :]
        item.chars += len(fragment)
        self.chars += len(fragment)
        return Change(item, new, fragment, folded)

    def _fold(self) -> tuple[Thinking, ...]:
        """Stop the running thinking timers (the answer, a tool call or the end began)."""
        if not self._thinking:
            return ()
        now = self._clock()
        folded, self._thinking = tuple(self._thinking), []
        for item in folded:
            item.seconds = now - item.since
        return folded


def _joined(first: str, second: str) -> str:
    return f"{first} {second}".strip()
