"""How a row is observed and checked, in process or in a kernel: ``observe`` reads a chat's last
reply, history and variables as bounded JSON; ``Recorder`` keeps each run's widget tree and
transcript; ``check_row`` holds the promises every row keeps."""

from __future__ import annotations

import copy
import html
import io
import json
import socket
from collections.abc import Iterator, Sequence
from typing import Any

import ipywidgets
from support.faults.functions import (
    snapshot,
)
from support.faults.row import (
    KEY,
    NEXT_PROMPT,
    PROMPT,
    UNKNOWN_HOST,
    Fault,
)

from luxx_nb import Chat
from luxx_nb.render import RunWidget, TextRenderer


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_url_for(row: Fault, server_url: str) -> str:
    if row.target == "refused":
        return f"http://127.0.0.1:{closed_port()}/v1"
    if row.target == "unknown-host":
        return UNKNOWN_HOST
    return server_url


HEAD = 2_000


def _cut_text(text: str) -> dict[str, Any]:
    return {"head": text[:HEAD], "tail": text[-HEAD:], "length": len(text)}


def observe(chat: Chat, names: Sequence[str] = (), before: dict[str, str] | None = None) -> dict:
    """The last reply, the history and the named variables, as JSON-safe data (bounded)."""
    reply = chat.last_reply
    assert reply is not None
    steps = []
    for step in reply.steps:
        record = step.to_dict()
        if step.type == "tool_call":
            record["arguments_length"] = len(record["arguments"])
            record["arguments"] = record["arguments"][:HEAD]
        if step.type == "tool_result":
            record.update(
                detail=step.detail or "",
                output=step.output,
                variables=list(step.variables),
            )
        if "content" in record:
            record["content"] = record["content"][: HEAD * 20]
        steps.append(record)
    history = []
    for message in chat.history:
        item = copy.deepcopy({k: v for k, v in message.items() if k != "content"})
        content = message.get("content") or ""
        item["content"], item["content_length"] = content[:HEAD], len(content)
        for call in item.get("tool_calls") or ():
            call["function"]["arguments"] = call["function"]["arguments"][:HEAD]
        history.append(item)
    ns = chat._namespace or {}
    text = _cut_text(reply.text)
    return {
        "state": reply.state,
        "error": reply.error,
        "error_detail": reply.error_detail or "",
        "text": text["head"],
        "text_tail": text["tail"],
        "text_length": text["length"],
        "steps": steps,
        "history": history,
        "variables": snapshot(dict(ns), names),
        "variables_before": before or {},
    }


class _Both:
    """A RunWidget and a plain-text transcript of one run, as the inline view has them."""

    def __init__(self, model: str, local: bool) -> None:
        self.widget = RunWidget(model=model, local=local)
        self.transcript = io.StringIO()
        self.text = TextRenderer(self.transcript, color=False)

    def start(self, **kwargs: Any) -> None:
        self.widget.start(**kwargs)
        self.text.start(**kwargs)

    def handle(self, event: Any) -> None:
        self.widget.handle(event)
        self.text.handle(event)

    def finish(self, *args: Any) -> None:
        self.widget.finish(*args)
        self.text.finish(*args)


class Recorder:
    """A view for ``Chat.add_view``: keeps each run's widget tree and transcript."""

    def __init__(self) -> None:
        self.runs: list[_Both] = []

    def open_run(self, *, model: str, local: bool = False) -> _Both:
        self.runs.append(_Both(model, local))
        return self.runs[-1]


def walk(widget: ipywidgets.Widget, hidden: bool = False) -> Iterator[tuple[Any, bool]]:
    """Every widget state in the tree, and whether a person must click to see it."""
    state = widget.get_state()
    yield state, hidden
    collapsed = isinstance(widget, ipywidgets.Accordion) and widget.selected_index is None
    for child in getattr(widget, "children", ()):
        yield from walk(child, hidden or collapsed)


def texts_of(state: dict[str, Any]) -> list[str]:
    """The text a person reads in one widget state: HTML values and titles, unescaped."""
    values = [state.get(k) for k in ("value", "html")] + list(state.get("titles") or ())
    return [html.unescape(v) for v in values if isinstance(v, str)]


def seen_and_hidden(run: _Both) -> tuple[str, str]:
    """What is in view, and what is one click away, of one run's tree plus its transcript."""
    seen, hidden = [run.transcript.getvalue()], []
    for state, is_hidden in walk(run.widget):
        (hidden if is_hidden else seen).extend(texts_of(state))
    return "\n".join(seen), "\n".join(hidden)


def check_row(row: Fault, observed: dict[str, Any], seen: str, hidden: str) -> None:
    """The promises every row keeps, on one observation (in process or in the kernel)."""
    assert observed["state"] == row.outcome, (observed["state"], observed["error"])
    assert row.expect in seen + hidden, (row.expect, seen[:3000])
    if row.outcome == "error":
        error = observed["error"]
        assert row.expect in error and row.expect in seen, (row.expect, error)
        assert "Traceback" not in error and len(error) < 400
        if row.detail:
            assert row.detail in observed["error_detail"] and row.detail in hidden
    assert "Traceback" not in seen, seen[-3000:]
    assert KEY not in seen + hidden + json.dumps(observed)
    history = observed["history"]
    first = history[len(row.earlier_messages())]
    assert first == {"role": "user", "content": PROMPT, "content_length": len(PROMPT)}
    if row.partial:
        assert observed["text"].startswith(row.partial), observed["text"]
        last = [m for m in history if m["role"] == "assistant"][-1]
        assert last["content"].startswith(row.partial)
    check_history_is_valid(history)
    if row.verify is not None:
        row.verify(observed)


def check_history_is_valid(history: list[dict[str, Any]]) -> None:
    """Every tool call has exactly one result right after its assistant message."""
    for at, message in enumerate(history):
        ids = [call["id"] for call in message.get("tool_calls") or ()]
        if ids:
            results = history[at + 1 : at + 1 + len(ids)]
            assert sorted(m.get("tool_call_id") for m in results) == sorted(ids), history


def check_next_request(row: Fault, sent: list[dict[str, Any]]) -> None:
    """The next request carries the row's prompt (windowed from it, after a long history)."""
    assert sent[-1] == {"role": "user", "content": NEXT_PROMPT}
    if row.earlier is None:
        assert sent[0] == {"role": "user", "content": PROMPT}
    else:
        assert sent[0]["role"] == "user" and {"role": "user", "content": PROMPT} in sent
    check_history_is_valid(sent)
