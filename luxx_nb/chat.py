"""``Chat``: a conversation, an endpoint and tools wired to the agent loop and its views.

This is the one module that wires the stages together: it resolves settings, starts the
local model when nothing else is configured, runs ``agent.run_turn`` and hands every event
to the renderers that show it. ``send`` is the synchronous door, ``asend`` the async one,
``stream`` yields the events themselves.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import warnings
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .agent import Settings, Turn, _error_event, run_turn
from .errors import ConfigError, redact, redact_url
from .events import ErrorEvent, Event, StatusEvent, Step, Usage
from .mcp_tools import MCPServer, prefixed
from .providers import API_NAMES, wire_for
from .runner import run_sync
from .tools import Tool, ToolContext, make_tool
from .window import TokenEstimate, Window, Windower

if TYPE_CHECKING:
    import httpx

    from .history import NotebookHistory
    from .namespace import NamespaceView
    from .render.protocol import Publishes, Renderer

__all__ = ["ANTHROPIC_BASE_URL", "OPENAI_BASE_URL", "Chat", "Endpoint", "Reply", "resolve_endpoint"]

OPENAI_BASE_URL = "https://api.openai.com/v1"
ANTHROPIC_BASE_URL = "https://api.anthropic.com/v1"
LOCAL = "local"
INTERRUPTED_MESSAGE = "Interrupted: what arrived before is kept in the reply and the history."


@dataclass(frozen=True, kw_only=True)
class Reply:
    """What one turn produced, kept whole when it ended on an error or an interrupt."""

    text: str
    thinking: str
    steps: list[Step]
    usage: Usage | None
    token_count: int
    message_id: str | None
    error: str | None = None
    error_detail: str | None = field(default=None, repr=False)
    interrupted: bool = False
    model: str = ""

    @property
    def state(self) -> str:
        return "interrupted" if self.interrupted else "error" if self.error else "done"

    def __repr__(self) -> str:
        text = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        extra = f", error={self.error!r}" if self.error else ""
        return (
            f"Reply({self.state}, text={text!r}, steps={len(self.steps)}, "
            f"tokens={self.token_count}{extra})"
        )


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """Where requests go. ``local`` means luxx_nb's own llama.cpp server (started on demand)."""

    base_url: str | None
    api_key: str | None = field(default=None, repr=False)
    model: str | None = None
    local_path: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    context_window: int | None = None
    """Tokens the model's context holds, when the server is known to say (the local one)."""
    api: str = "chat"
    """The wire: ``chat`` (chat completions), ``responses`` or ``anthropic`` (Messages)."""

    @property
    def local(self) -> bool:
        return self.base_url is None


def resolve_endpoint(
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    api: str | None = None,
) -> Endpoint:
    """Explicit values first, then ``LUXX_*``, then ``OPENAI_*``; with none, the local model.

    The wire is ``api`` when given, else ``anthropic`` for ``https://api.anthropic.com`` (or
    when ``ANTHROPIC_API_KEY`` is the only key set), else ``chat``. The Anthropic wire reads
    ``ANTHROPIC_API_KEY`` where the others read ``OPENAI_API_KEY``.
    """
    env = os.environ
    if api is not None and api not in API_NAMES:
        raise ConfigError(f"Unknown API {api!r}: use one of {', '.join(API_NAMES)}.")
    model = model or env.get("LUXX_MODEL") or None
    if model == LOCAL or (model or "").endswith(".gguf"):
        return Endpoint(base_url=None, model=model, local_path=None if model == LOCAL else model)
    base_url = base_url or env.get("LUXX_BASE_URL") or env.get("OPENAI_BASE_URL") or None
    if api is None and base_url is not None and _is_anthropic(base_url):
        api = "anthropic"
    api_key = api_key or env.get("LUXX_API_KEY") or None
    if api == "anthropic":
        api_key = api_key or env.get("ANTHROPIC_API_KEY") or None
    else:
        api_key = api_key or env.get("OPENAI_API_KEY") or None
    if api is None and base_url is None and api_key is None and env.get("ANTHROPIC_API_KEY"):
        api, api_key = "anthropic", env["ANTHROPIC_API_KEY"]
    api_key = (api_key.strip() or None) if api_key else None  # a newline from a file or a paste
    if base_url is None and api_key is None:
        return Endpoint(base_url=None, model=model, api=api or "chat")
    if base_url is None:
        base_url = ANTHROPIC_BASE_URL if api == "anthropic" else OPENAI_BASE_URL
    elif api == "anthropic" and base_url.rstrip("/") == "https://api.anthropic.com":
        base_url = ANTHROPIC_BASE_URL  # the API's paths are under /v1
    return Endpoint(base_url=base_url, api_key=api_key, model=model, api=api or "chat")


