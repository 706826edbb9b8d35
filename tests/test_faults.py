"""Fault injection: every row of the fault table driven through ``Chat`` over loopback HTTP.

The table is ``support.faults.FAULTS`` (its rows, tools, observers and checks live in
``tests/support/faults/``). This module drives every row through ``Chat`` (in process, fast);
``test_faults_kernel.py`` drives the same rows through ``%%luxx`` cells in one real kernel. The
table in ``docs/faults.md`` and the README's "## Faults" is rendered from ``FAULTS`` by
``scripts/fault_table.py``; ``test_the_committed_table_is_generated_from_the_rows`` keeps them
equal.

For every row: the turn ends in the expected state with a message a person can read (no
traceback in view; a detail, when there is one, is in a collapsed accordion), what was produced
before the fault is in the reply and the history, and the next turn works on that history.
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import getpass
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.builders import text_stream
from support.faults import FAULTS, FAULTS_BY_ID, Fault
from support.faults.checks import (
    Recorder,
    base_url_for,
    check_next_request,
    check_row,
    observe,
    seen_and_hidden,
)
from support.faults.functions import (
    MUTATION_NAMES,
    TABLE_NAMES,
    fault_tools,
    namespace_for_mutation,
    namespace_for_tables,
    snapshot,
    sql_aftermath,
)
from support.faults.row import KEY, NEXT_ANSWER, NEXT_PROMPT, PROMPT
from support.server import LLMServer

from luxx_nb import Chat, MCPServer, ToolContext, capture
from luxx_nb.tools import invoke, make_tool

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def server() -> Iterator[LLMServer]:
    with LLMServer() as running:
        yield running


async def _interrupt(chat: Chat, row: Fault, server: LLMServer) -> None:
    """Cancel the turn, as a kernel interrupt does, once the fault is under way."""
    task = asyncio.ensure_future(chat.asend(PROMPT))
    assert await asyncio.to_thread(server.wait_for_requests, 1, 10.0)
    await asyncio.sleep(0.6)  # into the stream, the tool, or the wait: each lasts 3 s or more
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 2.0  # not after the tool, the stream or the wait


def run_in_process(row: Fault, server: LLMServer) -> tuple[Chat, dict[str, Any], Recorder]:
    server.reset()
    server.enqueue(*row.responses())
    names = MUTATION_NAMES if row.variables else TABLE_NAMES if row.tables else ()
    namespace = namespace_for_mutation() if row.variables else {}
    namespace = namespace_for_tables() if row.tables else namespace
    before = snapshot(namespace, names) if names else None
    chat = Chat(
        model="test-model",
        base_url=base_url_for(row, server.base_url),
        api_key=KEY,
        tools=fault_tools(row.tools),
        namespace=namespace,
        variable_tools=False,
        timeout=row.timeout,
        tool_timeout=row.tool_timeout,
    )
    chat.history.extend(row.earlier_messages())
    recorder = Recorder()
    chat.add_view(recorder)
    if row.interrupt:
        asyncio.run(_interrupt(chat, row, server))
    else:
        chat.send(PROMPT)
    observed = observe(chat, names, before)
    observed["requests"] = len(server.requests)
    if row.tables:
        observed.update(sql_aftermath())
    return chat, observed, recorder


@pytest.mark.parametrize("row", FAULTS, ids=[row.id for row in FAULTS])
def test_fault_through_chat(row: Fault, server: LLMServer) -> None:
    chat, observed, recorder = run_in_process(row, server)
    seen, hidden = seen_and_hidden(recorder.runs[0])
    check_row(row, observed, seen, hidden)
    server.reset()
    server.enqueue(text_stream(NEXT_ANSWER))
    chat.endpoint = dataclasses.replace(chat.endpoint, base_url=server.base_url)
    following = chat.send(NEXT_PROMPT)
    assert following.state == "done" and following.text == NEXT_ANSWER, following.error
    for source in chat.tools:  # an MCP row's server: not left running until the end
        if isinstance(source, MCPServer):
            source.stop()
    check_next_request(row, server.requests[-1].body["messages"])


@pytest.mark.parametrize(
    "read",
    [lambda: input("name? "), lambda: getpass.getpass(), lambda: sys.stdin.readline()],
    ids=["input", "getpass", "stdin"],
)
def test_keyboard_reads_in_a_tool_fail_at_once(read: Callable[[], str]) -> None:
    def ask() -> str:
        """Asks the keyboard."""
        return read()

    wait_until_no_tool_is_alive()
    before = (builtins.input, getpass.getpass, sys.stdin, sys.stdout)
    started = time.monotonic()
    out = asyncio.run(invoke({"ask": make_tool(ask)}, "ask", "{}", ToolContext()))
    assert not out.success and "ToolInputError: input() is not available" in out.content
    assert time.monotonic() - started < 5  # at once, not at the 60 s time limit
    wait_until_no_tool_is_alive()
    assert (builtins.input, getpass.getpass, sys.stdin, sys.stdout) == before  # put back


def wait_until_no_tool_is_alive() -> None:
    """A hung tool of an earlier row may sleep on (3 s) past its time limit: wait it out."""
    deadline = time.monotonic() + 15
    while capture.active() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not capture.active()


def test_numpy_results_are_the_numbers_they_hold() -> None:
    import numpy

    def total() -> Any:
        """Sums, as pandas and numpy return them."""
        return {"sum": numpy.int64(60), "mean": numpy.float32(0.5), "row": numpy.arange(3)}

    out = asyncio.run(invoke({"total": make_tool(total)}, "total", "{}", ToolContext()))
    assert out.success and json.loads(out.content) == {"sum": 60, "mean": 0.5, "row": [0, 1, 2]}


def test_every_row_is_distinct_and_complete() -> None:
    assert len(FAULTS_BY_ID) == len(FAULTS)
    for row in FAULTS:
        assert row.expect.strip("`") and row.kept and row.fault and row.sees, row.id
        groups = ("Network", "HTTP", "Stream", "Tools", "SQL", "Context", "MCP", "Kernel")
        assert row.group in groups, row.id
        assert row.outcome in ("error", "done", "interrupted"), row.id


def test_the_committed_table_is_generated_from_the_rows() -> None:
    from scripts import fault_table

    assert (ROOT / "docs" / "faults.md").read_text(encoding="utf-8") == fault_table.document()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert fault_table.readme_section() in readme
