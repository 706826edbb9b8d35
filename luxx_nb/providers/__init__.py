"""Wire formats. One module per format; only ``openai.py`` (the provider) does HTTP.

The provider (and with it httpx, 55 ms of the 150 ms ``import luxx_nb`` took) is imported
when first asked for, so loading the package or the extension does not wait for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .anthropic import AnthropicWire
from .chat import ChatWire, request_body
from .responses import ResponsesWire
from .wire import API_NAMES, Provider, Request, Wire

if TYPE_CHECKING:
    from .openai import OpenAIProvider

__all__ = [
    "API_NAMES",
    "AnthropicWire",
    "ChatWire",
    "OpenAIProvider",
    "Provider",
    "Request",
    "ResponsesWire",
    "Wire",
    "request_body",
    "wire_for",
]

_WIRES: dict[str, type[Wire]] = {
    "chat": ChatWire,
    "responses": ResponsesWire,
    "anthropic": AnthropicWire,
}


def wire_for(api: str) -> Wire:
    """The wire named ``chat``, ``responses`` or ``anthropic``."""
    try:
        return _WIRES[api]()
    except KeyError:
        raise ValueError(f"Unknown API {api!r}: use one of {', '.join(API_NAMES)}.") from None


def __getattr__(name: str) -> Any:
    if name == "OpenAIProvider":
        from .openai import OpenAIProvider

        return OpenAIProvider
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
