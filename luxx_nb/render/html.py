"""A static HTML snapshot of a run: what a saved notebook shows where widgets cannot render.

Built from the same events as the widget tree, and shaped like it: the status line, thinking
and tool calls folded in ``<details>``, the answer as Markdown. It must read well with no
kernel, no JavaScript and no stylesheet of ours (GitHub strips ``<style>``), so layout lives
in ``style`` attributes with plain fallbacks for JupyterLab's theme variables, and the one
``<style>`` block only adds code colors.

Every string from a model, a tool or a variable is escaped, or rendered by
``render_markdown`` (raw HTML off, then an nh3 allow-list). The snapshot has no script and
no event handler; a page that shows it runs nothing of the model's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html import escape

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
from luxx_nb.images import img_html
from luxx_nb.render.formatting import (
    call_title,
    pretty_json,
    thought_label,
    variables_note,
)
from luxx_nb.render.markdown import CODE_CSS, render_markdown
from luxx_nb.render.query import query_arguments_html, query_error, query_result_html
from luxx_nb.render.status import status_html

__all__ = ["SNAPSHOT_CLASS", "HtmlRenderer"]

SNAPSHOT_CLASS = "luxx-snapshot"
SHOWN_CHARS = 20_000
"""Longer tool output is cut, as in the widget: a saved notebook needs a preview, not a dump."""

_MUTED = "color:var(--jp-ui-font-color2,#616161);"
_OK = "color:var(--jp-success-color1,#388e3c);"
_FAIL = "color:var(--jp-error-color1,#d32f2f);"
_WARN = "color:var(--jp-warn-color1,#f57c00);"
_PRE = (
    "margin:2px 0 6px;padding:6px 8px;white-space:pre-wrap;overflow-wrap:anywhere;"
    "max-height:20em;overflow:auto;font-family:var(--jp-code-font-family,monospace);"
    "font-size:var(--jp-code-font-size,13px);background:var(--jp-layout-color2,#f5f5f5);"
    "border-radius:2px;"
)
_LABEL = f"font-size:12px;{_MUTED}"
_BOX = (
    "margin:4px 0;border:1px solid var(--jp-border-color1,#bdbdbd);"
    "background:var(--jp-layout-color1,#fff);"
)
_SUMMARY = (
    "cursor:pointer;padding:4px 8px;background:var(--jp-layout-color2,#eee);font-weight:600;"
    "font-size:var(--jp-ui-font-size1,13px);"
)
_THINKING_SUMMARY = f"cursor:pointer;font-style:italic;{_MUTED}"
_THINKING_BODY = (
    "color:var(--jp-content-font-color2,#555);border-left:3px solid var(--jp-border-color2,#ddd);"
    "margin:4px 0 4px 2px;padding-left:10px;"
)
_STYLE = (
    "<style>\n"
    + CODE_CSS
    + f".{SNAPSHOT_CLASS} pre.luxx-code {{ padding: 6px 8px; overflow-x: auto; "
    "background: var(--jp-cell-editor-background, #f7f7f7); }\n"
    "</style>"
)


@dataclass
class _Thinking:
    step: ThinkingStep
    since: float
    seconds: float | None = None


@dataclass
class _Text:
    step: TextStep


@dataclass
class _Call:
    call: ToolCallStep | None
    name: str
    result: ToolResultStep | None = None


@dataclass
class _Error:
    message: str
    detail: str | None = None


_Item = _Thinking | _Text | _Call | _Error


@dataclass
class _Run:
    """What the snapshot shows, in the order the page first showed it."""

    items: list[_Item] = field(default_factory=list)
    growing: dict[int, _Thinking | _Text] = field(default_factory=dict)
    calls: dict[str, _Call] = field(default_factory=dict)
    steps: dict[int, Step] = field(default_factory=dict)


class HtmlRenderer:
    """A ``Renderer`` that keeps the run and gives it back as one static HTML fragment."""

    def __init__(self, *, rendered: Callable[[int], Iterator[str] | None] | None = None) -> None:
        """``rendered``: the HTML a live view already made of a thinking or text step, by the
        step's index, as blocks handed over (None where it has none), reused instead of
        rendering the text again."""
        self.window_note = ""  # what the requests left out of the conversation
        self._notices = ""  # what the run left out of its tools (MCP), before any window note
        self._rendered = rendered
        self.model = ""
        self.local = False
        self.state = "idle"
        self.usage: Usage | None = None
        self.error: str | None = None
        self._tokens: int | None = None
        self._chars = 0
        self._started: float | None = None
        self._elapsed: float | None = None
        self._run = _Run()

    def start(self, *, model: str, local: bool = False) -> None:
        self.model, self.local = model, local
        self.state, self._started = "connecting", time.monotonic()
        self.window_note = self._notices = ""

    def handle(self, event: Event) -> None:
        if isinstance(event, StepEvent):
            self._on_step(event.step, event.delta)
        elif isinstance(event, ErrorEvent):
            self._run.items.append(_Error(event.message, event.detail))
            self.error = event.message
        elif isinstance(event, DoneEvent):
            self.usage = event.usage
            usage = event.usage
            self._tokens = usage.completion_tokens or usage.total_tokens or event.token_count
        elif isinstance(event, StatusEvent) and event.state == "window":
            self.window_note = _joined(self._notices, event.detail)  # stays for the run
        elif isinstance(event, StatusEvent) and event.state == "notice":
            self._notices = _joined(self._notices, event.detail)  # an MCP server left out
            self.window_note = _joined(self.window_note, event.detail)
        elif isinstance(event, StatusEvent):
            self.state = event.state

    def finish(self, state: str, message: str | None = None, detail: str | None = None) -> None:
        if state == "error" and message and self.error is None:
            self._run.items.append(_Error(message, detail))
            self.error = message
        self._fold_thinking()
        self.state = state
        if self._started is not None:
            self._elapsed = time.monotonic() - self._started

    @property
    def chars(self) -> int:
        """Characters of thinking, text and tool arguments the run has streamed so far."""
        return self._chars

    @property
    def steps(self) -> list[Step]:
        """The run's steps, each as last seen, in order."""
        return [step for _, step in sorted(self._run.steps.items())]

    def html(self) -> str:
        """The whole run as sanitized, self-contained HTML with no script."""
        return "".join(self.pieces())

    def pieces(self) -> Iterator[str]:
        """``html()`` in pieces, for a writer that never holds the whole of a long answer.

        Call once: HTML reused from a live view is handed over, and let go of as it goes.
        """
        yield _STYLE
        yield f'\n<div class="{SNAPSHOT_CLASS}" style="min-width:0;">\n'
        yield self._status()
        for item in self._run.items:
            yield "\n"
            if not isinstance(item, (_Thinking, _Text)):
                yield _item_html(item)
                continue
            head, _, tail = _item_html(item, _SLOT).partition(_SLOT)
            yield head
            yield from self._markdown(item)
            yield tail
        yield "\n</div>"

    def _markdown(self, item: _Thinking | _Text) -> Iterator[str]:
        reused = self._rendered(item.step.index) if self._rendered is not None else None
        if reused is None:
            yield render_markdown(item.step.content)
            return
        yield from reused

    def _on_step(self, step: Step, delta: str) -> None:
        """Keep the latest snapshot of each step; read no content here, so a run stays linear."""
        run = self._run
        run.steps[step.index] = step
        if isinstance(step, (ThinkingStep, TextStep)):
            item = run.growing.get(step.index)
            if item is None:
                if isinstance(step, TextStep):
                    self._fold_thinking()
                item = (
                    _Thinking(step, time.monotonic())
                    if isinstance(step, ThinkingStep)
                    else _Text(step)
                )
                run.items.append(item)
                run.growing[step.index] = item
            item.step = step  # type: ignore[assignment]
            self._chars += len(delta)
        elif isinstance(step, ToolCallStep):
            self._fold_thinking()
            call = run.calls.get(step.id)
            if call is None:
                call = run.calls[step.id] = _Call(step, step.name)
                run.items.append(call)
                self._chars += len(step.arguments)
            call.call, call.name = step, step.name
        elif isinstance(step, ToolResultStep):
            call = run.calls.get(step.id_ref)
            if call is None:
                call = _Call(None, step.name)
                run.items.append(call)
            call.result = step

    def _fold_thinking(self) -> None:
        now = time.monotonic()
        for item in self._run.items:
            if isinstance(item, _Thinking) and item.seconds is None:
                item.seconds = now - item.since

    def _status(self) -> str:
        return status_html(
            model=self.model,
            state=self.state,
            elapsed=self._elapsed,
            tokens=self._tokens,
            estimate=self._chars // 4,
            final=True,
            local=self.local,
            window=self.window_note,
        )