def _is_anthropic(base_url: str) -> bool:
    return (urlsplit(base_url).hostname or "").lower() == "api.anthropic.com"


class Chat:
    """A conversation with an OpenAI-compatible model, with tools, that remembers."""

    name: str | None = None
    """The conversation's name (``%%luxx --chat NAME``), saved with each run shown inline."""

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        tools: Iterable[Tool | MCPServer | Callable[..., Any]] = (),
        namespace: Mapping[str, Any] | None = None,
        system: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        thinking: bool | None = None,
        max_iterations: int = 10,
        *,
        timeout: float | httpx.Timeout | None = None,
        tool_timeout: float = 60.0,
        max_result_chars: int = 20_000,
        extra_body: dict[str, Any] | None = None,
        hidden_variables: Sequence[str] = (),
        visible_variables: Sequence[str] | None = None,
        variable_tools: bool = True,
        max_history: int | None = None,
        context_window: int | None = None,
        api: str | None = None,
    ) -> None:
        self.endpoint = resolve_endpoint(model, base_url, api_key, api)
        self.tools: list[Tool | MCPServer] = [
            t if isinstance(t, (Tool, MCPServer)) else make_tool(t) for t in tools
        ]
        self._namespace = namespace
        self.variable_tools = variable_tools
        self.hidden_variables = tuple(hidden_variables)
        self.visible_variables = visible_variables
        self.system = system
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.thinking = thinking
        self.max_iterations = max_iterations
        self.timeout = timeout
        self.tool_timeout = tool_timeout
        self.max_result_chars = max_result_chars
        self.extra_body = extra_body
        self.max_history = max_history
        self.context_window = context_window
        self.history: list[dict[str, Any]] = []
        self.notebook_history: NotebookHistory | None = None  # earlier cells, set by %%luxx
        self.replies: list[Reply] = []
        self._views: list[Any] = []
        self._busy = False
        self._estimate = TokenEstimate()  # characters a token, learned from each answer's usage
        self._windower: Windower | None = None  # what the windows learned, for one endpoint
        self._windower_url: str | None = None
        self.last_window: Window | None = None

    # -- settings ------------------------------------------------------------------------

    @property
    def model(self) -> str:
        return self.endpoint.model or (LOCAL if self.endpoint.local else "")

    @property
    def base_url(self) -> str | None:
        return self.endpoint.base_url

    @property
    def namespace(self) -> NamespaceView | None:
        """The variables as the tools see them: filtered, read-only, copies (``ToolContext``).

        A tool receives the chat in its context; through it, as through the context's own
        view, it can read the notebook's variables but never change them.
        """
        if self._namespace is None:
            return None
        from .namespace import NamespaceView

        return NamespaceView(
            self._namespace,
            allow=self.visible_variables,
            deny=self.hidden_variables,
            protect=True,
        )

    @namespace.setter
    def namespace(self, namespace: Mapping[str, Any] | None) -> None:
        self._namespace = namespace

    def __repr__(self) -> str:
        where = "local model" if self.endpoint.local else redact_url(self.endpoint.base_url or "")
        names = [t.name for t in self.all_tools()]
        return (
            f"Chat(model={self.model!r}, endpoint={where!r}, tools={names}, "
            f"history={len(self.history)} messages)"
        )

    def all_tools(self) -> list[Tool]:
        """The tools offered to the model: the chat's own, then the notebook-variable tools
        (an MCP server's as listed when it last started: a run starts it, ``_offered_tools``)."""
        offered: list[Tool] = []
        for entry in self.tools:
            if isinstance(entry, MCPServer):
                known = {t.name for t in offered}
                offered += [prefixed(t, known) for t in entry.tools]
            else:
                offered.append(entry)
        return self._with_namespace_tools(offered)

    async def _offered_tools(self) -> AsyncIterator[StatusEvent | list[Tool]]:
        """The tools of this run: MCP servers started on first use (their progress, and a
        note of each server or tool left out, as status events), then the list."""
        servers = [t for t in self.tools if isinstance(t, MCPServer)]
        if not servers:
            yield self.all_tools()
            return
        from .mcp_tools import offered_tools

        waiting = [s.name for s in servers if not s.running]
        if waiting:
            yield StatusEvent(state="starting_tools", detail=", ".join(waiting))
        offered, notes = await offered_tools(self.tools)
        for note in notes:
            yield StatusEvent(state="notice", detail=note)
        yield self._with_namespace_tools(offered)

    def _with_namespace_tools(self, offered: list[Tool]) -> list[Tool]:
        if self._namespace is not None and self.variable_tools:
            from .variable_tools import namespace_tools

            known = {t.name for t in offered}
            offered += [t for t in namespace_tools() if t.name not in known]
        return offered

    def reset(self) -> None:
        """Forget the conversation."""
        self.history.clear()
        self.replies.clear()

    def add_view(self, view: Any) -> None:
        """Show every later run in ``view`` (anything with ``open_run(model=, local=)``)."""
        if view not in self._views:
            self._views.append(view)

    # -- the doors -----------------------------------------------------------------------

    def send(self, prompt: str, *, display: bool | None = None) -> Reply:
        """Ask, wait for the whole answer, return it. Works inside a running notebook cell."""
        renderers, publishing = self._renderers(display)
        try:
            return run_sync(self._collect(prompt, renderers))
        except KeyboardInterrupt:
            # The run stopped cleanly (see runner.py); a short traceback says so, instead of
            # one that walks through the waiting machinery. It still stops "Run All".
            raise KeyboardInterrupt(INTERRUPTED_MESSAGE) from None
        finally:
            _call(publishing, "publish")

    async def asend(self, prompt: str, *, display: bool | None = None) -> Reply:
        """The same as ``send``, for async code."""
        renderers, publishing = self._renderers(display)
        try:
            return await self._collect(prompt, renderers)
        finally:
            _call(publishing, "publish")

    async def stream(self, prompt: str, *, include_status: bool = False) -> AsyncIterator[Event]:
        """The events of one turn, as the original service sent them (plus status if asked)."""
        async for event in self.events(prompt, ()):
            if include_status or not isinstance(event, StatusEvent):
                yield event

    @property
    def last_reply(self) -> Reply | None:
        return self.replies[-1] if self.replies else None

    # -- the run -------------------------------------------------------------------------

    async def _collect(self, prompt: str, renderers: Sequence[Any]) -> Reply:
        async for _ in self.events(prompt, renderers):
            pass
        assert self.last_reply is not None
        return self.last_reply

    async def events(self, prompt: str, renderers: Sequence[Any]) -> AsyncIterator[Event]:
        """Run one turn, feeding ``renderers``; every way out leaves a Reply in ``replies``."""
        if self._busy:
            raise RuntimeError("This chat is still answering; wait for it or use another Chat.")
        self._busy = True
        turn, state = Turn(), "done"
        self.history.append({"role": "user", "content": prompt})
        _call(renderers, "start", model=self.model, local=self.endpoint.local)
        try:
            async for event in self._guarded_events(turn):
                _call(renderers, "handle", event)
                yield event
        except (asyncio.CancelledError, GeneratorExit):
            state = "interrupted"
            raise
        finally:
            self._busy = False
            if state != "interrupted" and turn.error is not None:
                state = "error"
            self.replies.append(self._reply(turn, interrupted=state == "interrupted"))
            error = turn.error
            message = "Interrupted" if state == "interrupted" else error.message if error else None
            _call(renderers, "finish", state, message, error.detail if error else None)

    async def _guarded_events(self, turn: Turn) -> AsyncIterator[Event]:
        """The turn's events with the key hidden; a failure anywhere becomes an error event.

        The agent already ends a turn on any error it meets; this is the wall behind it, so
        that nothing but cancellation ever leaves ``send`` as an exception.
        """
        secret = self.endpoint.api_key
        try:
            async for event in self._turn_events(turn):
                if isinstance(event, ErrorEvent):
                    event = turn.error = _redacted(event, secret)
                elif isinstance(event, StatusEvent) and event.detail:
                    event = dataclasses.replace(event, detail=redact(event.detail, secret))
                yield event
        except Exception as exc:
            turn.error = _redacted(_error_event(exc), secret)
            yield turn.error

    async def _turn_events(self, turn: Turn) -> AsyncIterator[Event]:
        endpoint = self.endpoint
        try:
            if endpoint.local and endpoint.api != "chat":
                raise ConfigError(
                    f"The local model speaks chat completions only, not api={endpoint.api!r}: "
                    "give a base URL or a key for that API, or use api='chat'."
                )
            if endpoint.local:
                async for item in self._start_local():
                    if isinstance(item, Endpoint):
                        endpoint = item
                    else:
                        yield item
            elif not endpoint.model:
                raise ConfigError(
                    f"No model is set for {redact_url(endpoint.base_url or '')}: pass model=..., "
                    "set LUXX_MODEL, or use %config LuxxMagics.model = '...'."
                )
            _check_key(endpoint.api_key)
        except Exception as exc:  # a setting, or the local server that would not start
            kind = "config" if isinstance(exc, ConfigError) else "local"
            turn.error = ErrorEvent(message=str(exc), kind=kind)
            yield turn.error
            return
        import httpx  # here, not at import: 55 ms that loading the package need not wait for

        from .providers.openai import OpenAIProvider

        provider = OpenAIProvider(
            base_url=endpoint.base_url or "",
            api_key=endpoint.api_key,
            headers=dict(endpoint.headers),
            wire=wire_for(endpoint.api),
        )
        if self.timeout is not None:
            provider.timeout = (
                self.timeout
                if isinstance(self.timeout, httpx.Timeout)
                else httpx.Timeout(self.timeout)
            )
        settings = Settings(
            model=endpoint.model or "",
            system=self.system,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            thinking=self.thinking,
            max_iterations=self.max_iterations,
            tool_timeout=self.tool_timeout,
            max_result_chars=self.max_result_chars,
            extra_body=self.extra_body,
        )
        tools: dict[str, Tool] = {}
        async for item in self._offered_tools():
            if isinstance(item, list):
                tools = {t.name: t for t in item}
            else:
                yield item
        windower = self._windower_for(endpoint)
        try:
            async for event in run_turn(
                provider=provider,
                messages=self.history,
                tools=tools,
                settings=settings,
                context=self._context,
                turn=turn,
                windower=windower,
            ):
                broken = isinstance(event, ErrorEvent) and event.kind in (
                    "connection",
                    "incomplete",
                )
                if broken and self.endpoint.local:
                    event = turn.error = _local_crash(event)  # type: ignore[arg-type]
                yield event
        finally:
            self.last_window = turn.window

    async def _start_local(self) -> AsyncIterator[StatusEvent | Endpoint]:
        """Start (or reuse) the local server off the loop, passing on its progress."""
        from .local import HTTP_HEADERS, ensure_local_server

        loop = asyncio.get_running_loop()
        progress: asyncio.Queue[str] = asyncio.Queue()

        def report(message: str) -> None:
            loop.call_soon_threadsafe(progress.put_nowait, message)

        starting = asyncio.ensure_future(
            asyncio.to_thread(ensure_local_server, self.endpoint.local_path, report)
        )
        while not starting.done() or not progress.empty():
            message = asyncio.ensure_future(progress.get())
            done, _ = await asyncio.wait({starting, message}, return_when=asyncio.FIRST_COMPLETED)
            if message in done:
                yield StatusEvent(state="starting_local", detail=message.result())
            else:
                message.cancel()
        server = starting.result()
        yield Endpoint(
            base_url=server.base_url,
            model=server.model_name,
            headers=HTTP_HEADERS,
            context_window=server.n_ctx,
        )

    def _windower_for(self, endpoint: Endpoint) -> Windower:
        """The windows' state for this endpoint, kept from turn to turn: the context a refusal
        gave, and where the last window began (so requests keep their beginning)."""
        if self._windower is None or self._windower_url != endpoint.base_url:
            self._windower = Windower(estimate=self._estimate, context=endpoint.context_window)
            self._windower_url = endpoint.base_url
        windower = self._windower
        windower.context = self.context_window or windower.context or endpoint.context_window
        windower.system, windower.answer = self.system, self.max_tokens
        windower.max_history = self.max_history
        return windower

    def _context(self, call_id: str) -> ToolContext:
        """A fresh view per call: it records the variables this call reads, for its step."""
        from .namespace import NamespaceView

        view = NamespaceView(
            self._namespace if self._namespace is not None else {},
            allow=self.visible_variables,
            deny=self.hidden_variables,
            protect=True,
        )
        return ToolContext(
            namespace=view, chat=self, call_id=call_id, notebook_history=self.notebook_history
        )

    def _reply(self, turn: Turn, *, interrupted: bool) -> Reply:
        usage = turn.usage
        done = turn.done
        return Reply(
            text=turn.text,
            thinking=turn.thinking,
            steps=list(turn.steps),
            usage=usage,
            token_count=done.token_count
            if done
            else (usage.completion_tokens if usage else len(turn.text) // 4),
            message_id=done.message_id if done else None,
            error=turn.error.message if turn.error else None,
            error_detail=turn.error.detail if turn.error else None,
            interrupted=interrupted,
            model=self.model,
        )

    def _renderers(self, display: bool | None) -> tuple[list[Renderer], list[Publishes]]:
        """The views of this run (attached ChatViews, else an inline one in a notebook), and
        those of them that publish a snapshot when the run is over."""
        local = self.endpoint.local
        renderers = [view.open_run(model=self.model, local=local) for view in self._views]
        publishing: list[Publishes] = []
        if display or (display is None and not renderers):
            from .render.live.inline import InlineRun, inline_renderer

            renderer = inline_renderer(
                model=self.model,
                local=local,
                force=bool(display),
                chat=self.name,
                history=self.history,
            )
            if renderer is not None:
                renderers.append(renderer)
            if isinstance(renderer, InlineRun):
                publishing.append(renderer)
        return renderers, publishing


def _check_key(key: str | None) -> None:
    """An HTTP header holds printable ASCII only: say which character is wrong, never the key."""
    for position, char in enumerate(key or "", start=1):
        if not " " < char < "\x7f":
            raise ConfigError(
                f"The API key cannot be sent: its character number {position} is {char!r} "
                f"(U+{ord(char):04X}), which an HTTP header cannot carry. A copy and paste may "
                "have brought it in (a smart quote, a non-breaking space): set the key again."
            )


def _redacted(error: ErrorEvent, secret: str | None) -> ErrorEvent:
    return dataclasses.replace(
        error,
        message=redact(error.message, secret),
        detail=error.detail and redact(error.detail, secret),
    )


def _local_crash(error: ErrorEvent) -> ErrorEvent:
    """Say so when the local server died under the run; the next run starts a new one."""
    from .local import local_server_crash

    crash = local_server_crash(wait=1.0)
    if crash is None:
        return error
    return ErrorEvent(
        message=f"The local model server stopped unexpectedly ({crash}). "
        "The next run starts it again.",
        kind="local",
        detail=error.message,
    )


def _call(renderers: Sequence[Any], method: str, *args: Any, **kwargs: Any) -> None:
    """A broken view must not break the run: it is reported once and the run goes on."""
    for renderer in renderers:
        try:
            getattr(renderer, method)(*args, **kwargs)
        except Exception as exc:  # pragma: no cover - depends on the view
            warnings.warn(f"luxx_nb view failed in {method}: {exc!r}", stacklevel=2)
