"""The context size a server reports of its model, read from the server's own answers.

Two shapes are read: llama.cpp's ``GET /props`` (``default_generation_settings.n_ctx``, at the
server's root, measured on xllamacpp's server: ``/v1/props`` is a 404 there) and vLLM's
``GET /v1/models`` (``max_model_len`` of each model). OpenAI's and most hosted servers report
neither; a refusal's numbers then give the size (``overflow.py``). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["context_from_models", "context_from_props", "props_url"]


def _size(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def context_from_models(payload: Any, model: str) -> int | None:
    """vLLM's ``max_model_len`` of ``model`` in a ``/models`` list (of its only model, when
    ``model`` is not listed by name)."""
    data = payload.get("data") if isinstance(payload, Mapping) else None
    entries = (
        [entry for entry in data if isinstance(entry, Mapping)] if isinstance(data, list) else []
    )
    named = [entry for entry in entries if entry.get("id") == model]
    chosen = named or (entries if len(entries) == 1 else [])
    return _size(chosen[0].get("max_model_len")) if chosen else None


def context_from_props(payload: Any) -> int | None:
    """llama.cpp's ``n_ctx`` in its ``/props`` answer."""
    settings = payload.get("default_generation_settings") if isinstance(payload, Mapping) else None
    return _size(settings.get("n_ctx")) if isinstance(settings, Mapping) else None


def props_url(base_url: str) -> str | None:
    """``/props`` at the root of a base URL that ends in ``/v1``, as llama.cpp serves it."""
    base = base_url.rstrip("/")
    return base.removesuffix("/v1") + "/props" if base.endswith("/v1") else None
