"""A refusal that counts the answer asked for in (vLLM's): sent again with the same messages,
asking for the room left; when no room is left, an error whose numbers add up. Over loopback
HTTP, and the next turn works."""

from __future__ import annotations

from support.builders import json_response, text_stream

from luxx_nb import Chat

KEY = "sk-test-canary-errors-0123456789abcdef"


def vllm(body):
    """vLLM's refusal, counting the messages (four characters a token) and the answer asked."""
    prompt = sum(len(str(m.get("content", ""))) for m in body["messages"]) // 4
    if prompt + body["max_tokens"] <= 4_096:
        return text_stream("ok")
    message = (
        "This model's maximum context length is 4096 tokens. However, you requested "
        f"{prompt + body['max_tokens']} tokens ({prompt} in the messages, "
        f"{body['max_tokens']} in the completion). Please reduce the length of the messages "
        "or completion."
    )
    return json_response({"error": {"message": message, "type": "BadRequestError"}}, status=400)


def test_a_refusal_that_counts_the_answer_in_is_sent_again_asking_for_less(llm_server):
    llm_server.script(vllm)
    chat = Chat(model="m", base_url=llm_server.base_url, api_key=KEY)
    reply = chat.send("y " * 5_000)  # 2,500 tokens: they fit, with room for 1,024 of answer
    assert reply.error is None and reply.text == "ok"
    assert [r.body["max_tokens"] for r in llm_server.requests] == [8_192, 1_024]
    assert llm_server.requests[0].body["messages"] == llm_server.requests[1].body["messages"]
    too_long = chat.send("z " * 7_000)  # 3,500 tokens: no room is left for an answer
    assert too_long.error.startswith("The prompt is too long for this model: about 3,")
    assert "3,072 fit in its context" in too_long.error, too_long.error
    assert chat.send("short").error is None
