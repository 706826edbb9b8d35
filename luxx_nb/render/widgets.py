"""The live widget tree of a run, and a view that collects the runs of one chat.

``RunWidget`` is a ``Renderer``: it turns events into widgets and never calls a provider or
runs a tool. Fragments are buffered and flushed at most 30 times a second (the first one at
once), because a per-token update floods IOPub and jupyter_server drops output above about
1,000 messages a second (FIELD-NOTES). Each flush changes its widgets inside ``hold_sync``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import ipywidgets
from ipywidgets.widgets.widget_string import HTMLStyle

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
from luxx_nb.render.parts import ErrorView, ToolCallView, status_html
from luxx_nb.render.stream import StreamWidget

__all__ = ["ChatView", "RunWidget"]

FLUSH_INTERVAL = 1 / 30
"""Seconds between two flushes of one run: at most 30 view updates a second."""

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

_shared: dict[str, ipywidgets.Widget] = {}


def _shared_widget(name: str, factory: Callable[[], ipywidgets.Widget]) -> Any:
    """One default ``Layout`` (or ``HTMLStyle``) for every widget of every run.

    Each widget otherwise opens its own, each a message of about 2 KB on IOPub, and no
    widget here ever changes its layout or style.
    """
    widget = _shared.get(name)
    if widget is None or getattr(widget, "comm", None) is None:
        widget = _shared[name] = factory()
    return widget


def shared_layout() -> ipywidgets.Layout:
    return _shared_widget("layout", ipywidgets.Layout)


def _status_line(value: str) -> ipywidgets.HTML:
    style = _shared_widget("html-style", HTMLStyle)
    return ipywidgets.HTML(value, layout=shared_layout(), style=style)


class _Throttle:
    """Call ``callback`` soon after a poke, at most once per ``interval`` seconds."""

    def __init__(self, callback: Callable[[], None], interval: float) -> None:
        self._callback = callback
        self.interval = interval
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

    def poke_now(self) -> None:
        """Run soon whatever the interval: a new step's first fragment shows at once."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.run()
            return
        self.cancel()
        self._handle = loop.call_later(0, self.run)  # after the events of this read

    def run(self) -> None:
        self.cancel()
        self._last = time.monotonic()
        self._callback()

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


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
        self._started: float | None = None
        self._ended: float | None = None
        self._tokens: int | None = None
        self._views: dict[int, ipywidgets.Widget] = {}
        self._calls: dict[str, ToolCallView] = {}
        self._thinking: dict[StreamWidget, float] = {}
        self._dirty: set[StreamWidget] = set()
        self._chars = 0
        self._errors = 0
        self._finished = False
        self._throttle = _Throttle(self._flush, FLUSH_INTERVAL)
        self._tick: asyncio.TimerHandle | None = None
        self._status_shown: tuple[str, str, float] = ("idle", "", time.monotonic())
        # Initial values go in the messages that open the widgets, not in updates after them.
        self._status = _status_line(self._status_html())
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
            if self._on_step(event):
                self._throttle.poke_now()
                return
        elif isinstance(event, StatusEvent):
            self._state, self._detail = event.state, event.detail
        elif isinstance(event, ErrorEvent):
            self._add(ErrorView(event.message, event.detail))
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
            self._add(ErrorView(message, detail))
        streams = [view for view in self._views.values() if isinstance(view, StreamWidget)]
        with _holding(self, self._status, *streams):
            for stream in streams:
                stream.finalize()
            self._close_thinking()
            self._refresh_status(force=True)
        self._dirty.clear()

    def take_step_html(self, index: int) -> list[str] | None:
        """The final HTML of a thinking or text step, once complete, handed to a snapshot.

        In blocks, which the widget no longer holds (``StreamWidget.take_blocks``): for a
        run whose widgets are about to be replaced by that snapshot.
        """
        view = self._views.get(index)
        if isinstance(view, StreamWidget) and view.complete:
            return view.take_blocks()
        return None

    def _on_step(self, event: StepEvent) -> bool:
        """Show the step; True when it is a new thinking or text step."""
        step, fresh = event.step, False
        if isinstance(step, (ThinkingStep, TextStep)):
            if self._state != "streaming":
                self._state, self._detail = "streaming", ""
            view = self._views.get(step.index)
            if view is None:
                if isinstance(step, TextStep):
                    self._close_thinking()
                kind = "thinking" if step.type == "thinking" else "text"
                view = self._add(
                    StreamWidget(kind, saved_state=self.saved_state, layout=shared_layout())
                )
                self._views[step.index] = view
                if step.type == "thinking":
                    self._thinking[view] = time.monotonic()
                fresh = True
            assert isinstance(view, StreamWidget)
            fragment = event.delta
            if not fragment and len(step.content) > view.chars:  # a snapshot, not a delta
                fragment = step.content[view.chars :]
            view.append(fragment)
            self._chars += len(fragment)
            self._dirty.add(view)
        elif isinstance(step, ToolCallStep):
            self._close_thinking()
            call = self._calls.get(step.id)
            if call is None:
                self._calls[step.id] = self._views[step.index] = self._add(ToolCallView(step))
                self._chars += len(step.arguments)
            else:
                call.set_call(step)
        elif isinstance(step, ToolResultStep):
            call = self._calls.get(step.id_ref)
            if call is None:
                call = self._views[step.index] = self._add(ToolCallView(name=step.name))
            call.set_result(step)
        return fresh

    def _add(self, view: Any) -> Any:
        with self.hold_sync():
            self.children = (*self.children, view)
        return view

    def _close_thinking(self) -> None:
        """Collapse thinking that has stopped: the answer (or a tool call) has started."""
        now = time.monotonic()
        for view, since in list(self._thinking.items()):
            with view.hold_sync():
                view.expanded = False
                view.label = f"Thought for {max(1, round(now - since))} s"
            del self._thinking[view]

    def _flush(self) -> None:
        elapsed = self._elapsed() or 0.0
        self._throttle.interval = FLUSH_INTERVAL if elapsed >= WARMUP else WARMUP_INTERVAL
        dirty, self._dirty = self._dirty, set()
        with _holding(self._status, *dirty):
            for stream in dirty:
                stream.flush()
            self._refresh_status()

    def _refresh_status(self, *, force: bool = False) -> None:
        """A new state at once; new numbers at most every ``STATUS_INTERVAL`` seconds."""
        state, detail, shown_at = self._status_shown
        now = time.monotonic()
        if force or (state, detail) != (self._state, self._detail):
            pass
        elif now - shown_at < STATUS_INTERVAL - FLUSH_INTERVAL:  # the 1 s tick must be due
            return
        self._status_shown = (self._state, self._detail, now)
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
        )

    def _elapsed(self) -> float | None:
        if self._started is None:
            return None
        return (self._ended or time.monotonic()) - self._started


@contextlib.contextmanager
def _holding(*widgets: ipywidgets.Widget) -> Any:
    """``hold_sync`` on several widgets at once: their changes leave as one message each."""
    with contextlib.ExitStack() as stack:
        for widget in widgets:
            stack.enter_context(widget.hold_sync())
        yield


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
