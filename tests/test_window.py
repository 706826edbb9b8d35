"""The window of a conversation sent to the model (``window.py``), and a ``Chat`` that keeps
answering over a loopback server that refuses requests too long for its "context"."""

from __future__ import annotations

import json

import pytest
from support.builders import json_error, json_response, text_stream, tool_call_stream

from luxx_nb import Chat, tool
from luxx_nb.errors import ContextTooSmallError
from luxx_nb.window import (
    ContextOverflow,
    TokenEstimate,
    Window,
    context_overflow,
    exchanges,
    fit,
)
from luxx_nb.windower import Windower

KEY = "sk-test-canary-window-0123456789abcdef"


def _conversation(turns: int, words: int = 50, tool_chars: int = 0):
    messages = []
    for i in range(turns):
        messages.append({"role": "user", "content": f"question {i} " + "word " * words})
        if tool_chars:
            call = {"id": f"c{i}", "type": "function", "function": {"name": "t", "arguments": "{}"}}
            messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
            messages.append({"role": "tool", "tool_call_id": f"c{i}", "content": "r" * tool_chars})
        messages.append({"role": "assistant", "content": f"answer {i} " + "word " * words})
    return messages


def _paired(messages):
    """Every tool call sent has its result, and every result its call."""
    calls = {c["id"] for m in messages for c in m.get("tool_calls", ())}
    results = {m["tool_call_id"] for m in messages if m["role"] == "tool"}
    return calls == results


# -- the pure window -------------------------------------------------------------------------


def test_exchanges_start_at_each_user_message():
    messages = _conversation(3, tool_chars=10)
    pieces = exchanges(messages)
    assert [len(p) for p in pieces] == [4, 4, 4]
    assert all(p[0]["role"] == "user" for p in pieces)


def test_everything_is_sent_when_it_fits_or_no_size_is_known():
    messages = _conversation(5)
    for context in (None, 100_000):
        window = fit(messages, context=context, estimate=TokenEstimate())
        assert window.messages == messages and not window.left_out and window.note() == ""


def test_max_history_caps_the_exchanges_sent():
    messages = _conversation(13)
    window = fit(messages, context=None, estimate=TokenEstimate(), max_history=6)
    assert (window.sent, window.total) == (6, 13)
    assert window.messages == messages[-12:]
    assert window.note() == "sent the last 6 of 13 exchanges"


def test_old_tool_results_are_cut_before_any_exchange_is_dropped():
    messages = _conversation(4, words=10, tool_chars=20_000)
    window = fit(messages, context=12_000, estimate=TokenEstimate(), answer=500)
    assert window.sent == 4 and window.cut_results == 3
    cut = [m for m in window.messages if m["role"] == "tool"]
    assert [len(m["content"]) < 600 for m in cut] == [True, True, True, False]
    assert "19,600 more characters of this tool result were left out" in cut[0]["content"]
    assert cut[-1]["content"] == "r" * 20_000  # the current exchange's result is whole
    assert window.note() == "cut 3 old tool results (58,800 characters) to fit 12,000 tokens"
    assert all("_luxx" not in key for m in window.messages for key in m)
    assert messages[2]["content"] == "r" * 20_000  # the conversation itself is not changed


def test_the_oldest_whole_exchanges_go_and_the_current_one_stays():
    messages = _conversation(13, words=60, tool_chars=100)
    messages.append({"role": "user", "content": "the current question"})
    window = fit(messages, context=1_200, estimate=TokenEstimate(), system="Be brief.")
    assert window.messages[-1] == {"role": "user", "content": "the current question"}
    assert window.messages[0]["role"] == "user" and _paired(window.messages)
    assert 1 < window.sent < window.total == 14
    assert window.note().startswith(f"sent the last {window.sent} of 14 exchanges")
    assert window.note().endswith("to fit 1,200 tokens")
    estimate = TokenEstimate()
    assert estimate.tokens(window.messages) <= 1_200 - 1_200 // 4


def test_a_prompt_larger_than_the_context_says_so_in_plain_words():
    messages = [{"role": "user", "content": "x" * 40_000}]
    with pytest.raises(ContextTooSmallError) as caught:
        fit(messages, context=4_096, estimate=TokenEstimate(), system="s")
    message = str(caught.value)
    assert "about 10,00" in message and "3,072 fit" in message and "--max-tokens" in message


