"""A run as data in a saved notebook's output metadata, and the conversations read back from it.

``%luxx resume`` rebuilds memory from these after a kernel restart, so they hold what the
model was sent and answered (messages), what the page showed (steps), usage and model, and
never an endpoint or a key.

A long run would otherwise be on IOPub three times at its end (the HTML snapshot, the
messages, the steps) on top of the live view. So its messages point at the step that already
holds a long string instead of repeating it, and the pair is stored zlib-compressed and base64
encoded under ``packed``. A short run stays readable JSON under ``messages`` and ``steps``.
"""

from __future__ import annotations

import base64
import json
import os
import zlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

__all__ = [
    "KEY",
    "PACK_ABOVE",
    "dump",
    "json_chunks",
    "json_string_body",
    "load",
    "read_conversations",
]

KEY = "luxx_nb"
"""The output-metadata key that holds a run's transcript."""
VERSION = 2
PACK_ABOVE = 8_192
"""Characters of JSON above which messages and steps are stored packed."""
_SHARED_FROM = 64
"""Strings this long or longer are stored once, in the step, when a message repeats them."""
_ENCODING = "zlib+base64"


def dump(
    *,
    messages: Sequence[Mapping[str, Any]],
    steps: Sequence[Mapping[str, Any]],
    **fields: Any,
) -> dict[str, Any]:
    """The metadata for one run: ``fields`` (chat, model, state, usage...) plus its data."""
    saved: dict[str, Any] = {"version": VERSION, **fields}
    plain = {"messages": list(messages), "steps": list(steps)}
    if not _longer_than(plain, PACK_ABOVE):
        saved.update(json.loads(_dumps(plain)))  # as a reader of the file will see it
        return saved
    body = {"messages": _point(messages, steps), "steps": list(steps)}
    saved["packed"] = {"encoding": _ENCODING, "data": _pack(body)}
    return saved


def load(saved: Mapping[str, Any]) -> dict[str, Any]:
    """A saved transcript with ``messages`` and ``steps`` as plain lists, whichever its form.

    Raises ``ValueError`` for a ``packed`` value that does not decode.
    """
    result = {k: v for k, v in saved.items() if k != "packed"}
    packed = saved.get("packed")
    if packed is None:
        result.setdefault("messages", [])
        result.setdefault("steps", [])
        return result
    if not isinstance(packed, Mapping) or packed.get("encoding") != _ENCODING:
        raise ValueError(f"unknown transcript encoding: {_describe(packed)}")
    try:
        raw = zlib.decompress(base64.b64decode(packed.get("data", ""), validate=True))
        body = json.loads(raw.decode("utf-8", "surrogatepass"))  # as _pack encoded it
    except (ValueError, TypeError, zlib.error) as exc:
        raise ValueError(f"a packed transcript does not decode: {exc}") from None
    steps = body.get("steps", []) if isinstance(body, dict) else []
    messages = body.get("messages", []) if isinstance(body, dict) else []
    result["steps"] = steps
    result["messages"] = [_resolve(m, steps) for m in messages if isinstance(m, dict)]
    return result


def read_conversations(notebook: str | os.PathLike[str]) -> dict[str, list[dict[str, Any]]]:
    """Each conversation's messages, rebuilt from the transcripts saved in a notebook.

    Outputs are read in cell order. A run that started its conversation (the first run, or
    the first after ``--new`` or ``%luxx reset``) drops what came before it.
    """
    with open(notebook, encoding="utf-8") as file:
        try:
            document = json.load(file)
        except ValueError as exc:
            raise ValueError(f"{notebook} is not a notebook: {exc}") from None
    conversations: dict[str, list[dict[str, Any]]] = {}
    for saved in _saved_runs(document):
        try:
            run = load(saved)
        except ValueError as exc:
            raise ValueError(f"{notebook}: {exc}") from None
        messages = conversations.setdefault(saved["chat"], [])
        if run.get("starts_conversation"):
            messages.clear()
        messages.extend(m for m in run["messages"] if isinstance(m, dict))
    return conversations


def _saved_runs(document: Any) -> Iterator[dict[str, Any]]:
    cells = document.get("cells", ()) if isinstance(document, dict) else ()
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        for output in cell.get("outputs", ()):
            saved = (output.get("metadata") or {}).get(KEY) if isinstance(output, dict) else None
            if isinstance(saved, dict) and isinstance(saved.get("chat"), str):
                yield saved


