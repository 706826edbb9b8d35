"""The notebook as the magics read it, and a conversation as text.

``interpolate`` fills a prompt's ``{name}``, ``{error}``, ``{In[n]}`` and ``{Out[n]}`` fields
(hiding what the tools hide); ``find_notebook`` finds the kernel's own notebook file for
``%luxx resume``; ``format_history`` and ``last_answer`` are ``%luxx history`` and the answer
``%luxx code`` reads. No IPython import: the shell is passed in.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .history import NO_ERROR, NotebookHistory
from .namespace import NamespaceView
from .window import Window, exchanges

__all__ = [
    "cell_label",
    "find_notebook",
    "format_history",
    "interpolate",
    "last_answer",
    "last_error",
]

_FIELD = re.compile(r"\{\{|\}\}|\{(In|Out)\[(\d{1,9})\]\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def interpolate(
    prompt: str,
    namespace: dict[str, Any],
    hidden: tuple[str, ...] = (),
    history: NotebookHistory | None = None,
) -> str:
    """Replace ``{name}`` by that variable's value; ``{{``/``}}`` are braces; unknown names stay.

    Names the variable tools would hide (private, secret-looking) stay as written, so a key
    cannot reach the model by a slip in a prompt. With ``history``, ``{error}`` is the last
    exception (or a note that there was none), ``{In[n]}`` and ``{Out[n]}`` cell n's code and
    result, with what the tools hide left out; a cell that does not exist stays as written.
    """
    visible = NamespaceView(namespace, deny=hidden)

    def replace(match: re.Match[str]) -> str:
        kind, number, name = match.groups()
        if kind is not None:
            if history is None:
                return match.group(0)
            found = history.input(int(number)) if kind == "In" else history.output(int(number))
            return match.group(0) if found is None else found
        if name is None:
            return match.group(0)[0]
        if name == "error" and history is not None:
            return history.error() or NO_ERROR
        return str(visible[name]) if name in visible else match.group(0)

    return _FIELD.sub(replace, prompt)


def find_notebook(path: str | None = None) -> Path:
    """The notebook named, else this kernel's own (jupyter_server sets ``JPY_SESSION_NAME``)."""
    if path:
        found = Path(path).expanduser()
        if not found.is_file():
            raise ValueError(f"No notebook at {found}.")
        return found
    session = os.environ.get("JPY_SESSION_NAME")
    if not session:
        raise ValueError(
            "This kernel does not know its notebook (no JPY_SESSION_NAME): "
            "name it, as in %luxx resume analysis.ipynb"
        )
    for candidate in (Path(session), Path.cwd() / Path(session).name):
        if candidate.is_file():
            return candidate
    raise ValueError(f"The notebook {session} is not on disk yet: save it, then resume.")


def last_error() -> BaseException | None:
    """The last exception IPython showed: it keeps it in ``sys.last_value`` (IPython 8 and 9;
    IPython 9 on Python 3.12+ also sets ``sys.last_exc``, the newer name for it)."""
    for name in ("last_value", "last_exc"):
        error = getattr(sys, name, None)
        if isinstance(error, BaseException):
            return error
    return None


def cell_label(shell: Any) -> Any:
    """How IPython names a cell's file in a traceback ("Cell In[3]"), or None for other files."""
    name_of = getattr(getattr(shell, "compile", None), "format_code_name", None)

    def label(filename: str) -> str | None:
        try:
            found = name_of(filename) if name_of is not None else None
        except Exception:
            return None
        return " ".join(found) if found else None

    return label


def last_answer(messages: list[dict[str, Any]]) -> str | None:
    """The text of the last assistant message that has one."""
    for message in reversed(messages):
        content = message.get("content")
        if message.get("role") == "assistant" and isinstance(content, str) and content.strip():
            return content
    return None


def format_history(messages: list[dict[str, Any]], window: Window | None = None) -> str:
    """The conversation as plain text, one block per message.

    With the last request's ``window``, the exchanges it left out are marked, so a person sees
    what the model was not sent (the history itself keeps everything).
    """
    if not messages:
        return "(no messages yet)"
    left_out = 0
    head = []
    if window is not None and window.left_out:
        left_out = window.total - window.sent
        head.append(f"(the last request {window.note()}; marked below: not sent)")
    blocks = list(head)
    for number, exchange in enumerate(exchanges(messages)):
        mark = " (not sent)" if number < left_out else ""
        for message in exchange:
            blocks.append(_format_message(message, mark))
    return "\n\n".join(blocks)


def _format_message(message: Mapping[str, Any], mark: str) -> str:
    role = message.get("role", "?")
    content = message.get("content") or ""
    if role == "tool":
        return f"[tool result {message.get('tool_call_id', '')}]{mark}\n{content}"
    calls = [
        f"-> {c['function']['name']}({c['function']['arguments']})"
        for c in message.get("tool_calls") or ()
    ]
    return "\n".join([f"[{role}]{mark}", content, *calls]).strip()
