"""One row of the fault table (``Fault``), and what rows are built from: the prompts, the
canary key, streams cut or stalled on purpose, HTTP and SQL rows, and the checks
(``verify_*``) a row runs on what was observed."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from support.builders import (
    drop_after,
    json_error,
    sse,
    text_stream,
    tool_call_stream,
)
from support.responses import Response, Stream

PROMPT = "Tell me about the data."
NEXT_PROMPT = "And now?"
NEXT_ANSWER = "Next answer arrives."
UNKNOWN_HOST = "http://luxx-no-such-host.invalid/v1"
KEY = "sk-fault-canary-4c1d9e7f2a6b83d05e17"


@dataclass(frozen=True)
class Fault:
    """One row of the fault table.

    ``responses`` builds what the loopback server answers (fresh each run: a response is
    consumed); ``expect`` is a fragment of what the person sees, asserted in the view (and in
    the error, for ``outcome == "error"``); ``partial`` is text produced before the fault that
    must stay in the reply and the history; ``verify`` checks the row's own promise on the
    observation (``observe``), the same in process and in the kernel.
    """

    id: str
    group: str
    fault: str
    sees: str
    expect: str
    kept: str
    outcome: str = "error"
    responses: Callable[[], list[Response]] = list
    partial: str = ""
    tools: tuple[str, ...] = ()
    timeout: float | None = None
    tool_timeout: float = 60.0
    target: str | None = None
    interrupt: str | None = None
    variables: bool = False
    tables: bool = False
    verify: Callable[[dict[str, Any]], None] | None = None
    detail: str = ""
    earlier: Callable[[], list[dict[str, Any]]] | None = None
    """The conversation before the row's prompt (a long one, for the context rows)."""

    def earlier_messages(self) -> list[dict[str, Any]]:
        return self.earlier() if self.earlier is not None else []


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def partial_then(*tail: str | dict[str, Any], done: bool = True) -> Stream:
    """ "Partial " as two fragments, then ``tail`` (raw SSE text or chunks)."""
    return sse([chunk({"content": "Partial "}), chunk({"content": "answer"}), *tail], done=done)


def raw(*pieces: bytes, delay: float = 0.0, **kwargs: Any) -> Stream:
    return Stream(list(pieces), delay=delay, **kwargs)


def retried(factory: Callable[[], Response]) -> Callable[[], list[Response]]:
    """Three identical answers: the first try and the two retries."""
    return lambda: [factory() for _ in range(3)]


def then_answer(*first: Response, answer: str = "All done.") -> list[Response]:
    return [*first, text_stream(answer)]


def tool_round(calls: list[tuple[str, Any]], answer: str = "All done.", **kw: Any) -> list:
    return [tool_call_stream(calls, **kw), text_stream(answer)]


def tool_step(observed: dict[str, Any], name: str) -> dict[str, Any]:
    results = [s for s in observed["steps"] if s["type"] == "tool_result" and s["name"] == name]
    assert results, observed["steps"]
    return results[0]


def verify_prints(observed: dict[str, Any]) -> None:
    step = tool_step(observed, "noisy")
    assert "NOISY-OUT 0" in step["output"] and "NOISY-ERR 2" in step["output"]
    assert step["content"] == "printed"


def verify_huge(observed: dict[str, Any]) -> None:
    step = tool_step(observed, "huge")
    assert 20_000 <= len(step["content"]) < 20_200 and "[... cut 4,980,000" in step["content"]
    assert "5,000,000 characters" in step["detail"]


def verify_traceback(observed: dict[str, Any]) -> None:
    step = tool_step(observed, "fails")
    assert "Traceback" in step["detail"] and "boom: on purpose" in step["detail"]
    assert "Traceback" not in step["content"]


def verify_fifty(observed: dict[str, Any]) -> None:
    results = [s for s in observed["steps"] if s["type"] == "tool_result"]
    assert sorted(int(s["content"]) for s in results) == [n * n for n in range(50)]
    assert sum(m["role"] == "tool" for m in observed["history"]) == 50


def verify_big_arguments(observed: dict[str, Any]) -> None:
    assert tool_step(observed, "echo_size")["content"] == "got 1,000,000 characters"
    call = next(s for s in observed["steps"] if s["type"] == "tool_call")
    assert call["arguments_length"] == len('{"payload":""}') + 1_000_000


