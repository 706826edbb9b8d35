"""``Chat``: a conversation, an endpoint and tools wired to the agent loop and its views.

This is the one module that wires the stages together: it holds one ``Settings``
(``config.py``), makes the endpoint ready (``ready.py``: the local model started when nothing
else is configured), runs ``agent.run_turn`` and hands every event to the renderers that show
it. ``send`` is the synchronous door, ``asend`` the async one, ``stream`` yields the events
themselves. Every event of a turn passes one place (``_guarded_events``), which hides the key
and records the error that ended the turn.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .agent import Turn, failures_as_events, redacted_error, run_turn
from .approval import RunControls, set_controls
from .config import (
    DEFAULTS,
    LOCAL,
    SETTING_NAMES,
    Endpoint,
    Setting,
    Settings,
    resolve_endpoint,
)
from .errors import redact, redact_url
from .events import ErrorEvent, Event, StatusEvent, StepEvent
from .mcp_tools import MCPServer, prefixed
from .ready import local_crash, provider_for, ready_endpoint
from .reply import Reply, reply_of
from .runner import run_sync
from .tools import Tool, ToolContext, make_tool
from .turn_views import call_views as _call
from .turn_views import fallback, views_of
from .window import TokenEstimate, Window
from .windower import Windower

if TYPE_CHECKING:
    import httpx

    from .history import NotebookHistory
    from .namespace import NamespaceView

__all__ = ["Chat", "Reply"]

INTERRUPTED_MESSAGE = "Interrupted: what arrived before is kept in the reply and the history."


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
        max_iterations: int = DEFAULTS.max_iterations,
        *,
        timeout: float | httpx.Timeout | None = DEFAULTS.timeout,
        tool_timeout: float = DEFAULTS.tool_timeout,
        max_result_chars: int = DEFAULTS.max_result_chars,
        extra_body: dict[str, Any] | None = None,
        hidden_variables: Sequence[str] = DEFAULTS.hidden_variables,
        visible_variables: Sequence[str] | None = DEFAULTS.visible_variables,
        variable_tools: bool = DEFAULTS.variable_tools,
        allow_code: bool = DEFAULTS.allow_code,
        approve_code: bool = DEFAULTS.approve_code,
        max_history: int | None = DEFAULTS.max_history,
        context_window: int | None = DEFAULTS.context_window,
        api: str | None = None,
    ) -> None:
        self.endpoint = resolve_endpoint(model, base_url, api_key, api)
        given = locals()  # every setting is a parameter of the same name
        self.settings = Settings(**{name: given[name] for name in SETTING_NAMES})
        self.tools: list[Tool | MCPServer] = [
            t if isinstance(t, (Tool, MCPServer)) else make_tool(t) for t in tools
        ]
        self._namespace = namespace
        self.history: list[dict[str, Any]] = []
        self.notebook_history: NotebookHistory | None = None  # earlier cells, set by %%luxx
        self.replies: list[Reply] = []
        self._views: list[Any] = []
        self._busy = False
        self._controls: RunControls | None = None  # the running turn's Stop and approvals
        self._estimate = TokenEstimate()  # characters a token, learned from each answer's usage
        self._windower: Windower | None = None  # what the windows learned, for one endpoint
        self._windower_url: str | None = None
        self.last_window: Window | None = None

    # -- settings ------------------------------------------------------------------------

    system = Setting()
    temperature = Setting()
    max_tokens = Setting()
    thinking = Setting()
    extra_body = Setting()
    max_iterations = Setting()
    timeout = Setting()
    tool_timeout = Setting()
    max_result_chars = Setting()
    max_history = Setting()
    context_window = Setting()
    hidden_variables = Setting()
    visible_variables = Setting()
    variable_tools = Setting()
    allow_code = Setting()
    approve_code = Setting()

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
        return None if self._namespace is None else self._view(self._namespace)

    @namespace.setter
    def namespace(self, namespace: Mapping[str, Any] | None) -> None:
        self._namespace = namespace

    def _view(self, namespace: Mapping[str, Any]) -> NamespaceView:
        """The one place the tools' view of the variables is built (``namespace``, ``_context``)."""
        from .namespace import NamespaceView

        settings = self.settings
        return NamespaceView(
            namespace,
            allow=settings.visible_variables,
            deny=settings.hidden_variables,
            protect=True,
        )

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
                known = {t.name for t in self._with_namespace_tools([*offered])}
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
        offered, notes = await offered_tools(self.tools, self._with_namespace_tools([]))
        for note in notes:
            yield StatusEvent(state="notice", detail=note)
        yield self._with_namespace_tools(offered)

    def _with_namespace_tools(self, offered: list[Tool]) -> list[Tool]:
        if self._namespace is not None and self.variable_tools:
            from .variable_tools import namespace_tools

            known = {t.name for t in offered}
            offered += [t for t in namespace_tools() if t.name not in known]
        if self._namespace is not None and self.allow_code:  # in the notebook itself, not a view
            from .code_tool import with_code_tool

            offered = with_code_tool(offered, self._namespace, approve=self.approve_code)
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
        renderers, publishing = views_of(self._idle(), display)
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
        renderers, publishing = views_of(self._idle(), display)
        try:
            return await self._collect(prompt, renderers)
        finally:
            _call(publishing, "publish")

    async def stream(self, prompt: str, *, include_status: bool = False) -> AsyncIterator[Event]:
        """The events of one turn, as the original service sent them (plus status if asked)."""
        async for event in self.events(prompt, ()):
            if include_status or not isinstance(event, StatusEvent):
                yield event

    def stop(self) -> bool:
        """Stop the running turn, from any thread (the Stop button calls this).

        The turn ends as a kernel interrupt ends it (what arrived is kept, the stream is
        closed, tools are cancelled, calls waiting for approval are declined, the history
        stays valid), but ``send`` returns its ``Reply``, whose state is ``stopped``. False
        when no turn was running. It cancels the task that runs the turn: under ``stream``,
        that is the consumer's task, wherever it awaits.
        """
        controls = self._controls
        if controls is None or not self._busy:
            return False
        controls.stop()
        return True

    @property
    def busy(self) -> bool:
        """Whether a turn runs now: another ``send`` would be refused until it ends."""
        return self._busy

    def _idle(self) -> Chat:
        """This chat, if no turn runs (checked before any view opens a run for a new one)."""
        if self._busy:
            raise RuntimeError("This chat is still answering; wait for it or use another Chat.")
        return self

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
        self._idle()
        self._busy = True
        turn, state = Turn(), "done"
        controls = self._controls = RunControls.for_this_task(
            lambda: self._busy and self._controls is controls, fallback=fallback()
        )
        self.history.append({"role": "user", "content": prompt})
        token = set_controls(controls)  # the views opening now find the run's controls
        try:
            _call(renderers, "start", model=self.model, local=self.endpoint.local)
        finally:
            token.var.reset(token)
        try:
            async for event in self._guarded_events(turn, controls):
                _call(renderers, "handle", event)
                yield event
        except asyncio.CancelledError:
            state = "stopped" if controls.stopped else "interrupted"
            if state == "interrupted":
                raise
            task = asyncio.current_task()
            if task is not None and sys.version_info >= (3, 11):  # 3.10 counts no cancels
                task.uncancel()  # a Stop: the turn ends, its caller gets the Reply
        except GeneratorExit:
            state = "interrupted"
            raise
        finally:
            self._busy = False
            if state == "done" and turn.error is not None:
                state = "error"
            self.replies.append(reply_of(turn, state=state, model=self.model))
            for step in turn.unsent:  # calls declined as the turn was cut short
                _call(renderers, "handle", StepEvent(step=step))
            error = turn.error
            message = _FINAL_MESSAGES.get(state) or (error.message if error else None)
            _call(renderers, "finish", state, message, error.detail if error else None)

    async def _guarded_events(self, turn: Turn, controls: RunControls) -> AsyncIterator[Event]:
        """The turn's events with the key hidden; a failure anywhere becomes an error event.

        The agent already ends a turn on any error it meets; this is the wall behind it, so
        that nothing but cancellation ever leaves ``send`` as an exception.
        """
        secret = self.endpoint.api_key
        async for event in failures_as_events(self._turn_events(turn, controls)):
            if isinstance(event, ErrorEvent):
                event = turn.error = redacted_error(event, secret)  # the one place it is written
            elif isinstance(event, StatusEvent) and event.detail:
                event = dataclasses.replace(event, detail=redact(event.detail, secret))
            yield event

    async def _turn_events(self, turn: Turn, controls: RunControls) -> AsyncIterator[Event]:
        """The endpoint made ready, the provider and the tools of this run, then the agent."""
        endpoint: Endpoint | None = None
        async for item in ready_endpoint(self.endpoint):
            if isinstance(item, Endpoint):
                endpoint = item
            else:
                yield item
        if endpoint is None:  # it could not be made ready: the error is out
            return
        settings = self.settings
        provider = provider_for(endpoint, settings.timeout)
        tools: dict[str, Tool] = {}
        async for offered in self._offered_tools():
            if isinstance(offered, list):
                tools = {t.name: t for t in offered}
            else:
                yield offered
        windower = self._windower_for(endpoint, settings)
        try:
            async for event in run_turn(
                provider=provider,
                messages=self.history,
                tools=tools,
                settings=settings,
                model=endpoint.model or "",
                context=self._context,
                turn=turn,
                windower=windower,
                approve=controls.decide,
            ):
                broken = isinstance(event, ErrorEvent) and event.kind in (
                    "connection",
                    "incomplete",
                )
                if broken and self.endpoint.local:
                    event = local_crash(event)  # type: ignore[arg-type]
                yield event
        finally:
            self.last_window = turn.window

    def _windower_for(self, endpoint: Endpoint, settings: Settings) -> Windower:
        """The windows' state for this endpoint, kept from turn to turn: the context a refusal
        gave (it wins over a larger one set or reported), the one the server reported, and
        where the last window began (so requests keep their beginning)."""
        if self._windower is None or self._windower_url != endpoint.base_url:
            self._windower = Windower(estimate=self._estimate, context=endpoint.context_window)
            self._windower_url = endpoint.base_url
        windower = self._windower
        given = settings.context_window or endpoint.context_window or windower.reported
        windower.context = min(filter(None, (given, windower.learned)), default=None)
        windower.system, windower.answer = settings.system, settings.max_tokens
        windower.max_history = settings.max_history
        return windower

    def _context(self, call_id: str) -> ToolContext:
        """A fresh view per call: it records the variables this call reads, for its step."""
        view = self._view(self._namespace if self._namespace is not None else {})
        return ToolContext(
            namespace=view, chat=self, call_id=call_id, notebook_history=self.notebook_history
        )


_FINAL_MESSAGES = {"interrupted": "Interrupted", "stopped": "Stopped"}
