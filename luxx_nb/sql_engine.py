"""The closed DuckDB engine the ``query`` tool runs in: which notebook values are tables, a
connection that can read only what is registered on it, a stop from outside, and a column
summary. Choices, measured here (duckdb 2.0.1, FIELD-NOTES):

- A new in-memory connection per call (about 5 ms; the first in a process, 35 ms), opened
  with ``enable_external_access=false`` (no ``read_csv``, ``COPY``, ``ATTACH``, ``INSTALL``,
  ``getenv``…), Python replacement scans off, no extension autoload, autoinstall or community
  extensions, an empty ``temp_directory`` (DuckDB otherwise allows reading its own ``.tmp``),
  a thread count and a memory limit, then ``SET lock_configuration=true``, after which no
  ``SET`` works.
- Each visible pandas DataFrame or Series, polars DataFrame or LazyFrame, or pyarrow Table is
  registered by name. Replacement scans (DuckDB reading a caller's Python variable by its
  name) are never relied on, and are off twice: ``python_enable_replacements=false``, and
  external access off (which, in 1.5 and 2.0, stops them too). pandas is scanned in place
  (numpy-backed, about 10 MB more for a 230 MB frame), polars through Arrow with string views
  (``to_arrow`` at the newest compat level: 0.2 ms and no copy, where the oldest level copies
  every string), a LazyFrame is evaluated only if a query reads it. Registered frames are
  views: DuckDB cannot write to them. Hidden variables are never registered, so a query on one
  meets the same "does not exist" as a name nobody defined.
- DuckDB has no query timeout: ``con.interrupt()`` from another thread stops a query within
  about 0.01 s. ``stoppable`` gives it to ``tools.on_cancel``, so the tool's time limit and a
  kernel interrupt both end the query, not only the wait for it.

duckdb is imported only when a query runs; ``import luxx_nb`` never loads it. pandas, polars
and pyarrow are recognised by their types' modules and never imported here.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any

from luxx_nb.tools.invoke import on_cancel

__all__ = [
    "CONFIG",
    "THREADS",
    "closed_connection",
    "column_summary",
    "register_tables",
    "stoppable",
    "table_kind",
    "table_line",
]

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
    "python_enable_replacements": False,
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "allow_community_extensions": False,
    "temp_directory": "",
    "threads": THREADS,
    "memory_limit": _memory_limit(),
}


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
def stoppable(con: Any, timeout: float | None) -> Iterator[threading.Event]:
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


def register_tables(con: Any, view: Any) -> tuple[dict[str, str], dict[str, str]]:
    """Register every visible table on ``con``: (name: kind, name: why it could not be).

    SQL names ignore case, so two variables whose names differ only in case (``sales`` and
    ``Sales``) would be one table, the last registered, and a query on the other would read it
    without a word: neither is registered, and the error says why.
    """
    found: dict[str, tuple[str, Any]] = {}
    for name in view:
        try:
            value = view.look(name)  # records no read: the query's own tables are marked after
        except KeyError:
            continue
        kind = table_kind(value)
        if kind is not None:
            found[name] = (kind, value)
    folded: dict[str, list[str]] = {}
    for name in found:
        folded.setdefault(name.lower(), []).append(name)
    tables, refused = {}, {}
    for name, (kind, value) in found.items():
        alike = [other for other in folded[name.lower()] if other != name]
        if alike:
            refused[name] = (
                f"its name differs from {', '.join(alike)} only in case, which SQL does not "
                "tell apart; ask the user to rename one of them"
            )
            continue
        try:
            con.register(name, _scannable(value))
        except Exception as exc:
            refused[name] = f"{type(exc).__name__}: {exc}"
            continue
        tables[name] = kind
    return tables, refused


def column_summary(name: str, value: Any) -> str:
    """Per column: type, nulls, distinct values, and min, max and mean for numbers; computed
    by DuckDB on the same closed connection as ``query`` (interrupted with the tool)."""
    import duckdb

    with closed_connection() as con:
        con.register("t", _scannable(value))
        with stoppable(con, None) as stopped:
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
