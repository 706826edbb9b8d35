"""The magics' options: ``%%luxx``'s and ``%luxx``'s arguments, and a cell's settings from them.

The arguments are ``magic_arguments`` (so ``%%luxx?`` prints real help), declared here once and
applied to the magics by ``cell_options`` and ``line_options``. ``cell_settings`` is a cell's
options over the settings the traits give: a ``dataclasses.replace`` of them, so the options of
one cell never reach the next.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from IPython.core.magic_arguments import argument, magic_arguments

from .config import Settings

__all__ = ["CELL_SETTINGS", "cell_options", "cell_settings", "comma_names", "line_options"]

F = TypeVar("F", bound=Callable[..., Any])

CELL_SETTINGS = (
    "system",
    "temperature",
    "max_tokens",
    "thinking",
    "max_iterations",
    "max_history",
    "timeout",
    "allow_code",
)
"""The settings a cell's option of the same name replaces (``--seed`` and ``--vars`` too)."""

_CELL = [
    argument("-m", "--model", help="Model name; 'local' or a .gguf path for a local model."),
    argument("--base-url", help="OpenAI-compatible endpoint (ends in /v1 for most servers)."),
    argument(
        "--api",
        choices=["chat", "responses", "anthropic"],
        help="The wire: chat completions (default), OpenAI's Responses API (reasoning "
        "summaries), Anthropic's Messages API (default for api.anthropic.com).",
    ),
    argument(
        "--api-key-env", metavar="VAR", help="Name of the environment variable holding the key."
    ),
    argument("--system", help="System prompt."),
    argument("--temperature", type=float, help="Sampling temperature."),
    argument("--max-tokens", type=int, help="Most tokens in one answer."),
    argument("--seed", type=int, help="Sampling seed (with --temperature 0: repeatable answers)."),
    argument(
        "--thinking",
        dest="thinking",
        action="store_const",
        const=True,
        default=None,
        help="Ask the model to think first.",
    ),
    argument(
        "--no-thinking",
        dest="thinking",
        action="store_const",
        const=False,
        help="Ask the model not to think.",
    ),
    argument("--tools", metavar="a,b", help="Offer only these tools (see %%luxx tools)."),
    argument("--no-tools", action="store_true", help="Offer no tools."),
    argument(
        "--allow-code",
        dest="allow_code",
        action="store_const",
        const=True,
        default=None,
        help="Offer run_python: the model's code runs in this notebook after you approve it.",
    ),
    argument("--vars", metavar="a,b", help="Let the tools see only these variables."),
    argument(
        "--max-history",
        type=int,
        metavar="N",
        help="Send at most the last N exchanges of the conversation.",
    ),
    argument("--max-iterations", type=int, help="Most model requests (tool rounds) in this cell."),
    argument(
        "--timeout", type=float, help="Seconds the server may stay silent before the run fails."
    ),
    argument("--new", action="store_true", help="Start a fresh conversation."),
    argument(
        "--chat", default="default", metavar="NAME", help="Which conversation (default: 'default')."
    ),
]

_LINE = [
    argument(
        "command",
        nargs="?",
        default="help",
        choices=["history", "reset", "resume", "code", "config", "tools", "mcp", "help"],
        help="What to do.",
    ),
    argument(
        "argument",
        nargs="?",
        metavar="PATH|N",
        help="resume: the notebook to read (default: this one); "
        "code: which code block of the last answer (default: all).",
    ),
    argument("--chat", default="default", metavar="NAME", help="Which conversation."),
]


def _options(arguments: list[Callable[[F], F]]) -> Callable[[F], F]:
    def apply(func: F) -> F:
        for add in reversed(arguments):  # as if stacked above ``func`` in this order
            func = add(func)
        return magic_arguments()(func)  # type: ignore[no-any-return]

    return apply


cell_options = _options(_CELL)
"""``%%luxx``'s arguments."""
line_options = _options(_LINE)
"""``%luxx``'s arguments."""


def cell_settings(base: Settings, args: Any) -> Settings:
    """``base`` (the traits' settings) with what this cell's options set."""
    changes: dict[str, Any] = {
        name: getattr(args, name) for name in CELL_SETTINGS if getattr(args, name) is not None
    }
    if args.seed is not None:
        changes["extra_body"] = {"seed": args.seed}
    changes["visible_variables"] = comma_names(args.vars) if args.vars else None
    return dataclasses.replace(base, **changes)


def comma_names(text: str) -> list[str]:
    """``a, b,c`` -> ``["a", "b", "c"]``."""
    return [name.strip() for name in text.split(",") if name.strip()]
