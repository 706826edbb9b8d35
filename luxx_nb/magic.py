"""The ``%%luxx`` cell magic and the ``%luxx`` line magic: the notebook's front door.

Defaults are traits with ``config=True``, so ``%config LuxxMagics.model = "..."`` and
``ipython_config.py`` set them; each cell's options override them for that cell. A key is
never written in a cell: ``--api-key-env VAR`` names the variable that holds it.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from traitlets import Bool, Float, Integer, List, Unicode

from .chat import Chat, resolve_endpoint
from .errors import redact_url
from .history import NO_ERROR, NotebookHistory, Redactor
from .mcp_tools import MCPServer
from .namespace import NamespaceView
from .tools import Tool, registered_tools
from .transcript import read_conversations
from .variable_tools import namespace_tools
from .window import Window, exchanges

__all__ = ["LuxxMagics", "interpolate"]

_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_FIELD = re.compile(r"\{\{|\}\}|\{(In|Out)\[(\d{1,9})\]\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def interpolate(
    prompt: str,
    namespace: dict[str, Any],
    hidden: tuple[str, ...] = (),
    history: NotebookHistory | None = None,
) -> str:
    """Replace ``{name}`` by that variable's value; ``{{``/``}}`` are braces; unknown names stay.

    Names the variable tools would hide (private, secret-looking) stay as written, so a key
    cannot reach the model by a slip in a prompt. With ``history``, ``{error}`` is the last
    exception (or a note that there was none), ``{In[n]}`` and ``{Out[n]}`` cell n's code and
    result, with what the tools hide left out; a cell that does not exist stays as written.
    """
    visible = NamespaceView(namespace, deny=hidden)

    def replace(match: re.Match[str]) -> str:
        kind, number, name = match.groups()
        if kind is not None:
            if history is None:
                return match.group(0)
            found = history.input(int(number)) if kind == "In" else history.output(int(number))
            return match.group(0) if found is None else found
        if name is None:
            return match.group(0)[0]
        if name == "error" and history is not None:
            return history.error() or NO_ERROR
        return str(visible[name]) if name in visible else match.group(0)

    return _FIELD.sub(replace, prompt)


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
    system = Unicode(None, allow_none=True, config=True, help="System prompt.")
    temperature = Float(None, allow_none=True, config=True, help="Sampling temperature.")
    max_tokens = Integer(None, allow_none=True, config=True, help="Most tokens per answer.")
    seed = Integer(None, allow_none=True, config=True, help="Sampling seed, for repeatable runs.")
    thinking = Bool(None, allow_none=True, config=True, help="Ask for thinking (None: default).")
    max_iterations = Integer(10, config=True, help="Most model requests (tool rounds) per cell.")
    max_history = Integer(
        None,
        allow_none=True,
        config=True,
        help="Most exchanges (a prompt and its answer) sent per request (None: all that fit).",
    )
    context_window = Integer(
        None,
        allow_none=True,
        config=True,
        help="Tokens the model's context holds, to fit each request before sending it "
        "(None: learned from the server; the local model's is known).",
    )
    tool_timeout = Float(60.0, config=True, help="Seconds a tool may run before it fails.")
    timeout = Float(
        None,
        allow_none=True,
        config=True,
        help="Seconds the server may stay silent (read timeout).",
    )
    hidden_variables = List(
        Unicode(), config=True, help="Variables the tools never show, beyond the defaults."
    )

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self.chats: dict[str, Chat] = {}
        self.mcp_servers: dict[str, MCPServer] = {}  # %luxx mcp add; started on first use

    # -- %%luxx --------------------------------------------------------------------------

    @magic_arguments()
    @argument("-m", "--model", help="Model name; 'local' or a .gguf path for a local model.")
    @argument("--base-url", help="OpenAI-compatible endpoint (ends in /v1 for most servers).")
    @argument(
        "--api",
        choices=["chat", "responses", "anthropic"],
        help="The wire: chat completions (default), OpenAI's Responses API (reasoning "
        "summaries), Anthropic's Messages API (default for api.anthropic.com).",
    )
    @argument(
        "--api-key-env", metavar="VAR", help="Name of the environment variable holding the key."
    )
    @argument("--system", help="System prompt.")
    @argument("--temperature", type=float, help="Sampling temperature.")
    @argument("--max-tokens", type=int, help="Most tokens in one answer.")
    @argument("--seed", type=int, help="Sampling seed (with --temperature 0: repeatable answers).")
    @argument(
        "--thinking",
        dest="thinking",
        action="store_const",
        const=True,
        default=None,
        help="Ask the model to think first.",
    )
    @argument(
        "--no-thinking",
        dest="thinking",
        action="store_const",
        const=False,
        help="Ask the model not to think.",
    )
    @argument("--tools", metavar="a,b", help="Offer only these tools (see %%luxx tools).")
    @argument("--no-tools", action="store_true", help="Offer no tools.")
    @argument("--vars", metavar="a,b", help="Let the tools see only these variables.")
    @argument(
        "--max-history",
        type=int,
        metavar="N",
        help="Send at most the last N exchanges of the conversation.",
    )
    @argument("--max-iterations", type=int, help="Most model requests (tool rounds) in this cell.")
    @argument(
        "--timeout", type=float, help="Seconds the server may stay silent before the run fails."
    )
    @argument("--new", action="store_true", help="Start a fresh conversation.")
    @argument(
        "--chat", default="default", metavar="NAME", help="Which conversation (default: 'default')."
    )
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
            history = self._notebook_history(NamespaceView(namespace, deny=hidden), key)
            prompt = interpolate(prompt, namespace, hidden, history)
        chat.notebook_history = self._notebook_history(chat.namespace, key)  # for the tools
        chat.send(prompt)

    def _notebook_history(self, view: NamespaceView | None, key: str | None) -> NotebookHistory:
        """The cells run before this one and the last error, hiding what ``view`` hides."""
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
            _last_error(),
            redactor=redactor,
            label=_cell_label(shell),
            current=getattr(shell, "execution_count", None),
        )

    def _chat(self, args: Any) -> Chat:
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
        chat.system = pick("system")
        chat.temperature = pick("temperature")
        chat.max_tokens = pick("max_tokens")
        seed = pick("seed")
        chat.extra_body = {"seed": seed} if seed is not None else None
        chat.thinking = pick("thinking")
        chat.max_iterations = pick("max_iterations")
        chat.max_history = pick("max_history")
        chat.context_window = self.context_window
        chat.tool_timeout = self.tool_timeout
        chat.timeout = pick("timeout")
        chat.hidden_variables = tuple(self.hidden_variables)
        chat.visible_variables = _names(args.vars) if args.vars else None
        chat.tools = self._tools(args)

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
        for name in _names(args.tools):
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
        tools = {t.name: t for t in namespace_tools()}
        tools.update((t.name, t) for t in registered_tools())
        return tools

    # -- %luxx ---------------------------------------------------------------------------

    @magic_arguments()
    @argument(
        "command",
        nargs="?",
        default="help",
        choices=["history", "reset", "resume", "code", "config", "tools", "mcp", "help"],
        help="What to do.",
    )
    @argument(
        "argument",
        nargs="?",
        metavar="PATH|N",
        help="resume: the notebook to read (default: this one); "
        "code: which code block of the last answer (default: all).",
    )
    @argument("--chat", default="default", metavar="NAME", help="Which conversation.")
    @line_magic("luxx")
    def luxx_line(self, line: str) -> None:
        """``%luxx history | reset | resume [path] | code [N] | config | tools | help``
        (``--chat NAME``). ``code`` puts the last answer's code blocks (or block N) into a new
        cell below."""
        words = line.split(None, 1)
        if words and words[0] == "mcp":
            self._mcp(words[1] if len(words) > 1 else "")
            return
        args = parse_argstring(self.luxx_line, line)
        chat = self.chats.get(args.chat)
        if args.command == "resume":
            self._resume(args.argument)
        elif args.command == "code":
            self._code(chat, args.chat, args.argument)
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
                "%luxx mcp add NAME -- COMMAND ARGS... | mcp add NAME URL | mcp list | "
                "mcp remove NAME: MCP servers whose tools the model gets."
            )
            print("%luxx code [N]: the last answer's code blocks (or block N) in a new cell below.")
            print("Options of %%luxx: see %%luxx?")

    def _mcp(self, line: str) -> None:
        """``%luxx mcp add NAME -- COMMAND ARGS...`` (or ``add NAME URL``), ``list``,
        ``remove NAME``. A server starts when a run first offers its tools."""
        import shlex

        words = shlex.split(line)
        usage = "Usage: %luxx mcp add NAME -- COMMAND ARGS... | add NAME URL | list | remove NAME"
        action = words[0] if words else "list"
        if action == "list":
            if not self.mcp_servers:
                print("No MCP server yet: %luxx mcp add NAME -- COMMAND ARGS...")
            for server in self.mcp_servers.values():
                where = " ".join(server.command or []) or server.url
                state = f"running, {len(server.tools)} tools" if server.running else "not started"
                names = f": {', '.join(t.name for t in server.tools)}" if server.tools else ""
                print(f"{server.name}: {where} ({state}){names}")
        elif action == "remove" and len(words) == 2:
            server = self.mcp_servers.pop(words[1], None)
            if server is None:
                raise UsageError(f"No MCP server named {words[1]!r} (see %luxx mcp list).")
            server.stop()
            print(f"MCP server {words[1]!r} removed.")
        elif action == "add" and len(words) >= 3:
            name, rest = words[1], words[2:]
            if rest[0] == "--" and len(rest) > 1:
                server = MCPServer(rest[1:], name=name)
            elif len(rest) == 1 and rest[0].startswith(("http://", "https://")):
                server = MCPServer(url=rest[0], name=name)
            else:
                raise UsageError(usage)
            if server.name != name:
                raise UsageError(f"A server's name is letters, digits, '_' or '-', not {name!r}.")
            old = self.mcp_servers.pop(name, None)
            if old is not None:
                old.stop()
            self.mcp_servers[name] = server
            print(f"MCP server {name!r} added; it starts when a run first offers its tools.")
        else:
            raise UsageError(usage)

    def _code(self, chat: Chat | None, name: str, which: str | None) -> None:
        """Put the code blocks of the last answer (or block ``which``) into a new cell below."""
        from .render.markdown import code_blocks

        answer = last_answer(chat.history if chat else [])
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
        self.shell.set_next_input("\n\n".join(block.rstrip("\n") for block in chosen))
        print(f"The last answer's {what} in a new cell below.")

    def _resume(self, path: str | None) -> None:
        """Rebuild the conversations from the transcripts saved in the notebook's outputs."""
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
            key = "from LUXX_API_KEY / OPENAI_API_KEY" if endpoint.api_key else "none"
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
        ):
            lines.append(f"{name}: {getattr(self, name)}")
        lines.append(f"conversations: {', '.join(self.chats) or '(none yet)'}")
        return "\n".join(lines)


