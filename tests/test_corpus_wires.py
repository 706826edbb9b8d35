"""Every Responses and Anthropic recording in ../shared/corpus, replayed over loopback HTTP.

The same check as ``test_corpus.py`` for the chat corpus, on the two other wires: what a person
sees of each real stream (the text's start and length, the thinking's length, the tool calls,
the completion tokens, the error, the steps in order), with the stream whole, in 7-byte reads
and in 1-byte reads, so an event, a CRLF or a UTF-8 character split across reads changes
nothing. The values were checked by hand against what each recording holds
(``SOURCES-wires.md``): a three-part reasoning summary is one thinking step of three
paragraphs, encrypted reasoning and redacted thinking are never shown, server-run tools (web
search, code execution, MCP) are not offered to the notebook's tools, and the items a tool
round must send back are kept in the history.
"""

from __future__ import annotations

import json

import pytest
from support.builders import chunks_file, replay
from support.responses import Stream

from luxx_nb import Chat
from luxx_nb.providers.wire import REPLAY_KEY

LIMIT = "Exceeded maximum tool call iterations"
TOOL_STEPS = ["tool_call", "tool_result"]

ROWS = [
    ("responses/bedrockmantle_gpt56luna_reasoning_function_call.sse",
     "", 0, 0, [("second_tool", "{}")], 30, LIMIT, TOOL_STEPS),
    ("responses/deepseek_v4flash_reasoning_text_then_function_call.sse",
     "", 0, 61, [("get_temperature", '{"city": "Tokyo"}')], 59, LIMIT, ["thinking", *TOOL_STEPS]),
    ("responses/githubcopilot_gpt53codex_reasoning_summary_id_rotation.chunks.txt",
     "There are **3** letter *", 138, 34, [], 105, "", ["thinking", "text"]),
    ("responses/openai_gpt4o_background_mode_queued.sse",
     "2 + 2 equals 4.", 15, 0, [], 9, "", ["text"]),
    ("responses/openai_gpt4o_max_output_tokens_incomplete.sse",
     "Sure! Here is a list of ", 152, 0, [], 50, "", ["text"]),
    ("responses/openai_gpt4o_parallel_function_calls.sse",
     "", 0, 0,
     [("secret_retrieval_tool", '{"password":"mellon"}'),
      ("secret_retrieval_tool", '{"password":"radiance"}')],
     54, LIMIT, ["tool_call", "tool_call", "tool_result", "tool_result"]),
    ("responses/openai_gpt4o_refusal.sse",
     "I'm sorry, I can't assis", 36, 0, [], 11, "", ["text"]),
    ("responses/openai_gpt4o_stream_request_400_model_not_found.json",
     "", 0, 0, [], None, "HTTP 400 Bad Request: The requested model 'this-model-does-not-exist-"
     "12345' does not exist.", []),
    ("responses/openai_gpt4omini_output_text_logprobs.sse",
     "The capital of Minas Ger", 46, 0, [], 10, "", ["text"]),
    ("responses/openai_gpt52_web_search_annotation_unicode.sse",
     "Alberta’s tallest mounta", 179, 0, [], 79, "", ["text"]),
    ("responses/openai_gpt55_phase_reasoning_message_function_call.sse",
     "I’ll check the capital l", 52, 0, [("get_capital", '{"country":"PotatoLand"}')], 69,
     LIMIT, ["text", *TOOL_STEPS]),
    ("responses/openai_gpt5_reasoning_summary_three_parts.sse",
     "3", 1, 1403, [], 839, "", ["thinking", "text"]),
    ("responses/openai_gpt5mini_incomplete_during_reasoning.sse",
     "", 0, 0, [], 0, "", []),
    ("responses/openai_gpt5nano_error_insufficient_quota_then_failed.chunks.txt",
     "", 0, 0, [], None, "You exceeded your current quota, please check your plan and billing "
     "details. For more information on this error, read the docs: "
     "https://platform.openai.com/docs/guides/error-codes/api-errors. (insufficient_quota)", []),
    ("responses/openrouter_gptoss20b_raw_reasoning_text.sse",
     "4", 1, 85, [], 37, "", ["thinking", "text"]),
    ("anthropic/anthropic_claudehaiku45_astral_emoji_text.sse",
     "The version is **0.32a0*", 127, 0, [], 41, "", ["text"]),
    ("anthropic/anthropic_claudehaiku45_prefill_stop_sequence.sse",
     "\ndef pelican():\n    retu", 102, 0, [], 28, "", ["text"]),
    ("anthropic/anthropic_claudehaiku45_thinking_then_tool_use.sse",
     "", 0, 180, [("fixed_version", "")], 92, LIMIT, ["thinking", *TOOL_STEPS]),
    ("anthropic/anthropic_claudeopus46_adaptive_thinking_between_text.sse",
     "\n\n1. **Captain Scoop**\n2", 36, 40, [], 44, "", ["thinking", "text"]),
    ("anthropic/anthropic_claudesonnet40_stream_request_401_authentication_error.json",
     "", 0, 0, [], None, "HTTP 401 Unauthorized: invalid x-api-key", []),
    ("anthropic/anthropic_claudesonnet45_redacted_thinking.sse",
     "I notice that you've sen", 359, 0, [], 189, "", ["text"]),
    ("anthropic/anthropic_claudesonnet45_thinking_mcp_tool_use.sse",
     "**Pydantic-AI** is a fra", 806, 192, [], 354, "", ["thinking", "text"]),
    ("anthropic/anthropic_claudesonnet45_tool_use_no_args_pings.chunks.txt",
     "I'll update the issue li", 35, 0, [("updateIssueList", "")], 48, LIMIT,
     ["text", *TOOL_STEPS]),
    ("anthropic/anthropic_claudesonnet46_compaction_delta_cache_usage.sse",
     "Hello! 👋", 8, 0, [], 8, "", ["text"]),
    ("anthropic/anthropic_claudesonnet46_thinking_code_execution_emoji.sse",
     "I'll calculate that expr", 503, 46, [], 304, "", ["thinking", "text"]),
    ("anthropic/anthropic_claudesonnet4_max_tokens.sse",
     "Here are all 50 U.S. sta", 150, 0, [], 50, "", ["text"]),
    ("anthropic/anthropic_claudesonnet4_refusal_inside_forced_tool_use_fragments.sse",
     "", 0, 0, [("__mirascope_formatted_output_tool__",
       '{"instructions": "I cannot and will not provide instructions f')],
     154, LIMIT, TOOL_STEPS),
    ("anthropic/anthropic_claudesonnet4_text_then_parallel_tool_use.sse",
     "I'll retrieve the secret", 58, 0,
     [("secret_retrieval_tool", '{"password": "mellon"}'),
      ("secret_retrieval_tool", '{"password": "radiance"}')],
     109, LIMIT, ["text", "tool_call", "tool_call", "tool_result", "tool_result"]),
    ("anthropic/anthropic_claudesonnet4_thinking_signature_text.sse",
     "Here are the basic steps", 1021, 202, [], 282, "", ["thinking", "text"]),
    ("anthropic/anthropic_claudesonnet4_thinking_web_search_citations.sse",
     "Based on the search resu", 1337, 405, [], 637, "", ["thinking", "text"]),
]  # fmt: skip


