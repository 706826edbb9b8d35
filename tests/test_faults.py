"""Fault injection: one table of faults, each driven through ``Chat`` over loopback HTTP.

``FAULTS`` is the single table. This module drives every row through ``Chat`` (in process,
fast); ``test_faults_kernel.py`` drives the same rows through ``%%luxx`` cells in one real
kernel, which imports this module for the rows, the tools and ``observe``. The table in
``docs/faults.md`` and the README's "## Faults" is rendered from ``FAULTS`` by
``scripts/fault_table.py``; ``test_the_committed_table_is_generated_from_the_rows`` keeps them
equal.

For every row: the turn ends in the expected state with a message a person can read (no
traceback in view; a detail, when there is one, is in a collapsed accordion), what was produced
before the fault is in the reply and the history, and the next turn works on that history.
"""

from __future__ import annotations

import asyncio
import builtins
import copy
import dataclasses
import getpass
import html
import io
import json
import shlex
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipywidgets
import pytest
from server import (
    LLMServer,
    Response,
    Stream,
    drop_after,
    hang,
    json_error,
    json_response,
    sse,
    text_stream,
    tool_call_stream,
)

from luxx_nb import Chat, MCPServer, ToolContext, capture
from luxx_nb.render.text import TextRenderer
from luxx_nb.render.widgets import RunWidget
from luxx_nb.tools import Tool, invoke, make_tool
from luxx_nb.variable_tools import namespace_tools

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "Tell me about the data."
NEXT_PROMPT = "And now?"
NEXT_ANSWER = "Next answer arrives."
UNKNOWN_HOST = "http://luxx-no-such-host.invalid/v1"
KEY = "sk-fault-canary-4c1d9e7f2a6b83d05e17"


def fails(reason: str) -> str:
    """Always raises.

    reason: why
    """
    raise ValueError(f"boom: {reason}")


def hangs(seconds: float) -> str:
    """Sleeps, past its time limit.

    seconds: how long
    """
    time.sleep(seconds)
    return "woke up"


def noisy(lines: int) -> str:
    """Prints to stdout and stderr, then answers.

    lines: how many lines of each
    """
    for i in range(lines):
        print(f"NOISY-OUT {i}")
        print(f"NOISY-ERR {i}", file=sys.stderr)
    return "printed"


def huge() -> str:
    """Returns 5 MB of text."""
    return "x" * 5_000_000


def opaque() -> Any:
    """Returns a value JSON cannot carry."""
    return {"handle": object()}


def deep() -> list[Any]:
    """Returns a list nested 100,000 deep (json.dumps hits the recursion limit)."""
    nested: list[Any] = []
    for _ in range(100_000):
        nested = [nested]
    return nested


def asks() -> str:
    """Asks the keyboard for a name."""
    return input("Your name? ")


def mutates(items: list[int], context: ToolContext) -> dict[str, str]:
    """Changes its arguments, and tries every way to change the notebook's variables.

    items: any numbers
    """
    items.append(4)
    tried: dict[str, str] = {}

    def attempt(name: str, change: Callable[[], Any]) -> None:
        try:
            change()
            tried[name] = "changed its copy"
        except Exception as exc:
            tried[name] = f"refused: {type(exc).__name__}"

    def change_frame() -> None:
        frame = ns["frame"]
        frame.loc[0, "a"] = -1

    ns = context.namespace
    attempt("append", lambda: ns["shared"].append("changed by a tool"))
    attempt("nested", lambda: ns["nested"]["inner"].update(x=0))
    attempt("frame", change_frame)
    attempt("array", lambda: ns["array"].__setitem__(0, -1))
    attempt("assign", lambda: ns.__setitem__("shared", []))  # type: ignore[attr-defined]
    attempt("delete", lambda: ns.__delitem__("shared"))  # type: ignore[attr-defined]
    attempt("attribute", lambda: setattr(ns, "shared", []))
    attempt("chat", lambda: context.chat.namespace.__setitem__("shared", []))
    attempt("chat-append", lambda: context.chat.namespace["shared"].append(1))
    return tried


def echo_size(payload: str) -> str:
    """Says how long the payload is.

    payload: any text
    """
    return f"got {len(payload):,} characters"


def square(n: int) -> int:
    """Squares a number.

    n: the number
    """
    return n * n


TOOL_FUNCTIONS: dict[str, Callable[..., Any]] = {
    f.__name__: f
    for f in (fails, hangs, noisy, huge, opaque, deep, asks, mutates, echo_size, square)
}


MCP_FAKE = str(Path(__file__).resolve().parent / "mcp_fake.py")
MCP_MISSING = "luxx-no-such-mcp-server"
MCP_COMMANDS: dict[str, list[str]] = {
    "ghost": [MCP_MISSING, "--stdio"],
    "refuses": [sys.executable, MCP_FAKE, "exit-at-start"],
    "crasher": [sys.executable, MCP_FAKE, "crash"],
    "staller": [sys.executable, MCP_FAKE, "hang"],
    "garbler": [sys.executable, MCP_FAKE, "malformed"],
    "badschema": [sys.executable, MCP_FAKE, "bad-schema"],
}
"""The MCP servers of the MCP rows, by name (tests/mcp_fake.py misbehaves on purpose)."""


def fault_tools(names: Sequence[str]) -> list[Tool | MCPServer]:
    """The named fault tools; a built-in name (``query``) is luxx_nb's own tool, an MCP
    server's name (``MCP_COMMANDS``) a fresh server."""
    built_in = {t.name: t for t in namespace_tools()}
    chosen: list[Tool | MCPServer] = []
    for n in names:
        if n in MCP_COMMANDS:
            chosen.append(MCPServer(MCP_COMMANDS[n], name=n))
        else:
            chosen.append(built_in[n] if n in built_in else make_tool(TOOL_FUNCTIONS[n]))
    return chosen


class Gadget:
    """A Python object in a DataFrame column: DuckDB reads it as its ``str``."""

    def __init__(self, number: int) -> None:
        self.number = number

    def __repr__(self) -> str:
        return f"<Gadget #{self.number}>"


TABLE_NAMES = ("sales", "things", "secret_sales")
LEFTOVERS = ("luxx_sql_copy.csv", "luxx_sql_attach.db", "luxx_sql_export", ".tmp")
"""What a hostile statement of the SQL rows would write, in the working or temp directory."""