_WIRE_WORDS = {
    "chat": "chat (chat completions)",
    "responses": "responses (OpenAI Responses API)",
    "anthropic": "anthropic (Anthropic Messages API)",
}


def find_notebook(path: str | None = None) -> Path:
    """The notebook named, else this kernel's own (jupyter_server sets ``JPY_SESSION_NAME``)."""
    if path:
        found = Path(path).expanduser()
        if not found.is_file():
            raise ValueError(f"No notebook at {found}.")
        return found
    session = os.environ.get("JPY_SESSION_NAME")
    if not session:
        raise ValueError(
            "This kernel does not know its notebook (no JPY_SESSION_NAME): "
            "name it, as in %luxx resume analysis.ipynb"
        )
    for candidate in (Path(session), Path.cwd() / Path(session).name):
        if candidate.is_file():
            return candidate
    raise ValueError(f"The notebook {session} is not on disk yet: save it, then resume.")


def _last_error() -> BaseException | None:
    """The last exception IPython showed: it keeps it in ``sys.last_value`` (IPython 8 and 9;
    IPython 9 on Python 3.12+ also sets ``sys.last_exc``, the newer name for it)."""
    for name in ("last_value", "last_exc"):
        error = getattr(sys, name, None)
        if isinstance(error, BaseException):
            return error
    return None


