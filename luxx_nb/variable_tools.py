"""The built-in tools over the notebook's variables: ``list_variables``, ``get_variable``, and
``namespace_tools``, which offers them with ``query`` (``luxx_nb.sql``) and
``notebook_history`` (``luxx_nb.history``).

Each reads only through the tool context's ``NamespaceView`` (``luxx_nb.namespace``), with
``peek``, so it looks without copying and the run shows which variables were read; what it
shows is bounded (a few rows, a cut repr). They are made on first use: making a tool imports
pydantic (about 0.1 s), which ``%load_ext luxx_nb`` must not pay.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

from luxx_nb.history import history_tool
from luxx_nb.namespace import as_view, is_array, is_frame, is_series
from luxx_nb.sql import query_tool
from luxx_nb.sql_engine import column_summary, table_kind, table_line
from luxx_nb.tools.definition import Tool, ToolContext, make_tool
from luxx_nb.tools.result import cut

__all__ = ["get_variable", "list_variables", "namespace_tools"]

_LINE = 80
_REPR = 2_000
_TABLE = 4_000
_ROWS = 10


def _safe_repr(value: Any, limit: int) -> str:
    try:
        text = repr(value)
    except Exception as exc:
        return f"<repr() raised {type(exc).__name__}: {exc}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _columns(frame: Any, shown: int = 8) -> str:
    names = [str(c) for c in frame.columns]
    more = f", ... (+{len(names) - shown} more)" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _summary(value: Any) -> str:
    """One line: shape and columns, shape and dtype, a length, or a short repr."""
    if is_frame(value):
        return f"shape {tuple(value.shape)}; columns: {_columns(value)}"
    if table_kind(value) is not None and not is_series(value):
        return table_line(value)
    if is_series(value) or is_array(value):
        return f"shape {tuple(value.shape)}, dtype {value.dtype}"
    if not isinstance(value, (str, bytes)) and hasattr(type(value), "__len__"):
        try:
            return f"len {len(value)}"
        except Exception:
            pass
    return _safe_repr(value, _LINE).replace("\n", " ")


def list_variables(context: ToolContext) -> str:
    """List the notebook's variables you can read: name, type and a one-line summary each.
    Those marked "table" can be read with SQL through the query tool."""
    view = as_view(context.namespace)
    lines = []
    for name in view:
        try:
            value = view.peek(name)
        except KeyError:
            continue
        table = ", table" if table_kind(value) is not None else ""
        lines.append(f"{name} ({type(value).__name__}{table}): {_summary(value)}")
    return "\n".join(lines) or "There are no variables in the notebook yet."


def _describe(name: str, value: Any) -> str:
    kind = type(value).__name__
    if is_frame(value):
        rows, cols = value.shape
        dtypes = cut(value.dtypes.to_string(), _TABLE // 3)
        head = value.head(_ROWS).to_string(max_cols=20, max_colwidth=60)
        text = (
            f"{name}: {kind} with {rows:,} rows and {cols:,} columns\n\n"
            f"Column dtypes:\n{dtypes}\n\nFirst {min(rows, _ROWS)} rows:\n{head}"
        )
        return cut(text, _TABLE)
    if is_series(value):
        head = value.head(_ROWS).to_string()
        text = f"{name}: {kind} {value.name!r}, length {len(value):,}, dtype {value.dtype}\n\n"
        return cut(f"{text}First {min(len(value), _ROWS)} values:\n{head}", _TABLE)
    if is_array(value):
        numpy = sys.modules["numpy"]
        values = numpy.array2string(value, threshold=100, edgeitems=3, max_line_width=100)
        return cut(f"{name}: {kind}, shape {value.shape}, dtype {value.dtype}\n{values}", _TABLE)
    try:
        text = repr(value)
    except Exception as exc:
        return f"{name} ({kind}): its repr() raised {type(exc).__name__}: {exc}"
    return f"{name} ({kind}):\n{cut(text, _REPR)}"


def get_variable(name: str, context: ToolContext) -> str | dict[str, Any]:
    """Show one notebook variable in a bounded, readable form: a DataFrame or Series gives its
    shape, dtypes and first rows; an array its shape, dtype and a few values; anything else its
    repr, cut when long. A table also gets a summary of each column (nulls, distinct values,
    min, max and mean of numbers).

    Args:
        name: The variable's name, as given by list_variables.
    """
    try:
        value = as_view(context.namespace).peek(name)
    except KeyError:
        return {
            "success": False,
            "error": f"The variable {name!r} does not exist or is not visible to tools. "
            "Call list_variables to see the variables you can read.",
        }
    try:
        text = _describe(name, value)
    except Exception as exc:
        return f"{name} ({type(value).__name__}) could not be shown: {type(exc).__name__}: {exc}"
    if table_kind(value) is None:
        return text
    try:
        summary = column_summary(name, value)
    except Exception as exc:
        summary = f"No column summary ({type(exc).__name__}: {cut(str(exc), 300)})"
    return f"{text}\n\n{summary}"


@functools.cache
def _tools() -> tuple[Tool, ...]:
    """Made on first use (see ``luxx_nb.sql.query_tool``)."""
    return (make_tool(list_variables), make_tool(get_variable), query_tool())


def namespace_tools() -> list[Tool]:
    """``list_variables``, ``get_variable``, ``query`` (luxx_nb.sql) and ``notebook_history``
    (luxx_nb.history); not in the user's registry, added on request."""
    return [*_tools(), history_tool()]
