"""Read-only SQL over the notebook's tables: the ``query`` tool.

One job: run one model-written ``SELECT`` over the visible tables and give back a bounded
result, with no way to read or write anything else. The engine it runs in, closed to files,
network and extensions, locked, and stopped from outside on a time limit, is
``luxx_nb.sql_engine``. Choices, measured here (duckdb 2.0.1, FIELD-NOTES):

- The statement is checked with DuckDB's own parser (``extract_statements``): exactly one, of
  type SELECT, which covers ``WITH``, ``SUMMARIZE``, ``DESCRIBE``, ``VALUES``, ``FROM t``.
- Results stream: ``fetchmany(limit + 1)`` reads only what is shown (a 10,000,000-row result
  costs 5 ms, not the 3.7 s of fetching it into Python); only when there are more rows is the
  total counted, by ``SELECT count(*)`` over the same statement, which DuckDB plans without
  the unused columns.

duckdb is imported only when a query runs; ``import luxx_nb`` never loads it.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import json
import math
import threading
import uuid
from collections.abc import Mapping
from typing import Any

from luxx_nb.namespace import as_view
from luxx_nb.sql_engine import closed_connection, register_tables, stoppable
from luxx_nb.tools.definition import Tool, ToolContext, make_tool
from luxx_nb.tools.result import cut as cut_text

__all__ = ["DEFAULT_ROWS", "MAX_ROWS", "QueryError", "query", "query_tool", "run", "statement"]

DEFAULT_ROWS = 50
MAX_ROWS = 500
CELL_CHARS = 300
"""A longer value in a cell is cut: a query result is for reading, not for copying text out."""
RESULT_CHARS = 16_000
"""JSON characters of rows at most, under the 20,000 a tool result may have: never cut mid-row."""


class QueryError(Exception):
    """A query that cannot run, with the message the model gets."""


def _quoted(name: str) -> str:
    return name if name.isidentifier() and name.islower() else '"' + name.replace('"', '""') + '"'


def statement(con: Any, sql: str) -> str:
    """The one SELECT in ``sql`` (without its ``;``), or QueryError saying what is wrong."""
    import duckdb

    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(f"{type(exc).__name__}: {exc}") from None
    if not statements:
        raise QueryError("The SQL is empty: write one SELECT statement.")
    if len(statements) > 1:
        raise QueryError(
            f"Only one statement at a time: this SQL has {len(statements)}. "
            "Send each SELECT in its own call."
        )
    kind = statements[0].type
    name = kind.name if kind != duckdb.StatementType.SELECT else _pragma(sql)
    if name is not None:
        raise QueryError(
            f"Only SELECT queries can run (also WITH … SELECT, SUMMARIZE, DESCRIBE); this is "
            f"a {name} statement. The tables are read-only views of the notebook's "
            "variables: nothing can be created, changed, written, attached, installed or set."
        )
    return statements[0].query.strip().rstrip(";").rstrip()


def _pragma(query: str) -> str | None:
    """ "PRAGMA" when the statement starts with that keyword, by DuckDB's own tokenizer.

    DuckDB 1.5 (the last release for Python 3.10) rewrites a ``PRAGMA`` into a SELECT of a
    table function before it types it, where 2.0 types it PRAGMA: read the first keyword of
    what was sent, so every version refuses it alike.
    """
    import duckdb

    for start, kind in duckdb.tokenize(query):
        if kind == duckdb.token_type.comment:
            continue
        word = query[start:].split(None, 1)[0].split("(", 1)[0]
        return "PRAGMA" if kind == duckdb.token_type.keyword and word.upper() == "PRAGMA" else None
    return None


def _cell(value: Any, cut: list[int]) -> Any:
    """One value as JSON can carry it, strings cut at ``CELL_CHARS`` (counted in ``cut``)."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, decimal.Decimal):
        number = float(value)
        return number if decimal.Decimal(repr(number)) == value else str(value)
    if isinstance(value, (datetime.date, datetime.time)):
        text = value.isoformat()
    elif isinstance(value, (datetime.timedelta, uuid.UUID)):
        text = str(value)
    elif isinstance(value, (list, tuple, dict)):
        text = json.dumps(value, ensure_ascii=False, default=str)
    elif isinstance(value, str):
        text = value
    else:
        text = repr(value)
    if len(text) > CELL_CHARS:
        cut[0] += 1
        return text[: CELL_CHARS - 1] + "…"
    return text


def _rows(fetched: list[tuple[Any, ...]], limit: int) -> tuple[list[list[Any]], int]:
    """The rows to show, within ``limit`` and ``RESULT_CHARS``; and how many cells were cut."""
    rows, size, cut = [], 0, [0]
    for raw in fetched[:limit]:
        row = [_cell(value, cut) for value in raw]
        size += len(json.dumps(row, ensure_ascii=False))
        if rows and size > RESULT_CHARS:
            break
        rows.append(row)
    return rows, cut[0]