def response(path, size):
    if path.name.endswith(".chunks.txt"):
        return chunks_file(path)
    if path.suffix == ".json":  # an error body returned to a stream request: its status
        status = 401 if "_401_" in path.name else 400
        return Stream([path.read_bytes()], status=status, content_type="application/json",
                      framing="length")  # fmt: skip
    return replay(path, chunk_size=size)


def replayed(llm_server, corpus_dir, name, size):
    path = corpus_dir / name
    llm_server.enqueue(response(path, size))
    api = name.split("/")[0]
    chat = Chat(model="m", base_url=llm_server.base_url, api_key="k", max_iterations=1, api=api)
    reply = chat.send("x")
    assert llm_server.requests[-1].path == {"responses": "/v1/responses",
                                            "anthropic": "/v1/messages"}[api]  # fmt: skip
    return chat, reply


@pytest.mark.parametrize("size", [None, 7, 1], ids=["whole", "7-byte", "1-byte"])
@pytest.mark.parametrize("row", ROWS, ids=[row[0] for row in ROWS])
def test_recorded_stream_on_its_wire(llm_server, corpus_dir, row, size):
    name, text_start, text_len, thinking_len, calls, completion, error, steps = row
    _, reply = replayed(llm_server, corpus_dir, name, size)
    assert reply.text[:24] == text_start[:24] and len(reply.text) == text_len
    assert len(reply.thinking) == thinking_len
    seen = [(s.name, s.arguments) for s in reply.steps if s.type == "tool_call"]
    assert len(seen) == len(calls)
    for (name_seen, arguments), (name_wanted, start) in zip(seen, calls, strict=True):
        assert name_seen == name_wanted
        assert arguments == start or (len(start) >= 60 and arguments.startswith(start))
    assert (reply.usage.completion_tokens if reply.usage else None) == completion
    assert (reply.error or "") == error
    assert [s.type for s in reply.steps] == steps
    assert [s.index for s in reply.steps] == list(range(len(steps)))
    shown = json.dumps([s.to_dict() for s in reply.steps]) + reply.text + (reply.error or "")
    for secret in ("gAAAA", "rsn_", "EqkECkYI", "EtgBCkYI", "EoQDCm0I", "signature"):
        assert secret not in shown  # encrypted reasoning, redacted thinking, signatures


