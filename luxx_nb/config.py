"""Settings in one place: where requests go (``Endpoint``) and how a run goes (``Settings``).

``Settings`` is one frozen dataclass that owns every default of a run: the number of tool
rounds, the tools' time limit, the size bound of a tool's result, the window's limits. The
front doors build a changed copy (``dataclasses.replace``) instead of setting attributes one by
one: ``Chat`` holds one, a ``%%luxx`` cell replaces the fields its options name, and the
magic's traits read their defaults from it. The agent reads the same object; the part of it
that goes into each request body is ``Settings.request``. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .errors import ConfigError
from .providers.wire import API_NAMES, Request

if TYPE_CHECKING:
    import httpx

__all__ = [
    "ANTHROPIC_BASE_URL",
    "DEFAULTS",
    "LOCAL",
    "OPENAI_BASE_URL",
    "SETTING_NAMES",
    "Endpoint",
    "Setting",
    "Settings",
    "resolve_endpoint",
]

OPENAI_BASE_URL = "https://api.openai.com/v1"
ANTHROPIC_BASE_URL = "https://api.anthropic.com/v1"
LOCAL = "local"


@dataclass(frozen=True, kw_only=True)
class Settings:
    """How a run goes: what each request asks for, how far the run may go, what tools see."""

    system: str | None = None
    """The system prompt."""
    temperature: float | None = None
    max_tokens: int | None = None
    """Most tokens in one answer (None: the wire's default)."""
    thinking: bool | None = None
    """Ask for (True) or against (False) a thinking phase; None: the model's default."""
    extra_body: Mapping[str, Any] | None = None
    """Added to every request body as is (the magic's ``--seed`` goes here)."""
    max_iterations: int = 10
    """Most model requests (tool rounds) in one run."""
    timeout: float | httpx.Timeout | None = None
    """Seconds the server may stay silent (the read timeout); None: the provider's."""
    tool_timeout: float = 60.0
    """Seconds a tool may run before it fails."""
    max_result_chars: int = 20_000
    """Characters of a tool's result the model is sent; the rest is cut, with a note."""
    max_history: int | None = None
    """Most exchanges sent per request (None: all that fit)."""
    context_window: int | None = None
    """Tokens the model's context holds (None: learned from the server, or unknown)."""
    hidden_variables: Sequence[str] = ()
    """Variables the tools never show, beyond the private and secret-looking ones."""
    visible_variables: Sequence[str] | None = None
    """The only variables the tools may see (None: all but the hidden)."""
    variable_tools: bool = True
    """Offer the notebook-variable tools when the chat has a namespace."""
    allow_code: bool = False
    """Offer ``run_python``: code the model writes, run in the notebook's namespace."""
    approve_code: bool = True
    """Each ``run_python`` call waits for a person's Approve (False: runs unasked)."""

    def __post_init__(self) -> None:
        # Kept as tuples: a list given here cannot change the settings from outside.
        object.__setattr__(self, "hidden_variables", tuple(self.hidden_variables))
        if self.visible_variables is not None:
            object.__setattr__(self, "visible_variables", tuple(self.visible_variables))

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    def request(self, model: str) -> Request:
        """What every request of a run asks of ``model``, beside the conversation and tools."""
        return Request(
            model=model,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            thinking=self.thinking,
            extra=dict(self.extra_body) if self.extra_body else None,
        )


SETTING_NAMES = tuple(f.name for f in dataclasses.fields(Settings))
DEFAULTS = Settings()
"""Every default, for the signatures and traits that show them (``Chat``, ``LuxxMagics``)."""


class Setting:
    """An attribute of an object that holds ``settings`` (a ``Chat``): it reads one field and,
    when set, replaces the settings with a copy that has the new value (they are frozen)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, holder: Any, owner: type | None = None) -> Any:
        return self if holder is None else getattr(holder.settings, self.name)

    def __set__(self, holder: Any, value: Any) -> None:
        holder.settings = holder.settings.replace(**{self.name: value})


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
