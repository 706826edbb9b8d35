"""Run an MCP server's command so that it dies with the kernel, even a killed one.

``python luxx_nb/mcp_child.py PARENT_PID -- COMMAND ARGS...`` (run as a file, so it imports
nothing of luxx_nb): on Linux it asks the kernel for SIGKILL when its parent dies
(``prctl(PR_SET_PDEATHSIG)``, which survives ``exec``), checks the parent is still the one
that started it, then becomes the server with ``execvp``: no process stays in between, and
the server's stdin and stdout are the pipes the MCP client holds. Elsewhere it only execs;
a stdio server then ends on its stdin's end of file, as the MCP specification asks.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

PR_SET_PDEATHSIG = 1
NOT_FOUND = 127


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[1] != "--":
        sys.exit("usage: mcp_child.py PARENT_PID -- COMMAND [ARGS...]")
    parent, command = int(argv[0]), argv[2:]
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before prctl: nobody will read us
        sys.exit(1)
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        print(f"cannot run {command[0]!r}: {exc.strerror}", file=sys.stderr, flush=True)
        os._exit(NOT_FOUND)


if __name__ == "__main__":
    main(sys.argv[1:])
