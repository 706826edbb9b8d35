"""Wire formats. One module per format; only ``openai.py`` (the provider) does HTTP.

The provider (and with it httpx, 55 ms of the 150 ms ``import luxx_nb`` took) and each wire
are imported when first asked for: ``config.py`` and through it the tools need only
``wire.py``, and importing it runs this module first.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .wire import API_NAMES, Provider, Request, Wire

if TYPE_CHECKING:
    from .anthropic import AnthropicWire
    from .chat import ChatWire, request_body
    from .openai import OpenAIProvider
    from .responses import ResponsesWire

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

_HOMES = {
    "AnthropicWire": "anthropic",
    "ChatWire": "chat",
    "request_body": "chat",
    "ResponsesWire": "responses",
    "OpenAIProvider": "openai",
}
_WIRES = {"chat": "ChatWire", "responses": "ResponsesWire", "anthropic": "AnthropicWire"}


def wire_for(api: str) -> Wire:
    """The wire named ``chat``, ``responses`` or ``anthropic``."""
    if api not in _WIRES:
        raise ValueError(f"Unknown API {api!r}: use one of {', '.join(API_NAMES)}.")
    wire: type[Wire] = __getattr__(_WIRES[api])
    return wire()


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
