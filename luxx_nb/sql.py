"""Read-only SQL over the notebook's tables, in a closed DuckDB engine: the ``query`` tool.

One job: run one model-written ``SELECT`` over the visible tables and give back a bounded
result, with no way to read or write anything else. Choices, measured here (duckdb 2.0.1,
FIELD-NOTES):

- A new in-memory connection per call (about 5 ms; the first in a process, 35 ms), opened
  with ``enable_external_access=false`` (no ``read_csv``, ``COPY``, ``ATTACH``, ``INSTALL``,
  ``getenv``…), no extension autoload, autoinstall or community extensions, an empty
  ``temp_directory`` (DuckDB otherwise allows reading its own ``.tmp``), a thread count and a
  memory limit, then ``SET lock_configuration=true``, after which no ``SET`` works.
- Each visible pandas DataFrame or Series, polars DataFrame or LazyFrame, or pyarrow Table is
  registered by name (replacement scans are off with external access): pandas is scanned in
  place (numpy-backed, about 10 MB more for a 230 MB frame), polars through Arrow with
  string views (``to_arrow`` at the newest compat level: 0.2 ms and no copy, where the oldest
  level copies every string), a LazyFrame is evaluated only if a query reads it. Registered
  frames are views: DuckDB cannot write to them. Hidden variables are never registered, so a
  query on one meets the same "does not exist" as a name nobody defined.
- The statement is checked with DuckDB's own parser (``extract_statements``): exactly one, of
  type SELECT, which covers ``WITH``, ``SUMMARIZE``, ``DESCRIBE``, ``VALUES``, ``FROM t``.
- Results stream: ``fetchmany(limit + 1)`` reads only what is shown (a 10,000,000-row result
  costs 5 ms, not the 3.7 s of fetching it into Python); only when there are more rows is the
  total counted, by ``SELECT count(*)`` over the same statement, which DuckDB plans without
  the unused columns.
- DuckDB has no query timeout: ``con.interrupt()`` from another thread stops a query within
  about 0.01 s. The tool gives it to ``tools.on_cancel``, so its time limit and a kernel
  interrupt both end the query, not only the wait for it.

duckdb is imported only when a query runs; ``import luxx_nb`` never loads it. pandas, polars
and pyarrow are recognised by their types' modules and never imported here.
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import functools
import json
import math
import os
import sys
import threading
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from luxx_nb.tools import Tool, ToolContext, _cut, make_tool, on_cancel

__all__ = ["DEFAULT_ROWS", "MAX_ROWS", "QueryError", "column_summary", "query", "run", "table_kind"]

DEFAULT_ROWS = 50
MAX_ROWS = 500
CELL_CHARS = 300
"""A longer value in a cell is cut: a query result is for reading, not for copying text out."""
RESULT_CHARS = 16_000
"""JSON characters of rows at most, under the 20,000 a tool result may have: never cut mid-row."""
SUMMARY_COLUMNS = 40
THREADS = max(1, min(4, os.cpu_count() or 1))


def _memory_limit() -> str:
    """A quarter of the machine's memory, between 256 MB and 4 GB (DuckDB's default is 80%)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        total = 4 * 2**30
    return f"{max(256, min(4096, total // 4 // 2**20))}MB"


CONFIG = {
    "enable_external_access": False,
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "allow_community_extensions": False,
    "temp_directory": "",
    "threads": THREADS,
    "memory_limit": _memory_limit(),
}


class QueryError(Exception):
    """A query that cannot run, with the message the model gets."""


def table_kind(value: Any) -> str | None:
    """``pandas``, ``polars``, ``polars-lazy`` or ``arrow`` for a value ``query`` can read."""
    for cls in type(value).__mro__:
        module = (cls.__module__ or "").split(".")[0]
        name = cls.__name__
        if module == "pandas" and name in ("DataFrame", "Series"):
            return "pandas"
        if module == "polars" and name == "DataFrame":
            return "polars"
        if module == "polars" and name == "LazyFrame":
            return "polars-lazy"
        if module == "pyarrow" and name == "Table":
            return "arrow"
    return None


def table_line(value: Any, shown: int = 8) -> str:
    """One line for list_variables: rows and columns of a polars or pyarrow table."""
    kind = table_kind(value)
    if kind == "polars-lazy":
        names, rows = list(value.collect_schema().names()), "lazy (not computed)"
    elif kind == "arrow":
        names, rows = list(value.column_names), f"{value.num_rows:,} rows"
    else:
        names, rows = [str(c) for c in value.columns], f"{len(value):,} rows"
    more = f", ... (+{len(names) - shown} more)" if len(names) > shown else ""
    columns = "1 column" if len(names) == 1 else f"{len(names)} columns"
    return f"{rows}, {columns}: {', '.join(names[:shown])}{more}"


