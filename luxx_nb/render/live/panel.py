"""A ``ChatView``'s prompt: a box and ``Send`` that run turns of its chat while no cell runs.

The page sends the typed text as one widget message (``frontend/prompt.js``: Enter sends,
Shift+Enter is a new line). The handler only queues it and returns, so the kernel stays free
for cells: a worker thread of the view takes the prompts one at a time, in the order they
came, and runs each through ``runner.run_sync`` on luxx_nb's loop, where ``Chat`` streams it
into the view like any run. A prompt sent while a turn runs (the view's own, or one a cell
started on the same chat) waits for it, and the note under the box says that it waits:
turns never interleave. The prompt is shown above its run as escaped text; a failure outside
the turn (the turn's own errors are in its run) shows in the note, with the key hidden.

A turn sent from the page holds no shell: a click on its ``Stop``, ``Approve`` or ``Deny``
reaches the kernel on whichever shell the page sends it to, the main one too. So such a run
offers its buttons at once (``PageButtons``), also in Voilà, which makes no subshell
(measured: Voilà 0.5.13, clicks handled on the kernel's main thread).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import queue
import threading
from html import escape
from importlib import resources
from typing import Any

import anywidget
import ipywidgets
import traitlets

from luxx_nb.approval import current_controls, set_controls
from luxx_nb.errors import redact
from luxx_nb.render.live.clicks import route_to_sender
from luxx_nb.render.live.controls import RunButtons
from luxx_nb.render.live.parts import html_part
from luxx_nb.render.markup import LABEL
from luxx_nb.runner import run_sync

__all__ = ["PageButtons", "Panel", "PromptBox", "add_to", "echo_html", "take_runs"]

_FRONTEND = resources.files("luxx_nb.render").joinpath("frontend")
BUSY_POLL = 0.05
"""Seconds between two looks at a chat that a cell's turn holds, for a prompt that waits."""
ECHO = (
    "margin:8px 0 2px;padding:4px 8px;white-space:pre-wrap;overflow-wrap:anywhere;"
    "border-left:3px solid var(--jp-brand-color1,#1976d2);"
    "background:var(--jp-layout-color2,#f5f5f5);border-radius:2px;"
)

_from_page: contextvars.ContextVar[bool] = contextvars.ContextVar("luxx_from_page", default=False)
_children = threading.Lock()  # a view's runs open from luxx's loop thread and from cells


def add_to(view: Any, widget: ipywidgets.Widget) -> None:
    """``widget`` at the bottom of ``view``, above its prompt when it has one."""
    with _children:
        children = view.children
        panel = getattr(view, "panel", None)
        if panel is not None and children and children[-1] is panel.widget:
            view.children = (*children[:-1], widget, children[-1])
        else:
            view.children = (*children, widget)


def take_runs(view: Any) -> tuple[ipywidgets.Widget, ...]:
    """Everything ``view`` shows but its prompt, taken out of it."""
    with _children:
        panel = getattr(view, "panel", None)
        keep = () if panel is None else (panel.widget,)
        taken = tuple(w for w in view.children if w not in keep)
        view.children = keep
    return taken


def echo_html(prompt: str) -> str:
    """The prompt above its run: escaped, its lines kept (``white-space: pre-wrap``)."""
    return f'<div style="{LABEL}">you</div><div style="{ECHO}">{escape(prompt)}</div>'


class PromptBox(anywidget.AnyWidget):
    """The box and its ``Send`` button; what is typed arrives as ``{"type": "send"}``."""

    _esm = _FRONTEND.joinpath("prompt.js").read_text(encoding="utf-8")
    _css = _FRONTEND.joinpath("prompt.css").read_text(encoding="utf-8")

    placeholder = traitlets.Unicode(
        "Message", help="The box's placeholder and accessible label."
    ).tag(sync=True)
    note = traitlets.Unicode(
        "", help="A line under the box (plain text): a prompt that waits, a failure."
    ).tag(sync=True)
    failed = traitlets.Bool(False, help="Whether the note tells of a failure.").tag(sync=True)


class PageButtons(RunButtons):
    """The run's buttons for a turn sent from the page: offered at once, wherever it runs.

    ``RunButtons`` offers them only where a front end has made a subshell (or waits 1.5 s
    for its first), because a cell's run holds the main shell; a turn sent from the page
    holds none, so a click arrives on the main shell too (Voilà's, or ipykernel 6's).
    """

    def __init__(self, run: Any, status: Any, controls: Any, show: Any) -> None:
        super().__init__(run, status, controls, show)
        if self._row is None:  # no subshells at all: the main shell takes the click
            self.hint = ""
            self._attach()

    def _watch(self, until: float) -> None:
        self._attach()


