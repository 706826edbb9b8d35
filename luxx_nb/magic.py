"""The ``%%luxx`` cell magic and the ``%luxx`` line magic: the notebook's front door.

Defaults are traits with ``config=True``, so ``%config LuxxMagics.model = "..."`` and
``ipython_config.py`` set them; their own defaults are ``Settings``' (``config.py``). Each cell
runs with the traits' settings replaced by its options (``magic_options.py``). A key is never
written in a cell: ``--api-key-env VAR`` names the variable that holds it.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import parse_argstring
from traitlets import Bool, Float, Integer, List, Unicode

from .config import DEFAULTS, Settings, resolve_endpoint
from .errors import redact_url
from .magic_options import cell_options, cell_settings, comma_names, line_options

if TYPE_CHECKING:  # each is imported where a cell first needs it: %load_ext waits for none
    from .chat import Chat
    from .history import NotebookHistory
    from .mcp_tools import MCPServer
    from .namespace import NamespaceView
    from .tools import Tool

__all__ = ["LuxxMagics"]

_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


@magics_class
class LuxxMagics(Magics):
    """Chat with a language model from a cell; it sees the notebook's variables through tools."""

    model = Unicode(None, allow_none=True, config=True, help="Model name, or 'local'.")
    base_url = Unicode(
        None, allow_none=True, config=True, help="OpenAI-compatible endpoint, e.g. .../v1."
    )
    api = Unicode(
        None,
        allow_none=True,
        config=True,
        help="Wire: 'chat', 'responses' or 'anthropic' (None: from the endpoint).",
    )
    api_key_env = Unicode(
        None, allow_none=True, config=True, help="Name of the environment variable with the key."
    )
    local_model = Unicode(
        None, allow_none=True, config=True, help="Path of a GGUF file for the local model."
    )
    system = Unicode(DEFAULTS.system, allow_none=True, config=True, help="System prompt.")
    temperature = Float(
        DEFAULTS.temperature, allow_none=True, config=True, help="Sampling temperature."
    )
    max_tokens = Integer(
        DEFAULTS.max_tokens, allow_none=True, config=True, help="Most tokens per answer."
    )
    seed = Integer(None, allow_none=True, config=True, help="Sampling seed, for repeatable runs.")
    thinking = Bool(
        DEFAULTS.thinking, allow_none=True, config=True, help="Ask for thinking (None: default)."
    )
    max_iterations = Integer(
        DEFAULTS.max_iterations, config=True, help="Most model requests (tool rounds) per cell."
    )
    max_history = Integer(
        DEFAULTS.max_history,
        allow_none=True,
        config=True,
        help="Most exchanges (a prompt and its answer) sent per request (None: all that fit).",
    )
    context_window = Integer(
        DEFAULTS.context_window,
        allow_none=True,
        config=True,
        help="Tokens the model's context holds, to fit each request before sending it "
        "(None: learned from the server; the local model's is known).",
    )
    tool_timeout = Float(
        DEFAULTS.tool_timeout, config=True, help="Seconds a tool may run before it fails."
    )
    timeout = Float(
        DEFAULTS.timeout,
        allow_none=True,
        config=True,
        help="Seconds the server may stay silent (read timeout).",
    )
    hidden_variables = List(
        Unicode(),
        default_value=list(DEFAULTS.hidden_variables),
        config=True,
        help="Variables the tools never show, beyond the defaults.",
    )
    allow_code = Bool(
        DEFAULTS.allow_code,
        config=True,
        help="Offer run_python: the model's code, run in this notebook after you approve it.",
    )
    approve_code = Bool(
        DEFAULTS.approve_code,
        config=True,
        help="Ask before each run_python call (False runs the model's code unasked).",
    )

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self.chats: dict[str, Chat] = {}
        self.mcp_servers: dict[str, MCPServer] = {}  # %luxx mcp add; started on first use

    # -- %%luxx --------------------------------------------------------------------------

    @cell_options
    @cell_magic("luxx")
    def luxx_cell(self, line: str, cell: str) -> None:
        """Send the cell to the model and show it think, call tools and answer.

        The conversation goes on from cell to cell. ``{name}`` in the cell is replaced by the
        value of that variable (``{{`` for a brace), ``{error}`` by the last error raised in
        the notebook (its traceback), ``{In[3]}`` and ``{Out[3]}`` by cell 3's code and result.
        Without an endpoint or a key configured, a tiny local model answers
        (``pip install "luxx_nb[local]"``).
        """
        args = parse_argstring(self.luxx_cell, line)
        prompt = cell.strip()
        if not prompt:
            raise UsageError("The cell is empty: write the prompt below %%luxx.")
        chat = self._chat(args)
        self._configure(chat, args)
        namespace = self.shell.user_ns
        hidden = tuple(self.hidden_variables)
        key = chat.endpoint.api_key
        if "{" in prompt:  # the references see what {name} sees: all but the hidden variables
            from .namespace import NamespaceView
            from .notebook import interpolate

            history = self._notebook_history(NamespaceView(namespace, deny=hidden), key)
            prompt = interpolate(prompt, namespace, hidden, history)
        chat.notebook_history = self._notebook_history(chat.namespace, key)  # for the tools
        chat.send(prompt)

    def _notebook_history(self, view: NamespaceView | None, key: str | None) -> NotebookHistory:
        """The cells run before this one and the last error, hiding what ``view`` hides."""
        from .history import NotebookHistory, Redactor
        from .namespace import NamespaceView
        from .notebook import cell_label, last_error

        shell = self.shell
        manager = getattr(shell, "history_manager", None)
        namespace = shell.user_ns
        redactor = Redactor.from_namespace(
            namespace,
            view if view is not None else NamespaceView(namespace),
            deny=self.hidden_variables,
            key=key,
        )
        return NotebookHistory(
            list(getattr(manager, "input_hist_raw", None) or [""]),
            dict(getattr(manager, "output_hist", None) or {}),
            last_error(),
            redactor=redactor,
            label=cell_label(shell),
            current=getattr(shell, "execution_count", None),
        )

    def _chat(self, args: Any) -> Chat:
        from .chat import Chat

        if args.new or args.chat not in self.chats:
            self.chats[args.chat] = Chat(namespace=self.shell.user_ns, variable_tools=False)
            self.chats[args.chat].name = args.chat
        return self.chats[args.chat]

    def _configure(self, chat: Chat, args: Any) -> None:
        """This cell's settings: the cell's options, else the traits, else the environment."""

        def pick(name: str) -> Any:
            value = getattr(args, name, None)
            return value if value is not None else getattr(self, name)

        model = pick("model") or (self.local_model or None)
        chat.endpoint = resolve_endpoint(model, pick("base_url"), self._api_key(args), pick("api"))
        chat.settings = cell_settings(self.settings(), args)
        if args.no_tools:
            chat.settings = chat.settings.replace(allow_code=False)
        chat.tools = self._tools(args)

    def settings(self) -> Settings:
        """The traits as settings: what every cell starts from (its options replace some)."""
        return Settings(
            system=self.system,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            thinking=self.thinking,
            extra_body={"seed": self.seed} if self.seed is not None else None,
            max_iterations=self.max_iterations,
            timeout=self.timeout,
            tool_timeout=self.tool_timeout,
            max_history=self.max_history,
            context_window=self.context_window,
            hidden_variables=tuple(self.hidden_variables),
            allow_code=self.allow_code,
            approve_code=self.approve_code,
            variable_tools=False,  # the magic offers them itself (``available_tools``)
        )

    def _api_key(self, args: Any) -> str | None:
        variable = args.api_key_env or self.api_key_env
        if not variable:
            return None
        if not _VARIABLE_NAME.fullmatch(variable):  # a pasted key must not be echoed back
            raise UsageError(
                "--api-key-env takes the name of an environment variable, such as "
                "OPENAI_API_KEY, not the key itself (what was given is not shown)."
            )
        key = os.environ.get(variable)
        if not key:
            raise UsageError(f"The environment variable {variable} is not set (--api-key-env).")
        return key

    def _tools(self, args: Any) -> list[Tool | MCPServer]:
        """``--tools`` picks functions, whole MCP servers by name, or a server's tools (which
        starts the servers to learn their names); by default every tool and server."""
        available = self.available_tools()
        if args.no_tools:
            return []
        if not args.tools:
            return [*available.values(), *self.mcp_servers.values()]
        picked: list[Tool | MCPServer] = []
        unknown: list[str] = []
        served: dict[str, Tool] | None = None
        notes: list[str] = []
        for name in comma_names(args.tools):
            if name in available:
                picked.append(available[name])
            elif name in self.mcp_servers:
                picked.append(self.mcp_servers[name])
            else:
                if served is None:
                    served, notes = self._server_tools(available)
                if name in served:
                    picked.append(served[name])
                else:
                    unknown.append(name)
        if unknown:
            names = [*available, *self.mcp_servers, *(served or {})]
            why = f" ({' '.join(notes)})" if notes else ""
            raise UsageError(
                f"Unknown tool(s): {', '.join(unknown)}. Available: {', '.join(names)}.{why}"
            )
        return picked

    def _server_tools(self, taken: dict[str, Tool]) -> tuple[dict[str, Tool], list[str]]:
        """Every MCP server's tools, named as a run names them (started now if need be)."""
        if not self.mcp_servers:
            return {}, []
        from .mcp_tools import offered_tools
        from .runner import run_sync

        tools, notes = run_sync(offered_tools(list(self.mcp_servers.values()), list(taken)))
        return {t.name: t for t in tools}, notes

    def available_tools(self) -> dict[str, Tool]:
        """The notebook-variable tools, then every ``@luxx_nb.tool`` of the session."""
        from .tools import registered_tools
        from .variable_tools import namespace_tools

        tools = {t.name: t for t in namespace_tools()}
        tools.update((t.name, t) for t in registered_tools())
        return tools

    # -- %luxx ---------------------------------------------------------------------------

    @line_options
    @line_magic("luxx")
    def luxx_line(self, line: str) -> None:
        """``%luxx history | reset | resume [path] | code [N] | config | tools | help``
        (``--chat NAME``). ``code`` puts the last answer's code blocks (or block N) into a new
        cell below."""
        from .line_commands import code_command, mcp_command
        from .notebook import format_history

        words = line.split(None, 1)
        if words and words[0] == "mcp":
            mcp_command(self.mcp_servers, words[1] if len(words) > 1 else "")
            return
        args = parse_argstring(self.luxx_line, line)
        chat = self.chats.get(args.chat)
        if args.command == "resume":
            self._resume(args.argument)
        elif args.command == "code":
            code_command(self.shell, chat.history if chat else [], args.chat, args.argument)
        elif args.command == "history":
            print(format_history(chat.history if chat else [], chat.last_window if chat else None))
        elif args.command == "reset":
            if chat:
                chat.reset()
            print(f"Conversation {args.chat!r} cleared.")
        elif args.command == "config":
            print(self._describe_config())
        elif args.command == "tools":
            available = self.available_tools()
            for name, t in available.items():
                print(f"{name}: {t.description}")
            served, notes = self._server_tools(available)
            for name, t in served.items():
                print(f"{name} (MCP server {t.source}): {t.description}")
            for note in notes:
                print(note)
        else:
            print(self.luxx_cell.__doc__.strip() if self.luxx_cell.__doc__ else "", end="\n\n")
            print(
                "Line commands: %luxx history | reset | resume [path] | code [N] | config | tools"
                " | help  [--chat NAME]"
            )
            print(
                "%luxx mcp add [--approve] NAME -- COMMAND ARGS... | mcp add NAME URL | "
                "mcp list | mcp remove NAME: MCP servers whose tools the model gets "
                "(--approve: each call asks first)."
            )
            print("%luxx code [N]: the last answer's code blocks (or block N) in a new cell below.")
            print("Options of %%luxx: see %%luxx?")

    def _resume(self, path: str | None) -> None:
        """Rebuild the conversations from the transcripts saved in the notebook's outputs."""
        from .chat import Chat
        from .notebook import find_notebook
        from .transcript import read_conversations

        try:
            notebook = find_notebook(path)
            conversations = read_conversations(notebook)
        except (OSError, ValueError) as exc:
            raise UsageError(str(exc)) from None
        if not conversations:
            print(f"No luxx_nb run is saved in {notebook} (save the notebook after running).")
            return
        for name, messages in conversations.items():
            chat = self.chats.get(name)
            if chat is None:
                chat = self.chats[name] = Chat(namespace=self.shell.user_ns, variable_tools=False)
                chat.name = name
            chat.reset()
            chat.history.extend(messages)
            asked = sum(1 for m in messages if m.get("role") == "user")
            print(f"Conversation {name!r}: {asked} prompt(s), {len(messages)} messages resumed.")
        print(f"(from {notebook})")

    def _describe_config(self) -> str:
        endpoint = resolve_endpoint(self.model or self.local_model, self.base_url, None, self.api)
        where = "local model (llama.cpp)" if endpoint.local else redact_url(endpoint.base_url or "")
        if self.api_key_env:
            state = "set" if os.environ.get(self.api_key_env) else "NOT set"
            key = f"from ${self.api_key_env} ({state})"
        else:
            wire_key = "ANTHROPIC_API_KEY" if endpoint.api == "anthropic" else "OPENAI_API_KEY"
            key = f"from LUXX_API_KEY / {wire_key}" if endpoint.api_key else "none"
        lines = [
            f"model: {endpoint.model or ('local' if endpoint.local else '(not set)')}",
            f"endpoint: {where}",
            f"wire: {_WIRE_WORDS[endpoint.api]}",
            f"key: {key}",
        ]
        for name in (
            "system",
            "temperature",
            "max_tokens",
            "thinking",
            "max_iterations",
            "max_history",
            "context_window",
            "tool_timeout",
            "allow_code",
            "approve_code",
        ):
            lines.append(f"{name}: {getattr(self, name)}")
        lines.append(f"conversations: {', '.join(self.chats) or '(none yet)'}")
        return "\n".join(lines)


_WIRE_WORDS = {
    "chat": "chat (chat completions)",
    "responses": "responses (OpenAI Responses API)",
    "anthropic": "anthropic (Anthropic Messages API)",
}
