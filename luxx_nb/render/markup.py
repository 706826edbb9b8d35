"""The escaped markup the live view and the saved snapshot share, so they cannot drift apart.

The status line (``model · state · 3.2 s · 123 tokens``, then the notes that stay for the
whole run: what the request left out of the conversation to fit the model's context, and
that a tiny local model answered), a tool call's body (arguments, result, images, what it
printed, the variables it read), an error's line, a ``<pre>`` cut to a preview, and the
styles they use. Every string here comes from a model, a tool or a variable, and an
ipywidgets ``HTML`` value is set as innerHTML (FIELD-NOTES: ``<img onerror>`` runs), so each
one is escaped before it is placed in markup. Styles live in ``style`` attributes with plain
fallbacks for JupyterLab's theme variables: a saved notebook has no stylesheet of ours.
"""

from __future__ import annotations

from html import escape

from luxx_nb.events import ToolCallStep, ToolResultStep
from luxx_nb.images import img_html
from luxx_nb.render.code import code_arguments_html, display_html
from luxx_nb.render.formatting import STATE_LABELS, pretty_json
from luxx_nb.render.query import query_arguments_html, query_error, query_result_html

__all__ = [
    "CHUNK",
    "CHUNK_STYLE",
    "FAIL",
    "LABEL",
    "LOCAL_NOTE",
    "MUTED",
    "OK",
    "PRE",
    "SAVED_PRE",
    "SCROLL",
    "SHOWN_CHARS",
    "WARN",
    "arguments_html",
    "error_line",
    "pre",
    "status_html",
    "tool_body",
]

SHOWN_CHARS = 20_000
"""Longer tool output is cut, live and saved: the page needs a preview, not a megabyte of repr."""

CHUNK = 65_536
"""Characters of HTML in a chunk of a long answer, live and saved: final blocks go in chunks
of whole blocks the page lays out only near the screen (``CHUNK_STYLE``). The browser checks
every such chunk against the screen in each frame that changes layout; measured in JupyterLab
in Chromium (``benchmarks/page.py``, #18), a 10 MB answer in chunks of 16 KB made about 600 of
them, that check took 5 to 28 ms of a frame, and the longest task while it streamed was 214 to
285 ms (4 runs); in chunks of 64 KB it was 95 to 129 ms in 5 runs of 6 (218 in one), and
the page was busy a median 82 s against 100 s.
The page's stream view (``frontend/stream.js``) names the same size."""
CHUNK_STYLE = "content-visibility:auto;contain-intrinsic-size:auto 12000px;"
"""A chunk, laid out only near the screen; until it has been, it stands in at about the height
of a chunk (64 KB of prose is 13,500 to 14,000 px tall at 900 px wide, measured in Chromium),
so the scroll bar of a saved answer tells its length."""

MUTED = "color:var(--jp-ui-font-color2,#616161);"
OK = "color:var(--jp-success-color1,#388e3c);"
FAIL = "color:var(--jp-error-color1,#d32f2f);"
WARN = "color:var(--jp-warn-color1,#f57c00);"
LABEL = f"font-size:12px;{MUTED}"
SCROLL = "max-height:20em;overflow:auto;"
PRE = (
    "margin:2px 0 6px;padding:6px 8px;white-space:pre-wrap;overflow-wrap:anywhere;"
    "font-family:var(--jp-code-font-family,monospace);font-size:var(--jp-code-font-size,13px);"
    "background:var(--jp-layout-color2,#f5f5f5);border-radius:2px;"
)
"""A live ``<pre>``: a tool call's arguments; its other parts add ``SCROLL``."""
SAVED_PRE = (
    "margin:2px 0 6px;padding:6px 8px;white-space:pre-wrap;overflow-wrap:anywhere;"
    "max-height:20em;overflow:auto;font-family:var(--jp-code-font-family,monospace);"
    "font-size:var(--jp-code-font-size,13px);background:var(--jp-layout-color2,#f5f5f5);"
    "border-radius:2px;"
)
"""A saved ``<pre>``: the same look, every one scrolled (the snapshot's markup since #5)."""