def _scannable(value: Any) -> Any:
    """What DuckDB registers for a table: the object itself, a Series as a one-column frame
    under its own name (DuckDB would call it ``value``), polars through Arrow."""
    kind = table_kind(value)
    if kind == "pandas" and value.ndim == 1:
        return value.to_frame(name="value" if value.name is None else str(value.name))
    if kind != "polars":
        return value
    compat = getattr(sys.modules.get("polars"), "CompatLevel", None)
    return value.to_arrow() if compat is None else value.to_arrow(compat_level=compat.newest())


@contextlib.contextmanager
def closed_connection() -> Iterator[Any]:
    """A new in-memory DuckDB connection that can read only what is registered on it."""
    import duckdb

    con = duckdb.connect(":memory:", config=dict(CONFIG))
    try:
        con.execute("SET lock_configuration=true")
        yield con
    finally:
        con.close()


@contextlib.contextmanager
def _stoppable(con: Any, timeout: float | None) -> Iterator[threading.Event]:
    """Interrupt ``con`` when the tool's call is given up, or after ``timeout`` seconds.

    The event is set once an interrupt was asked for: a query not started yet must not start.
    """
    stopped = threading.Event()

    def stop() -> None:
        stopped.set()
        con.interrupt()

    on_cancel(stop)
    timer = threading.Timer(timeout, stop) if timeout is not None else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        yield stopped
    finally:
        if timer is not None:
            timer.cancel()


def _quoted(name: str) -> str:
    return name if name.isidentifier() and name.islower() else '"' + name.replace('"', '""') + '"'


def register_tables(con: Any, view: Any) -> tuple[dict[str, str], dict[str, str]]:
    """Register every visible table on ``con``: (name: kind, name: why it could not be)."""
    tables, refused = {}, {}
    for name in view:
        try:
            value = view._look(name)  # records no read: the query's own tables are marked after
        except KeyError:
            continue
        kind = table_kind(value)
        if kind is None:
            continue
        try:
            con.register(name, _scannable(value))
        except Exception as exc:
            refused[name] = f"{type(exc).__name__}: {exc}"
            continue
        tables[name] = kind
    return tables, refused


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
        with _stoppable(con, timeout) as stopped:
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
        message += f"\n{name} could not be read as a table: {_cut(why, 300)}"
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
    from luxx_nb.namespace import NamespaceView

    ns = context.namespace
    view = ns if isinstance(ns, NamespaceView) else NamespaceView(ns, protect=True)
    return run(view, sql, limit)


@functools.cache
def query_tool() -> Tool:
    """The ``query`` tool, made on first use: making a tool imports pydantic (about 0.1 s),
    which ``%load_ext luxx_nb`` must not pay."""
    return make_tool(query)


def column_summary(name: str, value: Any) -> str:
    """Per column: type, nulls, distinct values, and min, max and mean for numbers; computed
    by DuckDB on the same closed connection as ``query`` (interrupted with the tool)."""
    import duckdb

    with closed_connection() as con:
        con.register("t", _scannable(value))
        with _stoppable(con, None) as stopped:
            if stopped.is_set():
                return ""
            described = con.execute("DESCRIBE t").fetchall()[:SUMMARY_COLUMNS]
            parts = []
            for column, kind, *_ in described:
                quoted = '"' + str(column).replace('"', '""') + '"'
                parts.append(f"count(*) - count({quoted})")
                parts.append(f"approx_count_distinct({quoted})")
                if _numeric(kind):
                    parts += [f"min({quoted})", f"max({quoted})", f"avg({quoted})"]
            try:
                values = list(con.execute(f"SELECT {', '.join(parts)} FROM t").fetchone())
            except duckdb.InterruptException:
                return "Column summary: stopped (time limit)."
    lines = [f"Column summary of {name} (DuckDB; distinct counts approximate):"]
    for column, kind, *_ in described:
        nulls, distinct = values.pop(0), values.pop(0)
        line = f"  {column} ({kind}): {nulls:,} null, ~{distinct:,} distinct"
        if _numeric(kind):
            low, high, mean = (values.pop(0) for _ in range(3))
            line += f", min {_number(low)}, max {_number(high)}, mean {_number(mean)}"
        lines.append(line)
    return "\n".join(lines)


_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL")


def _numeric(kind: str) -> bool:
    return kind.upper().removeprefix("U").startswith(_NUMERIC)  # UINTEGER…, never UUID


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "null" if value is None else str(value)