def _execute(con: Any, sql: str, limit: int, stopped: threading.Event) -> dict[str, Any]:
    if stopped.is_set():
        raise QueryError("The query was stopped before it started.")
    con.execute(sql)  # streams: nothing is computed past what is fetched
    columns = [str(d[0]) for d in con.description]
    types = [str(d[1]) for d in con.description]
    fetched = con.fetchmany(limit + 1)
    more = len(fetched) > limit
    abort = getattr(con, "abort", None)  # duckdb 2: the rest of a result must be let go of
    if abort is not None:
        abort()
    total = len(fetched)
    if more:
        total = con.execute(f"SELECT count(*) FROM (\n{sql}\n)").fetchone()[0]
    rows, cut = _rows(fetched, limit)
    answer: dict[str, Any] = {"columns": columns, "types": types, "rows": rows}
    answer["row_count"] = total
    if len(rows) < total:
        why = "" if len(rows) == min(limit, total) else f" (the first {limit} are too long)"
        answer["note"] = (
            f"Showing the first {len(rows):,} of {total:,} rows{why}. Aggregate, filter or "
            f"ask for more with limit (at most {MAX_ROWS})."
        )
    if cut:
        answer["cells_cut"] = f"{cut} values longer than {CELL_CHARS} characters were cut"
    return answer


def run(
    view: Any, sql: str, limit: int = DEFAULT_ROWS, *, timeout: float | None = None
) -> dict[str, Any]:
    """Run ``sql`` over the tables of ``view`` (a ``NamespaceView``); a result or a failure.

    The failure is ``{"success": false, "error": …}`` quoting DuckDB. ``timeout`` adds a time
    limit of its own to the tool's (which reaches the query through ``on_cancel``).
    """
    if not 1 <= limit <= MAX_ROWS:
        return _failed(f"limit must be between 1 and {MAX_ROWS}, not {limit}.")
    import duckdb

    with closed_connection() as con:
        try:
            text = statement(con, sql)
        except QueryError as exc:
            return _failed(str(exc))
        tables, refused = register_tables(con, view)
        with stoppable(con, timeout) as stopped:
            try:
                answer = _execute(con, text, limit, stopped)
            except duckdb.InterruptException:
                return _failed("The query was stopped: it ran past its time limit.")
            except (duckdb.Error, QueryError) as exc:
                return _failed(_explain(exc, tables, refused))
        for name in _read(con, text, tables):
            view.peek(name)  # the step shows which variables the query read
        return answer


def _read(con: Any, text: str, tables: Mapping[str, str]) -> list[str]:
    """The registered tables the statement names, from DuckDB's parse tree (which, unlike
    ``get_table_names``, sees through registered views and needs no binding)."""
    try:
        tree = json.loads(con.execute("SELECT json_serialize_sql($1)", [text]).fetchone()[0])
    except Exception:
        return []
    named, stack = set(), [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("table_name"), str):
                named.add(node["table_name"].lower())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return [name for name in tables if name.lower() in named]


def _explain(exc: BaseException, tables: Mapping[str, str], refused: Mapping[str, str]) -> str:
    """DuckDB's message, and what the model can query instead when it named a wrong table."""
    message = str(exc) if isinstance(exc, QueryError) else f"{type(exc).__name__}: {exc}"
    lowered = message.lower()
    if "does not exist" in lowered or "file system operations are disabled" in lowered:
        names = ", ".join(_quoted(name) for name in tables) or "none"
        message += f"\nTables you can query: {names}."
        if "file system operations" in lowered:
            message += " Files, URLs and the environment cannot be read."
    for name, why in refused.items():
        message += f"\n{name} could not be read as a table: {cut_text(why, 300)}"
    return message


def _failed(message: str) -> dict[str, Any]:
    return {"success": False, "error": message}


def query(sql: str, context: ToolContext, limit: int = DEFAULT_ROWS) -> dict[str, Any]:
    """Run one read-only SQL SELECT (DuckDB dialect) over the notebook's tables: each pandas,
    polars or pyarrow table that list_variables marks "table" is a table of the same name.
    WITH, SUMMARIZE and DESCRIBE work too; nothing can be written, files cannot be read.
    Returns the columns, their types, the first rows and the total row count. Aggregate in
    SQL rather than reading many rows.

    Args:
        sql: one SELECT statement; quote a name with double quotes when it needs it.
        limit: most rows to return (1 to 500).
    """
    return run(as_view(context.namespace), sql, limit)


@functools.cache
def query_tool() -> Tool:
    """The ``query`` tool, made on first use: making a tool imports pydantic (about 0.1 s),
    which ``%load_ext luxx_nb`` must not pay."""
    return make_tool(query)
