"""The small widgets of a live run: a tool call with its result, an error, shared parts.

Their markup comes from ``render/markup.py``, escaped, as the saved snapshot's does;
accordion titles are plain text in the page and need no escaping.

Every widget opens with a message of its own on IOPub, and so does each default ``Layout``
and ``HTMLStyle`` it would make: these parts share one of each (``shared_layout``,
``shared_html_style``) and keep to few widgets. A tool call is three (the accordion, its
body, one HTML for arguments, result, what was printed and the variables read), plus two for
a failed call's traceback; built with its final state, it opens with no update after.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import ipywidgets
from ipywidgets.widgets.widget_string import HTMLStyle

from luxx_nb.events import ToolCallStep, ToolResultStep
from luxx_nb.render.formatting import tool_title
from luxx_nb.render.markup import PRE, SCROLL, error_line, pre, tool_body

__all__ = [
    "ErrorView",
    "ToolCallView",
    "close_tree",
    "holding",
    "html_part",
    "shared_html_style",
    "shared_layout",
]

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


def shared_html_style() -> HTMLStyle:
    return _shared_widget("html-style", HTMLStyle)


def html_part(value: str) -> ipywidgets.HTML:
    """An ``HTML`` widget on the shared layout and style; ``value`` must be escaped markup."""
    return ipywidgets.HTML(value, layout=shared_layout(), style=shared_html_style())


@contextlib.contextmanager
def holding(*widgets: ipywidgets.Widget) -> Iterator[None]:
    """``hold_sync`` on several widgets at once: their changes leave as one message each."""
    with contextlib.ExitStack() as stack:
        for widget in widgets:
            stack.enter_context(widget.hold_sync())
        yield


def close_tree(widget: ipywidgets.Widget) -> None:
    """Close a widget and its descendants: the page and the kernel both let go of them."""
    for child in getattr(widget, "children", ()):
        close_tree(child)
    widget.close()


def _collapsed(title: str, text: str) -> ipywidgets.Accordion:
    body = html_part(pre(text, PRE + SCROLL))
    return ipywidgets.Accordion(
        children=(body,), titles=(title,), selected_index=None, layout=shared_layout()
    )


def _body(call: ToolCallStep | None, result: ToolResultStep | None) -> str:
    return tool_body(call, result, plain=PRE, scroll=PRE + SCROLL)


class ToolCallView(ipywidgets.Accordion):
    """One tool call, collapsed: its arguments, then its result once it arrives.

    Given both at once (a run that shows several steps per flush), every widget opens with its
    final state: three messages, and no update after them.
    """

    def __init__(
        self,
        call: ToolCallStep | None = None,
        result: ToolResultStep | None = None,
        *,
        name: str = "tool",
    ) -> None:
        self._call, self._result, self._name = call, result, name
        self.call_id = call.id if call is not None else ""
        self._traceback = self._traceback_view()
        self._html = html_part(_body(call, result))
        self._body = ipywidgets.VBox(children=self._parts(), layout=shared_layout())
        super().__init__(
            children=(self._body,),
            titles=(self._full_title(),),
            selected_index=None,
            layout=shared_layout(),
        )

    def update(
        self, call: ToolCallStep | None = None, result: ToolResultStep | None = None
    ) -> None:
        """The call, the result or both, as one message per widget that changed."""
        if call is not None:
            self._call, self.call_id = call, call.id
        if result is not None:
            self._result = result
            if self._traceback is None:
                self._traceback = self._traceback_view()
        with holding(self, self._html, self._body):
            self.titles = (self._full_title(),)  # traitlets sends only what changed
            self._html.value = _body(self._call, self._result)
            self._body.children = self._parts()

    def _full_title(self) -> str:
        return tool_title(self._call, self._result, self._name)

    def _traceback_view(self) -> ipywidgets.Accordion | None:
        result = self._result
        if result is None or result.success or not result.detail:
            return None
        return _collapsed("traceback", result.detail)

    def _parts(self) -> tuple[ipywidgets.Widget, ...]:
        return (self._html,) if self._traceback is None else (self._html, self._traceback)

    def __repr__(self) -> str:
        return f"<luxx tool call: {tool_title(self._call, None, self._name)}>"


class ErrorView(ipywidgets.VBox):
    """A failed turn: the message in view, the detail one click away."""

    def __init__(self, message: str, detail: str | None = None) -> None:
        line = html_part(error_line(message))
        children: tuple[ipywidgets.Widget, ...] = (line,)
        if detail:
            children = (line, _collapsed("details", detail))
        super().__init__(children=children, layout=shared_layout(), _dom_classes=("luxx-error",))

    def __repr__(self) -> str:
        return "<luxx error>"
