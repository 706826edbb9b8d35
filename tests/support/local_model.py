"""What the local-model tests send llama.cpp that luxx_nb itself never does."""

from __future__ import annotations

from typing import Any

__all__ = ["force_tool_call"]


def force_tool_call(body: dict[str, Any]) -> dict[str, Any]:
    """A copy of a chat request that makes the tiny model call exactly one of its tools.

    SmolLM2-135M seldom writes ``<tool_call>`` by itself. Prefilling the answer with
    ``<tool_call>`` plus ``tool_choice: "required"`` makes llama.cpp constrain what follows to a
    valid call of a listed tool (a prefill alone skips that grammar, and a made-up tool name then
    ends the stream with a 500 error); the stop string ends it after one call instead of repeating
    calls up to ``max_tokens``. The stream then carries ``tool_calls`` deltas and finishes with
    ``finish_reason: "tool_calls"``.
    """
    prefill = {"role": "assistant", "content": "<tool_call>\n"}
    return {
        **body,
        "messages": [*body["messages"], prefill],
        "tool_choice": "required",
        "stop": ["</tool_call>"],
    }
