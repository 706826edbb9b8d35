"""MCP servers as tool sources, through the official ``mcp`` SDK (``pip install luxx_nb[mcp]``).

``MCPServer(command=[...])`` runs a stdio server, ``MCPServer(url=...)`` talks streamable
HTTP. Nothing starts until the first run that offers its tools; then one session lives on
luxx_nb's background loop (``runner.py``) for the rest of the kernel, and every call from any
loop goes through it. A stdio server is started through ``mcp_child.py``, so it dies with the
kernel even when the kernel is killed; it is stopped when the interpreter exits.

A server's tools become ``Tool`` objects (``mcp_convert.py``: the server's own schema, checked,
its arguments checked before the call, its content as text and images); a call that fails
because the server stopped or sent something malformed is a failed call that says so. The
``mcp`` package is imported only when a server starts.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import dataclasses
import os
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from luxx_nb import runner
from luxx_nb.errors import LuxxError
from luxx_nb.mcp_convert import listed_tool, to_output
from luxx_nb.tools.definition import Tool
from luxx_nb.tools.result import ToolOutput, failure

__all__ = ["MCPServer", "MCPServerError", "offered_tools"]

START_TIMEOUT = 60.0
"""Seconds a server may take to start and list its tools (``npx`` may fetch a package)."""
_STDERR_TAIL = 400
_CHILD = Path(__file__).with_name("mcp_child.py")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


class MCPServerError(LuxxError):
    """An MCP server could not start, or stopped; the message says which and why."""


class MCPServer:
    """An MCP server whose tools a ``Chat`` or ``%%luxx`` offers beside Python functions.

    ``command`` (a list, or one string split like a shell would) runs a stdio server with
    ``env`` added to the few variables the SDK passes on (HOME, PATH...); ``url`` talks to a
    streamable-HTTP one, with ``headers``. ``name`` (default: from the command or the host)
    prefixes a tool's name when an earlier source already offers that name:
    ``name__tool``. ``approve=True`` makes every tool of the server one that acts, as
    ``@tool(approve=True)`` does: each call waits for a person's Approve or Deny (or the
    terminal's ``[y/N]``), is declined where nobody can decide, and nothing reaches the server
    before a decision.
    """

    def __init__(
        self,
        command: Sequence[str] | str | None = None,
        *,
        url: str | None = None,
        env: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        name: str | None = None,
        approve: bool = False,
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        if (command is None) == (url is None):
            raise ValueError("MCPServer takes a command (a stdio server) or a url, not both")
        if isinstance(command, str):
            import shlex

            command = shlex.split(command)
        self.command = list(command) if command is not None else None
        if self.command is not None and not self.command:
            raise ValueError("MCPServer: the command is empty")
        self.url = url
        self.env = dict(env or {})
        self.headers = dict(headers or {})
        self.name = _UNSAFE.sub("_", name or _default_name(self.command, url))[:40] or "mcp"
        self.approve = approve
        self.start_timeout = start_timeout
        self._lock = threading.Lock()
        self._started: asyncio.Future[list[Tool]] | None = None  # on the background loop
        self._stop: asyncio.Event | None = None
        self._client: Any = None
        self._owner: asyncio.Future[None] | None = None
        self._stderr: Any = None
        self._tools: list[Tool] = []
        self.notes: list[str] = []
        """Why tools of this server were left out (an invalid schema), from its last start."""

    def __repr__(self) -> str:
        where = " ".join(self.command) if self.command else _redacted_url(self.url or "")
        state = "running" if self.running else "not started"
        return f"MCPServer({self.name!r}, {where!r}, {state})"

    @property
    def running(self) -> bool:
        return self._client is not None

    @property
    def tools(self) -> list[Tool]:
        """The tools listed at the last start (empty before the first)."""
        return list(self._tools)

    # -- starting and stopping ----------------------------------------------------------

    async def list_tools(self) -> list[Tool]:
        """Start the server if it is not running (from any loop), and give its tools."""
        return await _on_background(self._ensure())

    def list_tools_sync(self) -> list[Tool]:
        return runner.run_sync(self._ensure())

    async def _ensure(self) -> list[Tool]:
        if self._started is not None and not self._started.done():
            return await asyncio.shield(self._started)
        if self._started is not None and self._client is not None:
            return self._started.result()
        loop = asyncio.get_running_loop()
        self._started = loop.create_future()
        self._stop = asyncio.Event()
        _running.add(self)
        self._owner = asyncio.ensure_future(self._serve(self._started, self._stop))
        return await asyncio.shield(self._started)

    async def _serve(self, started: asyncio.Future[list[Tool]], stop: asyncio.Event) -> None:
        """Own the session: enter it, list the tools, wait until told to stop or it breaks."""
        try:
            transport = self._transport()
            from mcp import Client

            task = asyncio.current_task()
            assert task is not None
            timer = asyncio.get_running_loop().call_later(self.start_timeout, task.cancel)
            try:  # entered and left in this task: the SDK's task groups need that
                client = await Client(transport).__aenter__()
            except asyncio.CancelledError:
                if timer.cancelled():
                    raise
                raise TimeoutError from None
            finally:
                timer.cancel()
            try:
                self._tools = await asyncio.wait_for(self._listed(client), self.start_timeout)
                self._client = client
                started.set_result(list(self._tools))
                await stop.wait()
            finally:
                self._client = None
                with contextlib.suppress(BaseException):
                    await client.__aexit__(None, None, None)
        except BaseException as exc:  # every way out is told to the waiter
            if not started.done():
                started.set_exception(MCPServerError(self._start_failure(exc)))
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
        finally:
            self._client = None
            _running.discard(self)

    def _transport(self) -> Any:
        try:
            from mcp import StdioServerParameters
            from mcp.client.stdio import stdio_client
            from mcp.client.streamable_http import streamable_http_client
            from mcp.shared._httpx_utils import create_mcp_http_client
        except ImportError:
            raise MCPServerError(
                'MCP servers need the mcp package: pip install "luxx_nb[mcp]"'
            ) from None
        if self.url is not None:
            client = create_mcp_http_client(headers=self.headers or None)
            return streamable_http_client(self.url, http_client=client)
        assert self.command is not None
        path = (self.env.get("PATH") or os.environ.get("PATH")) or None
        if shutil.which(self.command[0], path=path) is None:
            raise MCPServerError(f"the command {self.command[0]!r} was not found")
        self._stderr = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115 (kept)
        parameters = StdioServerParameters(
            command=sys.executable,
            args=["-I", str(_CHILD), str(os.getpid()), "--", *self.command],
            env=self.env or None,
        )
        return stdio_client(parameters, errlog=self._stderr)

    async def _listed(self, client: Any) -> list[Tool]:
        tools: list[Tool] = []
        self.notes = []
        cursor = None
        while True:
            page = await client.list_tools(cursor=cursor)
            for listed in page.tools:
                made = self._tool(listed)
                if isinstance(made, str):
                    self.notes.append(made)
                else:
                    tools.append(made)
            cursor = page.next_cursor
            if not cursor:
                return tools

    def _start_failure(self, exc: BaseException) -> str:
        if isinstance(exc, MCPServerError):
            why = str(exc)
        elif isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
            why = f"it did not answer within {self.start_timeout:g} s"
        else:
            why = "it stopped before it was ready" if self.command else _describe(exc)
        said = self.stderr_tail()
        said = f" It said: {said}" if said else ""
        return f"The MCP server {self.name!r} could not start: {why}.{said}"

    def stderr_tail(self) -> str:
        """The last lines the server wrote on stderr (stdio only), for a message."""
        log = self._stderr
        if log is None:
            return ""
        try:
            log.flush()
            log.seek(0, os.SEEK_END)
            size = log.tell()
            log.seek(max(0, size - 4 * _STDERR_TAIL))
            text = log.read()
        except (OSError, ValueError):
            return ""
        lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
        tail = " / ".join(lines[-3:])
        return tail if len(tail) <= _STDERR_TAIL else "…" + tail[-_STDERR_TAIL:]

    def stop(self) -> None:
        """Stop the server (the next use starts it again)."""
        stop, loop = self._stop, runner._background_loop()
        if stop is not None and self._client is not None:
            loop.call_soon_threadsafe(stop.set)
            deadline = 0 if threading.current_thread().name == "luxx-loop" else 50
            while self._client is not None and deadline:
                threading.Event().wait(0.1)
                deadline -= 1
        self._started = None

    # -- tools ----------------------------------------------------------------------------

    def _tool(self, listed: Any) -> Tool | str:
        name = listed.name

        async def call(**arguments: Any) -> ToolOutput:
            return await _on_background(self._call(name, arguments))

        return listed_tool(listed, self.name, call, approve=self.approve)

    async def _call(self, name: str, arguments: dict[str, Any]) -> ToolOutput:
        await self._ensure()
        client = self._client
        if client is None:
            raise MCPServerError(f"The MCP server {self.name!r} is not running.")
        try:
            result = await client.call_tool(name, arguments)
        except Exception as exc:
            return self._call_failure(exc)
        return to_output(result)

    def _call_failure(self, exc: Exception) -> ToolOutput:
        stopped = self._client is None or self._broken(exc)
        if stopped:
            self.stop_soon()
            said = self.stderr_tail()
            said = f" It said: {said}" if said else ""
            message = (
                f"The MCP server {self.name!r} stopped during the call ({_describe(exc)}); "
                f"the next call starts it again.{said}"
            )
        elif _is_malformed(exc):
            message = f"The MCP server {self.name!r} sent a malformed result: {_describe(exc)}"
        else:
            message = f"The MCP server {self.name!r} answered with an error: {_describe(exc)}"
        return failure(message, f"{type(exc).__name__}: {exc}")

    def _broken(self, exc: Exception) -> bool:
        text = str(exc).lower()
        return "connection closed" in text or ("closed" in text and "stream" in text)

    def stop_soon(self) -> None:
        stop = self._stop
        if stop is not None:
            runner._background_loop().call_soon_threadsafe(stop.set)
        self._started = None


def _default_name(command: list[str] | None, url: str | None) -> str:
    if url is not None:
        return urlparse(url).hostname or "mcp"
    assert command
    words = [w for w in command if not w.startswith("-")]
    if "-m" in command and command.index("-m") + 1 < len(command):
        return command[command.index("-m") + 1]
    tail = [w for w in words[1:] if w.startswith("@") or "server" in w]
    chosen = tail[0] if Path(words[0]).name in ("npx", "uvx", "pipx") and tail else words[0]
    return Path(chosen.split("@")[-1] if not chosen.startswith("@") else chosen).name


def _redacted_url(url: str) -> str:
    """The URL without what may hold a secret: the user and password, the query."""
    parsed = urlparse(url)
    host = parsed.hostname or ""
    netloc = f"{host}:{parsed.port}" if parsed.port else host
    return parsed._replace(netloc=netloc, query="").geturl()


def _describe(exc: BaseException) -> str:
    inner = getattr(exc, "exceptions", None)  # an exception group (Python 3.11+, anyio)
    if isinstance(inner, (list, tuple)) and inner:
        return "; ".join(_describe(e) for e in inner[:3])
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:300] if first else type(exc).__name__


def _is_malformed(exc: BaseException) -> bool:
    return "validation error" in str(exc).lower() or type(exc).__name__ == "ValidationError"


async def _on_background(coro: Any) -> Any:
    """Run ``coro`` on the background loop, where the sessions live, awaited from any loop;
    cancelling the awaiting task cancels it there too."""
    loop = runner._background_loop()
    if asyncio.get_running_loop() is loop:
        return await coro
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))


async def offered_tools(
    entries: Sequence[Tool | MCPServer], taken: Sequence[str | Tool] = ()
) -> tuple[list[Tool], list[str]]:
    """Functions as they are, then each server's tools (started now if need be), a name an
    earlier tool or ``taken`` (the built-in tools, or their names) already has prefixed
    ``server__``; and notes of what was left out."""
    tools = [e for e in entries if isinstance(e, Tool)]
    servers = [e for e in entries if isinstance(e, MCPServer)]
    names = {*(t if isinstance(t, str) else t.name for t in taken), *(t.name for t in tools)}
    notes: list[str] = []
    listed = await asyncio.gather(*(s.list_tools() for s in servers), return_exceptions=True)
    for server, found in zip(servers, listed, strict=True):
        if isinstance(found, BaseException):
            if not isinstance(found, Exception):
                raise found
            notes.append(f"{found} Its tools are not offered in this run.")
            continue
        notes.extend(server.notes)
        for made in found:
            named = prefixed(made, names)
            names.add(named.name)
            tools.append(named)
    return tools, notes


def prefixed(made: Tool, names: set[str] | Sequence[str]) -> Tool:
    """The tool, renamed ``server__name`` when ``names`` already has its name."""
    if made.name not in names or not made.source:
        return made
    return dataclasses.replace(made, name=f"{made.source}__{made.name}"[:64])


_running: set[MCPServer] = set()


@atexit.register
def _stop_all() -> None:
    for server in list(_running):
        with contextlib.suppress(Exception):
            server.stop()
