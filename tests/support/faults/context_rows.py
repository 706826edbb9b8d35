"""The fault table's Context and MCP rows: histories too long for the model's window, and MCP
servers that are missing, crash, hang or answer nonsense."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from support.builders import (
    json_error,
    text_stream,
    tool_call_stream,
)
from support.faults.functions import (
    MCP_MISSING,
)
from support.faults.row import (
    Fault,
    tool_round,
    tool_step,
    verify_one_try,
)
from support.responses import Response


def good_one(observed: dict[str, Any]) -> None:
    assert tool_step(observed, "good_one")["content"] == "good 2"


def conversation(exchanges: int, chars: int, big_result: int = 0) -> list[dict[str, Any]]:
    """Earlier exchanges of about ``chars`` characters each; the first with a tool round
    whose result is ``big_result`` characters long, when given."""
    messages: list[dict[str, Any]] = []
    for i in range(exchanges):
        words = " ".join(["word"] * (chars // 10))
        messages.append({"role": "user", "content": f"Question {i}: {words}"})
        if i == 0 and big_result:
            call = {"id": "call_early", "type": "function"}
            call["function"] = {"name": "dump", "arguments": "{}"}
            messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
            messages.append(
                {"role": "tool", "tool_call_id": "call_early", "content": "z" * big_result}
            )
        messages.append({"role": "assistant", "content": f"Answer {i}: {words}"})
    return messages


def too_long_llamacpp(prompt: int, context: int) -> Response:
    message = (
        f"request ({prompt} tokens) exceeds the available context size ({context} tokens), "
        "try increasing it"
    )
    error = {"code": 400, "message": message, "type": "exceed_context_size_error"}
    error.update(n_prompt_tokens=prompt, n_ctx=context)
    return json_error(400, "", body={"error": error})


def too_long_openai(prompt: int, context: int) -> Response:
    message = (
        f"This model's maximum context length is {context} tokens. However, your messages "
        f"resulted in {prompt} tokens. Please reduce the length of the messages."
    )
    error = {"message": message, "type": "invalid_request_error", "param": "messages"}
    error["code"] = "context_length_exceeded"
    return json_error(400, "", body={"error": error})


def verify_windowed(exchanges: int) -> Callable[[dict[str, Any]], None]:
    """Refused once, sent again with fewer messages; the history keeps every exchange."""

    def verify(observed: dict[str, Any]) -> None:
        assert observed["requests"] == 2, observed["requests"]
        users = [m for m in observed["history"] if m["role"] == "user"]
        assert len(users) == exchanges + 1

    return verify


def verify_result_kept(observed: dict[str, Any]) -> None:
    """Refused once, sent again with this turn's result cut; the history keeps it whole."""
    assert observed["requests"] == 3, observed["requests"]
    results = [m for m in observed["history"] if m["role"] == "tool"]
    assert len(results) == 1 and 20_000 <= results[0]["content_length"] < 20_200, results


