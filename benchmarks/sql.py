"""The ``query`` tool against each library's own group-by, on 10,000,000 rows, in one run.

For a pandas DataFrame, a polars DataFrame and a pyarrow Table holding the same rows (a string
column of 8 regions, an int and a float column), this times
``SELECT region, SUM(units) AS units FROM t GROUP BY region ORDER BY 2 DESC`` through the
tool's whole ``invoke`` (registration on a new closed connection, the query, the JSON the
model gets) against the library's own group-by sum, sorted, in the same process: best of
five, alternated, so a busy machine slows neither more than the other. While the tool runs,
a thread samples the process's resident memory every 2 ms; the growth is its peak over the
level before the first query on that table, as a fraction of the table's own size (zero copy:
goal under 10%). DuckDB's one-time start-up in a process (its first query, on a 2-row table)
is measured apart, before.

    .venv/bin/python benchmarks/sql.py          # prints a Markdown table
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy
import pandas
import polars
import psutil
import pyarrow

from luxx_nb.namespace import NamespaceView
from luxx_nb.tools import ToolContext, invoke
from luxx_nb.variable_tools import namespace_tools

ROWS = 10_000_000
SQL = "SELECT region, SUM(units) AS units FROM t GROUP BY region ORDER BY 2 DESC"
REGIONS = numpy.array(["north", "south", "east", "west", "centre", "islands", "coast", "hills"])
TRIES = 5


def frames() -> dict[str, Any]:
    rng = numpy.random.default_rng(11)
    frame = pandas.DataFrame(
        {
            "region": REGIONS[rng.integers(0, len(REGIONS), ROWS)],
            "units": rng.integers(0, 100, ROWS),
            "price": rng.random(ROWS),
        }
    )
    return {
        "pandas": frame,
        "polars": polars.from_pandas(frame),
        "pyarrow": pyarrow.Table.from_pandas(frame, preserve_index=False),
    }


def size(table: Any) -> int:
    if isinstance(table, pandas.DataFrame):
        return int(table.memory_usage(deep=True).sum())
    if isinstance(table, polars.DataFrame):
        return int(table.estimated_size())
    return int(table.nbytes)


def native(table: Any) -> Callable[[], Any]:
    if isinstance(table, pandas.DataFrame):
        return lambda: table.groupby("region")["units"].sum().sort_values(ascending=False)
    if isinstance(table, polars.DataFrame):
        return lambda: (
            table.group_by("region").agg(polars.col("units").sum()).sort("units", descending=True)
        )
    return lambda: (
        table.group_by("region")
        .aggregate([("units", "sum")])
        .sort_by([("units_sum", "descending")])
    )


def tool(table: Any) -> Callable[[], dict[str, Any]]:
    tools = {t.name: t for t in namespace_tools()}

    def run() -> dict[str, Any]:
        context = ToolContext(namespace=NamespaceView({"t": table}, protect=True))
        out = asyncio.run(invoke(tools, "query", json.dumps({"sql": SQL}), context))
        assert out.success, out.content
        return json.loads(out.content)

    return run


def peak_growth(fn: Callable[[], Any]) -> tuple[Any, int]:
    """``fn()``, and the peak resident memory above the level before it, sampled every 2 ms."""
    process = psutil.Process()
    gc.collect()
    base = process.memory_info().rss
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        value = fn()
    finally:
        done.set()
        sampler.join()
    return value, max(peak[0], process.memory_info().rss) - base


def best(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> int:
    started = time.monotonic()
    tables = frames()
    expected = tables["pandas"].groupby("region")["units"].sum()
    rows = [
        "| table | size | `query` (whole invoke) | its own group-by | pandas `groupby().sum()` "
        "| tool vs own (x faster) | tool vs pandas | RSS growth during the query |",
        "|---|---|---|---|---|---|---|---|",
    ]
    pandas_sum = native(tables["pandas"])
    tiny = tool(pandas.DataFrame({"region": ["a", "b"], "units": [1, 2]}))
    _, start_up = peak_growth(tiny)  # DuckDB's first query in a process: once, not per table
    for name, table in tables.items():
        run_tool, own = tool(table), native(table)
        result, grown = peak_growth(run_tool)  # the first query on this table
        assert {r[0]: r[1] for r in result["rows"]} == {k: int(v) for k, v in expected.items()}
        times: dict[str, list[float]] = {"tool": [], "own": [], "pandas": []}
        for _ in range(TRIES):
            times["tool"].append(best(run_tool))
            times["own"].append(best(own))
            times["pandas"].append(best(pandas_sum))
        t, o, p = (min(times[k]) for k in ("tool", "own", "pandas"))
        mb = size(table) / 2**20
        rows.append(
            f"| {name} | {mb:,.0f} MB | {t:.3f} s | {o:.3f} s | {p:.3f} s | {o / t:.2f}x "
            f"| {p / t:.2f}x | {grown / 2**20:.1f} MB ({grown / size(table):.1%}) |"
        )
    versions = (
        f"duckdb {__import__('duckdb').__version__}, pandas {pandas.__version__}, "
        f"polars {polars.__version__}, pyarrow {pyarrow.__version__}, "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} cores"
    )
    print("\n".join(rows))
    print(
        f"\n{ROWS:,} rows; best of {TRIES}, alternated; DuckDB's own start-up (its first "
        f"query in a process, on a 2-row table) added {start_up / 2**20:.1f} MB once, before "
        f"the rows above; {versions}; {time.monotonic() - started:.0f} s in all."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
