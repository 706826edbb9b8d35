"""Issue #11's scenarios as a new user meets them: a real kernel, ``%%luxx`` cells only.

No helper runs in the kernel: the cells are what a person types (``%load_ext luxx_nb``, a
DataFrame, ``%config``, ``%%luxx`` with the default tools), and only the model's tool calls
are scripted, by the loopback server. Each scenario reads what the model was sent back (the
tool results in the next request) and what the person sees (the live widgets and the saved
snapshot): a correct total per group on 2,000,000 rows, hostile statements that all fail and
leave no file and no changed variable, hidden variables that stay hidden, a query stopped by
the tool time limit, and ``{error}`` after a failing cell.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.builders import text_stream, tool_call_stream
from support.kernel import Cell, Kernel, kernel_env
from support.server import LLMServer

CROSS_JOIN = "SELECT count(*) FROM range(1000000) a, range(1000000) b WHERE a.range + b.range = 7"
GROUP_BY = "SELECT region, SUM(units) AS units FROM sales GROUP BY region ORDER BY 2 DESC"
SETUP = """\
import numpy as np
import pandas as pd

rng = np.random.default_rng(11)
n = 2_000_000
regions = np.array(["north", "south", "east", "west", "centre"])
sales = pd.DataFrame(
    {
        "region": regions[rng.integers(0, 5, n)],
        "units": rng.integers(0, 100, n),
        "price": rng.random(n),
    }
)
_draft = sales.head(5)
api_token_rows = sales.head(4)
internal = sales.head(3)
other = sales.head(2)
%config LuxxMagics.hidden_variables = ["internal"]
"""
HIDDEN = ("_draft", "api_token_rows", "internal")
FINGERPRINT = (
    "[sorted(k for k in globals() if not k.startswith('_') or k == '_draft'), "
    "int(sales.units.sum()), float(sales.price.sum()), sales.shape[0], list(sales.columns), "
    "internal.to_dict('list'), other.to_dict('list')]"
)
"""The notebook's variables, and what each table holds: equal before and after a turn."""
HOSTILE = [
    ("SELECT * FROM read_csv('/etc/passwd')", "file system operations are disabled"),
    ("SELECT content FROM read_text('/etc/hostname')", "file system operations are disabled"),
    ("SELECT getenv('HOME')", "getenv does not exist"),
    ("COPY sales TO 'copied.csv'", "this is a COPY statement"),
    ("COPY (SELECT 1) TO '{tmp}/luxx_copied.csv'", "this is a COPY statement"),
    ("ATTACH 'attached.db' AS other_db", "this is a ATTACH statement"),
    ("INSTALL httpfs", "this is a LOAD statement"),
    ("LOAD httpfs", "this is a LOAD statement"),
    ("SET enable_external_access = true", "this is a SET statement"),
    ("PRAGMA version", "this is a PRAGMA statement"),
    ("CREATE TABLE made AS SELECT * FROM sales", "this is a CREATE statement"),
    ("INSERT INTO sales VALUES ('x', 1, 1.0)", "this is a INSERT statement"),
    ("UPDATE sales SET units = 0", "this is a UPDATE statement"),
    ("DELETE FROM sales", "this is a DELETE statement"),
    ("DROP VIEW sales", "this is a DROP statement"),
    ("EXPORT DATABASE 'exported'", "this is a EXPORT statement"),
    ("SELECT 1; DROP VIEW sales", "Only one statement at a time"),
]
LEFTOVERS = ("copied.csv", "attached.db", "exported", ".tmp", "luxx_copied.csv")


@pytest.fixture(scope="module")
def server() -> Iterator[LLMServer]:
    with LLMServer() as running:
        yield running


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="luxx-sql-kernel-") as path:
        yield Path(path)


@pytest.fixture(scope="module")
def kernel(workdir: Path) -> Iterator[Kernel]:
    running = Kernel(kernel_env(), cwd=str(workdir))
    try:
        running.run("%load_ext luxx_nb")
        running.run(SETUP, timeout=120)
        yield running
    finally:
        running.close()


def luxx(server: LLMServer, prompt: str, options: str = "") -> str:
    return f"%%luxx --model m --base-url {server.base_url} {options}\n{prompt}".replace("  ", " ")


def ask(kernel: Kernel, server: LLMServer, calls: list[tuple[str, dict[str, Any]]], **kw: Any):
    """One ``%%luxx`` cell whose model makes ``calls`` in one round, then answers "Done.";
    the cell, and each call's result as the model got it (JSON parsed when it is JSON)."""
    server.reset()
    server.enqueue(tool_call_stream(calls), text_stream("Done."))
    cell = kernel.run(luxx(server, kw.pop("prompt", "A question."), kw.pop("options", "")))
    assert not cell.of("error") and not cell.streams, (cell.of("error"), cell.streams)
    assert len(server.requests) == 2, "the run did not go on after its tool round"
    messages = server.requests[-1].body["messages"]
    last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
    asked = next(m for m in messages[last_user:] if m.get("tool_calls"))
    by_id = {m["tool_call_id"]: m["content"] for m in messages[last_user:] if m["role"] == "tool"}
    results = [by_id[call["id"]] for call in asked["tool_calls"]]  # results come as they end
    assert len(results) == len(calls)
    return cell, [_parsed(r) for r in results], messages[last_user:]


def _parsed(content: str) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return content


def live_html(kernel: Kernel, cell: Cell) -> str:
    """Every HTML value of the widgets the cell opened (the live tree)."""
    ids = {m["content"]["comm_id"] for m in cell.messages if m["msg_type"] == "comm_open"}
    return "\n".join(str(kernel.states[i].get("value", "")) for i in ids if i in kernel.states)