def test_the_estimate_learns_from_reported_prompt_tokens():
    estimate = TokenEstimate()
    messages = [{"role": "user", "content": "x" * 3_000}]
    estimate.learn(messages, prompt_tokens=1_004)  # 3 characters a token, plus the overhead
    assert estimate.chars_per_token == pytest.approx(3.0)
    assert estimate.tokens(messages) == 1_004
    estimate.learn([{"role": "user", "content": "hi"}], prompt_tokens=30)  # too little to learn
    assert estimate.chars_per_token == pytest.approx(3.0)


LLAMA_CPP = {
    "error": {
        "code": 400,
        "message": "request (4126 tokens) exceeds the available context size (4096 tokens), "
        "try increasing it",
        "type": "exceed_context_size_error",
        "n_prompt_tokens": 4126,
        "n_ctx": 4096,
    }
}
OPENAI = {
    "error": {
        "message": "This model's maximum context length is 8192 tokens. However, your messages "
        "resulted in 9000 tokens. Please reduce the length of the messages.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }
}
VLLM = {
    "error": {
        "message": "This model's maximum context length is 4096 tokens. However, you requested "
        "5000 tokens (4000 in the messages, 1000 in the completion).",
        "type": "BadRequestError",
        "code": 400,
    }
}
ANTHROPIC = {
    "type": "error",
    "error": {
        "type": "invalid_request_error",
        "message": "prompt is too long: 210000 tokens > 200000 maximum",
    },
}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (LLAMA_CPP, ContextOverflow(prompt=4126, available=4096)),
        (OPENAI, ContextOverflow(prompt=9000, available=8192)),
        (VLLM, ContextOverflow(prompt=4000, available=4096)),
        (ANTHROPIC, ContextOverflow(prompt=210_000, available=200_000)),
        ({"error": {"message": "Too many tokens in the input"}}, ContextOverflow()),
        # A numeric code after "context size" is no size (it read as 400 tokens once).
        ({"error": {"code": 400, "message": "exceeds the context size"}}, ContextOverflow()),
    ],
    ids=["llama.cpp", "openai", "vllm", "anthropic", "words-only", "numeric-code"],
)
def test_providers_refusals_are_recognised_with_their_numbers(body, expected):
    assert context_overflow(400, "HTTP 400 Bad Request", json.dumps(body)) == expected


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, {"error": {"message": "Invalid value for 'temperature'"}}),
        (401, {"error": {"message": "Incorrect API key provided"}}),
        (500, LLAMA_CPP),
    ],
)
def test_other_refusals_are_not_overflows(status, body):
    assert context_overflow(status, f"HTTP {status}", json.dumps(body)) is None


def test_a_refusal_with_numbers_sets_the_context_and_one_without_shrinks():
    messages = _conversation(20, words=100)
    windower = Windower(estimate=TokenEstimate())
    first = windower.window(messages)
    assert first.sent == 20
    second = windower.refused(ContextOverflow(prompt=13_000, available=4_096), first, messages)
    assert windower.context == 4_096 and second.smaller_than(first)
    assert second == windower.window(messages)
    assert windower.estimate.tokens(windower.sent(second)) <= 4_096 * 3 // 4
    third = windower.refused(ContextOverflow(), second, messages)  # no numbers: 30% smaller
    assert third.smaller_than(second)
    size = windower.estimate.tokens
    assert size(windower.sent(third)) <= 0.7 * size(windower.sent(second))
    only = [{"role": "user", "content": "hi"}]
    assert windower.refused(ContextOverflow(), windower.window(only), only) is None


def test_window_comparison():
    a = Window([], sent=5, total=9)
    assert Window([], sent=4, total=9).smaller_than(a)
    assert Window([], sent=5, total=9, cut_chars=10).smaller_than(a)
    assert not a.smaller_than(a)


# -- a Chat against a server that refuses long requests ------------------------------------