def _pre(text: str) -> str:
    if len(text) > SHOWN_CHARS:
        more = len(text) - SHOWN_CHARS
        text = f"{text[:SHOWN_CHARS]}\n… ({more:,} more characters not shown)"
    return f'<pre style="{_PRE}">{escape(text)}</pre>'


def _folded(
    summary: str, body: str, *, kind: str = "", style: str = _BOX, summary_style: str = _SUMMARY
) -> str:
    """Closed ``<details>``: one click opens it, in any page, with no script."""
    css_class = f' class="{kind}"' if kind else ""
    return (
        f'<details{css_class} style="{style}"><summary style="{summary_style}">{summary}</summary>'
        f"{body}</details>"
    )


_SLOT = "\0"
"""Where a thinking or text item's rendered Markdown goes (escaped text never holds a NUL)."""


def _item_html(item: _Item, markdown: str = "") -> str:
    """An item's HTML; ``markdown`` is a thinking or text step's rendered text."""
    if isinstance(item, _Thinking):
        label = thought_label(item.seconds) if item.seconds is not None else "Thinking…"
        return _folded(
            escape(label),
            f'<div style="{_THINKING_BODY}">{markdown}</div>',
            kind="luxx-thinking",
            style="margin:2px 0;",
            summary_style=_THINKING_SUMMARY,
        )
    if isinstance(item, _Text):
        return f'<div class="luxx-text">{markdown}</div>'
    if isinstance(item, _Call):
        return _call_html(item)
    line = f'<div style="{_FAIL}padding:4px 0;"><b>Error:</b> {escape(item.message)}</div>'
    detail = _folded("details", _pre(item.detail)) if item.detail else ""
    return f'<div class="luxx-error">{line}{detail}</div>'