def _longer_than(value: Any, limit: int) -> bool:
    """Whether the strings in ``value`` add up past ``limit``, without serializing it."""
    pending, total = [value], 0
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, Mapping):
            pending.extend(item.values())
            total += 4 * len(item)
        elif isinstance(item, (list, tuple)):
            pending.extend(item)
        if total > limit:
            return True
    return False


def _dumps(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str)


def _pack(body: Any) -> str:
    """Compressed chunk by chunk, so a 10 MB run is never one more whole string of JSON."""
    compressor = zlib.compressobj(6)
    out, pending = bytearray(), b""
    for chunk in json_chunks(body):
        pending += compressor.compress(chunk.encode(errors="surrogatepass"))
        whole = len(pending) - len(pending) % 3  # base64 goes 3 bytes at a time
        if whole:
            out += base64.b64encode(pending[:whole])
            pending = pending[whole:]
    out += base64.b64encode(pending + compressor.flush())
    return out.decode("ascii")


SLICE = 65_536
"""Characters of a long string escaped at a time by ``json_chunks``."""


def json_chunks(value: Any) -> Iterator[str]:
    """Compact JSON of ``value`` in pieces of at most about ``SLICE`` characters.

    ``json.JSONEncoder.iterencode`` yields a long string whole, escaped: one more copy of a
    10 MB answer, and its bytes another. Escaping works character by character, so a long
    string is escaped a slice at a time instead. Joined, the pieces equal
    ``json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)``.
    """
    if isinstance(value, str):
        if len(value) <= SLICE:
            yield _dumps(value)
            return
        yield '"'
        yield from json_string_body(value)
        yield '"'
    elif isinstance(value, Mapping):
        yield "{"
        for i, (key, item) in enumerate(value.items()):
            yield ("," if i else "") + _dumps(_key(key)) + ":"
            yield from json_chunks(item)
        yield "}"
    elif isinstance(value, (list, tuple)):
        yield "["
        for i, item in enumerate(value):
            if i:
                yield ","
            yield from json_chunks(item)
        yield "]"
    else:
        yield _dumps(value)


def json_string_body(text: str) -> Iterator[str]:
    """``text`` escaped for a JSON string, without its quotes, a ``SLICE`` at a time."""
    for start in range(0, len(text), SLICE):
        yield _dumps(text[start : start + SLICE])[1:-1]


def _key(key: Any) -> str:
    """An object key as ``json.dumps`` writes it."""
    if isinstance(key, str):
        return key
    return json.dumps(key) if isinstance(key, (bool, type(None))) else str(key)


# A message field that repeats a step's string holds {"step": i, "field": name} instead. The
# fields are the ones the agent writes as strings, so a dict there can only be a pointer.
_MESSAGE_FIELDS = ("content", "reasoning_content")


def _point(
    messages: Sequence[Mapping[str, Any]], steps: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    held: dict[str, dict[str, Any]] = {}
    for i, step in enumerate(steps):
        for name in ("content", "arguments"):
            value = step.get(name)
            if isinstance(value, str) and len(value) >= _SHARED_FROM:
                held.setdefault(value, {"step": i, "field": name})

    def point(value: Any) -> Any:
        return held.get(value, value) if isinstance(value, str) else value

    pointed = []
    for message in messages:
        out = dict(message)
        for name in _MESSAGE_FIELDS:
            if name in out:
                out[name] = point(out[name])
        if isinstance(out.get("tool_calls"), list):
            out["tool_calls"] = [_point_call(call, point) for call in out["tool_calls"]]
        pointed.append(out)
    return pointed


def _point_call(call: Any, point: Any) -> Any:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or "arguments" not in function:
        return call
    return {**call, "function": {**function, "arguments": point(function["arguments"])}}


def _resolve(message: dict[str, Any], steps: list[Any]) -> dict[str, Any]:
    def resolve(value: Any) -> Any:
        if not isinstance(value, dict) or set(value) != {"step", "field"}:
            return value
        i, name = value["step"], value["field"]
        if not isinstance(i, int) or not 0 <= i < len(steps) or not isinstance(steps[i], dict):
            raise ValueError(f"a packed transcript points at a missing step: {value}")
        return steps[i].get(name, "")

    out = dict(message)
    for name in _MESSAGE_FIELDS:
        if name in out:
            out[name] = resolve(out[name])
    if isinstance(out.get("tool_calls"), list):
        out["tool_calls"] = [_point_call(call, resolve) for call in out["tool_calls"]]
    return out


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        return repr(value.get("encoding"))
    return type(value).__name__