def namespace_for_tables() -> dict[str, Any]:
    """The tables the SQL rows query (``secret_sales`` is hidden by its name)."""
    import numpy
    import pandas

    index = numpy.arange(1_000)
    regions = numpy.array(["north", "south", "east", "west"])
    sales = pandas.DataFrame({"region": regions[index % 4], "units": index % 7})
    things = pandas.DataFrame(
        {"thing": [Gadget(1), Gadget(2), None], "nested": [[1, [2, 3]], [], [[4]]]}
    )
    return {"sales": sales, "things": things, "secret_sales": sales.head(3)}


def sql_aftermath() -> dict[str, Any]:
    """After a SQL row: whether a query's thread still runs (2 s grace), and what it wrote."""
    import tempfile

    deadline = time.monotonic() + 2.0
    while capture.active() and time.monotonic() < deadline:
        time.sleep(0.01)
    places = (Path.cwd(), Path(tempfile.gettempdir()))
    files = [str(p / name) for p in places for name in LEFTOVERS if (p / name).exists()]
    return {"tools_alive": bool(capture.active()), "files": files}


def namespace_for_mutation() -> dict[str, Any]:
    """The variables the ``mutates`` tool tries to change, fresh for each run."""
    import numpy
    import pandas

    return {
        "shared": [1, 2, 3],
        "nested": {"inner": {"x": 1}},
        "frame": pandas.DataFrame({"a": [1, 2], "b": [3, 4]}),
        "array": numpy.arange(3),
    }


def snapshot(ns: dict[str, Any], names: Sequence[str]) -> dict[str, str]:
    """Each variable as text, to compare before and after a turn."""
    out = {}
    for name in names:
        value = ns.get(name)
        to_string = getattr(value, "to_string", None)
        out[name] = to_string() if callable(to_string) else repr(value)
    return out


@dataclass(frozen=True)
class Fault:
    """One row of the fault table.

    ``responses`` builds what the loopback server answers (fresh each run: a response is
    consumed); ``expect`` is a fragment of what the person sees, asserted in the view (and in
    the error, for ``outcome == "error"``); ``partial`` is text produced before the fault that
    must stay in the reply and the history; ``verify`` checks the row's own promise on the
    observation (``observe``), the same in process and in the kernel.
    """

    id: str
    group: str
    fault: str
    sees: str
    expect: str
    kept: str
    outcome: str = "error"
    responses: Callable[[], list[Response]] = list
    partial: str = ""
    tools: tuple[str, ...] = ()
    timeout: float | None = None
    tool_timeout: float = 60.0
    target: str | None = None
    interrupt: str | None = None
    variables: bool = False
    tables: bool = False
    verify: Callable[[dict[str, Any]], None] | None = None
    detail: str = ""
    earlier: Callable[[], list[dict[str, Any]]] | None = None
    """The conversation before the row's prompt (a long one, for the context rows)."""

    def earlier_messages(self) -> list[dict[str, Any]]:
        return self.earlier() if self.earlier is not None else []


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def partial_then(*tail: str | dict[str, Any], done: bool = True) -> Stream:
    """ "Partial " as two fragments, then ``tail`` (raw SSE text or chunks)."""
    return sse([chunk({"content": "Partial "}), chunk({"content": "answer"}), *tail], done=done)


def raw(*pieces: bytes, delay: float = 0.0, **kwargs: Any) -> Stream:
    return Stream(list(pieces), delay=delay, **kwargs)


def retried(factory: Callable[[], Response]) -> Callable[[], list[Response]]:
    """Three identical answers: the first try and the two retries."""
    return lambda: [factory() for _ in range(3)]


def then_answer(*first: Response, answer: str = "All done.") -> list[Response]:
    return [*first, text_stream(answer)]


def tool_round(calls: list[tuple[str, Any]], answer: str = "All done.", **kw: Any) -> list:
    return [tool_call_stream(calls, **kw), text_stream(answer)]


def tool_step(observed: dict[str, Any], name: str) -> dict[str, Any]:
    results = [s for s in observed["steps"] if s["type"] == "tool_result" and s["name"] == name]
    assert results, observed["steps"]
    return results[0]


def verify_prints(observed: dict[str, Any]) -> None:
    step = tool_step(observed, "noisy")
    assert "NOISY-OUT 0" in step["output"] and "NOISY-ERR 2" in step["output"]
    assert step["content"] == "printed"


def verify_huge(observed: dict[str, Any]) -> None:
    step = tool_step(observed, "huge")
    assert 20_000 <= len(step["content"]) < 20_200 and "[... cut 4,980,000" in step["content"]
    assert "5,000,000 characters" in step["detail"]


def verify_traceback(observed: dict[str, Any]) -> None:
    step = tool_step(observed, "fails")
    assert "Traceback" in step["detail"] and "boom: on purpose" in step["detail"]
    assert "Traceback" not in step["content"]


def verify_fifty(observed: dict[str, Any]) -> None:
    results = [s for s in observed["steps"] if s["type"] == "tool_result"]
    assert sorted(int(s["content"]) for s in results) == [n * n for n in range(50)]
    assert sum(m["role"] == "tool" for m in observed["history"]) == 50


def verify_big_arguments(observed: dict[str, Any]) -> None:
    assert tool_step(observed, "echo_size")["content"] == "got 1,000,000 characters"
    call = next(s for s in observed["steps"] if s["type"] == "tool_call")
    assert call["arguments_length"] == len('{"payload":""}') + 1_000_000


def verify_mutation(observed: dict[str, Any]) -> None:
    tried = json.loads(tool_step(observed, "mutates")["content"])
    assert tried["append"] == tried["nested"] == tried["frame"] == "changed its copy"
    assert tried["array"] == "refused: ValueError"
    for way in ("assign", "delete", "chat", "attribute"):
        assert tried[way].startswith("refused"), (way, tried)
    assert observed["variables"] == observed["variables_before"]
    call = next(m for m in observed["history"] if m.get("tool_calls"))
    assert json.loads(call["tool_calls"][0]["function"]["arguments"]) == {"items": [1, 2, 3]}
    reads = tool_step(observed, "mutates")["variables"]
    assert reads == ["shared", "nested", "frame", "array"]


def verify_interrupted_tools(observed: dict[str, Any]) -> None:
    tool = [m for m in observed["history"] if m["role"] == "tool"]
    assert len(tool) == 1 and "interrupted" in tool[0]["content"]


def verify_closed(observed: dict[str, Any]) -> None:
    """A SQL row: no query left running, no file written, no notebook variable changed."""
    assert observed["tools_alive"] is False, "a query is still running"
    assert observed["files"] == [], observed["files"]
    assert observed["variables"] == observed["variables_before"]
    assert observed["variables"]["sales"].count("\n") == 1_000  # all rows, each unchanged