_STATE_STYLES = {
    "done": OK,
    "error": FAIL,
    "interrupted": WARN,
    "stopped": WARN,
    "awaiting_approval": WARN,
}
_STATUS = f"font-size:12px;{MUTED}padding:2px 0;"
LOCAL_NOTE = (
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
    window: str = "",
    hint: str = "",
) -> str:
    """The status line (``~123`` tokens while estimated); ``window``: what was left out;
    ``hint``: a note while the run runs (how to stop it where no button can)."""
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
    notes = f'<div class="luxx-window">{escape(window)}</div>' if window else ""
    notes += f"<div><i>{LOCAL_NOTE}</i></div>" if local else ""
    notes += f'<div class="luxx-hint">{escape(hint)}</div>' if hint and not final else ""
    return f'<div class="luxx-status" style="{_STATUS}">{" · ".join(parts)}{notes}</div>'


def pre(text: str, style: str) -> str:
    """``text`` escaped in a ``<pre>``, cut to ``SHOWN_CHARS`` with a note of what was cut."""
    if len(text) > SHOWN_CHARS:
        more = len(text) - SHOWN_CHARS
        text = f"{text[:SHOWN_CHARS]}\n… ({more:,} more characters not shown)"
    return f'<pre style="{style}">{escape(text)}</pre>'


def error_line(message: str) -> str:
    """A failed turn's message, in view."""
    return f'<div style="{FAIL}padding:4px 0;"><b>Error:</b> {escape(message)}</div>'


def tool_body(
    call: ToolCallStep | None, result: ToolResultStep | None, *, plain: str, scroll: str
) -> str:
    """A tool call's body: arguments, then the result, its images, what it printed, what it
    read. ``plain`` styles the arguments' ``<pre>``, ``scroll`` the others (and a query's)."""
    parts = []
    sql = call is not None and call.name == "query"
    if call is not None:
        label, arguments = arguments_html(call.name, call.arguments, plain=plain, scroll=scroll)
        parts.append(f'<div style="{LABEL}">{label}</div>{arguments}')
    if result is not None:
        mark, color = ("✓", OK) if result.success else ("✗", FAIL)
        word = "result" if result.success else "failed"
        shown = _query_result(result, scroll) if sql else None
        parts.append(
            f'<div style="{LABEL}"><span style="{color}">{mark}</span> {word}</div>'
            f"{shown or pre(result.content, scroll)}"
        )
        if result.images:
            parts.append("".join(img_html(image) for image in result.images))
        if result.html:
            parts.append("".join(display_html(fragment) for fragment in result.html))
        if result.output:
            parts.append(f'<div style="{LABEL}">printed</div>{pre(result.output, scroll)}')
        if result.variables:
            names = escape(", ".join(result.variables))
            parts.append(f'<div style="{LABEL}">variables read: {names}</div>')
        if result.decision:  # a call that asked first: who decided
            color = OK if result.decision.startswith("approved") else FAIL
            parts.append(
                f'<div style="{LABEL}" class="luxx-decision">'
                f'<span style="{color}">{escape(result.decision)}</span></div>'
            )
    return "".join(parts)


def arguments_html(name: str, arguments: str, *, plain: str, scroll: str) -> tuple[str, str]:
    """A call's arguments as its label and markup: a ``query``'s SQL and a ``run_python``'s
    code highlighted, any other tool's JSON pretty-printed."""
    if name == "query" and (sql := query_arguments_html(arguments, scroll)):
        return "SQL", sql
    if name == "run_python" and (code := code_arguments_html(arguments, scroll)):
        return "code", code
    return "arguments", pre(pretty_json(arguments or "{}"), plain)


def _query_result(result: ToolResultStep, style: str) -> str | None:
    """A ``query`` result as a table, or its failure as DuckDB's message."""
    if result.success:
        return query_result_html(result.content)
    error = query_error(result.content)
    return None if error is None else pre(error, style)