def _cell_label(shell: Any) -> Any:
    """How IPython names a cell's file in a traceback ("Cell In[3]"), or None for other files."""
    name_of = getattr(getattr(shell, "compile", None), "format_code_name", None)

    def label(filename: str) -> str | None:
        try:
            found = name_of(filename) if name_of is not None else None
        except Exception:
            return None
        return " ".join(found) if found else None

    return label


def last_answer(messages: list[dict[str, Any]]) -> str | None:
    """The text of the last assistant message that has one."""
    for message in reversed(messages):
        content = message.get("content")
        if message.get("role") == "assistant" and isinstance(content, str) and content.strip():
            return content
    return None


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def format_history(messages: list[dict[str, Any]], window: Window | None = None) -> str:
    """The conversation as plain text, one block per message.

    With the last request's ``window``, the exchanges it left out are marked, so a person sees
    what the model was not sent (the history itself keeps everything).
    """
    if not messages:
        return "(no messages yet)"
    left_out = 0
    head = []
    if window is not None and window.left_out:
        left_out = window.total - window.sent
        head.append(f"(the last request {window.note()}; marked below: not sent)")
    blocks = list(head)
    for number, exchange in enumerate(exchanges(messages)):
        mark = " (not sent)" if number < left_out else ""
        for message in exchange:
            blocks.append(_format_message(message, mark))
    return "\n\n".join(blocks)


def _format_message(message: Mapping[str, Any], mark: str) -> str:
    role = message.get("role", "?")
    content = message.get("content") or ""
    if role == "tool":
        return f"[tool result {message.get('tool_call_id', '')}]{mark}\n{content}"
    calls = [
        f"-> {c['function']['name']}({c['function']['arguments']})"
        for c in message.get("tool_calls") or ()
    ]
    return "\n".join([f"[{role}]{mark}", content, *calls]).strip()
