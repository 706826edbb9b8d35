"""The SSE decoder: lines end only at CR, LF or CRLF, in whatever reads the bytes arrive."""

from __future__ import annotations

import pytest

from luxx_nb.providers.sse import SSEDecoder

STREAM = (
    ": keep-alive\r\n\r\n"
    'data: {"a": "x\u2028y"}\n\n'
    "event: error\ndata: line one\ndata: line two\n\n"
    "data:no space\r\rdata:  two spaces\r\n\r\n"
    "id: 7\nretry: 10\n\n"
    "\n\n\ndata: after blank lines\n\n"
    "data: [DONE]\n\n"
    "data: never finished"
)
EXPECTED = [
    ("", '{"a": "x\u2028y"}'),
    ("error", "line one\nline two"),
    ("", "no space"),
    ("", " two spaces"),
    ("", ""),
    ("", "after blank lines"),
    ("", "[DONE]"),
]


def decode(pieces: list[str]) -> list[tuple[str, str]]:
    decoder = SSEDecoder()
    return [event for piece in pieces for event in decoder.feed(piece)]


def test_whole_stream() -> None:
    assert decode([STREAM]) == EXPECTED


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 16])
def test_any_split_gives_the_same_events(size: int) -> None:
    pieces = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
    assert decode(pieces) == EXPECTED


def test_cr_at_the_end_of_a_read_waits_for_its_lf() -> None:
    decoder = SSEDecoder()
    assert decoder.feed("data: a\r") == []
    assert decoder.feed("\n\r") == []
    assert decoder.feed("\ndata: b\r\n\r\n") == [("", "a"), ("", "b")]  # CRLF is one line end


def test_unicode_line_separators_are_not_line_ends() -> None:
    text = "data: a\u2028b\u0085c\u000bd\x1ce\n\n"
    assert decode([text]) == [("", "a\u2028b\u0085c\u000bd\x1ce")]


def _streams():
    """Every SSE body the suite knows: our fixtures, and the recordings when they are here."""
    from support.responses import FIXTURES_DIR, default_corpus_dir

    paths = sorted(FIXTURES_DIR.glob("*.sse"))
    corpus = default_corpus_dir()
    for folder in ("recorded", "llamacpp"):
        paths += sorted((corpus / folder).glob("*.sse")) if (corpus / folder).is_dir() else []
    return paths


@pytest.mark.parametrize("path", _streams(), ids=lambda p: p.name)
def test_same_events_as_httpx_sse(path) -> None:
    """httpx-sse, the well-kept reference, is the oracle: event for event, in any reads."""
    import httpx
    from httpx_sse import EventSource

    body = path.read_bytes()
    response = httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)
    expected = [(e.event or "", e.data) for e in EventSource(response).iter_sse()]
    expected = [(kind if kind != "message" else "", data) for kind, data in expected]
    text = body.decode("utf-8", "replace")
    for size in (len(text) or 1, 7, 1):
        pieces = [text[i : i + size] for i in range(0, len(text), size)]
        assert decode(pieces) == expected, size
