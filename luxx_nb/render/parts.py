"""The small parts of a run: a tool call with its result, an error, the status line.

Every string here comes from a model, a tool or a variable, and an ipywidgets ``HTML`` value
is set as innerHTML (FIELD-NOTES: ``<img onerror>`` runs), so each one is escaped before it
is placed in markup. Accordion titles are plain text in the page and need no escaping.

Every widget opens with a message of its own on IOPub, and so does each default ``Layout``
and ``HTMLStyle`` it would make: these parts share one of each (``shared_layout``,
``shared_html_style``) and keep to few widgets. A tool call is three (the accordion, its
body, one HTML for arguments, result, what was printed and the variables read), plus two for
a failed call's traceback; built with its final state, it opens with no update after.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from html import escape
from typing import Any

import ipywidgets
from ipywidgets.widgets.widget_string import HTMLStyle

from luxx_nb.events import ToolCallStep, ToolResultStep
from luxx_nb.images import img_html
from luxx_nb.render.formatting import call_title, pretty_json, variables_note
from luxx_nb.render.query import query_arguments_html, query_error, query_result_html
from luxx_nb.render.status import status_html

__all__ = [
    "ErrorView",
    "ToolCallView",
    "holding",
    "html_part",
    "shared_html_style",
    "shared_layout",
    "status_html",
    "variables_note",
]

SHOWN_RESULT_CHARS = 20_000
"""Longer results are cut in the view: the page needs a preview, not a megabyte of repr."""

_PRE = (
    "margin:2px 0 6px;padding:6px 8px;white-space:pre-wrap;overflow-wrap:anywhere;"
    "font-family:var(--jp-code-font-family,monospace);font-size:var(--jp-code-font-size,13px);"
    "background:var(--jp-layout-color2,#f5f5f5);border-radius:2px;"
)
_SCROLL = "max-height:20em;overflow:auto;"
_LABEL = "font-size:12px;color:var(--jp-ui-font-color2,#616161);"
_OK = "color:var(--jp-success-color1,#388e3c);"
_FAIL = "color:var(--jp-error-color1,#d32f2f);"

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


def _pre(text: str, style: str = "") -> str:
    if len(text) > SHOWN_RESULT_CHARS:
        more = len(text) - SHOWN_RESULT_CHARS
        text = f"{text[:SHOWN_RESULT_CHARS]}\n… ({more:,} more characters not shown)"
    return f'<pre style="{_PRE}{style}">{escape(text)}</pre>'


def _collapsed(title: str, text: str) -> ipywidgets.Accordion:
    body = html_part(_pre(text, _SCROLL))
    return ipywidgets.Accordion(
        children=(body,), titles=(title,), selected_index=None, layout=shared_layout()
    )


def _call_html(call: ToolCallStep | None, result: ToolResultStep | None) -> str:
    """The body of a tool call: arguments, then the result, what it printed, what it read."""
    parts = []
    sql = call is not None and call.name == "query"
    if call is not None:
        arguments = sql and query_arguments_html(call.arguments, _PRE + _SCROLL)
        arguments = arguments or _pre(pretty_json(call.arguments or "{}"))
        parts.append(f'<div style="{_LABEL}">{"SQL" if sql else "arguments"}</div>{arguments}')
    if result is not None:
        mark, color = ("✓", _OK) if result.success else ("✗", _FAIL)
        word = "result" if result.success else "failed"
        shown = _query_result(result) if sql else None
        parts.append(
            f'<div style="{_LABEL}"><span style="{color}">{mark}</span> {word}</div>'
            f"{shown or _pre(result.content, _SCROLL)}"
        )
        if result.images:
            parts.append("".join(img_html(image) for image in result.images))
        if result.output:
            parts.append(f'<div style="{_LABEL}">printed</div>{_pre(result.output, _SCROLL)}')
        if result.variables:
            names = escape(", ".join(result.variables))
            parts.append(f'<div style="{_LABEL}">variables read: {names}</div>')
    return "".join(parts)


def _query_result(result: ToolResultStep) -> str | None:
    """A ``query`` result as a table, or its failure as DuckDB's message."""
    if result.success:
        return query_result_html(result.content)
    error = query_error(result.content)
    return None if error is None else _pre(error, _SCROLL)


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
        self._title = self._call_title()
        self._traceback = self._traceback_view()
        self._html = html_part(_call_html(call, result))
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
            self._title = self._call_title()
        if result is not None:
            self._result = result
            if self._traceback is None:
                self._traceback = self._traceback_view()
        with holding(self, self._html, self._body):
            self.titles = (self._full_title(),)  # traitlets sends only what changed
            self._html.value = _call_html(self._call, self._result)
            self._body.children = self._parts()

    def _call_title(self) -> str:
        call = self._call
        return call_title(call.name, call.arguments) if call is not None else self._name

    def _full_title(self) -> str:
        result = self._result
        if result is None:
            return self._title
        read = variables_note(result.variables)
        mark = "✓" if result.success else "✗"
        return f"{mark} {self._title}" + (f" · {read}" if read else "")

    def _traceback_view(self) -> ipywidgets.Accordion | None:
        result = self._result
        if result is None or result.success or not result.detail:
            return None
        return _collapsed("traceback", result.detail)

    def _parts(self) -> tuple[ipywidgets.Widget, ...]:
        return (self._html,) if self._traceback is None else (self._html, self._traceback)

    def __repr__(self) -> str:
        return f"<luxx tool call: {self._title}>"


class ErrorView(ipywidgets.VBox):
    """A failed turn: the message in view, the detail one click away."""

    def __init__(self, message: str, detail: str | None = None) -> None:
        line = html_part(
            f'<div style="{_FAIL}padding:4px 0;"><b>Error:</b> {escape(message)}</div>'
        )
        children: tuple[ipywidgets.Widget, ...] = (line,)
        if detail:
            children = (line, _collapsed("details", detail))
        super().__init__(children=children, layout=shared_layout(), _dom_classes=("luxx-error",))

    def __repr__(self) -> str:
        return "<luxx error>"
