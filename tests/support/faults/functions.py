"""What the fault rows' tools are: Python tools that fail, hang, print, mutate or ask the
keyboard; the misbehaving MCP servers (``tests/mcp_fake.py``) by name; the notebook variables
the variable and SQL rows read, and a snapshot of them to compare before and after."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from luxx_nb import MCPServer, ToolContext, capture
from luxx_nb.tools import Tool, make_tool
from luxx_nb.variable_tools import namespace_tools


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


MCP_FAKE = str(Path(__file__).resolve().parents[2] / "mcp_fake.py")
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


MUTATION_NAMES = ("shared", "nested", "frame", "array")