WINDOWED = "Answered from the recent exchanges."
CONTEXT_ROWS = (
    Fault(
        id="context-llamacpp",
        group="Context",
        fault="Refused as too long for the context, in llama.cpp's shape "
        "(`exceed_context_size_error`, `n_prompt_tokens` 6,100, `n_ctx` 4,096), "
        "12 exchanges before",
        sees="The answer; the status line: `sent the last 5 of 13 exchanges to fit 4,096 tokens`",
        expect="sent the last 5 of 13 exchanges to fit 4,096 tokens",
        kept="the whole answer; every exchange in the history (only the request was windowed)",
        outcome="done",
        earlier=lambda: conversation(12, 2_000),
        responses=lambda: [too_long_llamacpp(6_100, 4_096), text_stream(WINDOWED)],
        verify=verify_windowed(12),
    ),
    Fault(
        id="context-openai",
        group="Context",
        fault="Refused as too long, in OpenAI's shape (`context_length_exceeded`, "
        "8,192 tokens, 10,500 sent), 200 exchanges before, `max_history` unset",
        sees="The answer; the status line: `sent the last 89 of 201 exchanges to fit 8,192 tokens`",
        expect="sent the last 89 of 201 exchanges to fit 8,192 tokens",
        kept="the whole answer; all 201 exchanges in the history",
        outcome="done",
        earlier=lambda: conversation(200, 200),
        responses=lambda: [too_long_openai(10_500, 8_192), text_stream(WINDOWED)],
        verify=verify_windowed(200),
    ),
    Fault(
        id="context-words",
        group="Context",
        fault="Refused with only words (`The prompt is too long for the model's context "
        "window`), no numbers, 12 exchanges before",
        sees="The answer; the status line: `sent the last 7 of 13 exchanges` (30% smaller)",
        expect="sent the last 7 of 13 exchanges",
        kept="the whole answer; every exchange in the history",
        outcome="done",
        earlier=lambda: conversation(12, 2_000),
        responses=lambda: [
            json_error(400, "The prompt is too long for the model's context window"),
            text_stream(WINDOWED),
        ],
        verify=verify_windowed(12),
    ),
    Fault(
        id="context-early-big-result",
        group="Context",
        fault="Refused as too long, a 20,000-character tool result (a 5 MB one, cut) in "
        "the first of 4 exchanges before",
        sees="The answer; the status line: `cut 1 old tool result (19,600 characters) to fit "
        "4,096 tokens`",
        expect="cut 1 old tool result (19,600 characters) to fit 4,096 tokens",
        kept="the whole answer; the result whole in the history",
        outcome="done",
        earlier=lambda: conversation(4, 400, big_result=20_000),
        responses=lambda: [too_long_llamacpp(5_600, 4_096), text_stream(WINDOWED)],
        verify=verify_windowed(4),
    ),
    Fault(
        id="context-this-turns-result",
        group="Context",
        fault="This turn's own tool returns 5 MB (20,000 characters once cut), refused as too "
        "long for a 4,096-token context",
        sees="The answer; the status line: `cut this turn's tool results by … characters to fit "
        "4,096 tokens`",
        expect="cut this turn's tool results by",
        kept="the whole answer; the result whole (20,000 characters) in the history",
        outcome="done",
        tools=("huge",),
        responses=lambda: [
            tool_call_stream([("huge", {})]),
            too_long_llamacpp(6_000, 4_096),
            text_stream(WINDOWED),
        ],
        verify=verify_result_kept,
    ),
    Fault(
        id="context-prompt-words-only",
        group="Context",
        fault="The prompt alone refused as too long, in words only (no numbers)",
        sees="Error: `The prompt is too long for this model: about … tokens, and the server "
        "refused it without saying how many fit`, with what to do; the server's words in details",
        expect="the server refused it without saying how many fit",
        kept="the prompt",
        responses=lambda: [json_error(400, "The input is too long for the model")],
        verify=verify_one_try,
        detail="The input is too long for the model",
    ),
    Fault(
        id="context-prompt-too-big",
        group="Context",
        fault="A prompt larger than the whole context (the server counts 50,000 tokens, 4,096 fit)",
        sees="Error: `The prompt is too long for this model: about 50,000 tokens, and 4,096 "
        "fit …`, with what to do",
        expect="The prompt is too long for this model: about 50,000 tokens, and 4,096 fit",
        kept="the prompt",
        responses=lambda: [too_long_llamacpp(50_000, 4_096)],
        verify=verify_one_try,
    ),
)


def mcp_row(id: str, server: str, fault: str, expect: str, sees: str, **kw: Any) -> Fault:
    """A row whose tools come from an MCP server of ``MCP_COMMANDS``."""
    return Fault(
        id=f"mcp-{id}",
        group="MCP",
        fault=fault,
        sees=sees,
        expect=expect,
        outcome="done",
        tools=(server,),
        **{"kept": "the call, the failure, the answer", **kw},
    )


MCP_ROWS: tuple[Fault, ...] = (
    mcp_row(
        "missing",
        "ghost",
        f"The server's command does not exist (`{MCP_MISSING}`)",
        f"The MCP server 'ghost' could not start: the command '{MCP_MISSING}' was not found",
        "The answer, without the server's tools; the status line: `The MCP server 'ghost' "
        "could not start: the command … was not found. Its tools are not offered in this run.`",
        kept="the prompt, the answer",
        responses=lambda: [text_stream("All done.")],
    ),
    mcp_row(
        "exit-at-start",
        "refuses",
        "The server exits at start (status 3, a line on stderr)",
        "could not start: it stopped before it was ready. It said: this server refuses to start",
        "The answer, without the server's tools; the status line: `The MCP server 'refuses' "
        "could not start: it stopped before it was ready. It said: …` (its stderr)",
        kept="the prompt, the answer",
        responses=lambda: [text_stream("All done.")],
    ),
    mcp_row(
        "crash",
        "crasher",
        "The server crashes during a call",
        "The MCP server 'crasher' stopped during the call",
        "The call marked ✗: `The MCP server 'crasher' stopped during the call (…); the next "
        "call starts it again. It said: crashing on purpose`",
        responses=lambda: tool_round([("crash", {})]),
    ),
    mcp_row(
        "hang",
        "staller",
        "The server never answers a call (time limit 1 s here)",
        "Tool stall timed out after 1 s",
        "The call marked ✗ with `Tool stall timed out after 1 s`",
        tool_timeout=1.0,
        responses=lambda: tool_round([("stall", {})]),
    ),
    mcp_row(
        "malformed",
        "garbler",
        "The server answers a call with malformed content (a text part without its text)",
        "The MCP server 'garbler' sent a malformed result",
        "The call marked ✗: `The MCP server 'garbler' sent a malformed result: …`",
        responses=lambda: tool_round([("garbled", {})]),
    ),
    mcp_row(
        "bad-schema",
        "badschema",
        "One of the server's tools has an input schema that is not valid JSON Schema",
        "the tool 'bad_schema' is left out: its input schema is not valid JSON Schema",
        "The other tool's call and result, the answer; the status line: `badschema: the tool "
        "'bad_schema' is left out: its input schema is not valid JSON Schema (…)`",
        kept="the call, the result, the answer",
        responses=lambda: tool_round([("good_one", {"n": 2})]),
        verify=lambda observed: good_one(observed),
    ),
)