def test_a_total_per_group_on_two_million_rows_is_right(kernel: Kernel, server: LLMServer):
    before = kernel.value(FINGERPRINT)
    cell, (result,), _ = ask(
        kernel, server, [("query", {"sql": GROUP_BY})], prompt="Which region sold the most?"
    )
    expected = kernel.value(
        "[[k, int(v)] for k, v in "
        "sales.groupby('region')['units'].sum().sort_values(ascending=False).items()]"
    )
    assert result["rows"] == expected and len(expected) == 5
    assert result["columns"] == ["region", "units"] and result["row_count"] == 5
    for shown in (live_html(kernel, cell), cell.snapshot):  # SQL highlighted, a table
        assert '<span class="k">SELECT</span>' in shown and "<table" in shown
        assert f"<td>{expected[0][0]}</td>" in shown
    assert "read: sales" in kernel.seen_and_hidden(cell)[0]
    assert kernel.value(FINGERPRINT) == before


def test_hostile_statements_all_fail_and_leave_no_file(
    kernel: Kernel, server: LLMServer, workdir: Path
):
    tmp = Path(tempfile.gettempdir())
    before = kernel.value(FINGERPRINT)
    calls = [("query", {"sql": sql.format(tmp=tmp)}) for sql, _ in HOSTILE]
    cell, results, _ = ask(kernel, server, calls, prompt="Read the files.")
    for (sql, expected), result in zip(HOSTILE, results, strict=True):
        assert isinstance(result, dict) and result["success"] is False, (sql, result)
        assert expected in result["error"], (sql, result["error"])
    assert kernel.value("__import__('os').getcwd()") == str(workdir)
    assert list(workdir.iterdir()) == []
    assert not [name for name in LEFTOVERS if (tmp / name).exists()]
    assert kernel.value(FINGERPRINT) == before
    assert "Done." in kernel.seen_and_hidden(cell)[0]
    _, (count,), _ = ask(kernel, server, [("query", {"sql": "SELECT count(*) FROM sales"})])
    assert count["rows"] == [[2_000_000]]  # the next cell works, the table unchanged


def test_hidden_variables_stay_hidden(kernel: Kernel, server: LLMServer):
    calls = [("query", {"sql": f"SELECT * FROM {name}"}) for name in (*HIDDEN, "nobody")]
    calls += [("query", {"sql": "SHOW TABLES"}), ("list_variables", {})]
    _, results, _ = ask(kernel, server, calls)
    *hidden, nobody, tables, listing = results
    for name, result in zip((*HIDDEN, "nobody"), (*hidden, nobody), strict=True):
        assert result["success"] is False, result
        assert f"Table with name {name} does not exist" in result["error"]
        assert result["error"].endswith("Tables you can query: sales, other.")
    assert tables["rows"] == [["other"], ["sales"]]
    others = json.dumps([*hidden, nobody, tables, listing])
    for name, result in zip(HIDDEN, hidden, strict=True):  # only its own call names it
        assert name not in others.replace(json.dumps(result), ""), name
    _, (outside, inside), _ = ask(
        kernel,
        server,
        [("query", {"sql": "SELECT * FROM other"}), ("query", {"sql": "SELECT 1 FROM sales"})],
        options="--vars sales",
    )
    assert outside["success"] is False
    assert "Table with name other does not exist" in outside["error"]
    assert inside["row_count"] == 2_000_000


def test_a_query_past_the_tool_time_limit_is_stopped(kernel: Kernel, server: LLMServer):
    kernel.run("%config LuxxMagics.tool_timeout = 1.0")
    try:
        started = time.monotonic()
        cell, (result,), _ = ask(kernel, server, [("query", {"sql": CROSS_JOIN})])
        took = time.monotonic() - started
    finally:
        kernel.run("%config LuxxMagics.tool_timeout = 60.0")
    assert result == {"success": False, "error": "Tool query timed out after 1 s"}
    assert took < 10, took  # generous: two busy cores; the query alone runs for minutes
    shown = kernel.seen_and_hidden(cell)[0]
    assert "Tool query timed out after 1 s" in shown and "Done." in shown
    stopped = kernel.value(
        "(lambda c, t: next((not c.active() for _ in range(300) if not c.active() "
        "or t.sleep(0.01)), False))(__import__('luxx_nb').capture, __import__('time'))"
    )
    assert stopped is True, "the query still runs after its time limit"
    _, (count,), _ = ask(kernel, server, [("query", {"sql": "SELECT count(*) FROM other"})])
    assert count["rows"] == [[2]]


def test_error_after_a_failing_cell(kernel: Kernel, server: LLMServer):
    failed = kernel.run("def load():\n    return sales['regoin']\n\nload()", ok=False)
    assert failed.reply["ename"] == "KeyError"
    server.reset()
    server.enqueue(text_stream("A typo in the column's name."))
    cell = kernel.run(luxx(server, "Why did this fail? {error}", "--no-tools"))
    assert not cell.of("error")
    prompt = server.requests[-1].body["messages"][-1]["content"]
    assert prompt.startswith("Why did this fail? Traceback (most recent call last):\n")
    assert "\n    return sales['regoin']\n" in prompt and "load()" in prompt
    assert prompt.rstrip().endswith("KeyError: 'regoin'") and "\x1b" not in prompt
    assert "ipykernel" not in prompt and "interactiveshell" not in prompt
