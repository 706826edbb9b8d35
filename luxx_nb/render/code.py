"""How a ``run_python`` call shows: its code highlighted, and what the code displayed, sanitized.

Shared by the live views (the tool call, the approval card) and the saved snapshot through
``markup.py``. The code is the model's and the displays come from the notebook's objects, so
the code is escaped by pygments (``highlight_spans``) and each display goes through the same
allow-list as the Markdown (``sanitize_html``): a DataFrame's table keeps its rows and cells,
and a script, a style or an event handler in a repr is gone.
"""

from __future__ import annotations

import json

from luxx_nb.render.markdown import highlight_spans, sanitize_html

__all__ = ["code_arguments_html", "display_html"]

_WRAP = "max-height:24em;overflow:auto;margin:2px 0 6px;font-size:12px;"


def code_arguments_html(arguments: str, pre_style: str) -> str | None:
    """The call's code, highlighted as Python, in a ``<pre>`` styled ``pre_style``; None when
    the arguments are not ``{"code": "..."}`` (then they show as any tool's)."""
    try:
        parsed = json.loads(arguments) if arguments.strip() else None
    except ValueError:
        return None
    if (
        not isinstance(parsed, dict)
        or set(parsed) != {"code"}
        or not isinstance(parsed["code"], str)
    ):
        return None
    code = highlight_spans(parsed["code"].strip("\n"), "python").rstrip()
    return f'<pre class="luxx-code" style="{pre_style}">{code}</pre>'


def display_html(fragment: str) -> str:
    """One rich output the code displayed, sanitized, in a box that scrolls."""
    return f'<div class="luxx-display" style="{_WRAP}">{sanitize_html(fragment)}</div>'
