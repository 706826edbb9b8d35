"""The live widget tree of a run, and a view that collects the runs of one chat.

``RunWidget`` is a ``Renderer``: it turns events into widgets and never calls a provider or
runs a tool. Fragments and tool steps are buffered and flushed at most 30 times a second (a
new step's first fragment at once, or one flush interval after the last flush), because a
per-token update floods IOPub and jupyter_server drops output above about 1,000 messages a
second (FIELD-NOTES). Each flush changes its widgets inside ``hold_sync``: one message per
changed widget, and a tool call that arrives with its result between two flushes opens its
widgets with their final state, with no update after.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Iterator
from typing import Any

import ipywidgets

from luxx_nb.events import (
    DoneEvent,
    ErrorEvent,
    Event,
    StatusEvent,
    StepEvent,
    TextStep,
    ThinkingStep,
    ToolCallStep,
    ToolResultStep,
)
from luxx_nb.render.formatting import thought_label
from luxx_nb.render.parts import (
    ErrorView,
    ToolCallView,
    holding,
    html_part,
    shared_layout,
    status_html,
)
from luxx_nb.render.stream import StreamWidget

__all__ = ["ChatView", "RunWidget"]

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
fragment still shows at once; after the warm-up the pace is ``FLUSH_INTERVAL``.
"""

STATUS_INTERVAL = 1.0
"""Seconds between two refreshes of the status line while nothing but its numbers change.

A new state shows at the next flush; the elapsed seconds and the token estimate follow at
this pace. Refreshed on every flush, the status line alone would double the messages of a
fast stream (measured: one status update per text delta, 30 a second).
"""


