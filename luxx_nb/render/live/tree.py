"""The live widget tree of a run (``chat_view.py`` collects the runs of one chat).

``RunWidget`` is a ``Renderer``: it folds events into a ``RunState`` (``render/state.py``)
and shows that state as widgets; it never calls a provider or runs a tool. Fragments and
tool steps are buffered and flushed at most 30 times a second (a new step's first fragment
at once, or one flush interval after the last flush), because a per-token update floods
IOPub and jupyter_server drops output above about 1,000 messages a second (FIELD-NOTES).
The interval follows the pace of arrival (``paced_interval``): an update costs the page
the same whatever it carries (measured in JupyterLab, ``benchmarks/page.py``), so a slow
stream is flushed when a few words have come, not every 1/30 s.
Each flush changes its widgets inside ``hold_sync``: one message per changed widget, and a
tool call that arrives with its result between two flushes opens its widgets with their
final state, with no update after.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import ipywidgets

from luxx_nb.approval import current_controls
from luxx_nb.events import Event, StepEvent, ToolCallStep
from luxx_nb.render.live.controls import RunButtons
from luxx_nb.render.live.parts import (
    ErrorView,
    ToolCallView,
    holding,
    html_part,
    shared_layout,
)
from luxx_nb.render.live.stream import StreamWidget
from luxx_nb.render.live.throttle import Throttle
from luxx_nb.render.markup import status_html
from luxx_nb.render.state import Change, Failure, RunState, Text, Thinking, ToolCall

__all__ = ["RunWidget", "paced_interval"]

FLUSH_INTERVAL = 0.034
"""Seconds between two flushes of one run: at most 30 view updates a second.

