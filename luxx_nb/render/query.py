"""How a ``query`` call shows: its SQL highlighted, its result as a table; escaped markup.

Shared by the live tool-call widget (``parts.py``) and the saved snapshot (``html.py``) so the
two cannot drift apart. Every value of a result comes from the notebook's data or the model,
so each is escaped; a call or result of another shape (a user's own tool named ``query``)
gives None here and is shown as any other tool's.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from luxx_nb.render.markdown import highlight_spans

__all__ = ["SHOWN_ROWS", "query_arguments_html", "query_error", "query_result_html"]

SHOWN_ROWS = 100
"""Rows shown to the person (the model may have asked for up to 500): a preview, kept light."""
_SHOWN_COLUMNS = 50
_CELL = 300
_LABEL = "font-size:12px;color:var(--jp-ui-font-color2,#616161);"
_WRAP = "max-height:20em;overflow:auto;margin:2px 0 6px;"
_TABLE = "border-collapse:collapse;font-size:12px;font-family:var(--jp-code-font-family,monospace);"
_TYPE = "font-weight:normal;color:var(--jp-ui-font-color2,#616161);"


def _sql(arguments: str) -> tuple[str, dict[str, Any]] | None:
    try:
        parsed = json.loads(arguments) if arguments.strip() else None
    except ValueError:
        return None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("sql"), str):
        return None
    return parsed["sql"], {k: v for k, v in parsed.items() if k != "sql"}


def query_arguments_html(arguments: str, pre_style: str) -> str | None:
    """The call's SQL, highlighted, in a ``<pre>`` styled ``pre_style``; its other arguments
    (``limit``) on a line below. None when the arguments hold no SQL."""
    found = _sql(arguments)
    if found is None:
        return None
    sql, rest = found
    code = highlight_spans(sql.strip(), "sql").rstrip()
    html = f'<pre class="luxx-code" style="{pre_style}">{code}</pre>'
    if rest:
        others = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in rest.items())
        html += f'<div style="{_LABEL}">{escape(others)}</div>'
    return html


def query_error(content: str) -> str | None:
    """A failed result's message as plain text (DuckDB's own, with its caret under the
    error), rather than the JSON that carries it to the model. None if not a failure."""
    try:
        data = json.loads(content)
    except ValueError:
        return None
    if isinstance(data, dict) and data.get("success") is False:
        error = data.get("error")
        return error if isinstance(error, str) else None
    return None


def _text(value: Any) -> str:
    text = "NULL" if value is None else value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= _CELL else text[: _CELL - 1] + "…"


def query_result_html(content: str) -> str | None:
    """A successful result as a table with each column's type under its name, and the row
    count. None when ``content`` is not a ``query`` result."""
    try:
        data = json.loads(content)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("columns"), list):
        return None
    rows = data.get("rows")
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        return None
    columns = [str(c) for c in data["columns"][:_SHOWN_COLUMNS]]
    types = data.get("types") if isinstance(data.get("types"), list) else []
    types = [str(kind) for kind in types[: len(columns)]] + [""] * (len(columns) - len(types))
    head = "".join(
        f'<th>{escape(name)}<div style="{_TYPE}">{escape(kind)}</div></th>'
        for name, kind in zip(columns, types, strict=True)
    )
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(_text(v))}</td>" for v in row[: len(columns)]) + "</tr>"
        for row in rows[:SHOWN_ROWS]
    )
    table = (
        f'<div style="{_WRAP}"><table border="1" cellpadding="3" style="{_TABLE}">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )
    return table + f'<div style="{_LABEL}">{escape(_count_line(data, len(rows)))}</div>'


def _count_line(data: dict[str, Any], returned: int) -> str:
    total = data.get("row_count")
    total = total if isinstance(total, int) and not isinstance(total, bool) else returned
    shown = min(returned, SHOWN_ROWS)
    line = f"{total:,} row{'' if total == 1 else 's'}"
    if shown < total:
        line += f"; the first {shown:,} shown"
        if returned > shown:
            line += f" (the model got {returned:,})"
    columns = data["columns"]
    if len(columns) > _SHOWN_COLUMNS:
        line += f"; {_SHOWN_COLUMNS} of {len(columns)} columns shown"
    if isinstance(data.get("cells_cut"), str):
        line += f"; {data['cells_cut']}"
    return line
