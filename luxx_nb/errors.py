"""Exceptions raised by luxx_nb.

The tree::

    LuxxError                    anything luxx_nb raises on purpose
    ├── ConfigError              a setting is missing or wrong (no model, unknown local file)
    ├── ToolDefinitionError      a function cannot become a tool (also a TypeError)
    └── ProviderError            the model's server could not give a usable stream
        ├── TransportError       no connection, a reset, a timeout (``retryable``)
        ├── HTTPStatusError      an HTTP error status, with the provider's own message
        ├── StreamError          an error inside the stream, or data that is not JSON
        └── IncompleteStreamError  the stream ended before the answer was complete

A message never contains the API key; it quotes the provider where the provider said why.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "HTTPStatusError",
    "IncompleteStreamError",
    "LuxxError",
    "ProviderError",
    "StreamError",
    "ToolDefinitionError",
    "TransportError",
]


class LuxxError(Exception):
    """Base of every error luxx_nb raises on purpose."""


class ConfigError(LuxxError):
    """A setting is missing or wrong."""


class ToolDefinitionError(LuxxError, TypeError):
    """A function cannot be turned into a tool; the message says what is missing."""


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
