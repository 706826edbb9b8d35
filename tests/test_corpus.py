"""Every recorded provider stream in ../shared/corpus, replayed byte for byte over loopback.

Each row is what a user must get from that provider's stream: the text (start and length),
the thinking's length, the tool calls, the completion tokens, the error. The values were
checked by hand against what each recording covers (recorded/SOURCES.md, llamacpp/README.md).
Each stream is replayed whole and again cut into small pieces, so a line, a CRLF or a UTF-8
character split across network reads gives the same answer.
"""

from __future__ import annotations

import pytest
from support.builders import chunks_file, replay, replay_capture

from luxx_nb import Chat

ROWS = [
    (
        "recorded/alibaba_qwen3max_tool_call_empty_id.chunks.txt",
        "",
        0,
        0,
        [("weather", '{"location": "San Francisco"}')],
        22,
        "Exceeded maximum tool call iterations",
    ),
    (
        "recorded/anthropic_compat_tool_index_starts_at_1.sse",
        "Reading it.",
        11,
        0,
        [("read_file", '{"path": "a.txt"}')],
        None,
        "Exceeded maximum tool call iterations",
    ),
    (
        "recorded/azure_foundry_deepseek_v4_null_fields.chunks.txt",
        "Exciting news, Knicks fa",
        2661,
        3832,
        [],
        1720,
        "",
    ),
    ("recorded/azure_gpt4o_prompt_filter_first_chunk.sse", "Hallo Welt!", 11, 0, [], None, ""),
    ("recorded/azure_gpt5nano_model_router.chunks.txt", "Capital of Denmark.", 19, 0, [], 78, ""),
    (
        "recorded/deepseek_reasoner_reasoning_content.sse",
        "Hello there! 😊 How can I",
        40,
        882,
        [],
        212,
        "",
    ),
    (
        "recorded/deepseek_reasoner_reasoning_then_tool_call.chunks.txt",
        "",
        0,
        191,
        [("weather", '{"location": "San Francisco"}')],
        83,
        "Exceeded maximum tool call iterations",
    ),
    (
        "recorded/groq_gptoss_content_then_event_error.sse",
        "maybe",
        5,
        361,
        [],
        None,
        "Tool choice is required, but model did n",
    ),
    (
        "recorded/groq_gptoss_reasoning_then_event_error.sse",
        "",
        0,
        412,
        [],
        None,
        "Tool call validation failed: tool call v",
    ),
    (
        "recorded/groq_llama33_single_chunk_tool_call.chunks.txt",
        "",
        0,
        0,
        [("weather", "{}")],
        15,
        "Exceeded maximum tool call iterations",
    ),
    (
        "recorded/groq_qwen3_reasoning_field.chunks.txt",
        'The word **"strawberry"*',
        347,
        2952,
        [],
        1107,
        "",
    ),
    (
        "recorded/huggingface_together_r1_think_in_content.sse",
        "Crossing the street safe",
        2556,
        1430,
        [],
        955,
        "",
    ),
    (
        "recorded/mistral_hosted_glm_incremental_tool_empty_name.chunks.txt",
        "",
        0,
        0,
        [("webSearchTool", '{"query": "current Berlin weather"}')],
        14,
        "Exceeded maximum tool call iterations",
    ),
    (
        "recorded/mistral_magistral_thinking_content_array.sse",
        "To cross the street safe",
        607,
        421,
        [],
        232,
        "",
    ),
    (
        "recorded/mistral_small_tool_call_no_index.chunks.txt",
        "",
        0,
        0,
        [("weather", '{"location": "San Francisco"}')],
        22,
        "Exceeded maximum tool call iterations",
    ),
    ("recorded/openai_gpt4o_content_logprobs.sse", "Foo!", 4, 0, [], 2, ""),
    ("recorded/openai_gpt4o_finish_length.sse", '{"', 2, 0, [], 1, ""),
    (
        "recorded/openai_gpt4o_n3_interleaved_choices.sse",
        '{"city":"San Francisco",',
        53,
        0,
        [],
        42,
        "",
    ),
    (
        "recorded/openai_gpt4o_parallel_tool_calls_usage.sse",
        "",
        0,
        0,
        [
            ("GetWeatherArgs", '{"city": "Edinburgh", "country": "GB", "units": "c"}'),
            ("get_stock_price", '{"ticker": "AAPL", "exchange": "NASDAQ"}'),
        ],
        60,
        "Exceeded maximum tool call iterations",
    ),
    ("recorded/openai_gpt4o_refusal_deltas.sse", "I'm sorry, I can't assis", 44, 0, [], 11, ""),
    (
        "recorded/openai_gpt4o_tool_call_in_role_chunk.sse",
        "",
        0,
        0,
        [("get_weather", '{"city":"New York City"}')],
        16,
        "Exceeded maximum tool call iterations",
    ),
    ("recorded/openai_gpt5_obfuscation_usage_null.sse", "Paris.", 6, 0, [], 11, ""),
    ("recorded/openrouter_claude_reasoning_details.sse", "2 + 2 = 4", 9, 51, [], 36, ""),
    (
        "recorded/openrouter_grok4_processing_comments.sse",
        "I'm Grok, an AI built by",
        284,
        0,
        [],
        187,
        "",
    ),
    ("recorded/openrouter_minimax_midstream_error.sse", "", 0, 42, [], None, "Token limit reached"),
    (
        "recorded/openrouter_o3_encrypted_reasoning.sse",
        "I’m ChatGPT, a large-lan",
        446,
        0,
        [],
        104,
        "",
    ),
    ("recorded/vllm_crusoe_llama33_usage.sse", "1, 2, 3, 4, 5", 13, 0, [], 14, ""),
    (
        "recorded/xai_grok3mini_reasoning_tool_call.chunks.txt",
        "",
        0,
        18,
        [("weather", '{"location":"San Francisco"}')],
        26,
        "Exceeded maximum tool call iterations",
    ),
    ("recorded/zai_glm47_reasoning_no_finish_null.sse", "4", 1, 2173, [], 564, ""),
    (
        "llamacpp/llamacpp_smollm2_after_tool_result.sse",
        '<tool_response>\n{"temp_c',
        47,
        0,
        [],
        23,
        "",
    ),
    ("llamacpp/llamacpp_smollm2_basic.sse", "I'm sorry for any confus", 28, 0, [], None, ""),
    (
        "llamacpp/llamacpp_smollm2_ctx_full_midstream.sse",
        "\n\nThe originale of thee ",
        203,
        0,
        [],
        None,
        "",
    ),
    (
        "llamacpp/llamacpp_smollm2_error_bad_request.sse",
        "",
        0,
        0,
        [],
        None,
        "HTTP 400 Bad Request: Field 'max_tokens'",
    ),
    (
        "llamacpp/llamacpp_smollm2_error_ctx_exceeded.sse",
        "",
        0,
        0,
        [],
        None,
        "The prompt is too long for this model: a",  # about 3,630 tokens, and 2,048 fit
    ),
    (
        "llamacpp/llamacpp_smollm2_qwen3tpl_tools_auto_fewshot.sse",
        '<tool_response>\n{"name":',
        88,
        0,
        [],
        31,
        "",
    ),
    (
        "llamacpp/llamacpp_smollm2_qwen3tpl_tools_required.sse",
        "The weather in Paris is ",
        510,
        0,
        [],
        120,
        "",
    ),
    (
        "llamacpp/llamacpp_smollm2_qwen3tpl_tools_required_fewshot.sse",
        '<tool_response>\n{"temp":',
        212,
        0,
        [],
        80,
        "",
    ),
    ("llamacpp/llamacpp_smollm2_reasoning_forced_open.sse", "", 0, 106, [], 30, ""),
    (
        "llamacpp/llamacpp_smollm2_reasoning_format_deepseek-legacy.sse",
        "This is a classic exampl",
        117,
        31,
        [],
        None,
        "",
    ),
    (
        "llamacpp/llamacpp_smollm2_reasoning_format_none.sse",
        "This is a classic exampl",
        117,
        32,
        [],
        None,
        "",
    ),
    (
        "llamacpp/llamacpp_smollm2_reasoning_then_content.sse",
        "This is a classic exampl",
        117,
        31,
        [],
        47,
        "",
    ),
    (
        "llamacpp/llamacpp_smollm2_toolcall_parallel_prefill_quirk.sse",
        "",
        0,
        0,
        [("get_weather", ""), ("get_weather", '{"city": "Tokyo"}')],
        26,
        "Exceeded maximum tool call iterations",
    ),
    (
        "llamacpp/llamacpp_smollm2_toolcall_prefill_auto_usage.sse",
        "",
        0,
        0,
        [("get_weather", '{"city": "Paris"}')],
        25,
        "Exceeded maximum tool call iterations",
    ),
    (
        "llamacpp/llamacpp_smollm2_toolcall_prefill_parallel_usage.sse",
        "",
        0,
        0,
        [("get_weather", '{"city": "Paris"}')],
        25,
        "Exceeded maximum tool call iterations",
    ),
    (
        "llamacpp/llamacpp_smollm2_toolcall_prefill_required_usage.sse",
        "",
        0,
        0,
        [("get_weather", '{"city": "Paris"}')],
        25,
        "Exceeded maximum tool call iterations",
    ),
    ("llamacpp/llamacpp_smollm2_usage.sse", "I'm sorry for any misgla", 50, 0, [], 16, ""),
    (
        "llamacpp/llamacpppython_smollm2_basic_usage.sse",
        "Hello, welcome to my lit",
        48,
        0,
        [],
        None,
        "",
    ),
    (
        "llamacpp/llamacpppython_smollm2_forced_tool_call.sse",
        "",
        0,
        0,
        [("get_weather", '{ "city": "Paris", "unit": "c"}')],
        None,
        "Exceeded maximum tool call iterations",
    ),
    (
        "llamacpp/llamacpppython_smollm2_tool_auto.sse",
        "",
        0,
        0,
        [],
        None,
        "The stream ended before the answer was c",
    ),
]