def _query_result(result: ToolResultStep) -> str | None:
    """A ``query`` result as a table, or its failure as DuckDB's message."""
    if result.success:
        return query_result_html(result.content)
    error = query_error(result.content)
    return None if error is None else _pre(error)


def _call_html(item: _Call) -> str:
    call, result = item.call, item.result
    title = call_title(call.name, call.arguments) if call is not None else item.name
    body = ""
    sql = call is not None and call.name == "query"
    if call is not None:
        arguments = sql and query_arguments_html(call.arguments, _PRE)
        arguments = arguments or _pre(pretty_json(call.arguments or "{}"))
        body += f'<div style="{_LABEL}">{"SQL" if sql else "arguments"}</div>{arguments}'
    if result is not None:
        mark, color, word = ("✓", _OK, "result") if result.success else ("✗", _FAIL, "failed")
        title = f"{mark} {title}"
        shown = _query_result(result) if sql else None
        body += (
            f'<div style="{_LABEL}"><span style="{color}">{mark}</span> {word}</div>'
            f"{shown or _pre(result.content)}"
        )
        if result.images:
            body += "".join(img_html(image) for image in result.images)
        if result.output:
            body += f'<div style="{_LABEL}">printed</div>{_pre(result.output)}'
        if result.variables:
            names = escape(", ".join(result.variables))
            body += f'<div style="{_LABEL}">variables read: {names}</div>'
            title += f" · {variables_note(result.variables)}"
        if not result.success and result.detail:
            body += _folded("traceback", _pre(result.detail))
    summary = escape(title)
    if result is not None:
        color = _OK if result.success else _FAIL
        summary = f'<span style="{color}">{summary[0]}</span>{summary[1:]}'
    return _folded(summary, f'<div style="padding:4px 8px;">{body}</div>', kind="luxx-tool")


def _joined(first: str, second: str) -> str:
    return f"{first} {second}".strip()