class _Throttle:
    """Call ``callback`` soon after a poke, at most once per ``interval`` seconds.

    ``poke_now`` is sooner (``least`` seconds after the last run at most), never more often.
    """

    def __init__(self, callback: Callable[[], None], interval: float, least: float) -> None:
        self._callback = callback
        self.interval = interval
        self.least = least
        self._handle: asyncio.TimerHandle | None = None
        self._last = float("-inf")

    def poke(self) -> None:
        if self._handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop to wait on: render now if due, else at the next poke
            if time.monotonic() - self._last >= self.interval:
                self.run()
            return
        delay = max(0.0, self._last + self.interval - time.monotonic())
        self._handle = loop.call_later(delay, self.run)

    def poke_now(self, *, at_once: bool = False) -> None:
        """Run soon: at once (after the events of this read) if the last run is ``least``
        seconds ago or more, else then. A new step's first fragment shows without waiting
        for a longer ``interval``, and a burst of new steps still flushes 1/``least`` times a
        second at most. ``at_once`` skips the wait: at full speed the loop gets control back
        only between network reads, so a timer even 30 ms away fires tens of ms late
        (measured: the first fragment on the page 55 ms after it arrived, against 6 ms)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.run()
            return
        delay = 0.0 if at_once else max(0.0, self._last + self.least - time.monotonic())
        if self._handle is not None and self._handle.when() <= loop.time() + delay:
            return
        self.cancel()
        self._handle = loop.call_later(delay, self.run)

    def run(self) -> None:
        self.cancel()
        # A run sooner than ``least`` after the last (``at_once``) takes the next one's turn,
        # so the pace over any second stays 1/``least``.
        self._last = max(time.monotonic(), self._last + self.least)
        self._callback()

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class _Tool:
    """A tool call and its result as they arrive; the view is built or updated at a flush."""

    __slots__ = ("call", "index", "name", "result", "view")

    def __init__(self, index: int, name: str) -> None:
        self.index, self.name = index, name
        self.call: ToolCallStep | None = None
        self.result: ToolResultStep | None = None
        self.view: ToolCallView | None = None


class _Stream:
    """A new thinking or text step, until the flush that opens its widget."""

    __slots__ = ("chars", "index", "kind", "parts")

    def __init__(self, index: int, kind: str) -> None:
        self.index, self.kind = index, kind
        self.parts: list[str] = []
        self.chars = 0

    def append(self, fragment: str) -> None:
        self.parts.append(fragment)
        self.chars += len(fragment)


_Pending = _Tool | _Stream | Callable[[], ipywidgets.Widget]  # an error view, when shown


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
        self.model_name = model
        self.local = local
        self.saved_state = saved_state
        self._state = "idle"
        self._detail = ""
        self._window = ""
        self._notices = ""  # what the run left out of its tools, before any window note
        self._started: float | None = None
        self._ended: float | None = None
        self._tokens: int | None = None
        self._views: dict[int, ipywidgets.Widget | _Stream] = {}
        self._tools: dict[str, _Tool] = {}
        # Shown at the next flush: new children in the order their steps began (a stream, a
        # tool call or an error, each opened then), tool calls with news, thinking to fold.
        self._pending: list[_Pending] = []
        self._changed: dict[_Tool, None] = {}
        self._thinking: dict[int, float] = {}  # step index -> when it started
        self._folding: dict[int, str] = {}  # step index -> its folded label
        self._dirty: set[StreamWidget] = set()
        self._chars = 0
        self._errors = 0
        self._finished = False
        self._throttle = _Throttle(self._flush, FLUSH_INTERVAL, FLUSH_INTERVAL)
        self._tick: asyncio.TimerHandle | None = None
        self._status_shown: tuple[tuple[str, str, str], float] = (
            ("idle", "", ""),
            time.monotonic(),
        )
        # Initial values go in the messages that open the widgets, not in updates after them.
        self._status = html_part(self._status_html())
        kwargs.setdefault("layout", shared_layout())
        kwargs.setdefault("_dom_classes", ("luxx-run",))
        super().__init__(children=(self._status,), **kwargs)

    def __repr__(self) -> str:
        return f"<luxx run: {self.model_name}>" if self.model_name else "<luxx run>"

    @property
    def state(self) -> str:
        return self._state

    def start(self, *, model: str, local: bool = False) -> None:
        self.model_name, self.local = model, local
        self._state, self._started = "connecting", time.monotonic()
        self._refresh_status(force=True)
        self._schedule_tick()

    def handle(self, event: Event) -> None:
        if self._finished:
            return
        if isinstance(event, StepEvent):
            first = not self._views and not self._tools  # the run's first step: no burst yet
            if self._on_step(event):
                self._throttle.poke_now(at_once=first)
                return
        elif isinstance(event, StatusEvent) and event.state == "window":
            self._window = _joined(self._notices, event.detail)  # stays for the run
        elif isinstance(event, StatusEvent) and event.state == "notice":
            self._notices = _joined(self._notices, event.detail)  # an MCP server left out
            self._window = _joined(self._window, event.detail)
        elif isinstance(event, StatusEvent):
            self._state, self._detail = event.state, event.detail
        elif isinstance(event, ErrorEvent):
            self._pending.append(functools.partial(ErrorView, event.message, event.detail))
            self._errors += 1
        elif isinstance(event, DoneEvent):
            usage = event.usage
            self._tokens = usage.completion_tokens or usage.total_tokens or event.token_count
        self._throttle.poke()

    def finish(self, state: str, message: str | None = None, detail: str | None = None) -> None:
        if self._finished:
            return
        self._finished = True
        self._throttle.cancel()
        if self._tick is not None:
            self._tick.cancel()
        self._state, self._detail = state, ""
        self._ended = time.monotonic()
        if state == "error" and message and not self._errors:
            self._pending.append(functools.partial(ErrorView, message, detail))
        self._stop_thinking()
        with holding(self, self._status):
            self._show()  # what arrived since the last flush, so nothing is lost
            streams = [view for view in self._views.values() if isinstance(view, StreamWidget)]
            with holding(*streams):
                for stream in streams:
                    stream.finalize()
            self._refresh_status(force=True)
        self._dirty.clear()

    def take_step_html(self, index: int) -> Iterator[str] | None:
        """The final HTML of a thinking or text step, once complete, handed to a snapshot.

        In blocks, which the widget no longer holds (``StreamWidget.take_blocks``): for a
        run whose widgets are about to be replaced by that snapshot.
        """
        view = self._views.get(index)
        if isinstance(view, StreamWidget) and view.complete:
            return view.take_blocks()
        return None

    def _on_step(self, event: StepEvent) -> bool:
        """Record the step for the next flush; True when it should show at once.

        A new thinking or text step shows at once, and so does a tool call that is the run's
        first step; later tool steps follow at the pace of the flushes.
        """
        step, fresh = event.step, False
        if isinstance(step, (ThinkingStep, TextStep)):
            if self._state != "streaming":
                self._state, self._detail = "streaming", ""
            view = self._views.get(step.index)
            if view is None:
                if isinstance(step, TextStep):
                    self._stop_thinking()
                kind = "thinking" if step.type == "thinking" else "text"
                view = self._views[step.index] = _Stream(step.index, kind)
                self._pending.append(view)
                if step.type == "thinking":
                    self._thinking[step.index] = time.monotonic()
                fresh = True
            assert isinstance(view, (StreamWidget, _Stream))
            fragment = event.delta
            if not fragment and len(step.content) > view.chars:  # a snapshot, not a delta
                fragment = step.content[view.chars :]
            view.append(fragment)
            self._chars += len(fragment)
            if isinstance(view, StreamWidget):
                self._dirty.add(view)
        elif isinstance(step, ToolCallStep):
            self._stop_thinking()
            tool = self._tools.get(step.id)
            if tool is None:
                fresh = not self._views and not self._tools and not self._pending
                tool = self._tools[step.id] = _Tool(step.index, step.name)
                self._pending.append(tool)
                self._chars += len(step.arguments)
            tool.call = step
            self._changed[tool] = None
        elif isinstance(step, ToolResultStep):
            tool = self._tools.get(step.id_ref)
            if tool is None:  # a result whose call this view never saw
                tool = self._tools[step.id_ref] = _Tool(step.index, step.name)
                self._pending.append(tool)
            tool.result = step
            self._changed[tool] = None
        return fresh

    def _stop_thinking(self) -> None:
        """Thinking has stopped (the answer or a tool call has started): fold it at the flush."""
        now = time.monotonic()
        for index, since in self._thinking.items():
            self._folding[index] = thought_label(now - since)
        self._thinking.clear()

    def _show(self) -> None:
        """Open the new steps' widgets, update tool calls with news, fold stopped thinking.

        Called inside ``hold_sync`` on this widget: the new children leave as one message.
        New stream widgets join ``_dirty``, for the flush to send their first fragments.
        """
        changed, self._changed = self._changed, {}
        for tool in changed:
            if tool.view is None:
                tool.view = ToolCallView(tool.call, tool.result, name=tool.name)
                self._views[tool.index] = tool.view
            else:
                tool.view.update(tool.call, tool.result)
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

    def _open(self, item: _Pending) -> ipywidgets.Widget:
        if isinstance(item, _Tool):
            assert item.view is not None  # built above: a new tool is always in _changed
            return item.view
        if isinstance(item, _Stream):
            view = StreamWidget(item.kind, saved_state=self.saved_state, layout=shared_layout())
            view.append("".join(item.parts))
            self._views[item.index] = view
            self._dirty.add(view)
            return view
        return item()

    def _flush(self) -> None:
        elapsed = self._elapsed() or 0.0
        self._throttle.interval = FLUSH_INTERVAL if elapsed >= WARMUP else WARMUP_INTERVAL
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
        current = (self._state, self._detail, self._window)
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
            if not self._finished:
                self._throttle.poke()
                self._tick = loop.call_later(1.0, tick)

        self._tick = loop.call_later(1.0, tick)

    def _status_html(self) -> str:
        return status_html(
            model=self.model_name,
            state=self._state,
            detail=self._detail,
            elapsed=self._elapsed(),
            tokens=self._tokens,
            estimate=self._chars // 4,
            final=self._finished,
            local=self.local,
            window=self._window,
        )

    def _elapsed(self) -> float | None:
        if self._started is None:
            return None
        return (self._ended or time.monotonic()) - self._started


class ChatView(ipywidgets.VBox):
    """The runs of one chat, as a widget to place anywhere (a cell, a sidebar, a layout)."""

    def __init__(self, chat: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_class("luxx-chat")
        if chat is not None:
            chat.add_view(self)

    def __repr__(self) -> str:
        return "<luxx chat view>"

    def open_run(self, *, model: str, local: bool = False) -> RunWidget:
        """A new run at the bottom of this view; the chat renders the run into it."""
        run = RunWidget(model=model, local=local)
        self.children = (*self.children, run)
        return run

    def clear(self) -> None:
        """Remove every run shown so far, closing their widgets in the kernel and the page."""
        runs, self.children = self.children, ()
        for run in runs:
            _close_tree(run)


def _close_tree(widget: ipywidgets.Widget) -> None:
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    widget.close()


def _joined(first: str, second: str) -> str:
    return f"{first} {second}".strip()