def verify_huge_query(observed: dict[str, Any]) -> None:
    verify_closed(observed)
    result = json.loads(tool_step(observed, "query")["content"])
    assert result["row_count"] == 10_000_000 and len(result["rows"]) == 50


def verify_sql_interrupted(observed: dict[str, Any]) -> None:
    verify_closed(observed)
    verify_interrupted_tools(observed)


def verify_two_tries(observed: dict[str, Any]) -> None:
    assert observed["requests"] == 2


def verify_three_tries(observed: dict[str, Any]) -> None:
    assert observed["requests"] == 3


def verify_one_try(observed: dict[str, Any]) -> None:
    assert observed["requests"] == 1


WORDS = "word " * 400
BIG_TEXT = "word " * 2_100_000  # 10.5 MB


def big_chunk() -> list[Response]:
    data = json.dumps(chunk({"content": BIG_TEXT}, "stop"))
    return [raw(f"data: {data}\n\ndata: [DONE]\n\n".encode())]


def drip() -> list[Response]:
    body = b'data:{"content":"drip ok"}\n\ndata:[DONE]\n\n'
    return [raw(*(body[i : i + 1] for i in range(len(body))), delay=0.1)]


def reset_mid_stream() -> list[Response]:
    body = partial_then(chunk({"content": " and more"}, "stop")).body
    cut = body.index(b"answer") + len(b'answer"}')
    cut = body.index(b"\n\n", cut) + 2
    return [drop_after(body, cut, reset=True)]


def stall() -> list[Response]:
    first = partial_then(done=False).body
    rest = b"data: " + json.dumps(chunk({}, "stop")).encode() + b"\n\ndata: [DONE]\n\n"
    return [raw(first, rest, delay=6.0)]


MOVED = "https://api.example.org/v1/chat/completions"
HTML_PAGE = b"<html><head><title>Sign in - Portal</title></head><body>Please log in</body></html>"
HTML_404 = b"<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>"


def http_row(status: int, reason: str, message: str, note: str = "") -> Fault:
    return Fault(
        id=f"http-{status}",
        group="HTTP",
        fault=f"HTTP {status} with an OpenAI-style JSON error body",
        sees=f"Error: `HTTP {status} {reason}: …` in the provider's words{note}",
        expect=f"HTTP {status} {reason}: {message}",
        kept="the prompt",
        responses=lambda: [json_error(status, message)],
        verify=verify_one_try,
        detail=message,
    )


CROSS_JOIN = "SELECT count(*) FROM range(1000000) a, range(1000000) b WHERE a.range + b.range = 7"


def sql_row(id: str, fault: str, statement: str, expect: str, sees: str = "", **kw: Any) -> Fault:
    """A ``query`` call the model makes, and what its failed result says."""
    return Fault(
        id=f"sql-{id}",
        group="SQL",
        fault=fault,
        sees=sees or f"The call marked ✗: `{expect}`; nothing read or written",
        expect=expect,
        kept="the call, the failure, the answer; every variable unchanged, no file",
        outcome="done",
        tools=("query",),
        tables=True,
        responses=lambda: tool_round([("query", {"sql": statement})]),
        **{"verify": verify_closed, **kw},
    )


HOSTILE_SQL: tuple[Fault, ...] = (
    sql_row(
        "read-file",
        "`SELECT * FROM read_csv('/etc/passwd')`",
        "SELECT * FROM read_csv('/etc/passwd')",
        "file system operations are disabled by configuration",
    ),
    sql_row(
        "getenv",
        "`SELECT getenv('HOME')`",
        "SELECT getenv('HOME')",
        "Scalar Function with name getenv does not exist",
    ),
    sql_row(
        "copy",
        "`COPY sales TO 'luxx_sql_copy.csv'`",
        "COPY sales TO 'luxx_sql_copy.csv'",
        "Only SELECT queries can run",
        "The call marked ✗: `Only SELECT queries can run …; this is a COPY statement`",
    ),
    *(
        sql_row(
            kind.lower(),
            f"`{statement}`",
            statement,
            f"this is a {kind.upper() if kind != 'INSTALL' else 'LOAD'} statement",
        )
        for kind, statement in (
            ("ATTACH", "ATTACH 'luxx_sql_attach.db' AS other"),
            ("INSTALL", "INSTALL httpfs"),
            ("LOAD", "LOAD httpfs"),
            ("SET", "SET enable_external_access = true"),
            ("PRAGMA", "PRAGMA version"),
            ("CREATE", "CREATE TABLE copied AS SELECT * FROM sales"),
            ("INSERT", "INSERT INTO sales VALUES ('x', 1)"),
            ("UPDATE", "UPDATE sales SET units = 0"),
            ("DROP", "DROP VIEW sales"),
            ("EXPORT", "EXPORT DATABASE 'luxx_sql_export'"),
        )
    ),
    sql_row(
        "two-statements",
        "Two statements in one call (`SELECT 1; DROP VIEW sales`)",
        "SELECT 1; DROP VIEW sales",
        "Only one statement at a time: this SQL has 2",
    ),
    sql_row(
        "syntax",
        "A syntax error (`SELEC region FROM sales`)",
        "SELEC region FROM sales",
        'Parser Error: syntax error at or near "SELEC"',
        "The call marked ✗ with DuckDB's own message: `Parser Error: syntax error at or near …`",
    ),
    sql_row(
        "hidden",
        "A query on a hidden variable (`secret_sales`)",
        "SELECT * FROM secret_sales",
        "Table with name secret_sales does not exist",
        "The call marked ✗: `Table with name secret_sales does not exist`, as for a name "
        "nobody defined; the visible tables listed",
    ),
    sql_row(
        "timeout",
        "A cross join of two 1,000,000-row ranges past the time limit (1 s here)",
        CROSS_JOIN,
        "Tool query timed out after 1 s",
        "The call marked ✗ with `Tool query timed out after 1 s`; the query is interrupted, "
        "not left running",
        tool_timeout=1.0,
    ),
    dataclasses.replace(
        sql_row(
            "huge-result",
            "A result of 10,000,000 rows",
            "SELECT range AS n FROM range(10000000)",
            "10,000,000 rows; the first 50 shown",
            "The first 50 rows as a table, `10,000,000 rows; the first 50 shown`",
            verify=verify_huge_query,
        ),
        kept="the call, the cut result with its count, the answer; every variable unchanged",
    ),
    dataclasses.replace(
        sql_row(
            "objects",
            "A table with a column of Python objects and one of nested lists",
            "SELECT * FROM things",
            "<Gadget #1>",
            "The rows as a table, each object as its `str` (`<Gadget #1>`), lists as text",
        ),
        kept="the call, the result, the answer; every variable unchanged",
    ),
)