A little over 1/30 s: flushes exactly 1/30 s apart put 31 in a one-second window that
includes both its ends (measured: the benchmark's count read 31 at 50 tokens a second).
"""

WARMUP = 0.5
WARMUP_INTERVAL = 0.15
"""For its first ``WARMUP`` seconds a run flushes at most every ``WARMUP_INTERVAL`` seconds.

A run opens with a burst of a dozen messages (the cell's status, the widgets opening, the
first fragment) and ends with another (final state, the cell's output, idle). A fast turn is
over in half a second, and flushing 30 times a second on top of those bursts averages over
60 messages a second on IOPub (measured: 54 a second for 100 KB in 0.47 s). The first
fragment still shows at once; after the warm-up the pace is ``paced_interval``'s.
"""

UPDATE_CHARS = 40
SLOW_INTERVAL = 0.1
"""A flush carries about ``UPDATE_CHARS`` characters: at most every ``SLOW_INTERVAL`` s.

Measured in JupyterLab in Chromium (``benchmarks/page.py``, issue #18, 2 loaded cores): an
update costs the page 4 to 8 ms (a frame's style, layout, paint and commit, the message's
dispatch) whether it carries one token or a thousand, and JupyterLab's own cheapest widget
update costs about as much. At a model's pace a 1/30 s interval sent every token alone.
4 KB at 50 tokens a second, medians of two runs, the page's time above idle and typing's
key-to-frame p95 in another cell: 30 updates a second 18.4% and 56 ms; 10 a second 10.1%
and 76 ms; 5 a second 7.5% but 156 ms (a key's frame waited for the next update). Ten a
second is the choice: it reads as smooth (one to two words an update at 20 tokens a second,
where a fast reader takes in four or five words a second) and typing stays responsive;
arrivals over about 100 tokens a second flush up to 30 times a second, each update carrying
enough to be worth its frame.
"""

STATUS_INTERVAL = 1.0
"""Seconds between two refreshes of the status line while nothing but its numbers change.

A new state shows at the next flush; the elapsed seconds and the token estimate follow at
this pace. Refreshed on every flush, the status line alone would double the messages of a
fast stream (measured: one status update per text delta, 30 a second).
"""


def paced_interval(rate: float) -> float:
    """The flush interval for ``rate`` characters a second arriving (see ``UPDATE_CHARS``)."""
    if rate <= UPDATE_CHARS / SLOW_INTERVAL:
        return SLOW_INTERVAL
    return max(FLUSH_INTERVAL, UPDATE_CHARS / rate)


class _Stream:
    """A new thinking or text step, until the flush that opens its widget."""

    __slots__ = ("index", "kind", "parts")

    def __init__(self, index: int, kind: str) -> None:
        self.index, self.kind = index, kind
        self.parts: list[str] = []

    def append(self, fragment: str) -> None:
        self.parts.append(fragment)


_Pending = ToolCall | _Stream | Failure  # each opens its widget at the next flush


class RunWidget(ipywidgets.VBox):
    """One run, live: a status line, then one child per step in order."""

    def __init__(
        self,
        *,
        model: str = "",
        local: bool = False,
        saved_state: bool | None = None,
        **kwargs: Any,
    ) -> None:
        """``saved_state``: whether each step's final HTML is sent for saved widget state.

        Saved widget state (a notebook executed headless, or JupyterLab's "save widget
        state") needs each step's whole HTML sent once more at the end: one more copy of the
        answer on IOPub, on top of the increments and of the cell's plain transcript. None
        (the default) sends it for steps up to ``SAVED_STATE_LIMIT`` characters and keeps
        longer ones in the kernel (a page that opens the widget later still gets them, by
        asking); True always sends it, False never (for a view replaced when the run ends).
        """
        self.run_state = RunState()
        self.run_state.model, self.run_state.local = model, local
        self.saved_state = saved_state
        self._views: dict[int, StreamWidget | _Stream] = {}  # thinking and text, by index
        self._tools: dict[ToolCall, ToolCallView | None] = {}  # None until its first flush
        # Shown at the next flush: new children in the order their steps began (a stream, a
        # tool call or an error, each opened then), tool calls with news, thinking to fold.
        self._pending: list[_Pending] = []
        self._changed: dict[ToolCall, None] = {}
        self._folding: dict[int, str] = {}  # step index -> its folded label
        self._dirty: set[StreamWidget] = set()
        self._throttle = Throttle(self._flush, FLUSH_INTERVAL, FLUSH_INTERVAL)
        self._arrived: tuple[int, float] = (0, time.monotonic())  # chars, at the last flush
        self._rate = 0.0  # characters a second arriving, smoothed over a few flushes
        self._tick: asyncio.TimerHandle | None = None
        self._status_shown: tuple[tuple[str, str, str], float] = (
            ("idle", "", ""),
            time.monotonic(),
        )
        self._buttons: RunButtons | None = None  # Stop and approvals (approval.RunControls)
        self._spare: StreamWidget | None = None  # the first stream's widget, opened early
        # Initial values go in the messages that open the widgets, not in updates after them.
        self._status = html_part(self._status_html())
        kwargs.setdefault("layout", shared_layout())
        kwargs.setdefault("_dom_classes", ("luxx-run",))
        super().__init__(children=(self._status,), **kwargs)

    def __repr__(self) -> str:
        model = self.run_state.model
        return f"<luxx run: {model}>" if model else "<luxx run>"

    @property
    def model_name(self) -> str:
        return self.run_state.model

    @property
    def local(self) -> bool:
        return self.run_state.local

    @property
    def state(self) -> str:
        return self.run_state.state

    def start(self, *, model: str, local: bool = False) -> None:
        self.run_state.start(model=model, local=local)
        controls = current_controls()  # the run's Stop and approvals, when a Chat runs it
        if controls is not None:
            self._buttons = RunButtons(self, self._status, controls, self._show_now)
        self._refresh_status(force=True)
        self._schedule_tick()
        # Opened with the run, shown with its first thinking or text: the page has made the
        # model before the first fragment comes. Measured in JupyterLab (#18, alternated 4 by
        # 4): the first fragment on the page 20 to 31 ms after the server sent it, was 49 to 73.
        self._spare = StreamWidget("text", saved_state=self.saved_state, layout=shared_layout())

    def handle(self, event: Event) -> None:
        if self.run_state.finished:
            return
        first = not self._views and not self._tools  # the run's first step: no burst yet
        change = self.run_state.apply(event)
        self._fold(change)
        if isinstance(event, StepEvent):
            if self._on_step(change, first and isinstance(event.step, ToolCallStep)):
                self._throttle.poke_now(at_once=first)
                return
        elif change.new and isinstance(change.item, Failure):
            self._pending.append(change.item)
        self._throttle.poke()

    def finish(self, state: str, message: str | None = None, detail: str | None = None) -> None:
        if self.run_state.finished:
            return
        change = self.run_state.finish(state, message, detail)
        self._throttle.cancel()
        if self._tick is not None:
            self._tick.cancel()
        if change.new and isinstance(change.item, Failure):
            self._pending.append(change.item)
        self._fold(change)
        with holding(self, self._status):
            self._show()  # what arrived since the last flush, so nothing is lost
            streams = [view for view in self._views.values() if isinstance(view, StreamWidget)]
            with holding(*streams):
                for stream in streams:
                    stream.finalize()
            self._refresh_status(force=True)
            if self._buttons is not None:
                self._buttons.finish()
        self._dirty.clear()
        if self._spare is not None:  # no thinking or text came
            self._spare.close()
            self._spare = None

    def take_rendered(self) -> dict[int, Iterator[str]]:
        """The final HTML of each complete thinking or text step, by index, handed over.

        In blocks, which the widget no longer holds (``StreamWidget.take_blocks``): for a
        run whose widgets are about to be replaced by a snapshot of the same run.
        """
        return {
            index: view.take_blocks()
            for index, view in self._views.items()
            if isinstance(view, StreamWidget) and view.complete
        }

    def _on_step(self, change: Change, first_call: bool) -> bool:
        """Record the step for the next flush; True when it should show at once.

        A new thinking or text step shows at once, and so does a tool call that is the run's
        first step; later tool steps follow at the pace of the flushes.
        """
        item = change.item
        if isinstance(item, (Thinking, Text)):
            view = self._views.get(item.index)
            if view is None:
                kind = "thinking" if isinstance(item, Thinking) else "text"
                view = self._views[item.index] = _Stream(item.index, kind)
                self._pending.append(view)
            view.append(change.fragment)
            if isinstance(view, StreamWidget):
                self._dirty.add(view)
            return change.new
        assert isinstance(item, ToolCall)
        fresh = False
        if change.new:
            fresh = first_call and not self._pending
            self._tools[item] = None
            self._pending.append(item)
        self._changed[item] = None
        return fresh

    def _fold(self, change: Change) -> None:
        """Thinking has stopped (the answer or a tool call has started): fold it at the flush."""
        for thinking in change.folded:
            self._folding[thinking.index] = thinking.label

    def _show(self) -> None:
        """Open the new steps' widgets, update tool calls with news, fold stopped thinking.

        Called inside ``hold_sync`` on this widget: the new children leave as one message.
        New stream widgets join ``_dirty``, for the flush to send their first fragments.
        """
        changed, self._changed = self._changed, {}
        for tool in changed:
            view = self._tools[tool]
            if view is None:
                self._tools[tool] = ToolCallView(tool.call, tool.result, name=tool.name)
            else:
                view.update(tool.call, tool.result)
        if self._pending:
            pending, self._pending = self._pending, []
            self.children = (*self.children, *map(self._open, pending))
        folding, self._folding = self._folding, {}
        for index, label in folding.items():
            view = self._views[index]
            assert isinstance(view, StreamWidget)
            with view.hold_sync():
                view.expanded = False
                view.label = label

    def _show_now(self) -> None:
        """The pending steps at once, and the status line (a call now waits, or no more)."""
        with holding(self):
            self._show()
        self._refresh_status()

    def _open(self, item: _Pending) -> ipywidgets.Widget:
        if isinstance(item, ToolCall):
            view = self._tools[item]
            assert view is not None  # built above: a new tool is always in _changed
            return view
        if isinstance(item, _Stream):
            stream, self._spare = self._spare, None
            if stream is None:
                stream = StreamWidget(
                    item.kind, saved_state=self.saved_state, layout=shared_layout()
                )
            elif item.kind != stream.kind:
                stream.become(item.kind)
            stream.append("".join(item.parts))
            self._views[item.index] = stream
            self._dirty.add(stream)
            return stream
        return ErrorView(item.message, item.detail)

    def _flush(self) -> None:
        elapsed = self.run_state.elapsed() or 0.0
        chars, at = self._arrived
        now = time.monotonic()
        rate = (self.run_state.chars - chars) / max(now - at, 0.001)
        self._rate = rate if rate > self._rate else (self._rate + rate) / 2  # up at once
        self._arrived = (self.run_state.chars, now)
        paced = paced_interval(self._rate)
        self._throttle.interval = paced if elapsed >= WARMUP else WARMUP_INTERVAL
        with holding(self, self._status):
            self._show()
            dirty, self._dirty = self._dirty, set()
            with holding(*dirty):
                for stream in dirty:
                    stream.flush()
            self._refresh_status()

    def _refresh_status(self, *, force: bool = False) -> None:
        """A new state at once; new numbers at most every ``STATUS_INTERVAL`` seconds."""
        shown, shown_at = self._status_shown
        now = time.monotonic()
        run = self.run_state
        current = (self._state(), run.detail, run.window)
        if force or shown != current:
            pass
        elif now - shown_at < STATUS_INTERVAL - FLUSH_INTERVAL:  # the 1 s tick must be due
            return
        self._status_shown = (current, now)
        self._status.value = self._status_html()

    def _schedule_tick(self) -> None:
        """Tick the elapsed-seconds clock once a second, through the same throttle."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return

        def tick() -> None:
            if not self.run_state.finished:
                self._throttle.poke()
                self._tick = loop.call_later(1.0, tick)

        self._tick = loop.call_later(1.0, tick)

    def _state(self) -> str:
        """The run's state, or that a call waits for a person's decision."""
        waiting = self._buttons is not None and self._buttons.waiting
        return (
            "awaiting_approval" if waiting and not self.run_state.finished else self.run_state.state
        )

    def _status_html(self) -> str:
        run = self.run_state
        return status_html(
            model=run.model,
            state=self._state(),
            detail=run.detail,
            elapsed=run.elapsed(),
            tokens=run.tokens,
            estimate=run.estimate,
            final=run.finished,
            local=run.local,
            window=run.window,
            hint=self._buttons.hint if self._buttons is not None else "",
        )