def response(path, chunk_size):
    if path.name.endswith(".chunks.txt"):
        return chunks_file(path)
    if path.parent.name == "llamacpp":
        return replay_capture(path, chunk_size=chunk_size)
    return replay(path, chunk_size=chunk_size)


@pytest.mark.parametrize("chunked", [False, True], ids=["whole", "pieces"])
@pytest.mark.parametrize("row", ROWS, ids=[row[0].split("/")[1] for row in ROWS])
def test_recorded_stream(llm_server, corpus_dir, row, chunked):
    name, text_start, text_len, thinking_len, calls, completion, error = row
    path = corpus_dir / name
    size = (7 if path.stat().st_size < 20_000 else 997) if chunked else None
    llm_server.enqueue(response(path, size))
    reply = Chat(model="m", base_url=llm_server.base_url, api_key="k", max_iterations=1).send("x")
    assert reply.text[:24] == text_start and len(reply.text) == text_len
    assert len(reply.thinking) == thinking_len
    assert [(s.name, s.arguments) for s in reply.steps if s.type == "tool_call"] == calls
    assert (reply.usage.completion_tokens if reply.usage else None) == completion
    assert (reply.error or "")[:40] == error
    assert "Traceback" not in (reply.error or "")


def test_every_recording_has_a_row(corpus_dir):
    recorded = {
        f"{p.parent.name}/{p.name}"
        for folder in ("recorded", "llamacpp")
        for p in (corpus_dir / folder).iterdir()
        if p.name.endswith((".sse", ".chunks.txt"))
    }
    assert recorded == {row[0] for row in ROWS}
