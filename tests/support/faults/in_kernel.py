"""What runs inside the kernel of ``test_faults_kernel.py`` (``import support.faults.in_kernel``):
prepare a row's tools, limits and variables, observe its chat, and measure the kernel."""

from __future__ import annotations

import shlex
from typing import Any

from support.faults import FAULTS_BY_ID
from support.faults.checks import (
    observe,
)
from support.faults.functions import (
    MCP_COMMANDS,
    MUTATION_NAMES,
    TABLE_NAMES,
    TOOL_FUNCTIONS,
    namespace_for_mutation,
    namespace_for_tables,
    snapshot,
    sql_aftermath,
)

from luxx_nb import Chat

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
