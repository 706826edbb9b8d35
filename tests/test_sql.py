"""The ``query`` tool (luxx_nb/sql.py): a closed DuckDB engine over the notebook's tables.

Real DuckDB, real pandas, polars and pyarrow. Each test names the promise it keeps; each would
fail without the code that keeps it (the closed configuration, the statement check, the
visibility filter, the bounds, the interrupt, registration without copies).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy
import pandas
import polars
import psutil
import pyarrow
import pytest

from luxx_nb import capture, sql, sql_engine
from luxx_nb.namespace import NamespaceView
from luxx_nb.tools import ToolContext, invoke, on_cancel
from luxx_nb.variable_tools import get_variable, list_variables, namespace_tools

CROSS_JOIN = "SELECT count(*) FROM range(1000000) a, range(1000000) b WHERE a.range + b.range = 7"


def sales(rows: int = 1_000) -> pandas.DataFrame:
    regions = numpy.array(["north", "south", "east", "west"])
    index = numpy.arange(rows)
    return pandas.DataFrame(
        {"region": regions[index % 4], "units": index % 7, "price": index * 0.5}
    )


def view(**variables: Any) -> NamespaceView:
    return NamespaceView(variables, protect=True)


def call(ns: NamespaceView, arguments: dict[str, Any], timeout: float = 30.0) -> Any:
    """``query`` through ``invoke``, as a run calls it: the content parsed, and the output."""
    tools = {t.name: t for t in namespace_tools()}
    out = asyncio.run(
        invoke(tools, "query", json.dumps(arguments), ToolContext(namespace=ns), timeout=timeout)
    )
    return json.loads(out.content), out


def wait_until_no_tool_is_alive(seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while capture.active() and time.monotonic() < deadline:
        time.sleep(0.01)
    return not capture.active()


def test_import_luxx_nb_loads_no_duckdb_and_no_dataframe_library() -> None:
    code = (
        "import sys, luxx_nb, luxx_nb.sql\n"
        "print([m for m in ('duckdb', 'pandas', 'polars', 'pyarrow') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_query_is_offered_beside_the_variable_tools() -> None:
    names = [t.name for t in namespace_tools()]
    assert names.index("query") == names.index("get_variable") + 1
    schema = sql.query_tool().definition()["function"]["parameters"]
    assert schema["required"] == ["sql"] and schema["properties"]["limit"]["default"] == 50


def test_a_total_per_group_matches_pandas() -> None:
    frame = sales(2_000_000)
    result = sql.run(
        view(sales=frame),
        "SELECT region, SUM(units) AS units FROM sales GROUP BY region ORDER BY 2 DESC",
    )
    expected = frame.groupby("region")["units"].sum()
    assert dict(map(tuple, result["rows"])) == {k: int(v) for k, v in expected.items()}
    totals = [total for _, total in result["rows"]]
    assert totals == sorted(totals, reverse=True) and len(set(totals)) == 4
    assert result["columns"] == ["region", "units"] and result["row_count"] == 4
    assert result["types"][0] == "VARCHAR"


@pytest.mark.parametrize(
    "make",
    [
        lambda f: f,
        lambda f: f["units"],
        lambda f: polars.from_pandas(f),
        lambda f: polars.from_pandas(f).lazy(),
        lambda f: pyarrow.Table.from_pandas(f),
    ],
    ids=["pandas", "pandas-series", "polars", "polars-lazy", "pyarrow"],
)
def test_each_kind_of_table_is_queried_by_its_name(make: Any) -> None:
    table = make(sales(100))
    result = sql.run(view(t=table), "SELECT SUM(units), COUNT(*) FROM t")
    assert result["rows"] == [[sum(i % 7 for i in range(100)), 100]], result
    assert sql_engine.table_kind(table) is not None


def test_other_values_are_not_tables() -> None:
    ns = view(numbers=[1, 2], array=numpy.arange(3), frame=sales(3))
    assert sql_engine.table_kind([1]) is None and sql_engine.table_kind(numpy.arange(3)) is None
    failed = sql.run(ns, "SELECT * FROM numbers")
    assert failed["success"] is False and "does not exist" in failed["error"]
    assert "Tables you can query: frame." in failed["error"]


HOSTILE = [
    ("SELECT * FROM read_csv('/etc/passwd')", "file system operations are disabled"),
    ("SELECT * FROM read_text('/etc/hostname')", "file system operations are disabled"),
    ("SELECT * FROM glob('*')", "file system operations are disabled"),
    ("SELECT * FROM sniff_csv('/etc/passwd')", "file system operations are disabled"),
    ("SELECT getenv('HOME')", "getenv does not exist"),
    ("COPY (SELECT * FROM sales) TO '{dir}/copied.csv'", "this is a COPY statement"),
    ("ATTACH '{dir}/attached.db' AS other", "this is a ATTACH statement"),
    ("INSTALL httpfs", "this is a LOAD statement"),
    ("LOAD httpfs", "this is a LOAD statement"),
    ("SET enable_external_access = true", "this is a SET statement"),
    ("RESET lock_configuration", "this is a SET statement"),
    ("PRAGMA version", "this is a PRAGMA statement"),
    ("/* read the version */ pragma version", "this is a PRAGMA statement"),
    ("CREATE TABLE made AS SELECT * FROM sales", "this is a CREATE statement"),
    ("INSERT INTO sales VALUES ('x', 1, 1.0)", "this is a INSERT statement"),
    ("UPDATE sales SET units = 0", "this is a UPDATE statement"),
    ("DROP VIEW sales", "this is a DROP statement"),
    ("EXPORT DATABASE '{dir}/exported'", "this is a EXPORT statement"),
    ("CALL pragma_version()", "this is a CALL statement"),
    ("SELECT 1; DROP VIEW sales", "Only one statement at a time: this SQL has 2"),
    ("", "The SQL is empty"),
]


@pytest.mark.parametrize("statement, message", HOSTILE, ids=[h[0][:40] for h in HOSTILE])
def test_each_hostile_statement_fails_and_leaves_no_file(
    statement: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    frame = sales(10)
    before = frame.copy()
    ns = view(sales=frame)
    result, out = call(ns, {"sql": statement.format(dir=tmp_path)})
    assert not out.success and result["success"] is False
    assert message in result["error"], result["error"]
    assert list(tmp_path.iterdir()) == []  # no file, no .tmp directory
    leftovers = ("copied.csv", "attached.db", "exported", ".tmp")
    assert not any((Path(tempfile.gettempdir()) / name).exists() for name in leftovers)
    pandas.testing.assert_frame_equal(frame, before)
    assert sql.run(ns, "SELECT count(*) FROM sales")["rows"] == [[10]]  # still there


@pytest.mark.parametrize(
    "statement, rows",
    [
        ("WITH n AS (SELECT units FROM sales) SELECT sum(units) FROM n", [[21]]),
        ("SUMMARIZE sales", 3),
        ("DESCRIBE sales", [["region", "VARCHAR"], ["units", "BIGINT"], ["price", "DOUBLE"]]),
        ("FROM sales SELECT count(*)", [[7]]),
        ("VALUES (1, 'a')", [[1, "a"]]),
        ("-- the count\nSELECT count(*) FROM sales;", [[7]]),
    ],
    ids=["with", "summarize", "describe", "from-first", "values", "comment-and-semicolon"],
)
def test_every_kind_of_select_runs(statement: str, rows: Any) -> None:
    result = sql.run(view(sales=sales(7)), statement)
    assert "success" not in result, result
    if isinstance(rows, int):  # SUMMARIZE: one row per column, its statistics
        assert len(result["rows"]) == rows
        assert result["columns"][:2] == ["column_name", "column_type"]
    elif statement.startswith("DESCRIBE"):
        assert [row[:2] for row in result["rows"]] == rows
    else:
        assert result["rows"] == rows


def test_no_replacement_scan_reads_a_frame_that_was_not_registered() -> None:
    """DuckDB's Python client would read a DataFrame from the caller's frames by its name; the
    engine registers the visible tables and reads nothing else, even a hidden frame in scope."""
    outside = sales(3)
    secret_sales = sales(4)
    ns = NamespaceView({"secret_sales": secret_sales}, protect=True)
    for name in ("outside", "secret_sales"):
        result = sql.run(ns, f"SELECT count(*) FROM {name}")
        assert result["success"] is False and f"{name} does not exist" in result["error"]
    assert len(outside) == 3  # both are in scope here, where DuckDB would look


def test_the_engine_is_closed_and_its_configuration_locked() -> None:
    settings = (
        "enable_external_access",
        "autoload_known_extensions",
        "autoinstall_known_extensions",
        "allow_community_extensions",
        "temp_directory",
        "lock_configuration",
        "python_enable_replacements",
        "threads",
    )
    columns = ", ".join(f"current_setting('{name}')" for name in settings)
    result = sql.run(view(), f"SELECT {columns}")
    assert [str(v).lower() for v in result["rows"][0]] == [
        "false",
        "false",
        "false",
        "false",
        "",
        "true",
        "false",
        str(sql_engine.THREADS),
    ]
    with sql_engine.closed_connection() as con, pytest.raises(Exception, match="locked"):
        con.execute("SET memory_limit = '100GB'")


def test_a_file_in_duckdbs_own_temp_directory_is_not_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".tmp").mkdir()
    (tmp_path / ".tmp" / "planted.csv").write_text("a\n1\n")
    result = sql.run(view(), "SELECT * FROM read_csv('.tmp/planted.csv')")
    assert result["success"] is False and "disabled" in result["error"]


@pytest.mark.parametrize(
    "hidden, kwargs",
    [
        ("_private", {}),
        ("api_key_table", {}),
        ("secret_sales", {}),
        ("denied", {"deny": ["denied"]}),
        ("outside", {"allow": ["sales"]}),
    ],
)
def test_a_hidden_variable_is_no_table_exactly_like_a_missing_one(
    hidden: str, kwargs: dict[str, Any]
) -> None:
    statement = f"SELECT * FROM {hidden}"
    with_hidden = NamespaceView({"sales": sales(5), hidden: sales(5)}, protect=True, **kwargs)
    without = NamespaceView({"sales": sales(5)}, protect=True, **kwargs)
    seen = sql.run(with_hidden, statement)
    assert seen["success"] is False and "does not exist" in seen["error"]
    assert seen == sql.run(without, statement)
    assert sql.run(with_hidden, "SHOW TABLES")["rows"] == [["sales"]]
    assert with_hidden.reads == ()
    assert hidden not in list_variables(ToolContext(namespace=with_hidden))


def test_fifty_rows_by_default_up_to_five_hundred_and_the_true_count() -> None:
    ns = view()
    default = sql.run(ns, "SELECT * FROM range(1000)")
    assert len(default["rows"]) == 50 and default["row_count"] == 1000
    assert "first 50 of 1,000 rows" in default["note"]
    most = sql.run(ns, "SELECT * FROM range(1000)", limit=500)
    assert len(most["rows"]) == 500 and most["rows"][-1] == [499]
    exact = sql.run(ns, "SELECT * FROM range(50)")
    assert len(exact["rows"]) == 50 and exact["row_count"] == 50 and "note" not in exact
    for wrong in (0, 501):
        failed, _ = call(ns, {"sql": "SELECT 1", "limit": wrong})
        assert failed["success"] is False and "between 1 and 500" in failed["error"]


def test_ten_million_rows_are_cut_with_the_right_count() -> None:
    result = sql.run(view(), "SELECT range AS n, range * 2 AS twice FROM range(10000000)")
    assert len(result["rows"]) == 50 and result["row_count"] == 10_000_000
    assert result["rows"][49] == [49, 98]
    assert "first 50 of 10,000,000 rows" in result["note"]


def test_long_values_are_cut_and_wide_rows_stop_within_the_result_bound() -> None:
    result = sql.run(view(), "SELECT repeat('x', 5000) AS long FROM range(3)")
    assert all(len(row[0]) == sql.CELL_CHARS for row in result["rows"])
    assert result["rows"][0][0].endswith("…") and "3 values" in result["cells_cut"]
    wide = ", ".join(f"repeat('y', 250) AS c{i}" for i in range(20))
    result, out = call(view(), {"sql": f"SELECT {wide} FROM range(500)", "limit": 500})
    assert len(out.content) <= sql.RESULT_CHARS + 1_000 and out.detail is None
    assert 0 < len(result["rows"]) < 500 and result["row_count"] == 500
    assert "too long" in result["note"]


def test_a_query_past_the_time_limit_is_interrupted_not_abandoned() -> None:
    assert wait_until_no_tool_is_alive()
    started = time.monotonic()
    result, _ = call(view(), {"sql": CROSS_JOIN}, timeout=1.0)
    assert result == {"success": False, "error": "Tool query timed out after 1 s"}
    assert wait_until_no_tool_is_alive(3.0)  # the query stopped: its thread ended
    assert time.monotonic() - started < 4.0


def test_run_has_a_time_limit_of_its_own() -> None:
    started = time.monotonic()
    result = sql.run(view(), CROSS_JOIN, timeout=0.5)
    assert result["success"] is False and "stopped" in result["error"]
    assert time.monotonic() - started < 3.0


def test_a_cancelled_run_interrupts_the_query_at_once() -> None:
    """What a kernel interrupt does: the awaiting task is cancelled."""
    assert wait_until_no_tool_is_alive()
    tools = {t.name: t for t in namespace_tools()}

    async def cancel_during_query() -> float:
        context = ToolContext(namespace=view())
        task = asyncio.ensure_future(
            invoke(tools, "query", json.dumps({"sql": CROSS_JOIN}), context, timeout=60)
        )
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic()

    cancelled = asyncio.run(cancel_during_query())
    assert wait_until_no_tool_is_alive(3.0)
    assert time.monotonic() - cancelled < 3.0


def test_on_cancel_runs_when_the_call_is_given_up_and_not_otherwise() -> None:
    calls: list[str] = []

    def waits(seconds: float) -> str:
        """Waits, and says whether it was told to stop.

        seconds: how long at most
        """
        stop = threading.Event()
        on_cancel(lambda: (calls.append("cancelled"), stop.set()))
        deadline = time.monotonic() + seconds
        while not stop.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        return "done"

    from luxx_nb.tools import make_tool

    tools = {"waits": make_tool(waits)}
    out = asyncio.run(invoke(tools, "waits", '{"seconds": 0.05}', ToolContext()))
    assert out.content == "done" and calls == []
    out = asyncio.run(invoke(tools, "waits", '{"seconds": 5}', ToolContext(), timeout=0.3))
    assert "timed out" in out.content and calls == ["cancelled"]
    assert wait_until_no_tool_is_alive(2.0)
    assert on_cancel(lambda: None) is False  # outside a tool


@pytest.mark.parametrize(
    "statement, message",
    [
        ("SELEC region FROM sales", "Parser Error: syntax error at or near"),
        ("SELECT regoin FROM sales", 'Referenced column "regoin" not found'),
        ("SELECT region + 1 FROM sales", "Binder Error"),
        ("SELECT CAST(region AS INTEGER) FROM sales", "Conversion Error"),
    ],
    ids=["syntax", "unknown-column", "type-mismatch", "conversion"],
)
def test_errors_quote_duckdb_so_the_model_can_fix_its_sql(statement: str, message: str) -> None:
    result, out = call(view(sales=sales(5)), {"sql": statement})
    assert not out.success and message in result["error"], result["error"]


class Opaque:
    def __repr__(self) -> str:
        return "<Opaque <b>thing</b>>"


def test_columns_of_python_objects_and_nested_lists_are_read_as_text() -> None:
    frame = pandas.DataFrame(
        {
            "thing": [Opaque(), None, Opaque()],
            "nested": [[1, [2, 3]], [], [4]],
            "numbers": [[1, 2], [3], []],
        }
    )
    result = sql.run(view(t=frame), "SELECT * FROM t")
    assert result["rows"][0][0] == "<Opaque <b>thing</b>>" and result["rows"][1][0] is None
    assert result["rows"][0][1] == "[1, [2, 3]]"
    assert result["rows"][0][2] == "[1, 2]" and result["types"][2] == "INTEGER[]"
    json.dumps(result, allow_nan=False)


def test_values_of_every_kind_become_json() -> None:
    statement = (
        "SELECT DATE '2024-01-02' d, TIMESTAMP '2024-01-02 03:04:05' ts, INTERVAL 1 DAY i, "
        "1.25::DECIMAL(5,2) dc, 0.12345678901234567891::DECIMAL(30,20) fine, "
        "'nan'::DOUBLE nan, 'inf'::DOUBLE inf, "
        "'\\x00'::BLOB b, {'a': 1} s, uuid() u, 170141183460469231731687303715884105727::HUGEINT h"
    )
    row = sql.run(view(), statement)["rows"][0]
    assert row[:4] == ["2024-01-02", "2024-01-02T03:04:05", "1 day, 0:00:00", 1.25]
    assert row[4] == "0.12345678901234567891" and row[5:7] == ["nan", "inf"]
    assert row[8] == '{"a": 1}' and len(row[9]) == 36 and row[10] == 2**127 - 1
    json.dumps(row, allow_nan=False)


def test_a_pandas_frame_is_scanned_in_place_not_copied() -> None:
    frame = pandas.DataFrame({"a": numpy.arange(2_000_000), "b": numpy.random.rand(2_000_000)})
    ns = view(t=frame)
    sql.run(ns, "SELECT 1")  # DuckDB's own first-use allocations
    tracemalloc.start()
    try:
        result = sql.run(ns, "SELECT sum(a), avg(b) FROM t")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result["rows"][0][0] == 1_999_999_000_000
    assert peak < 2 * 2**20, peak  # a copy of the frame is 32 MB of numpy


def test_a_polars_frame_is_read_through_arrow_without_copying_its_strings() -> None:
    frame = polars.DataFrame({"s": [f"value-{i:09d}" for i in range(3_000_000)]})
    ns = view(t=frame)
    sql.run(ns, "SELECT count(*) FROM t")
    gc.collect()
    before = psutil.Process().memory_info().rss
    result = sql.run(ns, "SELECT max(length(s)) FROM t")
    grown = psutil.Process().memory_info().rss - before
    assert result["rows"] == [[15]]
    assert grown < 20 * 2**20, grown  # a copy of the strings is about 60 MB


def test_the_step_lists_only_the_tables_the_query_read() -> None:
    ns = view(a=sales(3), b=sales(3), c=sales(3), n=1)
    sql.run(ns, 'WITH x AS (SELECT * FROM a) SELECT * FROM x, "B"')
    assert ns.reads == ("a", "b")


def test_list_variables_marks_tables() -> None:
    ns = view(
        frame=sales(3),
        lazy=polars.from_pandas(sales(3)).lazy(),
        arrow=pyarrow.Table.from_pandas(sales(3)),
        n=1,
    )
    lines = list_variables(ToolContext(namespace=ns)).splitlines()
    assert lines[0].startswith("frame (DataFrame, table): shape (3, 3)")
    columns = "3 columns: region, units, price"
    assert lines[1] == f"lazy (LazyFrame, table): lazy (not computed), {columns}"
    assert lines[2] == "arrow (Table, table): 3 rows, 3 columns: region, units, price"
    assert lines[3] == "n (int): 1"


def test_get_variable_on_a_table_adds_a_summary_of_each_column() -> None:
    frame = pandas.DataFrame({"k": ["a", "b", None, "a"], "x": [1.0, None, 3.0, 8.0]})
    text = get_variable("frame", ToolContext(namespace=view(frame=frame)))
    assert "First 4 rows" in text
    summary = text.split("Column summary of frame", 1)[1]
    assert "k (VARCHAR): 1 null, ~2 distinct" in summary
    assert "x (DOUBLE): 1 null, ~3 distinct, min 1, max 8, mean 4" in summary
    arrow = get_variable("t", ToolContext(namespace=view(t=pyarrow.table({"n": [1, 2]}))))
    assert "n (BIGINT): 0 null, ~2 distinct, min 1, max 2, mean 1.5" in arrow


def test_a_table_duckdb_cannot_read_is_named_in_the_error() -> None:
    ns = view(odd=pandas.DataFrame({"z": [1 + 2j]}), fine=sales(2))
    result = sql.run(ns, "SELECT * FROM odd")
    assert result["success"] is False and "Tables you can query: fine." in result["error"]
    assert "odd could not be read as a table: NotImplementedException" in result["error"]
    assert sql.run(ns, "SELECT count(*) FROM fine")["rows"] == [[2]]


def test_a_series_is_a_one_column_table_under_its_name() -> None:
    result = sql.run(view(s=pandas.Series([1, 2], name="units")), "SELECT sum(units) FROM s")
    assert result["rows"] == [[3]]
    assert sql.run(view(s=pandas.Series([5])), "SELECT value FROM s")["rows"] == [[5]]


def test_the_memory_limit_is_bounded() -> None:
    limit = sql_engine.CONFIG["memory_limit"]
    assert limit.endswith("MB") and 256 <= int(limit[:-2]) <= 4096
    assert os.cpu_count() is None or os.cpu_count() >= sql_engine.THREADS


def test_names_that_differ_only_in_case_are_refused_not_mixed_up() -> None:
    """SQL names ignore case: ``Sales`` would read ``sales`` (the last registered) silently."""
    ns = view(Sales=sales(1), sales=sales(3), other=sales(2), _SALES=sales(9))
    for name in ("Sales", "sales", '"Sales"'):
        result = sql.run(ns, f"SELECT count(*) FROM {name}")
        assert result["success"] is False, (name, result)
        why = "Sales could not be read as a table: its name differs from sales only in case"
        assert why in result["error"]
        assert "_SALES" not in result["error"]  # a hidden name is never named
    assert sql.run(ns, "SELECT count(*) FROM other")["rows"] == [[2]]