def verify_mutation(observed: dict[str, Any]) -> None:
    tried = json.loads(tool_step(observed, "mutates")["content"])
    assert tried["append"] == tried["nested"] == tried["frame"] == "changed its copy"
    assert tried["array"] == "refused: ValueError"
    for way in ("assign", "delete", "chat", "attribute"):
        assert tried[way].startswith("refused"), (way, tried)
    assert observed["variables"] == observed["variables_before"]
    call = next(m for m in observed["history"] if m.get("tool_calls"))
    assert json.loads(call["tool_calls"][0]["function"]["arguments"]) == {"items": [1, 2, 3]}
    reads = tool_step(observed, "mutates")["variables"]
    assert reads == ["shared", "nested", "frame", "array"]


def verify_interrupted_tools(observed: dict[str, Any]) -> None:
    tool = [m for m in observed["history"] if m["role"] == "tool"]
    assert len(tool) == 1 and "interrupted" in tool[0]["content"]


def verify_closed(observed: dict[str, Any]) -> None:
    """A SQL row: no query left running, no file written, no notebook variable changed."""
    assert observed["tools_alive"] is False, "a query is still running"
    assert observed["files"] == [], observed["files"]
    assert observed["variables"] == observed["variables_before"]
    assert observed["variables"]["sales"].count("\n") == 1_000  # all rows, each unchanged


def verify_huge_query(observed: dict[str, Any]) -> None:
    verify_closed(observed)
    result = json.loads(tool_step(observed, "query")["content"])
    assert result["row_count"] == 10_000_000 and len(result["rows"]) == 50


def verify_sql_interrupted(observed: dict[str, Any]) -> None:
    verify_closed(observed)
    verify_interrupted_tools(observed)


def verify_two_tries(observed: dict[str, Any]) -> None:
    assert observed["requests"] == 2


def verify_three_tries(observed: dict[str, Any]) -> None:
    assert observed["requests"] == 3


def verify_one_try(observed: dict[str, Any]) -> None:
    assert observed["requests"] == 1


WORDS = "word " * 400
BIG_TEXT = "word " * 2_100_000  # 10.5 MB


def big_chunk() -> list[Response]:
    data = json.dumps(chunk({"content": BIG_TEXT}, "stop"))
    return [raw(f"data: {data}\n\ndata: [DONE]\n\n".encode())]


def drip() -> list[Response]:
    body = b'data:{"content":"drip ok"}\n\ndata:[DONE]\n\n'
    return [raw(*(body[i : i + 1] for i in range(len(body))), delay=0.1)]


def reset_mid_stream() -> list[Response]:
    body = partial_then(chunk({"content": " and more"}, "stop")).body
    cut = body.index(b"answer") + len(b'answer"}')
    cut = body.index(b"\n\n", cut) + 2
    return [drop_after(body, cut, reset=True)]


def stall() -> list[Response]:
    first = partial_then(done=False).body
    rest = b"data: " + json.dumps(chunk({}, "stop")).encode() + b"\n\ndata: [DONE]\n\n"
    return [raw(first, rest, delay=6.0)]


MOVED = "https://api.example.org/v1/chat/completions"
HTML_PAGE = b"<html><head><title>Sign in - Portal</title></head><body>Please log in</body></html>"
HTML_404 = b"<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>"


def http_row(status: int, reason: str, message: str, note: str = "") -> Fault:
    return Fault(
        id=f"http-{status}",
        group="HTTP",
        fault=f"HTTP {status} with an OpenAI-style JSON error body",
        sees=f"Error: `HTTP {status} {reason}: …` in the provider's words{note}",
        expect=f"HTTP {status} {reason}: {message}",
        kept="the prompt",
        responses=lambda: [json_error(status, message)],
        verify=verify_one_try,
        detail=message,
    )


CROSS_JOIN = "SELECT count(*) FROM range(1000000) a, range(1000000) b WHERE a.range + b.range = 7"


def sql_row(id: str, fault: str, statement: str, expect: str, sees: str = "", **kw: Any) -> Fault:
    """A ``query`` call the model makes, and what its failed result says."""
    return Fault(
        id=f"sql-{id}",
        group="SQL",
        fault=fault,
        sees=sees or f"The call marked ✗: `{expect}`; nothing read or written",
        expect=expect,
        kept="the call, the failure, the answer; every variable unchanged, no file",
        outcome="done",
        tools=("query",),
        tables=True,
        responses=lambda: tool_round([("query", {"sql": statement})]),
        **{"verify": verify_closed, **kw},
    )


def verify_text_length(observed: dict[str, Any], length: int) -> None:
    assert observed["text_length"] == length
    assert observed["history"][-1]["content_length"] == length
