"""A server's refusal of a request too long for the model's context, read into numbers.

``context_overflow`` tells such a refusal from any other (by the words servers use) and reads
what it says: the tokens the request's messages took and the tokens the context holds, in
llama.cpp's (``exceed_context_size_error``, ``n_prompt_tokens``, ``n_ctx``), OpenAI's
(``context_length_exceeded``), vLLM's and Anthropic's shapes, so that one retry with a smaller
window usually suffices (``window.Windower.refused``). Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["ContextOverflow", "context_overflow"]


@dataclass(frozen=True)
class ContextOverflow:
    """A server's refusal of a request too long for the model, with its numbers when given."""

    prompt: int | None = None
    """Tokens of the request's messages, as the server counted them."""
    available: int | None = None
    """Tokens the model's context holds."""


_PHRASES = (
    "context_length_exceeded",
    "exceed_context_size",
    "exceeds the available context",
    "maximum context length",
    "context length",
    "context window",
    "context size",
    "prompt is too long",
    "too many tokens",
    "input is too long",
    "reduce the length",
)
_NUMBER = r"(\d[\d,]*)"
_AVAILABLE = (
    re.compile(rf"maximum context length is {_NUMBER}", re.I),
    re.compile(rf"available context size \({_NUMBER}", re.I),
    re.compile(rf"> {_NUMBER} maximum", re.I),
    re.compile(rf"context (?:window|length|size) (?:is |of )?{_NUMBER}", re.I),
)
_PROMPT = (
    re.compile(rf"\({_NUMBER} in the messages", re.I),
    re.compile(rf"resulted in {_NUMBER} tokens", re.I),
    re.compile(rf"request \({_NUMBER} tokens\)", re.I),
    re.compile(rf"too long: {_NUMBER} tokens", re.I),
)


def context_overflow(status: int | None, message: str, body: str | None) -> ContextOverflow | None:
    """The overflow a refused request reports, or None when the refusal is about anything else.

    ``message`` is the error as luxx_nb words it, ``body`` the server's raw answer.
    """
    if status is not None and not 400 <= status < 500:
        return None
    payload = _json(body)
    error = payload.get("error", payload) if isinstance(payload, dict) else None
    fields = error if isinstance(error, dict) else {}
    text = " ".join(str(part) for part in (message, fields.get("message")) if part)
    names = " ".join(str(part) for part in (fields.get("type"), fields.get("code")) if part)
    if not any(phrase in f"{text} {names}".lower() for phrase in _PHRASES):
        return None
    # Numbers come from the messages only: a numeric ``code`` (400) is no context size.
    prompt = _int(fields.get("n_prompt_tokens")) or _first(_PROMPT, text)
    available = _int(fields.get("n_ctx")) or _first(_AVAILABLE, text)
    return ContextOverflow(prompt=prompt, available=available)


def _json(body: str | None) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _first(patterns: Sequence[re.Pattern[str]], text: str) -> int | None:
    for pattern in patterns:
        match = pattern.search(text)
        if match:
            return int(match.group(1).replace(",", ""))
    return None