def conversation(exchanges: int, chars: int, big_result: int = 0) -> list[dict[str, Any]]:
    """Earlier exchanges of about ``chars`` characters each; the first with a tool round
    whose result is ``big_result`` characters long, when given."""
    messages: list[dict[str, Any]] = []
    for i in range(exchanges):
        words = " ".join(["word"] * (chars // 10))
        messages.append({"role": "user", "content": f"Question {i}: {words}"})
        if i == 0 and big_result:
            call = {"id": "call_early", "type": "function"}
            call["function"] = {"name": "dump", "arguments": "{}"}
            messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
            messages.append(
                {"role": "tool", "tool_call_id": "call_early", "content": "z" * big_result}
            )
        messages.append({"role": "assistant", "content": f"Answer {i}: {words}"})
    return messages


def too_long_llamacpp(prompt: int, context: int) -> Response:
    message = (
        f"request ({prompt} tokens) exceeds the available context size ({context} tokens), "
        "try increasing it"
    )
    error = {"code": 400, "message": message, "type": "exceed_context_size_error"}
    error.update(n_prompt_tokens=prompt, n_ctx=context)
    return json_error(400, "", body={"error": error})


def too_long_openai(prompt: int, context: int) -> Response:
    message = (
        f"This model's maximum context length is {context} tokens. However, your messages "
        f"resulted in {prompt} tokens. Please reduce the length of the messages."
    )
    error = {"message": message, "type": "invalid_request_error", "param": "messages"}
    error["code"] = "context_length_exceeded"
    return json_error(400, "", body={"error": error})


def verify_windowed(exchanges: int) -> Callable[[dict[str, Any]], None]:
    """Refused once, sent again with fewer messages; the history keeps every exchange."""

    def verify(observed: dict[str, Any]) -> None:
        assert observed["requests"] == 2, observed["requests"]
        users = [m for m in observed["history"] if m["role"] == "user"]
        assert len(users) == exchanges + 1

    return verify


WINDOWED = "Answered from the recent exchanges."
CONTEXT_ROWS = (
    Fault(
        id="context-llamacpp",
        group="Context",
        fault="Refused as too long for the context, in llama.cpp's shape "
        "(`exceed_context_size_error`, `n_prompt_tokens` 6,100, `n_ctx` 4,096), "
        "12 exchanges before",
        sees="The answer; the status line: `sent the last 5 of 13 exchanges to fit 4,096 tokens`",
        expect="sent the last 5 of 13 exchanges to fit 4,096 tokens",
        kept="the whole answer; every exchange in the history (only the request was windowed)",
        outcome="done",
        earlier=lambda: conversation(12, 2_000),
        responses=lambda: [too_long_llamacpp(6_100, 4_096), text_stream(WINDOWED)],
        verify=verify_windowed(12),
    ),
    Fault(
        id="context-openai",
        group="Context",
        fault="Refused as too long, in OpenAI's shape (`context_length_exceeded`, "
        "8,192 tokens, 10,500 sent), 200 exchanges before, `max_history` unset",
        sees="The answer; the status line: `sent the last 89 of 201 exchanges to fit 8,192 tokens`",
        expect="sent the last 89 of 201 exchanges to fit 8,192 tokens",
        kept="the whole answer; all 201 exchanges in the history",
        outcome="done",
        earlier=lambda: conversation(200, 200),
        responses=lambda: [too_long_openai(10_500, 8_192), text_stream(WINDOWED)],
        verify=verify_windowed(200),
    ),
    Fault(
        id="context-words",
        group="Context",
        fault="Refused with only words (`The prompt is too long for the model's context "
        "window`), no numbers, 12 exchanges before",
        sees="The answer; the status line: `sent the last 7 of 13 exchanges` (30% smaller)",
        expect="sent the last 7 of 13 exchanges",
        kept="the whole answer; every exchange in the history",
        outcome="done",
        earlier=lambda: conversation(12, 2_000),
        responses=lambda: [
            json_error(400, "The prompt is too long for the model's context window"),
            text_stream(WINDOWED),
        ],
        verify=verify_windowed(12),
    ),
    Fault(
        id="context-early-big-result",
        group="Context",
        fault="Refused as too long, a 20,000-character tool result (a 5 MB one, cut) in "
        "the first of 4 exchanges before",
        sees="The answer; the status line: `cut 1 old tool result (19,600 characters) to fit "
        "4,096 tokens`",
        expect="cut 1 old tool result (19,600 characters) to fit 4,096 tokens",
        kept="the whole answer; the result whole in the history",
        outcome="done",
        earlier=lambda: conversation(4, 400, big_result=20_000),
        responses=lambda: [too_long_llamacpp(5_600, 4_096), text_stream(WINDOWED)],
        verify=verify_windowed(4),
    ),
    Fault(
        id="context-prompt-too-big",
        group="Context",
        fault="A prompt larger than the whole context (the server counts 50,000 tokens, 4,096 fit)",
        sees="Error: `The prompt is too long for this model: about 50,000 tokens, and 4,096 "
        "fit …`, with what to do",
        expect="The prompt is too long for this model: about 50,000 tokens, and 4,096 fit",
        kept="the prompt",
        responses=lambda: [too_long_llamacpp(50_000, 4_096)],
        verify=verify_one_try,
    ),
)


def mcp_row(id: str, server: str, fault: str, expect: str, sees: str, **kw: Any) -> Fault:
    """A row whose tools come from an MCP server of ``MCP_COMMANDS``."""
    return Fault(
        id=f"mcp-{id}",
        group="MCP",
        fault=fault,
        sees=sees,
        expect=expect,
        outcome="done",
        tools=(server,),
        **{"kept": "the call, the failure, the answer", **kw},
    )


MCP_ROWS: tuple[Fault, ...] = (
    mcp_row(
        "missing",
        "ghost",
        f"The server's command does not exist (`{MCP_MISSING}`)",
        f"The MCP server 'ghost' could not start: the command '{MCP_MISSING}' was not found",
        "The answer, without the server's tools; the status line: `The MCP server 'ghost' "
        "could not start: the command … was not found. Its tools are not offered in this run.`",
        kept="the prompt, the answer",
        responses=lambda: [text_stream("All done.")],
    ),
    mcp_row(
        "exit-at-start",
        "refuses",
        "The server exits at start (status 3, a line on stderr)",
        "could not start: it stopped before it was ready. It said: this server refuses to start",
        "The answer, without the server's tools; the status line: `The MCP server 'refuses' "
        "could not start: it stopped before it was ready. It said: …` (its stderr)",
        kept="the prompt, the answer",
        responses=lambda: [text_stream("All done.")],
    ),
    mcp_row(
        "crash",
        "crasher",
        "The server crashes during a call",
        "The MCP server 'crasher' stopped during the call",
        "The call marked ✗: `The MCP server 'crasher' stopped during the call (…); the next "
        "call starts it again. It said: crashing on purpose`",
        responses=lambda: tool_round([("crash", {})]),
    ),
    mcp_row(
        "hang",
        "staller",
        "The server never answers a call (time limit 1 s here)",
        "Tool stall timed out after 1 s",
        "The call marked ✗ with `Tool stall timed out after 1 s`",
        tool_timeout=1.0,
        responses=lambda: tool_round([("stall", {})]),
    ),
    mcp_row(
        "malformed",
        "garbler",
        "The server answers a call with malformed content (a text part without its text)",
        "The MCP server 'garbler' sent a malformed result",
        "The call marked ✗: `The MCP server 'garbler' sent a malformed result: …`",
        responses=lambda: tool_round([("garbled", {})]),
    ),
    mcp_row(
        "bad-schema",
        "badschema",
        "One of the server's tools has an input schema that is not valid JSON Schema",
        "the tool 'bad_schema' is left out: its input schema is not valid JSON Schema",
        "The other tool's call and result, the answer; the status line: `badschema: the tool "
        "'bad_schema' is left out: its input schema is not valid JSON Schema (…)`",
        kept="the call, the result, the answer",
        responses=lambda: tool_round([("good_one", {"n": 2})]),
        verify=lambda observed: _good_one(observed),
    ),
)


def _good_one(observed: dict[str, Any]) -> None:
    assert tool_step(observed, "good_one")["content"] == "good 2"


FAULTS: tuple[Fault, ...] = (
    Fault(
        id="connection-refused",
        group="Network",
        fault="Nothing listens on the port",
        sees="Error: `connection refused (is the server running, and is the port right?)`",
        expect="connection refused (is the server running, and is the port right?)",
        kept="the prompt",
        target="refused",
        detail="ConnectionRefusedError",
    ),
    Fault(
        id="unknown-host",
        group="Network",
        fault="The host name does not resolve (`.invalid`)",
        sees="Error: `the host 'luxx-no-such-host.invalid' was not found (DNS)`",
        expect="the host 'luxx-no-such-host.invalid' was not found (DNS)",
        kept="the prompt",
        target="unknown-host",
        detail="gaierror",
    ),
    Fault(
        id="reset-mid-stream",
        group="Network",
        fault="TCP reset after part of the answer",
        sees="The partial answer, then Error: `broke during the answer`",
        expect="broke during the answer",
        kept="the prompt and the partial answer",
        responses=reset_mid_stream,
        partial="Partial answer",
    ),
    Fault(
        id="closed-before-answer",
        group="Network",
        fault="The server closes the connection before answering, twice",
        sees="Error: `closed the connection without answering (tried twice)`",
        expect="closed the connection without answering (tried twice)",
        kept="the prompt",
        responses=lambda: [hang(0, send_headers=False), hang(0, send_headers=False)],
        detail="RemoteProtocolError",
    ),
    Fault(
        id="stall",
        group="Network",
        fault="Part of the answer, then no bytes past the read timeout (1 s here)",
        sees="The partial answer, then Error: `sent nothing for 1 s; the request was abandoned`",
        expect="sent nothing for 1 s; the request was abandoned",
        kept="the prompt and the partial answer",
        responses=stall,
        partial="Partial answer",
        timeout=1.0,
        detail="ReadTimeout",
    ),
    Fault(
        id="slow-drip",
        group="Network",
        fault="One byte every 100 ms, read timeout 1 s",
        sees="The answer, `drip ok`, as it arrives",
        expect="drip ok",
        kept="the whole answer",
        outcome="done",
        responses=drip,
        timeout=1.0,
    ),
    Fault(
        id="no-done",
        group="Network",
        fault="The body ends without `[DONE]` or a finish reason",
        sees="The partial answer, then Error: `The stream ended before the answer was complete`",
        expect="The stream ended before the answer was complete",
        kept="the prompt and the partial answer",
        responses=lambda: [partial_then(done=False)],
        partial="Partial answer",
    ),
    Fault(
        id="over-10-mb",
        group="Network",
        fault="A 10.5 MB answer in one SSE event, one read",
        sees="The whole answer",
        expect="word word word",
        kept="the whole answer (10.5 MB)",
        outcome="done",
        responses=big_chunk,
        verify=lambda observed: _text_length(observed, len(BIG_TEXT)),
    ),
    http_row(400, "Bad Request", "Invalid value for 'temperature'"),
    http_row(
        401,
        "Unauthorized",
        "Incorrect API key provided: sk-fa****5e17",
        ", the key only as the provider masked it",
    ),
    http_row(403, "Forbidden", "Project does not have access"),
    http_row(404, "Not Found", "The model `nope` does not exist"),
    http_row(413, "Content Too Large", "Request too large"),
    http_row(422, "Unprocessable Content", "Unprocessable input"),
    Fault(
        id="http-429-retry-after",
        group="HTTP",
        fault="HTTP 429 with `Retry-After: 1`, then an answer",
        sees="Status `retrying` for 1 s, then the answer",
        expect="Answer after the wait.",
        kept="the whole answer",
        outcome="done",
        responses=lambda: then_answer(
            json_error(429, "Rate limit reached", headers={"Retry-After": "1"}),
            answer="Answer after the wait.",
        ),
        verify=verify_two_tries,
    ),
    Fault(
        id="http-429-retry-after-too-long",
        group="HTTP",
        fault="HTTP 429 with `Retry-After: 3600`",
        sees="Error at once: `(the server asked to wait 3600 s; try again later)`",
        expect="(the server asked to wait 3600 s; try again later)",
        kept="the prompt",
        responses=lambda: [json_error(429, "Rate limit reached", headers={"Retry-After": "3600"})],
        verify=verify_one_try,
    ),
    Fault(
        id="http-429",
        group="HTTP",
        fault="HTTP 429 without `Retry-After`, three times",
        sees="Status `retrying` (backoff), then Error: `HTTP 429 Too Many Requests: …`",
        expect="HTTP 429 Too Many Requests: Rate limit reached",
        kept="the prompt",
        responses=retried(lambda: json_error(429, "Rate limit reached")),
        verify=verify_three_tries,
    ),
    *(
        Fault(
            id=f"http-{status}",
            group="HTTP",
            fault=f"HTTP {status}, three times",
            sees=f"Status `retrying`, then Error: `HTTP {status} {reason}: …`",
            expect=f"HTTP {status} {reason}: upstream trouble",
            kept="the prompt",
            responses=retried(lambda status=status: json_error(status, "upstream trouble")),
            verify=verify_three_tries,
        )
        for status, reason in (
            (500, "Internal Server Error"),
            (502, "Bad Gateway"),
            (503, "Service Unavailable"),
        )
    ),
    Fault(
        id="http-307-redirect",
        group="HTTP",
        fault="HTTP 307 to another address (http to https, an API that moved)",
        sees="Error: `the server sends this request to https://api.example.org/…`; not "
        "followed, so the key is never sent elsewhere",
        expect="the server sends this request to https://api.example.org/v1/chat/completions",
        kept="the prompt",
        responses=lambda: [
            raw(b"", status=307, headers={"Location": MOVED}, content_type=None, framing="length")
        ],
        verify=verify_one_try,
    ),
    Fault(
        id="html-page",
        group="HTTP",
        fault="HTTP 200 with an HTML login page where the stream should be",
        sees="Error: `The server answered with a web page ('Sign in - Portal')`, check the URL",
        expect="The server answered with a web page ('Sign in - Portal')",
        kept="the prompt",
        responses=lambda: [raw(HTML_PAGE, content_type="text/html", framing="length")],
        detail="Please log in",
    ),
    Fault(
        id="html-error-page",
        group="HTTP",
        fault="HTTP 404 with an HTML error page instead of JSON",
        sees="Error: `HTTP 404 Not Found: 404 Not Found`",
        expect="HTTP 404 Not Found: 404 Not Found",
        kept="the prompt",
        responses=lambda: [raw(HTML_404, status=404, content_type="text/html", framing="length")],
        detail="<h1>Not Found</h1>",
    ),
    Fault(
        id="empty-200",
        group="HTTP",
        fault="HTTP 200 with an empty body",
        sees="Error: `the server sent an empty body`",
        expect="the server sent an empty body",
        kept="the prompt",
        responses=lambda: [json_response(b"")],
    ),
    Fault(
        id="not-json",
        group="Stream",
        fault="A `data:` line that is not JSON",
        sees="The partial answer, then Error: `not valid JSON: 'hello world'`",
        expect="not valid JSON: 'hello world'",
        kept="the prompt and the partial answer",
        responses=lambda: [partial_then("data: hello world\n\n")],
        partial="Partial answer",
    ),
    Fault(
        id="truncated-json",
        group="Stream",
        fault="A `data:` line with JSON cut short",
        sees="The partial answer, then Error: `not valid JSON`",
        expect="The provider sent data that is not valid JSON",
        kept="the prompt and the partial answer",
        responses=lambda: [partial_then('data: {"choices":[{"delta":{"content":"mo\n\n')],
        partial="Partial answer",
    ),
    Fault(
        id="invalid-utf8",
        group="Stream",
        fault="Bytes that are not UTF-8 inside the text",
        sees="The answer, with `�` where the bad bytes were",
        expect="caf\ufffd\ufffd ok",
        kept="the whole answer",
        outcome="done",
        responses=lambda: [
            raw(
                b'data: {"choices":[{"delta":{"content":"caf\xff\xfe ok"}}]}\n\n',
                b'data: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\n',
                b"data: [DONE]\n\n",
            )
        ],
    ),
    Fault(
        id="unknown-event",
        group="Stream",
        fault="SSE events of unknown types (`event: ping`, not JSON) between chunks",
        sees="The answer; the unknown events are skipped",
        expect="Partial answer",
        kept="the whole answer",
        outcome="done",
        responses=lambda: [
            partial_then("event: ping\ndata: keep-alive\n\n", chunk({}, "stop")),
        ],
    ),
    Fault(
        id="unknown-fields",
        group="Stream",
        fault="Unknown fields in chunks, choices and deltas",
        sees="The answer; the unknown fields are ignored",
        expect="fields ok",
        kept="the whole answer",
        outcome="done",
        responses=lambda: [
            sse(
                [
                    {"vendor": {"x": 1}, "choices": [{"delta": {"content": "fields ok"}}]},
                    {"choices": [{"delta": {"zz": [1]}, "finish_reason": "stop", "q": 2}]},
                ]
            )
        ],
    ),
    Fault(
        id="tool-arguments-1mb",
        group="Stream",
        fault="A tool call whose arguments are 1 MB",
        sees="The call (its arguments cut in view), its result, the answer",
        expect="got 1,000,000 characters",
        kept="the call, the result, the answer",
        outcome="done",
        tools=("echo_size",),
        responses=lambda: tool_round(
            [("echo_size", {"payload": "y" * 1_000_000})], fragment_size=65_536
        ),
        verify=verify_big_arguments,
    ),
    Fault(
        id="fifty-tool-calls",
        group="Stream",
        fault="50 tool calls in one round",
        sees="50 calls and 50 results, then the answer",
        expect="All done.",
        kept="all 50 calls and results",
        outcome="done",
        tools=("square",),
        responses=lambda: tool_round([("square", {"n": n}) for n in range(50)]),
        verify=verify_fifty,
    ),
    Fault(
        id="tool-raises",
        group="Tools",
        fault="The tool raises `ValueError`",
        sees="The call marked ✗ with `ValueError: boom: on purpose`, traceback one click away",
        expect="ValueError: boom: on purpose",
        kept="the call, the failure, the answer",
        outcome="done",
        tools=("fails",),
        responses=lambda: tool_round([("fails", {"reason": "on purpose"})]),
        verify=verify_traceback,
    ),
    Fault(
        id="tool-hangs",
        group="Tools",
        fault="The tool sleeps past its time limit (1 s here)",
        sees="The call marked ✗ with `Tool hangs timed out after 1 s`",
        expect="Tool hangs timed out after 1 s",
        kept="the call, the failure, the answer",
        outcome="done",
        tools=("hangs",),
        tool_timeout=1.0,
        responses=lambda: tool_round([("hangs", {"seconds": 3})]),
    ),
    Fault(
        id="tool-prints",
        group="Tools",
        fault="The tool prints to stdout and stderr",
        sees="What it printed, under `printed` in its own step; nothing in any cell",
        expect="NOISY-OUT 0",
        kept="the call, the result, the printed lines",
        outcome="done",
        tools=("noisy",),
        responses=lambda: tool_round([("noisy", {"lines": 3})]),
        verify=verify_prints,
    ),
    Fault(
        id="tool-huge-result",
        group="Tools",
        fault="The tool returns 5 MB of text",
        sees="The result cut to 20,000 characters, with a note of the size",
        expect="[... cut 4,980,000 of 5,000,000 characters]",
        kept="the call, the cut result, the answer",
        outcome="done",
        tools=("huge",),
        responses=lambda: tool_round([("huge", {})]),
        verify=verify_huge,
    ),
    Fault(
        id="tool-unserialisable",
        group="Tools",
        fault="The tool returns an object JSON cannot carry",
        sees="The call marked ✗: `could not be serialised to JSON`",
        expect="could not be serialised to JSON",
        kept="the call, the failure, the answer",
        outcome="done",
        tools=("opaque",),
        responses=lambda: tool_round([("opaque", {})]),
    ),
    Fault(
        id="tool-too-deep",
        group="Tools",
        fault="The tool returns a list nested 100,000 deep",
        sees="The call marked ✗: `could not be serialised to JSON`",
        expect="Tool deep returned a list, which could not be serialised to JSON",
        kept="the call, the failure, the answer",
        outcome="done",
        tools=("deep",),
        responses=lambda: tool_round([("deep", {})]),
    ),
    Fault(
        id="tool-input",
        group="Tools",
        fault="The tool calls `input()`",
        sees="The call marked ✗ at once: `input() is not available inside a tool`",
        expect="input() is not available inside a tool",
        kept="the call, the failure, the answer",
        outcome="done",
        tools=("asks",),
        responses=lambda: tool_round([("asks", {})]),
    ),
    Fault(
        id="tool-mutates",
        group="Tools",
        fault="The tool changes its arguments and tries to change notebook variables",
        sees="The result listing what it changed (its copies) and what was refused",
        expect="changed its copy",
        kept="every notebook variable unchanged; the call's arguments as sent",
        outcome="done",
        tools=("mutates",),
        variables=True,
        responses=lambda: tool_round([("mutates", {"items": [1, 2, 3]})]),
        verify=verify_mutation,
    ),
    Fault(
        id="interrupt-stream",
        group="Kernel",
        fault="Interrupt while the answer streams",
        sees="Status `interrupted`; the partial answer stays",
        expect="interrupted",
        kept="the prompt and the partial answer",
        outcome="interrupted",
        responses=lambda: [text_stream(WORDS, fragment_size=5, delay=0.05)],
        partial="word word",
        interrupt="stream",
    ),
    Fault(
        id="interrupt-tools",
        group="Kernel",
        fault="Interrupt while a tool runs",
        sees="Status `interrupted`; the call stays, its result says it was interrupted",
        expect="interrupted",
        kept="the prompt, the call, a result saying it was interrupted",
        outcome="interrupted",
        tools=("hangs",),
        responses=lambda: [tool_call_stream([("hangs", {"seconds": 3})])],
        interrupt="tools",
        verify=verify_interrupted_tools,
    ),
    Fault(
        id="interrupt-retry-wait",
        group="Kernel",
        fault="Interrupt during a 30 s `Retry-After` wait",
        sees="Status `interrupted` at once, not after 30 s",
        expect="interrupted",
        kept="the prompt",
        outcome="interrupted",
        responses=lambda: [json_error(429, "Slow down", headers={"Retry-After": "30"})],
        interrupt="retry",
    ),
    Fault(
        id="interrupt-query",
        group="Kernel",
        fault="Interrupt while a `query` runs (a cross join of two 1,000,000-row ranges)",
        sees="Status `interrupted` at once; the query is interrupted, not left running",
        expect="interrupted",
        kept="the prompt, the call, a result saying it was interrupted; no variable changed",
        outcome="interrupted",
        tools=("query",),
        tables=True,
        responses=lambda: [tool_call_stream([("query", {"sql": CROSS_JOIN})])],
        interrupt="tools",
        verify=verify_sql_interrupted,
    ),
    *HOSTILE_SQL,
    *CONTEXT_ROWS,
    *MCP_ROWS,
)

FAULTS_BY_ID = {row.id: row for row in FAULTS}


def _text_length(observed: dict[str, Any], length: int) -> None:
    assert observed["text_length"] == length
    assert observed["history"][-1]["content_length"] == length


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_url_for(row: Fault, server_url: str) -> str:
    if row.target == "refused":
        return f"http://127.0.0.1:{closed_port()}/v1"
    if row.target == "unknown-host":
        return UNKNOWN_HOST
    return server_url


HEAD = 2_000


def _cut_text(text: str) -> dict[str, Any]:
    return {"head": text[:HEAD], "tail": text[-HEAD:], "length": len(text)}


def observe(chat: Chat, names: Sequence[str] = (), before: dict[str, str] | None = None) -> dict:
    """The last reply, the history and the named variables, as JSON-safe data (bounded)."""
    reply = chat.last_reply
    assert reply is not None
    steps = []
    for step in reply.steps:
        record = step.to_dict()
        if step.type == "tool_call":
            record["arguments_length"] = len(record["arguments"])
            record["arguments"] = record["arguments"][:HEAD]
        if step.type == "tool_result":
            record.update(
                detail=step.detail or "",
                output=step.output,
                variables=list(step.variables),
            )
        if "content" in record:
            record["content"] = record["content"][: HEAD * 20]
        steps.append(record)
    history = []
    for message in chat.history:
        item = copy.deepcopy({k: v for k, v in message.items() if k != "content"})
        content = message.get("content") or ""
        item["content"], item["content_length"] = content[:HEAD], len(content)
        for call in item.get("tool_calls") or ():
            call["function"]["arguments"] = call["function"]["arguments"][:HEAD]
        history.append(item)
    ns = chat._namespace or {}
    text = _cut_text(reply.text)
    return {
        "state": reply.state,
        "error": reply.error,
        "error_detail": reply.error_detail or "",
        "text": text["head"],
        "text_tail": text["tail"],
        "text_length": text["length"],
        "steps": steps,
        "history": history,
        "variables": snapshot(dict(ns), names),
        "variables_before": before or {},
    }


MUTATION_NAMES = ("shared", "nested", "frame", "array")


class _Both:
    """A RunWidget and a plain-text transcript of one run, as the inline view has them."""

    def __init__(self, model: str, local: bool) -> None:
        self.widget = RunWidget(model=model, local=local)
        self.transcript = io.StringIO()
        self.text = TextRenderer(self.transcript, color=False)

    def start(self, **kwargs: Any) -> None:
        self.widget.start(**kwargs)
        self.text.start(**kwargs)

    def handle(self, event: Any) -> None:
        self.widget.handle(event)
        self.text.handle(event)

    def finish(self, *args: Any) -> None:
        self.widget.finish(*args)
        self.text.finish(*args)


class Recorder:
    """A view for ``Chat.add_view``: keeps each run's widget tree and transcript."""

    def __init__(self) -> None:
        self.runs: list[_Both] = []

    def open_run(self, *, model: str, local: bool = False) -> _Both:
        self.runs.append(_Both(model, local))
        return self.runs[-1]


def walk(widget: ipywidgets.Widget, hidden: bool = False) -> Iterator[tuple[Any, bool]]:
    """Every widget state in the tree, and whether a person must click to see it."""
    state = widget.get_state()
    yield state, hidden
    collapsed = isinstance(widget, ipywidgets.Accordion) and widget.selected_index is None
    for child in getattr(widget, "children", ()):
        yield from walk(child, hidden or collapsed)


def texts_of(state: dict[str, Any]) -> list[str]:
    """The text a person reads in one widget state: HTML values and titles, unescaped."""
    values = [state.get(k) for k in ("value", "html")] + list(state.get("titles") or ())
    return [html.unescape(v) for v in values if isinstance(v, str)]


def seen_and_hidden(run: _Both) -> tuple[str, str]:
    """What is in view, and what is one click away, of one run's tree plus its transcript."""
    seen, hidden = [run.transcript.getvalue()], []
    for state, is_hidden in walk(run.widget):
        (hidden if is_hidden else seen).extend(texts_of(state))
    return "\n".join(seen), "\n".join(hidden)


def check_row(row: Fault, observed: dict[str, Any], seen: str, hidden: str) -> None:
    """The promises every row keeps, on one observation (in process or in the kernel)."""
    assert observed["state"] == row.outcome, (observed["state"], observed["error"])
    assert row.expect in seen + hidden, (row.expect, seen[:3000])
    if row.outcome == "error":
        error = observed["error"]
        assert row.expect in error and row.expect in seen, (row.expect, error)
        assert "Traceback" not in error and len(error) < 400
        if row.detail:
            assert row.detail in observed["error_detail"] and row.detail in hidden
    assert "Traceback" not in seen, seen[-3000:]
    assert KEY not in seen + hidden + json.dumps(observed)
    history = observed["history"]
    first = history[len(row.earlier_messages())]
    assert first == {"role": "user", "content": PROMPT, "content_length": len(PROMPT)}
    if row.partial:
        assert observed["text"].startswith(row.partial), observed["text"]
        last = [m for m in history if m["role"] == "assistant"][-1]
        assert last["content"].startswith(row.partial)
    check_history_is_valid(history)
    if row.verify is not None:
        row.verify(observed)


def check_history_is_valid(history: list[dict[str, Any]]) -> None:
    """Every tool call has exactly one result right after its assistant message."""
    for at, message in enumerate(history):
        ids = [call["id"] for call in message.get("tool_calls") or ()]
        if ids:
            results = history[at + 1 : at + 1 + len(ids)]
            assert sorted(m.get("tool_call_id") for m in results) == sorted(ids), history


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


def check_next_request(row: Fault, sent: list[dict[str, Any]]) -> None:
    """The next request carries the row's prompt (windowed from it, after a long history)."""
    assert sent[-1] == {"role": "user", "content": NEXT_PROMPT}
    if row.earlier is None:
        assert sent[0] == {"role": "user", "content": PROMPT}
    else:
        assert sent[0]["role"] == "user" and {"role": "user", "content": PROMPT} in sent
    check_history_is_valid(sent)


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
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import fault_table
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    assert (ROOT / "docs" / "faults.md").read_text(encoding="utf-8") == fault_table.document()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert fault_table.readme_section() in readme


_BEFORE: dict[str, dict[str, str]] = {}


def _magics() -> tuple[Any, Any]:
    from IPython import get_ipython

    shell = get_ipython()
    return shell, shell.magics_manager.registry["LuxxMagics"]


def kernel_prepare(row_id: str) -> None:
    """In the kernel: the row's tools, time limits (``LuxxMagics`` traits) and variables,
    and a fresh chat of its own."""
    import luxx_nb

    shell, magics = _magics()
    row = FAULTS_BY_ID.get(row_id)
    for name in row.tools if row else ("square",):
        if name in TOOL_FUNCTIONS:  # a built-in (query) is offered by the magic itself
            luxx_nb.tool(TOOL_FUNCTIONS[name])
        elif name in MCP_COMMANDS:  # an MCP server, added as a person would
            command = " ".join(shlex.quote(word) for word in MCP_COMMANDS[name])
            shell.run_line_magic("luxx", f"mcp add {name} -- {command}")
    magics.tool_timeout = row.tool_timeout if row else 60.0
    magics.timeout = row.timeout if row else None
    if row is not None and row.variables:
        shell.user_ns.update(namespace_for_mutation())
        _BEFORE[row_id] = snapshot(shell.user_ns, MUTATION_NAMES)
    if row is not None and row.tables:
        shell.user_ns.update(namespace_for_tables())
        _BEFORE[row_id] = snapshot(shell.user_ns, TABLE_NAMES)
    magics.chats[row_id] = Chat(namespace=shell.user_ns, variable_tools=False)
    if row is not None:
        magics.chats[row_id].history.extend(row.earlier_messages())


def kernel_observe(row_id: str) -> dict[str, Any]:
    """In the kernel: ``observe`` on the row's chat."""
    _, magics = _magics()
    row = FAULTS_BY_ID.get(row_id)
    tables = row is not None and row.tables
    names = TABLE_NAMES if tables else MUTATION_NAMES if row_id in _BEFORE else ()
    observed = observe(magics.chats[row_id], names, _BEFORE.get(row_id))
    if tables:
        observed.update(sql_aftermath())
    return observed


def kernel_resources() -> dict[str, int]:
    """In the kernel: resident memory after a collection, live threads, the replies so far."""
    import gc
    import threading

    import psutil  # a dependency of ipykernel

    gc.collect()
    _, magics = _magics()
    replies = magics.chats["turns"].replies
    return {
        "rss": psutil.Process().memory_info().rss,
        "objects": len(gc.get_objects()),
        "threads": threading.active_count(),
        "replies": len(replies),
        "errors": sum(reply.error is not None for reply in replies),
    }
