"""The project's own quirk fixtures (tests/fixtures), through ``Chat``, over loopback.

These run for anyone who cloned the project alone; test_corpus.py replays the real
recordings they imitate. Each row: text, thinking, tool calls, completion tokens, error.
"""

from __future__ import annotations

import pytest
from support.builders import chunks_file, replay

from luxx_nb import Chat

ROWS = [
    (
        "broken_invalid_json.sse",
        "Before ",
        "",
        [],
        None,
        "The provider sent data that is not valid JSON: '"
        '{"id":"chatcmpl-fx22","object":"chat.completion.chunk","created":1700000000,'
        '"model":"fixture-model","choices":[{"index":0,"delta":{"content":"garbage"},'
        '"finish_reason":null}]' + "'",
    ),
    (
        "broken_truncated.sse",
        "Cut ",
        "",
        [],
        None,
        "The stream ended before the answer was complete (no [DONE] and no finish reason).",
    ),
    ("comments_keepalive.sse", "Kept alive.", "", [], 3, ""),
    ("crlf.sse", "Windows line endings.", "", [], None, ""),
    ("error_in_chunk.sse", "Partial answer", "", [], None, "Upstream provider returned error"),
    (
        "event_error.sse",
        "I will call",
        "",
        [],
        None,
        "Tool call validation failed: parameters for tool get_weather did not match schema",
    ),
    ("first_chunk_empty_choices.sse", "Filtered but fine.", "", [], None, ""),
    ("message_content.sse", "Message not delta.", "", [], None, ""),
    (
        "mistral_thinking_array.sse",
        "Autumn moonlight falls.",
        "Okay, the user wants a haiku.",
        [],
        14,
        "",
    ),
    ("no_done.sse", "No terminator.", "", [], 2, ""),
    ("reasoning_content.sse", "2 + 2 = 4.", "The user wants 2 + 2. That is 4.", [], 20, ""),
    ("reasoning_field.sse", "There are three.", "Counting the letters: r, r, r.", [], 11, ""),
    ("text_basic.sse", "Hello, world! 👋", "", [], None, ""),
    (
        "think_tags_split.sse",
        "Rayleigh scattering.",
        "\nThe sky scatters blue light.\n",
        [],
        None,
        "",
    ),
    (
        "tool_call_empty_id_name.sse",
        "",
        "",
        [("search", '{"query": "pandas"}')],
        None,
        "Exceeded maximum tool call iterations",
    ),
    (
        "tool_call_id_name_once.sse",
        "",
        "",
        [("get_weather", '{"city": "Paris"}')],
        None,
        "Exceeded maximum tool call iterations",
    ),
    (
        "tool_call_id_name_repeated.sse",
        "",
        "",
        [("get_weather", '{"city": "Oslo"}')],
        None,
        "Exceeded maximum tool call iterations",
    ),
    (
        "tool_call_no_index.sse",
        "",
        "",
        [("get_weather", '{"city": "Lyon"}')],
        20,
        "Exceeded maximum tool call iterations",
    ),
    (
        "tool_call_single_chunk.chunks.txt",
        "",
        "",
        [("get_time", "{}")],
        9,
        "Exceeded maximum tool call iterations",
    ),
    (
        "tool_calls_parallel.sse",
        "",
        "",
        [("get_weather", '{"city": "Rome"}'), ("get_time", '{"tz": "Europe/Rome"}')],
        40,
        "Exceeded maximum tool call iterations",
    ),
    ("toplevel_content_no_choices.sse", "Plain top-level content.", "", [], None, ""),
    ("usage_final_empty_choices.sse", "Done.", "", [], 2, ""),
    ("usage_x_groq.sse", "Fast answer.", "", [], 3, ""),
]


@pytest.mark.parametrize("piece", [None, 1], ids=["whole", "byte-by-byte"])
@pytest.mark.parametrize("row", ROWS, ids=[row[0] for row in ROWS])
def test_fixture_stream(llm_server, fixtures_dir, row, piece):
    name, text, thinking, calls, completion, error = row
    path = fixtures_dir / name
    llm_server.enqueue(
        chunks_file(path) if name.endswith(".txt") else replay(path, chunk_size=piece)
    )
    reply = Chat(model="m", base_url=llm_server.base_url, api_key="k", max_iterations=1).send("x")
    assert (reply.text, reply.thinking) == (text, thinking)
    assert [(s.name, s.arguments) for s in reply.steps if s.type == "tool_call"] == calls
    assert (reply.usage.completion_tokens if reply.usage else None) == completion
    assert (reply.error or "") == error


def test_every_fixture_has_a_row(fixtures_dir):
    files = {p.name for p in fixtures_dir.iterdir() if p.name.endswith((".sse", ".chunks.txt"))}
    assert files == {row[0] for row in ROWS}


def test_cr_and_lf_in_different_reads(llm_server):
    body = b'data: {"choices":[{"index":0,"delta":{"content":"a\\u2028b"}}]}\r'
    body += b'\ndata: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\r\n\r\n'
    body = body.replace(b"}]}\r\n", b"}]}\r\n\r", 1) + b"data: [DONE]\r\n\r\n"
    cut = body.index(b"\r") + 1  # the first CR ends one read, its LF starts the next
    llm_server.enqueue(replay(body[:cut] + body[cut:], chunk_size=cut))
    reply = Chat(model="m", base_url=llm_server.base_url, api_key="k").send("x")
    assert reply.error is None and reply.text == "a\u2028b"  # U+2028 is not a line break in SSE
