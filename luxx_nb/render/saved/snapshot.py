"""The saved view: a static HTML snapshot of a run, what a notebook shows where widgets cannot.

Read from the run's state (``render/state.py``), and shaped like the live tree: the status
line, thinking and tool calls folded in ``<details>``, the answer as Markdown. It must read
well with no kernel, no JavaScript and no stylesheet of ours (GitHub strips ``<style>``), so
layout lives in ``style`` attributes with plain fallbacks for JupyterLab's theme variables,
and the one ``<style>`` block only adds code colors.

A long answer (over ``CHUNK`` characters of HTML, ``render/markup.py``, as in the live view)
goes in chunks that the page lays out only near the screen (``content-visibility: auto``):
measured in JupyterLab in Chromium (``benchmarks/page.py``, issue #18), the page laid a 1 MB
snapshot out whole in the task that showed it, 408 ms of a 782 ms task, where parsing it took
21 ms. A short answer's markup is as it was; a page that ignores the property lays the chunks
out as plain ``div`` elements.

Every string from a model, a tool or a variable is escaped (``render/markup.py``, shared
with the live view), or rendered by ``render_markdown`` (raw HTML off, then an nh3
allow-list). The snapshot has no script and no event handler; a page that shows it runs
nothing of the model's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from html import escape

from luxx_nb.events import Event, Step, Usage
from luxx_nb.render.formatting import tool_title
from luxx_nb.render.markdown import CODE_CSS, render_markdown
from luxx_nb.render.markup import (
    CHUNK,
    CHUNK_STYLE,
    FAIL,
    MUTED,
    OK,
    SAVED_PRE,
    SHOWN_CHARS,
    error_line,
    pre,
    status_html,
    tool_body,
)
from luxx_nb.render.state import Failure, Item, RunState, Text, Thinking, ToolCall

__all__ = ["SHOWN_CHARS", "SNAPSHOT_CLASS", "HtmlRenderer"]

SNAPSHOT_CLASS = "luxx-snapshot"
NO_TYPESETTING = "tex2jax_ignore mathjax_ignore"
"""MathJax's classes for "leave this alone" (2 and 3): the math is MathML already, and the
page's typesetter read any two dollars of text as a formula ("costs $5 and $10", seen in
JupyterLab). It still walks the nodes inside (traced: no faster at 1 MB)."""

_BOX = (
    "margin:4px 0;border:1px solid var(--jp-border-color1,#bdbdbd);"
    "background:var(--jp-layout-color1,#fff);"
)
_SUMMARY = (
    "cursor:pointer;padding:4px 8px;background:var(--jp-layout-color2,#eee);font-weight:600;"
    "font-size:var(--jp-ui-font-size1,13px);"
)
_THINKING_SUMMARY = f"cursor:pointer;font-style:italic;{MUTED}"
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
_CHUNK = f'<div class="luxx-chunk" style="{CHUNK_STYLE}">'
"""A chunk's first block keeps its top margin: contained, it would not collapse with the
last block's bottom margin before it, so the gap between chunks is a little wider."""


class HtmlRenderer:
    """A ``Renderer`` that keeps the run's state and gives it back as one static fragment."""

    def __init__(self) -> None:
        self.run_state = RunState()

    def start(self, *, model: str, local: bool = False) -> None:
        self.run_state.start(model=model, local=local)

    def handle(self, event: Event) -> None:
        self.run_state.apply(event)

    def finish(self, state: str, message: str | None = None, detail: str | None = None) -> None:
        self.run_state.finish(state, message, detail)

    @property
    def model(self) -> str:
        return self.run_state.model

    @property
    def local(self) -> bool:
        return self.run_state.local

    @property
    def state(self) -> str:
        return self.run_state.state

    @property
    def usage(self) -> Usage | None:
        return self.run_state.usage

    @property
    def error(self) -> str | None:
        return self.run_state.error

    @property
    def window_note(self) -> str:
        """What the requests left out of the conversation (and the tools, of their servers)."""
        return self.run_state.window

    @property
    def chars(self) -> int:
        """Characters of thinking, text and tool arguments the run has streamed so far."""
        return self.run_state.chars

    @property
    def steps(self) -> list[Step]:
        """The run's steps, each as last seen, in order."""
        return self.run_state.steps

    def html(self) -> str:
        """The whole run as sanitized, self-contained HTML with no script."""
        return "".join(self.pieces())

    def pieces(self, rendered: Mapping[int, Iterator[str]] | None = None) -> Iterator[str]:
        """``html()`` in pieces, for a writer that never holds the whole of a long answer.

        ``rendered``: the HTML a live view already made of thinking and text steps, by the
        step's index, as blocks handed over; used instead of rendering the text again, and
        let go of as it goes.
        """
        rendered = rendered or {}
        yield _STYLE
        yield f'\n<div class="{SNAPSHOT_CLASS} {NO_TYPESETTING}" style="min-width:0;">\n'
        yield self._status()
        for item in self.run_state.items:
            yield "\n"
            if not isinstance(item, (Thinking, Text)):
                yield _item_html(item)
                continue
            head, _, tail = _item_html(item, _SLOT).partition(_SLOT)
            yield head
            reused = rendered.get(item.index)
            if reused is None:
                yield render_markdown(item.step.content)
            else:
                yield from _chunked(reused)
            yield tail
        yield "\n</div>"

    def _status(self) -> str:
        run = self.run_state
        return status_html(
            model=run.model,
            state=run.state,
            elapsed=run.elapsed() if run.finished else None,
            tokens=run.tokens,
            estimate=run.estimate,
            final=True,
            local=run.local,
            window=run.window,
        )


def _chunked(blocks: Iterator[str]) -> Iterator[str]:
    """Blocks as they are when they come to under ``CHUNK`` characters, else in chunks of
    whole blocks (``_CHUNK``), each closed at the first block boundary past ``CHUNK``."""
    blocks = iter(blocks)
    held: list[str] = []
    size = 0
    for block in blocks:
        held.append(block)
        size += len(block)
        if size >= CHUNK:
            break
    else:
        yield from held
        return
    yield _CHUNK
    yield from held
    for block in blocks:
        if size >= CHUNK:
            yield "</div>" + _CHUNK
            size = 0
        yield block
        size += len(block)
    yield "</div>"


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


def _item_html(item: Item, markdown: str = "") -> str:
    """An item's HTML; ``markdown`` is a thinking or text step's rendered text."""
    if isinstance(item, Thinking):
        return _folded(
            escape(item.label),
            f'<div style="{_THINKING_BODY}">{markdown}</div>',
            kind="luxx-thinking",
            style="margin:2px 0;",
            summary_style=_THINKING_SUMMARY,
        )
    if isinstance(item, Text):
        return f'<div class="luxx-text">{markdown}</div>'
    if isinstance(item, ToolCall):
        return _call_html(item)
    assert isinstance(item, Failure)
    detail = _folded("details", pre(item.detail, SAVED_PRE)) if item.detail else ""
    return f'<div class="luxx-error">{error_line(item.message)}{detail}</div>'


def _call_html(item: ToolCall) -> str:
    call, result = item.call, item.result
    body = tool_body(call, result, plain=SAVED_PRE, scroll=SAVED_PRE)
    summary = escape(tool_title(call, result, item.name))
    if result is not None:
        if not result.success and result.detail:
            body += _folded("traceback", pre(result.detail, SAVED_PRE))
        color = OK if result.success else FAIL
        summary = f'<span style="{color}">{summary[0]}</span>{summary[1:]}'
    return _folded(summary, f'<div style="padding:4px 8px;">{body}</div>', kind="luxx-tool")