def test_a_reasoning_summary_in_parts_is_one_thinking_step(llm_server, corpus_dir):
    _, reply = replayed(
        llm_server, corpus_dir, "responses/openai_gpt5_reasoning_summary_three_parts.sse", 7
    )
    thinking = [s for s in reply.steps if s.type == "thinking"]
    assert len(thinking) == 1
    paragraphs = thinking[0].content.split("\n\n**")
    assert len(paragraphs) == 3 and paragraphs[0].startswith("**Exploring prime numbers**")


def test_a_tool_round_keeps_what_each_wire_sends_back(llm_server, corpus_dir):
    chat, _ = replayed(
        llm_server, corpus_dir, "anthropic/anthropic_claudehaiku45_thinking_then_tool_use.sse", 1
    )
    kept = next(m for m in chat.history if m.get("tool_calls"))[REPLAY_KEY]
    assert kept["wire"] == "anthropic" and [i["type"] for i in kept["items"]] == ["thinking"]
    assert kept["items"][0]["signature"].startswith("EoQDCm0IDhgCKkCDzGs2kL2PgnDCZU/nM2wG2P1VI")
    assert kept["items"][0]["thinking"].startswith("The user wants me to:\n1. Use the fixed_")
    chat, _ = replayed(
        llm_server, corpus_dir, "responses/bedrockmantle_gpt56luna_reasoning_function_call.sse", 7
    )
    kept = next(m for m in chat.history if m.get("tool_calls"))[REPLAY_KEY]
    assert kept["wire"] == "responses"
    reasoning, call = kept["items"]
    assert reasoning["encrypted_content"].startswith("rsn_5ZVrif4J0bXIqmWdledj7QIFeB83roAWNgm2")
    assert call == {"type": "function_call", "id": "fc_90eeebebbc0858fb8cfcf850d451caf8",
                    "call_id": "call_1"}  # fmt: skip


def test_server_run_tools_are_not_the_notebooks(llm_server, corpus_dir):
    for name in (
        "anthropic/anthropic_claudesonnet4_thinking_web_search_citations.sse",
        "anthropic/anthropic_claudesonnet45_thinking_mcp_tool_use.sse",
        "anthropic/anthropic_claudesonnet46_thinking_code_execution_emoji.sse",
    ):
        chat, reply = replayed(llm_server, corpus_dir, name, None)
        assert reply.state == "done" and not any(m.get("tool_calls") for m in chat.history)


def test_every_recording_has_a_row(corpus_dir):
    recorded = {
        f"{folder}/{p.name}"
        for folder in ("responses", "anthropic")
        for p in (corpus_dir / folder).iterdir()
        if p.name.endswith((".sse", ".chunks.txt", ".json"))
    }
    assert recorded == {row[0] for row in ROWS}
