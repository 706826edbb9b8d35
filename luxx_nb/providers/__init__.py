"""Wire formats. One module per format; only ``openai.py`` (the provider) does HTTP."""

from __future__ import annotations

from .anthropic import AnthropicWire
from .chat import ChatWire
from .openai import OpenAIProvider, Provider, request_body
from .responses import ResponsesWire
from .wire import API_NAMES, Wire

__all__ = [
    "API_NAMES",
    "AnthropicWire",
    "ChatWire",
    "OpenAIProvider",
    "Provider",
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