def refusing(limit_chars: int, shape: dict, answer: str = "Answered."):
    """A responder that refuses a request whose messages exceed ``limit_chars``, in ``shape``."""

    def respond(body):
        size = sum(len(json.dumps(m)) for m in body["messages"])
        if size > limit_chars:
            refusal = json.loads(json.dumps(shape))
            error = refusal["error"]
            if "n_prompt_tokens" in error:
                error["n_prompt_tokens"], error["n_ctx"] = size // 4, limit_chars // 4
            else:  # the numbers in the words, as OpenAI writes them
                error["message"] = error["message"].replace("8192", str(limit_chars // 4))
                error["message"] = error["message"].replace("9000", str(size // 4))
            return json_response(refusal, status=400)
        return text_stream(answer)

    return respond


WORDS_ONLY = {"error": {"message": "Too many tokens in the input, reduce the length"}}


@pytest.mark.parametrize(
    "shape", [LLAMA_CPP, OPENAI, WORDS_ONLY], ids=["llama.cpp", "openai", "words-only"]
)
def test_a_long_conversation_keeps_answering_and_says_what_was_left_out(llm_server, shape):
    llm_server.script(refusing(6_000, shape))
    chat = Chat(model="m", base_url=llm_server.base_url, api_key=KEY)
    for i in range(30):
        reply = chat.send(f"Paragraph {i}, please: " + "blah " * 100)
        assert reply.error is None, (i, reply.error)
    assert len(chat.history) == 60  # the whole conversation is kept
    assert chat.last_window is not None and chat.last_window.sent < 30
    assert chat.last_window.messages[-1]["content"].startswith("Paragraph 29")
    # After the first refusal the size is known (or learned): later turns are fitted first.
    refused = sum(
        1
        for r in llm_server.requests
        if sum(len(json.dumps(m)) for m in r.body["messages"]) > 6_000
    )
    assert refused <= 3, refused


def test_the_status_says_what_was_left_out(llm_server):
    llm_server.script(refusing(3_000, LLAMA_CPP))
    chat = Chat(model="m", base_url=llm_server.base_url, api_key=KEY)
    notes = []

    class Notes:  # a view: what the status line is told
        def open_run(self, **_):
            return self

        def start(self, **_):
            pass

        def handle(self, event):
            if getattr(event, "state", None) == "window":
                notes.append(event.detail)

        def finish(self, *_):
            pass

    chat.add_view(Notes())
    for i in range(8):
        assert chat.send(f"q{i} " + "blah " * 100).error is None
    assert notes and notes[-1].startswith("sent the last ")
    assert "exchanges to fit 750 tokens" in notes[-1]


@tool
def dump(n: int) -> str:
    """A big result.

    n: how many characters
    """
    return "z" * n


def test_a_5_mb_result_early_on_does_not_stall_the_conversation(llm_server):
    answers = iter(["First.", "Second.", "Third."])

    def respond(body):
        if sum(len(json.dumps(m)) for m in body["messages"]) > 35_000:
            return json_error(400, "", body=WORDS_ONLY)
        if body["messages"][-1]["role"] == "user" and len(body["messages"]) == 1:
            return tool_call_stream([("dump", {"n": 5_000_000})])
        return text_stream(next(answers))

    llm_server.script(respond)
    chat = Chat(model="m", base_url=llm_server.base_url, api_key=KEY, tools=[dump])
    chat.max_result_chars = 30_000
    more = " and more" * 600
    assert chat.send("dump it").text == "First."
    assert chat.send("and now?" + more).text == "Second."
    assert chat.last_window.cut_results == 1 and chat.last_window.sent == 2
    assert chat.send("again?" + more).text == "Third."
    assert chat.history[2]["content"].startswith("z" * 30_000)  # the history keeps it whole


def test_this_turns_own_long_result_is_cut_to_the_room_left_as_a_last_resort(llm_server):
    """A tool result too big for the whole context, in the current exchange: it is cut to what
    fits (its head kept, the cut said), not refused, and the history keeps it whole."""

    def respond(body):
        if body["messages"][-1]["role"] == "user":  # no usage: the estimate stays 4 a token
            return tool_call_stream([("dump", {"n": 20_000})], usage=False)
        return text_stream("Read its head.", usage=False)

    llm_server.script(respond)
    chat = Chat(model="m", base_url=llm_server.base_url, api_key=KEY, tools=[dump])
    chat.context_window = 4_096  # 20,000 characters are about 5,000 tokens
    reply = chat.send("dump it")
    assert reply.error is None and reply.text == "Read its head."
    window = chat.last_window
    assert window.cut_current > 8_000 and window.cut_results == 0 and window.sent == 1
    assert "cut this turn's tool results by " in window.note()
    sent = llm_server.requests[-1].body["messages"][-1]
    assert sent["role"] == "tool" and sent["content"].startswith("z" * 5_000)
    assert "more characters of this tool result were left out" in sent["content"]
    assert sum(len(json.dumps(m)) for m in llm_server.requests[-1].body["messages"]) < 4 * 3_072
    assert chat.history[2]["content"] == "z" * 20_000  # the history keeps it whole


def test_a_prompt_larger_than_the_context_ends_with_a_plain_error(llm_server):
    llm_server.script(refusing(3_000, LLAMA_CPP))
    chat = Chat(model="m", base_url=llm_server.base_url, api_key=KEY)
    reply = chat.send("x" * 20_000)
    assert reply.error.startswith("The prompt is too long for this model: about ")
    assert "750 fit" not in reply.error or "tokens" in reply.error
    assert len(llm_server.requests) == 1  # the refusal's numbers show it cannot fit: no retry
    assert chat.send("short").error is None  # and the next cell works


def test_max_history_from_chat_caps_what_is_sent(llm_server):
    llm_server.script(lambda body: text_stream("ok"))
    chat = Chat(model="m", base_url=llm_server.base_url, api_key=KEY, max_history=2)
    for i in range(5):
        chat.send(f"q{i}")
    last = llm_server.requests[-1].body["messages"]
    assert [m["content"] for m in last] == ["q3", "ok", "q4"]
    assert len(chat.history) == 10


def test_every_view_shows_what_was_left_out_for_the_whole_run():
    import io

    from luxx_nb.events import StatusEvent
    from luxx_nb.render.live.tree import RunWidget
    from luxx_nb.render.saved.snapshot import HtmlRenderer
    from luxx_nb.render.text import TextRenderer

    note = "sent the last 6 of 13 exchanges to fit 4,096 tokens <b>"
    events = [StatusEvent(state="window", detail=note), StatusEvent(state="streaming")]
    out = io.StringIO()
    views = [HtmlRenderer(), TextRenderer(out, color=False), RunWidget()]
    for view in views:
        view.start(model="m")
        for event in events:
            view.handle(event)
        view.finish("done")
    escaped = "sent the last 6 of 13 exchanges to fit 4,096 tokens &lt;b&gt;"
    assert escaped in views[0].html() and "<b>" not in views[0].html().split("luxx-window")[1]
    assert note in out.getvalue()
    status = views[2].children[-1].value if views[2].children else ""
    assert escaped in status and "done" in status


def test_history_marks_what_the_last_request_left_out():
    from luxx_nb.notebook import format_history

    messages = _conversation(3, words=1)
    window = fit(messages, context=None, estimate=TokenEstimate(), max_history=1)
    text = format_history(messages, window)
    assert text.startswith("(the last request sent the last 1 of 3 exchanges; marked below")
    assert text.count("(not sent)") == 4  # two exchanges of two messages
    assert "[user]\nquestion 2" in text and "[user] (not sent)\nquestion 0" in text
    assert "not sent" not in format_history(
        messages, fit(messages, context=None, estimate=TokenEstimate())
    )


def test_max_history_in_a_cell_and_in_config(llm_server, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("LUXX_TEST_KEY", KEY)
    llm_server.script(lambda body: text_stream("ok"))
    options = f"-m m --base-url {llm_server.base_url} --api-key-env LUXX_TEST_KEY"
    cells = [
        "%load_ext luxx_nb",
        f"%%luxx {options}\nfirst",
        f"%%luxx {options}\nsecond",
        f"%%luxx {options} --max-history 1\nthird",
        "%config LuxxMagics.max_history = 2",
        f"%%luxx {options}\nfourth",
        "%luxx history",
        "%luxx config",
    ]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    sent = [[m["content"] for m in r.body["messages"]] for r in llm_server.requests]
    assert sent[2] == ["third"]
    assert sent[3] == ["third", "ok", "fourth"]
    history = "".join(o.get("text", "") for o in nb.cells[6].outputs)
    assert "sent the last 2 of 4 exchanges" in history
    assert "[user] (not sent)\nfirst" in history and "[user]\nfourth" in history
    config = "".join(o.get("text", "") for o in nb.cells[7].outputs)
    assert "max_history: 2" in config


@pytest.mark.parametrize("limit", [None, 64])
def test_an_answer_cut_at_its_limit_says_so_where_the_status_shows(llm_server, limit):
    """A stream that ends with ``length``: the text is kept and a note says why it stopped,
    with the limit the request asked for."""
    import asyncio

    from luxx_nb.events import StatusEvent
    from luxx_nb.providers.wire import DEFAULT_MAX_TOKENS

    llm_server.enqueue(text_stream("An answer cut in the midd", finish_reason="length"))
    llm_server.enqueue(text_stream("Whole.", finish_reason="stop"))
    chat = Chat(model="m", base_url=llm_server.base_url, api_key=KEY, max_tokens=limit)

    async def notes(prompt: str) -> list[str]:
        events = [e async for e in chat.stream(prompt, include_status=True)]
        return [e.detail for e in events if isinstance(e, StatusEvent) and e.state == "notice"]

    first = asyncio.run(notes("hi"))
    most = limit or DEFAULT_MAX_TOKENS
    assert first == [f"the answer stopped at its limit of {most:,} tokens (--max-tokens sets it)"]
    assert chat.history[-1]["content"] == "An answer cut in the midd"
    assert asyncio.run(notes("again")) == []  # an answer that ends on its own says nothing
