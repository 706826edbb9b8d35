"""The small parts of a run: a tool call with its result, an error, the status line.

Every string here comes from a model, a tool or a variable, and an ipywidgets ``HTML`` value
is set as innerHTML (FIELD-NOTES: ``<img onerror>`` runs), so each one is escaped before it
is placed in markup. Accordion titles are plain text in the page and need no escaping.
"""

from __future__ import annotations

from html import escape

import ipywidgets

from luxx_nb.events import ToolCallStep, ToolResultStep
from luxx_nb.render.formatting import STATE_LABELS, call_title, pretty_json, variables_note

__all__ = ["ErrorView", "ToolCallView", "status_html", "variables_note"]

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


def _pre(text: str, style: str = "") -> str:
    if len(text) > SHOWN_RESULT_CHARS:
        more = len(text) - SHOWN_RESULT_CHARS
        text = f"{text[:SHOWN_RESULT_CHARS]}\n… ({more:,} more characters not shown)"
    return f'<pre style="{_PRE}{style}">{escape(text)}</pre>'


def _collapsed(title: str, text: str) -> ipywidgets.Accordion:
    body = ipywidgets.HTML(_pre(text, _SCROLL))
    return ipywidgets.Accordion(children=(body,), titles=(title,), selected_index=None)


class ToolCallView(ipywidgets.Accordion):
    """One tool call, collapsed: its arguments, then its result once it arrives."""

    def __init__(self, call: ToolCallStep | None = None, *, name: str = "tool") -> None:
        self._arguments = ipywidgets.HTML()
        self._result = ipywidgets.HTML()
        self._body = ipywidgets.VBox(children=(self._arguments,))
        super().__init__(children=(self._body,), selected_index=None)
        self.call_id = call.id if call is not None else ""
        self._title = name
        if call is not None:
            self.set_call(call)
        else:
            self.titles = (name,)

    def set_call(self, call: ToolCallStep) -> None:
        self.call_id = call.id
        self._title = call_title(call.name, call.arguments)
        self.titles = (self._title,)
        self._arguments.value = (
            f'<div style="{_LABEL}">arguments</div>{_pre(pretty_json(call.arguments or "{}"))}'
        )

    def set_result(self, result: ToolResultStep) -> None:
        mark, color = ("✓", _OK) if result.success else ("✗", _FAIL)
        read = variables_note(result.variables)
        self.titles = (f"{mark} {self._title}" + (f" · {read}" if read else ""),)
        word = "result" if result.success else "failed"
        self._result.value = (
            f'<div style="{_LABEL}"><span style="{color}">{mark}</span> {word}</div>'
            f"{_pre(result.content, _SCROLL)}"
        )
        children: tuple[ipywidgets.Widget, ...] = (self._arguments, self._result)
        if result.output:
            printed = f'<div style="{_LABEL}">printed</div>{_pre(result.output, _SCROLL)}'
            children = (*children, ipywidgets.HTML(printed))
        if result.variables:
            names = ", ".join(result.variables)
            line = f'<div style="{_LABEL}">variables read: {escape(names)}</div>'
            children = (*children, ipywidgets.HTML(line))
        if not result.success and result.detail:
            children = (*children, _collapsed("traceback", result.detail))
        self._body.children = children

    def __repr__(self) -> str:
        return f"<luxx tool call: {self._title}>"


class ErrorView(ipywidgets.VBox):
    """A failed turn: the message in view, the detail one click away."""

    def __init__(self, message: str, detail: str | None = None) -> None:
        line = ipywidgets.HTML(
            f'<div style="{_FAIL}padding:4px 0;"><b>Error:</b> {escape(message)}</div>'
        )
        children: tuple[ipywidgets.Widget, ...] = (line,)
        if detail:
            children = (line, _collapsed("details", detail))
        super().__init__(children=children)
        self.add_class("luxx-error")

    def __repr__(self) -> str:
        return "<luxx error>"


_STATE_STYLES = {
    "done": "color:var(--jp-success-color1,#388e3c);",
    "error": "color:var(--jp-error-color1,#d32f2f);",
    "interrupted": "color:var(--jp-warn-color1,#f57c00);",
}
_LOCAL_NOTE = (
    "This answer comes from a tiny model running on this machine: expect short, simple and "
    "sometimes wrong answers."
)


def status_html(
    *,
    model: str,
    state: str,
    detail: str = "",
    elapsed: float | None = None,
    tokens: int | None = None,
    estimate: int = 0,
    final: bool = False,
    local: bool = False,
) -> str:
    """The status line: ``model · state · 3.2 s · 123 tokens`` (``~123`` while estimated)."""
    label = escape(STATE_LABELS.get(state, state))
    if detail:
        label += f" ({escape(detail)})"
    parts = [f"<b>{escape(model or 'luxx')}</b>"]
    parts.append(f'<span style="{_STATE_STYLES.get(state, "")}">{label}</span>')
    if elapsed is not None:
        parts.append(f"{elapsed:.1f} s" if final else f"{int(elapsed)} s")
    if tokens:
        parts.append(f"{tokens:,} tokens")
    elif estimate:
        parts.append(f"~{estimate:,} tokens")
    style = "font-size:12px;color:var(--jp-ui-font-color2,#616161);padding:2px 0;"
    note = f"<div><i>{_LOCAL_NOTE}</i></div>" if local else ""
    return f'<div class="luxx-status" style="{style}">{" · ".join(parts)}{note}</div>'
