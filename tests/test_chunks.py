"""Chunk -> delta rules, one per provider quirk, without a network."""

from __future__ import annotations

import pytest

from luxx_nb.accumulate import ToolCallAccumulator
from luxx_nb.errors import StreamError
from luxx_nb.events import (
    FinishDelta,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    Usage,
    UsageDelta,
)
from luxx_nb.providers.chunks import ChunkParser, ThinkSplitter


def texts(deltas, kind):
    return "".join(d.text for d in deltas if isinstance(d, kind))


def feed_all(fragments):
    splitter, out = ThinkSplitter(), []
    for fragment in fragments:
        out += splitter.feed(fragment)
    return out + splitter.flush()


def test_think_tag_split_over_fragments_goes_to_thinking():
    out = feed_all(["<think>\n1", " and 2", "<", "/", "think", ">", "\n\nAnswer", " here"])
    assert texts(out, ThinkingDelta) == "\n1 and 2"
    assert texts(out, TextDelta) == "Answer here"


def test_open_tag_split_at_start():
    out = feed_all(["<th", "ink>why", "</think>so"])
    assert texts(out, ThinkingDelta) == "why"
    assert texts(out, TextDelta) == "so"


def test_content_that_only_looks_like_a_tag_stays_text():
    out = feed_all(["<", "b>bold</b> and <think> later"])
    assert texts(out, TextDelta) == "<b>bold</b> and <think> later"
    assert not [d for d in out if isinstance(d, ThinkingDelta)]


def test_unclosed_think_is_all_thinking():
    out = feed_all(["<think>a", "b </thi"])
    assert texts(out, ThinkingDelta) == "ab </thi"
    assert texts(out, TextDelta) == ""


def test_reasoning_content_and_reasoning_fields():
    parser = ChunkParser()
    a = parser.feed({"choices": [{"index": 0, "delta": {"reasoning_content": "x"}}]})
    b = parser.feed({"choices": [{"index": 0, "delta": {"reasoning": "y", "content": None}}]})
    assert a == [ThinkingDelta("x")] and b == [ThinkingDelta("y")]


def test_usage_anywhere_and_under_x_groq():
    parser = ChunkParser()
    raw = {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    assert parser.feed({"choices": [], "usage": raw}) == [UsageDelta(Usage.from_dict(raw))]
    groq = parser.feed({"choices": [{"index": 0, "delta": {}}], "x_groq": {"usage": raw}})
    assert groq == [UsageDelta(Usage(prompt_tokens=3, completion_tokens=4, total_tokens=7))]
    assert parser.feed({"choices": [], "usage": None}) == []


def test_top_level_content_without_choices():
    parser = ChunkParser()
    assert parser.feed({"content": "hi"}) == [TextDelta("hi")]
    assert parser.feed({"message": {"content": "yo"}}) == [TextDelta("yo")]


def test_error_object_inside_chunk_raises_with_provider_message():
    parser = ChunkParser()
    with pytest.raises(StreamError, match="Token limit reached"):
        parser.feed({"error": {"code": 400, "message": "Token limit reached"}, "choices": []})


def test_only_first_choice_is_followed():
    parser = ChunkParser()
    chunk = {
        "choices": [
            {"index": 1, "delta": {"content": "B"}},
            {"index": 0, "delta": {"content": "A"}, "finish_reason": "stop"},
        ]
    }
    assert parser.feed(chunk) == [TextDelta("A"), FinishDelta("stop")]


def test_mistral_thinking_content_array():
    parser = ChunkParser()
    chunk = {
        "choices": [
            {
                "index": 0,
                "delta": {
                    "content": [
                        {"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]},
                        {"type": "text", "text": "ok"},
                    ]
                },
            }
        ]
    }
    assert parser.feed(chunk) == [ThinkingDelta("hmm"), TextDelta("ok")]


def test_refusal_is_shown_as_text():
    parser = ChunkParser()
    out = parser.feed({"choices": [{"index": 0, "delta": {"refusal": "I can't"}}]})
    assert out == [TextDelta("I can't")]


def accumulate(deltas):
    acc = ToolCallAccumulator()
    for delta in deltas:
        acc.add(delta)
    return [(c.id, c.name, c.arguments) for c in acc.calls()]


def test_tool_call_fragments_by_index():
    calls = accumulate(
        [
            ToolCallDelta(0, "a", "get", ""),
            ToolCallDelta(1, "b", "put", '{"x'),
            ToolCallDelta(0, None, None, '{"ci'),
            ToolCallDelta(0, None, None, 'ty": 1}'),
            ToolCallDelta(1, None, None, '": 2}'),
        ]
    )
    assert calls == [("a", "get", '{"city": 1}'), ("b", "put", '{"x": 2}')]


def test_repeated_id_and_name_do_not_concatenate():
    calls = accumulate([ToolCallDelta(0, "a", "get", "{"), ToolCallDelta(0, "a", "get", "}")])
    assert calls == [("a", "get", "{}")]


def test_empty_id_and_name_do_not_overwrite():
    parser = ChunkParser()
    deltas = parser.feed(
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "id": "", "function": {"name": ""}}]},
                }
            ]
        }
    )
    assert deltas == [ToolCallDelta(0, None, None, None)]
    calls = accumulate([ToolCallDelta(0, "x", "f", "{}"), *deltas])
    assert calls == [("x", "f", "{}")]


def test_calls_without_index_split_by_new_id():
    calls = accumulate(
        [
            ToolCallDelta(None, "a", "f", '{"q": 1}'),
            ToolCallDelta(None, "b", "g", "{"),
            ToolCallDelta(None, None, None, "}"),
        ]
    )
    assert calls == [("a", "f", '{"q": 1}'), ("b", "g", "{}")]


def test_missing_id_is_generated_and_index_may_start_at_one():
    calls = accumulate([ToolCallDelta(1, None, "f", "{}")])
    assert calls[0][0].startswith("call_") and calls[0][1:] == ("f", "{}")
