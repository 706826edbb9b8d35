"""A real Jupyter kernel driven over ZMQ for tests, and what a person would see of its cells.

``Kernel`` runs cells and keeps each one's IOPub messages (``Cell``); the widget states and the
transcript a run publishes are read back from them, and ``snapshot_texts`` splits a saved
snapshot's text into what is in view and what is folded away. ``kernel_env`` is the
environment a test kernel gets: no provider settings, and ``tests/`` on ``PYTHONPATH`` so the
kernel can import ``support`` as the tests do.
"""

from __future__ import annotations

import json
import os
import queue
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import zmq
from jupyter_client import KernelManager
from support.ci import PROVIDER_ENV
from support.faults.checks import texts_of

__all__ = ["Cell", "Kernel", "kernel_env", "snapshot_texts"]

TESTS = Path(__file__).resolve().parents[1]
VIEW = "application/vnd.jupyter.widget-view+json"


@dataclass
class Cell:
    """One executed cell: its IOPub messages (in order) and its shell reply."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    reply: dict[str, Any] = field(default_factory=dict)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m["content"] for m in self.messages if m["msg_type"] == kind]

    @property
    def stdout(self) -> str:
        return "".join(c["text"] for c in self.of("stream") if c["name"] == "stdout")

    @property
    def streams(self) -> str:
        return "".join(c["text"] for c in self.of("stream"))

    @property
    def roots(self) -> list[str]:
        """Model ids of the widgets this cell displayed."""
        bundles = [c["data"] for c in self.of("display_data") + self.of("update_display_data")]
        return list(dict.fromkeys(b[VIEW]["model_id"] for b in bundles if VIEW in b))

    @property
    def snapshot(self) -> str:
        """The static HTML that replaces the widgets when the run ends ("" if none)."""
        updates = [c["data"].get("text/html", "") for c in self.of("update_display_data")]
        return updates[-1] if updates else ""

    @property
    def transcript(self) -> str:
        """The plain-text transcript the run publishes beside its widget when it ends."""
        updates = [c["data"].get("text/plain", "") for c in self.of("update_display_data")]
        return updates[-1] if updates else ""


class Kernel:
    """A kernel driven with jupyter_client, remembering every IOPub message and widget state."""

    def __init__(self, env: dict[str, str], **popen: Any) -> None:
        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(env=env, **popen)
        context = zmq.Context()
        context.setsockopt(zmq.RCVHWM, 0)  # FIELD-NOTES: the default limit drops floods
        self.kc = self.km.client(context=context)
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.messages: list[dict[str, Any]] = []
        self.states: dict[str, dict[str, Any]] = {}

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)

    def start(self, code: str) -> str:
        return self.kc.execute(code, allow_stdin=False)

    def finish(self, msg_id: str, timeout: float = 120) -> Cell:
        """Read IOPub until this cell is idle, then its shell reply."""
        cell, deadline = Cell(), time.monotonic() + timeout
        while True:
            try:
                msg = self.kc.get_iopub_msg(timeout=max(deadline - time.monotonic(), 0.1))
            except queue.Empty as exc:
                raise AssertionError(f"no idle after {timeout} s") from exc
            self._remember(msg)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status":
                if msg["content"]["execution_state"] == "idle":
                    break
                continue
            cell.messages.append(msg)
        while True:
            reply = self.kc.get_shell_msg(timeout=max(deadline - time.monotonic(), 0.1))
            if reply["parent_header"].get("msg_id") == msg_id:
                cell.reply = reply["content"]
                return cell

    def run(self, code: str, timeout: float = 120, *, ok: bool = True) -> Cell:
        cell = self.finish(self.start(code), timeout)
        if ok:
            assert cell.reply["status"] == "ok", (cell.reply, cell.streams)
        return cell

    def value(self, expression: str) -> Any:
        """Evaluate in the kernel; the value comes back as JSON on stdout."""
        cell = self.run(f"import json as _json\nprint(_json.dumps({expression}))")
        return json.loads(cell.stdout)

    def _remember(self, msg: dict[str, Any]) -> None:
        self.messages.append(msg)
        content = msg["content"]
        if msg["msg_type"] == "comm_open":
            self.states[content["comm_id"]] = dict(content["data"].get("state", {}))
        elif msg["msg_type"] == "comm_msg" and content["data"].get("method") == "update":
            self.states.setdefault(content["comm_id"], {}).update(content["data"]["state"])

    def seen_and_hidden(self, cell: Cell) -> tuple[str, str]:
        """Text in view and text one click away, for the widgets this cell displayed."""
        seen, hidden = [cell.transcript], []

        def walk(model_id: str, is_hidden: bool) -> None:
            state = self.states.get(model_id, {})
            (hidden if is_hidden else seen).extend(texts_of(state))
            collapsed = state.get("_model_name") == "AccordionModel" and (
                state.get("selected_index") is None
            )
            for child in state.get("children") or ():
                walk(child.removeprefix("IPY_MODEL_"), is_hidden or collapsed)

        for root in cell.roots:
            walk(root, False)
        return "\n".join(seen), "\n".join(hidden)


class _Folds(HTMLParser):
    """Text of an HTML snapshot, split into what is in view and what a closed <details> hides
    (its <summary> stays in view)."""

    VOID = frozenset({"br", "hr", "img", "input", "meta", "link", "wbr", "col", "area", "base"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool, bool]] = [("", False, False)]  # tag, hidden, closed
        self.seen: list[str] = []
        self.hidden: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        parent, hidden, closed = self.stack[-1]
        hidden = hidden or (parent == "details" and closed and tag != "summary")
        self.stack.append((tag, hidden, tag == "details" and "open" not in dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        while len(self.stack) > 1:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        tag, hidden, closed = self.stack[-1]
        (self.hidden if hidden or (tag == "details" and closed) else self.seen).append(data)


def snapshot_texts(markup: str) -> tuple[str, str]:
    parser = _Folds()
    parser.feed(markup)
    parser.close()
    return " ".join(parser.seen), " ".join(parser.hidden)


def kernel_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PROVIDER_ENV}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
    return {**env, **extra}