def _main_loop() -> asyncio.AbstractEventLoop | None:
    """The kernel's own loop, when made in a cell on the main thread (ipykernel runs cells in
    it); None elsewhere: then the work ``on_caller`` posts runs on the panel's worker."""
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class Panel:
    """The prompt of one view: what the page sends, queued, each run as a turn of ``chat``."""

    @classmethod
    def of(cls, view: Any, chat: Any) -> Panel | None:
        """The prompt of ``view``, shown at its bottom; None without a chat that can send."""
        if chat is None or not hasattr(chat, "asend"):
            return None
        panel = cls(chat, view)
        view.children = (*view.children, panel.widget)
        return panel

    def __init__(self, chat: Any, view: Any) -> None:
        self.chat, self._view = chat, view
        self.box = PromptBox()
        route_to_sender(self.box)  # a prompt sent while a cell runs is queued at once
        self.box.on_msg(self._on_message)
        self.widget = ipywidgets.VBox(children=(self.box,), _dom_classes=("luxx-chat-prompt",))
        self._queue: queue.SimpleQueue[tuple[str, bool, Any, concurrent.futures.Future[Any]]]
        self._queue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._waiting = 0  # prompts sent, not started
        self._running = False
        self._main = _main_loop()  # where approved code runs (``run_python``): not our worker

    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "send":
            text = content.get("text")
            if isinstance(text, str):
                self.send(text, from_page=True)

    def send(self, prompt: str, *, from_page: bool = False) -> concurrent.futures.Future[Any]:
        """Queue ``prompt``; the future gives its ``Reply`` (None for an empty prompt, or
        when the turn could not start: the note says why)."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        if not prompt.strip():
            future.set_result(None)
            return future
        context = contextvars.copy_context()  # the message that sent it is the turn's parent
        with self._lock:
            self._waiting += 1
            self._queue.put((prompt, from_page, context, future))
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="luxx-panel", daemon=True)
                self._worker.start()
            self._show_waiting()
        return future

    def _work(self) -> None:
        while True:
            prompt, from_page, context, future = self._queue.get()
            try:
                turn = self._turn(prompt, from_page)
                future.set_result(context.run(run_sync, turn, caller_loop=self._main))
            except BaseException as exc:  # the worker goes on
                self._fail(f"The message was not sent: {exc}")
                future.set_exception(exc)
            finally:
                with self._lock:
                    self._running = False
                    self._show_waiting(clear=False)

    async def _turn(self, prompt: str, from_page: bool) -> Any:
        """Wait for a turn a cell runs on this chat, then run this one into the view."""
        while getattr(self.chat, "busy", False):
            await asyncio.sleep(BUSY_POLL)
        with self._lock:
            self._waiting -= 1
            self._running = True
            self._show_waiting()
        add_to(self._view, html_part(echo_html(prompt)))
        token = _from_page.set(from_page)
        try:
            return await self.chat.asend(prompt)
        except RuntimeError as exc:  # a cell's turn began in between: say so, send nothing
            self._fail(str(exc))
            return None
        finally:
            _from_page.reset(token)

    def _show_waiting(self, *, clear: bool = True) -> None:
        """The note says how many prompts wait (under the lock); ``clear`` drops a failure's
        note, which otherwise stays until the next prompt."""
        if self.box.failed and not clear:
            return
        busy = self._running or getattr(self.chat, "busy", False)
        count = self._waiting if busy else 0
        note = ""
        if count:
            which = "message waits" if count == 1 else "messages wait"
            note = f"{count} {which} for the answer in progress; sent when it ends."
        with self.box.hold_sync():
            self.box.failed = False
            self.box.note = note

    def _fail(self, message: str) -> None:
        secret = getattr(getattr(self.chat, "endpoint", None), "api_key", None)
        with self.box.hold_sync():
            self.box.failed = True
            self.box.note = redact(message, secret)

    def renderer(self, run: Any) -> Any:
        """The renderer of a new run: ``run`` itself, or for a turn sent from the page, one
        that gives it ``PageButtons``."""
        return _PageRun(run) if _from_page.get() else run


class _PageRun:
    """A run of a turn sent from the page: its buttons are ``PageButtons``."""

    def __init__(self, run: Any) -> None:
        self.run = run

    def start(self, *, model: str, local: bool = False) -> None:
        controls = current_controls()
        token = set_controls(None)  # the run opens without the buttons of a cell's run
        try:
            self.run.start(model=model, local=local)
        finally:
            token.var.reset(token)
        if controls is not None:
            run = self.run
            run._buttons = PageButtons(run, run._status, controls, run._show_now)
            run._refresh_status(force=True)

    def handle(self, event: Any) -> None:
        self.run.handle(event)

    def finish(self, state: str, message: str | None = None, detail: str | None = None) -> None:
        self.run.finish(state, message, detail)
