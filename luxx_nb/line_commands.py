"""The ``%luxx`` line's commands that stand alone: ``mcp add | list | remove`` and ``code``.

``mcp_command`` keeps the magics' MCP servers (each started when a run first offers its
tools); ``code_command`` puts the last answer's code blocks into a new cell below.
"""

from __future__ import annotations

import shlex
from typing import Any

from IPython.core.error import UsageError

from .mcp_tools import MCPServer
from .notebook import last_answer

__all__ = ["code_command", "mcp_command"]


def mcp_command(servers: dict[str, MCPServer], line: str) -> None:
    """``%luxx mcp add [--approve] NAME -- COMMAND ARGS...`` (or ``add NAME URL``), ``list``,
    ``remove NAME``. A server starts when a run first offers its tools; ``--approve`` makes
    each call of its tools wait for a person's Approve (``MCPServer(approve=True)``)."""
    words = shlex.split(line)
    usage = (
        "Usage: %luxx mcp add [--approve] NAME -- COMMAND ARGS... | add [--approve] NAME URL"
        " | list | remove NAME"
    )
    action = words[0] if words else "list"
    if action == "list":
        if not servers:
            print("No MCP server yet: %luxx mcp add NAME -- COMMAND ARGS...")
        for server in servers.values():
            where = " ".join(server.command or []) or server.url
            state = f"running, {len(server.tools)} tools" if server.running else "not started"
            names = f": {', '.join(t.name for t in server.tools)}" if server.tools else ""
            asks = ", each call asks first" if server.approve else ""
            print(f"{server.name}: {where} ({state}{asks}){names}")
    elif action == "remove" and len(words) == 2:
        server = servers.pop(words[1], None)
        if server is None:
            raise UsageError(f"No MCP server named {words[1]!r} (see %luxx mcp list).")
        server.stop()
        print(f"MCP server {words[1]!r} removed.")
    elif action == "add" and len(words) >= 3:
        rest = words[1:]
        own = rest[: rest.index("--")] if "--" in rest else rest  # the command's own words
        approve = "--approve" in own
        if approve:
            rest.remove("--approve")  # the first is luxx_nb's, before the command's
        if len(rest) < 2:
            raise UsageError(usage)
        name, rest = rest[0], rest[1:]
        if rest[0] == "--" and len(rest) > 1:
            server = MCPServer(rest[1:], name=name, approve=approve)
        elif len(rest) == 1 and rest[0].startswith(("http://", "https://")):
            server = MCPServer(url=rest[0], name=name, approve=approve)
        else:
            raise UsageError(usage)
        if server.name != name:
            raise UsageError(f"A server's name is letters, digits, '_' or '-', not {name!r}.")
        old = servers.pop(name, None)
        if old is not None:
            old.stop()
        servers[name] = server
        asks = " Each call of its tools asks for your approval." if approve else ""
        print(f"MCP server {name!r} added; it starts when a run first offers its tools.{asks}")
    else:
        raise UsageError(usage)


def code_command(shell: Any, history: list[dict[str, Any]], name: str, which: str | None) -> None:
    """Put the code blocks of the last answer (or block ``which``) into a new cell below."""
    from .render.markdown import code_blocks

    answer = last_answer(history)
    if answer is None:
        print(f"There is no answer in conversation {name!r} yet: nothing to put in a cell.")
        return
    blocks = code_blocks(answer)
    if not blocks:
        print("The last answer has no code block: nothing to put in a cell.")
        return
    if which is None:
        chosen = blocks
        what = f"{len(blocks)} code blocks are" if len(blocks) > 1 else "code block is"
    else:
        number = int(which) if which.isdigit() else 0
        if not 1 <= number <= len(blocks):
            count = "1" if len(blocks) == 1 else f"1 to {len(blocks)}"
            raise UsageError(
                f"The last answer has {len(blocks)} code block(s): %luxx code takes {count}, "
                f"not {which!r}."
            )
        chosen, what = [blocks[number - 1]], f"code block {number} of {len(blocks)} is"
    shell.set_next_input("\n\n".join(block.rstrip("\n") for block in chosen))
    print(f"The last answer's {what} in a new cell below.")
