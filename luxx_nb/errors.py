"""Exceptions raised by luxx_nb.

The tree::

    LuxxError                    anything luxx_nb raises on purpose
    ├── ConfigError              a setting is missing or wrong (no model, unknown local file)
    ├── ToolDefinitionError      a function cannot become a tool (also a TypeError)
    ├── ToolInputError           a tool called input() (also an EOFError)
    ├── VariableAccessError      a variable cannot be handed to a tool safely (a LookupError)
    ├── ContextTooSmallError     the current prompt alone does not fit the model's context
    └── ProviderError            the model's server could not give a usable stream
        ├── TransportError       no connection, a reset, a timeout (``retryable``)
        ├── HTTPStatusError      an HTTP error status, with the provider's own message
        ├── StreamError          an error inside the stream, or data that is not JSON
        └── IncompleteStreamError  the stream ended before the answer was complete

A message never contains the API key; it quotes the provider where the provider said why.
``redact`` is the last wall: every message, detail and tool result passes through it before
anyone sees it.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "ConfigError",
    "ContextTooSmallError",
    "HTTPStatusError",
    "IncompleteStreamError",
    "LuxxError",
    "ProviderError",
    "StreamError",
    "ToolDefinitionError",
    "ToolInputError",
    "TransportError",
    "VariableAccessError",
    "redact",
    "redact_url",
]

SECRET_RUN = 10
"""Runs of this many characters of a key, or more, are hidden; shorter ones stay as written.

Providers that echo a key mask its middle ("sk-proj-********Ab1C"): their visible ends are
shorter than this, so such a message is shown as the provider wrote it, never with more.
"""

REDACTED = "[redacted]"


class LuxxError(Exception):
    """Base of every error luxx_nb raises on purpose."""


class ConfigError(LuxxError):
    """A setting is missing or wrong."""


class ToolDefinitionError(LuxxError, TypeError):
    """A function cannot be turned into a tool; the message says what is missing."""


class ToolInputError(LuxxError, EOFError):
    """A tool asked for keyboard input: nobody is at the keyboard while the model waits.

    An ``EOFError``, so a tool written to handle the end of its input keeps working.
    """


class VariableAccessError(LuxxError, LookupError):
    """A notebook variable cannot be given to a tool without risking the original."""


class ContextTooSmallError(LuxxError):
    """Even the system prompt and the current exchange do not fit the model's context."""

    kind = "context"

    def __init__(self, needed: int, available: int | None, *, detail: str | None = None) -> None:
        self.needed, self.available = needed, available
        fit = (
            f"{available:,} fit in its context"
            if available
            else "the server refused it without saying how many fit"
        )
        self.message = (
            f"The prompt is too long for this model: about {needed:,} tokens, and {fit}. "
            "Shorten the prompt or a tool result it asks for, ask for a shorter answer "
            "(--max-tokens), or use a model with a larger context."
        )
        self.detail = detail
        super().__init__(self.message)


class ProviderError(LuxxError):
    """The provider could not give a usable stream. ``kind`` names the failure for views."""

    kind = "provider"

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class TransportError(ProviderError):
    """The connection failed, broke or timed out."""

    kind = "connection"


class HTTPStatusError(ProviderError):
    """An HTTP error status. ``retry_after`` is the wait in seconds the server asked for."""

    kind = "http"

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        retry_after: float | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message, detail=detail)
        self.status_code = status_code
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.status_code in (408, 409, 429) or self.status_code >= 500


class StreamError(ProviderError):
    """The stream carried an error, or data that could not be parsed."""

    kind = "stream"


class IncompleteStreamError(ProviderError):
    """The stream ended before ``[DONE]`` or a finish reason."""

    kind = "incomplete"


def redact_url(url: str) -> str:
    """A URL fit for a message: no user info, no query (either may hold a credential)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def redact(text: str, secret: str | None) -> str:
    """``text`` with every run of ``SECRET_RUN`` or more characters of ``secret`` hidden.

    Keys shorter than ``SECRET_RUN`` (placeholders such as "none" or "sk-local") are left
    alone: hiding them would mangle ordinary words and protect nothing.
    """
    if not text or not secret or len(secret) < SECRET_RUN:
        return text
    grams = {secret[i : i + SECRET_RUN] for i in range(len(secret) - SECRET_RUN + 1)}
    if not any(gram in text for gram in grams):
        return text
    hidden = bytearray(len(text))
    for at in range(len(text) - SECRET_RUN + 1):
        if text[at : at + SECRET_RUN] in grams:
            hidden[at : at + SECRET_RUN] = b"\1" * SECRET_RUN
    parts: list[str] = []
    at = 0
    while at < len(text):
        end = at
        while end < len(text) and hidden[end] == hidden[at]:
            end += 1
        parts.append(REDACTED if hidden[at] else text[at:end])
        at = end
    return "".join(parts)
