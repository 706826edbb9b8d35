"""The run saved in an output's metadata (``luxx_nb.transcript``) and the plain-text excerpt.

``dump``/``load`` are checked as a notebook file would carry them (through JSON), and
``read_conversations`` over notebooks written with nbformat. ``Excerpt`` is checked against
the text written to it: what it keeps, what its gap line counts, and how much it holds.
"""

from __future__ import annotations

import base64
import datetime
import json
import random
import re
import zlib
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from luxx_nb.render.live.inline import EXCERPT_HEAD, EXCERPT_TAIL, Excerpt
from luxx_nb.transcript import KEY, PACK_ABOVE, dump, load, read_conversations

# ---------------------------------------------------------------------------------------------
# helpers


_letters = random.Random(0)
VOCABULARY = [
    "".join(_letters.choices("abcdefghijklmnopqrstuvwxyz", k=_letters.randint(2, 11)))
    for _ in range(2_000)
]
"""2,000 made-up words: enough that zlib gets text to about 60% of its size, not 40%."""


def words(seed: int, size: int) -> str:
    """``size`` characters of prose-like text: random words from a fixed random vocabulary.

    Compressible (a small vocabulary) but not repetitive (no long repeated runs), so zlib
    cannot make a second copy of it free.
    """
    rng = random.Random(seed)
    out: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(VOCABULARY)
        sep = rng.choices([" ", ", ", ". ", "\n"], weights=[80, 8, 8, 4])[0]
        out.append(word + sep)
        length += len(word) + len(sep)
    return "".join(out)[:size]


def json_normal(value: Any) -> Any:
    """What a reader of the notebook file sees for ``value``."""
    return json.loads(json.dumps(value, default=str))


def through_file(saved: dict[str, Any]) -> dict[str, Any]:
    """``saved`` as written to a .ipynb and read back (strict JSON, no NaN)."""
    return json.loads(json.dumps(saved, allow_nan=False))


def unpack(saved: dict[str, Any]) -> dict[str, Any]:
    """The packed body as stored: messages with pointers, not resolved."""
    packed = saved["packed"]
    assert packed["encoding"] == "zlib+base64"
    return json.loads(zlib.decompress(base64.b64decode(packed["data"], validate=True)))


def packed_with(body: Any) -> dict[str, Any]:
    """A saved transcript whose packed body is ``body``, encoded as ``dump`` encodes it."""
    data = base64.b64encode(zlib.compress(json.dumps(body).encode())).decode("ascii")
    return {"version": 2, "chat": "default", "packed": {"encoding": "zlib+base64", "data": data}}


def small_run() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    messages = [
        {"role": "user", "content": "What is 2 + 2? Ünïcödé ✓"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "add", "arguments": '{"a": 2, "b": 2}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "4"},
        {"role": "assistant", "content": "It is 4.", "extra": (1, 2.5, None, True)},
    ]
    steps = [
        {"id": "step-0", "index": 0, "type": "tool_call", "id_ref": "call_1", "name": "add"}
        | {"arguments": '{"a": 2, "b": 2}'},
        {"id": "step-1", "index": 1, "type": "tool_result", "id_ref": "step-0", "name": "add"}
        | {"content": "4", "success": True},
        {"id": "step-2", "index": 2, "type": "text", "content": "It is 4."},
    ]
    return messages, steps


def large_run(seed: int = 7) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, str]]:
    """A run with a 50 KB answer, long reasoning, a long tool call and a long tool result."""
    texts = {
        "reasoning": words(seed, 4_000),
        "arguments": json.dumps({"query": words(seed + 1, 3_000), "limit": 20}),
        "result": words(seed + 2, 6_000),
        "answer": words(seed + 3, 50_000),
    }
    steps = [
        {"id": "step-0", "index": 0, "type": "thinking", "content": texts["reasoning"]},
        {"id": "step-1", "index": 1, "type": "tool_call", "id_ref": "call_1", "name": "search"}
        | {"arguments": texts["arguments"]},
        {"id": "step-2", "index": 2, "type": "tool_result", "id_ref": "step-1", "name": "search"}
        | {"content": texts["result"], "success": True},
        {"id": "step-3", "index": 3, "type": "text", "content": texts["answer"]},
    ]
    messages = [
        {"role": "user", "content": "Search the archive and summarise it."},
        {
            "role": "assistant",
            "content": None,
            "reasoning_content": texts["reasoning"],
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "search", "arguments": texts["arguments"]},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": texts["result"]},
        {"role": "assistant", "content": texts["answer"]},
    ]
    return messages, steps, texts


FIELDS = {
    "chat": "default",
    "starts_conversation": True,
    "model": "demo-model",
    "state": "done",
    "error": None,
    "usage": {"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46},
}


# ---------------------------------------------------------------------------------------------
# dump / load


def test_a_small_run_is_stored_plain_and_round_trips() -> None:
    messages, steps = small_run()
    saved = dump(messages=messages, steps=steps, **FIELDS)

    assert saved["version"] == 2
    assert "packed" not in saved
    for name, value in FIELDS.items():
        assert saved[name] == value
    # Readable as it is: the messages are right there, already as JSON gives them back.
    assert saved["messages"] == json_normal(messages)
    assert saved["steps"] == json_normal(steps)
    assert saved["messages"][3]["extra"] == [1, 2.5, None, True]  # a tuple becomes a list
    assert saved["messages"][0]["content"] == "What is 2 + 2? Ünïcödé ✓"

    run = load(through_file(saved))
    assert run["messages"] == json_normal(messages)
    assert run["steps"] == json_normal(steps)
    assert {k: run[k] for k in FIELDS} == FIELDS
    assert run["version"] == 2


def test_dump_does_not_change_what_it_is_given() -> None:
    messages, steps, _ = large_run()
    before = json.dumps([messages, steps])
    dump(messages=messages, steps=steps, **FIELDS)
    small_messages, small_steps = small_run()
    small_before = repr([small_messages, small_steps])
    dump(messages=small_messages, steps=small_steps, **FIELDS)
    assert json.dumps([messages, steps]) == before
    assert repr([small_messages, small_steps]) == small_before


def test_a_run_just_past_the_threshold_is_packed_and_one_well_under_is_not() -> None:
    over = [{"role": "assistant", "content": "x" * (PACK_ABOVE + 1)}]
    under = [{"role": "assistant", "content": "x" * (PACK_ABOVE // 2)}]
    assert "packed" in dump(messages=over, steps=[], chat="c")
    assert "packed" not in dump(messages=under, steps=[], chat="c")
    # Messages and steps count together.
    half = [{"type": "text", "content": "y" * (PACK_ABOVE // 2 + 100)}]
    together = [{"role": "assistant", "content": "z" * (PACK_ABOVE // 2 + 100)}]
    assert "packed" in dump(messages=together, steps=half, chat="c")


def test_a_large_run_is_packed_small_and_loads_back_exactly() -> None:
    messages, steps, texts = large_run()
    saved = dump(messages=messages, steps=steps, **FIELDS)

    assert "messages" not in saved and "steps" not in saved
    assert saved["packed"]["encoding"] == "zlib+base64"
    # What read_conversations and a reader need stays readable next to the packed data.
    for name, value in FIELDS.items():
        assert saved[name] == value
    assert saved["version"] == 2

    data = saved["packed"]["data"]
    answer = texts["answer"]
    # The whole run (answer, reasoning, arguments, result: 63,000+ characters) in less than
    # the answer alone: each long string is stored once, and compressed.
    assert len(data) < len(answer), (len(data), len(answer))
    # The check above means something: the same text stored twice, compressed the same way,
    # would not fit (zlib's 32 KB window cannot see a 50 KB-old copy).
    twice = base64.b64encode(zlib.compress((answer + answer).encode(), 6))
    assert len(twice) > len(answer)

    run = load(through_file(saved))
    assert run["messages"] == messages
    assert run["steps"] == steps
    assert "packed" not in run
    assert {k: run[k] for k in FIELDS} == FIELDS


def test_packed_messages_point_at_the_steps_holding_their_long_strings() -> None:
    messages, steps, _ = large_run()
    body = unpack(dump(messages=messages, steps=steps, chat="c"))

    assert body["steps"] == steps  # the steps are stored whole
    user, call, tool, answer = body["messages"]
    assert user == messages[0]  # short and equal to no step: verbatim
    assert call["reasoning_content"] == {"step": 0, "field": "content"}
    assert call["content"] is None
    assert call["tool_calls"][0]["function"]["arguments"] == {"step": 1, "field": "arguments"}
    assert call["tool_calls"][0]["function"]["name"] == "search"
    assert call["tool_calls"][0]["id"] == "call_1"
    assert tool == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": {"step": 2, "field": "content"},
    }
    assert answer == {"role": "assistant", "content": {"step": 3, "field": "content"}}


def test_messages_that_equal_no_step_are_kept_verbatim() -> None:
    messages, steps, texts = large_run()
    near_miss = texts["answer"][:-1] + "!"  # differs from the text step in its last character
    substring = texts["result"][:500]  # part of a step's string, not equal to it
    short = "ok"  # equal to a step's string, but too short to be worth a pointer
    steps = [*steps, {"id": "step-4", "index": 4, "type": "text", "content": short}]
    extra = [
        {"role": "assistant", "content": near_miss},
        {"role": "user", "content": substring},
        {"role": "assistant", "content": short},
        {"role": "user", "content": texts["arguments"][1:]},
    ]
    saved = dump(messages=[*messages, *extra], steps=steps, chat="c")

    stored = unpack(saved)["messages"][len(messages) :]
    assert stored == extra
    assert load(saved)["messages"] == [*messages, *extra]


def test_a_content_dict_with_other_keys_is_not_taken_for_a_pointer() -> None:
    messages, steps, _ = large_run()
    odd = [
        {"role": "user", "content": {"step": 0, "field": "content", "note": "mine"}},
        {"role": "user", "content": {"step": 3}},
        {"role": "user", "content": [{"type": "text", "text": "a list of parts"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c",
                    "type": "function",
                    "function": {"name": "f", "arguments": {"step": 1, "field": "x", "y": 2}},
                }
            ],
        },
    ]
    run = load(through_file(dump(messages=[*messages, *odd], steps=steps, chat="c")))
    assert run["messages"][len(messages) :] == odd


@pytest.mark.parametrize("large", [False, True], ids=["plain", "packed"])
def test_values_json_cannot_hold_are_stored_as_text(large: bool) -> None:
    when = datetime.datetime(2024, 5, 17, 12, 30, tzinfo=datetime.timezone.utc)
    messages, steps, _ = large_run() if large else (*small_run(), None)
    messages = [*messages, {"role": "user", "content": "at", "sent": when, "tag": {1, 2} - {1}}]
    steps = [*steps, {"id": "step-9", "index": 9, "type": "text", "content": "x", "at": when}]

    saved = dump(messages=messages, steps=steps, chat="c")
    assert ("packed" in saved) is large
    run = load(through_file(saved))  # through_file: the saved dict is strict JSON

    assert run["messages"][-1] == {"role": "user", "content": "at", "sent": str(when), "tag": "{2}"}
    assert run["steps"][-1]["at"] == str(when)
    assert run["messages"][:-1] == json_normal(messages[:-1])


def test_a_transcript_without_data_loads_as_empty_lists() -> None:
    run = load({"version": 2, "chat": "c"})
    assert run == {"version": 2, "chat": "c", "messages": [], "steps": []}


# ---------------------------------------------------------------------------------------------
# corrupt packed data


def test_bad_base64_says_it_does_not_decode() -> None:
    saved = dump(messages=large_run()[0], steps=large_run()[1], chat="c")
    saved["packed"]["data"] = "@@not base64@@" + saved["packed"]["data"]
    with pytest.raises(ValueError, match="packed transcript does not decode"):
        load(saved)


@pytest.mark.parametrize(
    "data",
    [
        base64.b64encode(b"plain bytes, not zlib").decode(),
        base64.b64encode(zlib.compress(b"{not json")).decode(),
        base64.b64encode(zlib.compress(b"\xff\xfe\xfa")).decode(),  # not UTF-8
        base64.b64encode(zlib.compress(json.dumps({"messages": []}).encode())[:-6]).decode(),
        "",
        12345,
    ],
    ids=["not-zlib", "not-json", "not-utf8", "truncated", "empty", "not-a-string"],
)
def test_undecodable_packed_data_says_it_does_not_decode(data: Any) -> None:
    saved = {"chat": "c", "packed": {"encoding": "zlib+base64", "data": data}}
    with pytest.raises(ValueError, match="packed transcript does not decode"):
        load(saved)


@pytest.mark.parametrize(
    ("packed", "named"),
    [
        ({"encoding": "gzip+base64", "data": ""}, "'gzip+base64'"),
        ({"data": "eJwDAAAAAAE="}, "None"),
        ("eJwDAAAAAAE=", "str"),
        ([1, 2], "list"),
    ],
    ids=["other-name", "no-name", "a-string", "a-list"],
)
def test_an_unknown_encoding_is_named(packed: Any, named: str) -> None:
    with pytest.raises(ValueError, match="unknown transcript encoding") as raised:
        load({"chat": "c", "packed": packed})
    assert named in str(raised.value)


@pytest.mark.parametrize("index", [2, 5, -1, "0", None])
def test_a_pointer_to_a_missing_step_is_an_error(index: Any) -> None:
    body = {
        "messages": [{"role": "assistant", "content": {"step": index, "field": "content"}}],
        "steps": [
            {"id": "step-0", "index": 0, "type": "text", "content": "zero"},
            {"id": "step-1", "index": 1, "type": "text", "content": "one"},
        ],
    }
    with pytest.raises(ValueError, match="points at a missing step") as raised:
        load(packed_with(body))
    assert repr(index) in str(raised.value)  # the pointer itself is quoted


def test_a_pointer_in_tool_call_arguments_is_checked_too() -> None:
    body = {
        "messages": [
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "c", "function": {"name": "f", "arguments": {"step": 3, "field": "a"}}}
                ],
            }
        ],
        "steps": [{"type": "tool_call", "arguments": "{}"}],
    }
    with pytest.raises(ValueError, match="missing step"):
        load(packed_with(body))
    body["messages"][0]["tool_calls"][0]["function"]["arguments"]["step"] = 0
    body["messages"][0]["tool_calls"][0]["function"]["arguments"]["field"] = "arguments"
    run = load(packed_with(body))
    assert run["messages"][0]["tool_calls"][0]["function"]["arguments"] == "{}"


# ---------------------------------------------------------------------------------------------
# read_conversations


def run_output(saved: dict[str, Any]) -> Any:
    return new_output(
        "display_data",
        data={"text/plain": "a run", "text/html": "<p>a run</p>"},
        metadata={KEY: saved},
    )


def write_notebook(path: Path, cells: list[Any]) -> Path:
    notebook = new_notebook(cells=cells)
    nbformat.write(notebook, str(path))
    return path


def chat_run(seed: int, prompt: str) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": prompt},
        {"role": "assistant", "content": f"answer {seed}: " + words(seed, 40)},
    ]


def test_read_conversations_rebuilds_each_chat_in_cell_order(tmp_path: Path) -> None:
    a = chat_run(1, "first, default")
    b_messages, b_steps, _ = large_run(seed=20)
    c_messages, c_steps, _ = large_run(seed=30)
    c_messages = [{"role": "user", "content": "second, default"}, *c_messages[1:]]
    d = chat_run(4, "version 1, default")
    e = chat_run(5, "other, after --new")
    f = chat_run(6, "other, continued")

    saved_b = dump(messages=b_messages, steps=b_steps, chat="other", starts_conversation=True)
    saved_c = dump(messages=c_messages, steps=c_steps, chat="default", starts_conversation=False)
    assert "packed" in saved_b and "packed" in saved_c
    saved_a = dump(messages=a, steps=[], chat="default", starts_conversation=True)
    assert "packed" not in saved_a
    # An output saved before packing existed: version 1, messages at the top level.
    saved_d = {
        "version": 1,
        "chat": "default",
        "starts_conversation": False,
        "model": "m",
        "messages": d,
        "steps": [],
    }
    saved_e = dump(messages=e, steps=[], chat="other", starts_conversation=True)
    saved_f = dump(messages=f, steps=[], chat="other", starts_conversation=False)

    cells = [
        new_code_cell("%%luxx\nfirst", outputs=[run_output(saved_a)]),
        new_code_cell("%%luxx --chat other\n...", outputs=[run_output(saved_b)]),
        new_markdown_cell("Notes between runs."),
        new_code_cell(
            "print('hi'); %%luxx",
            outputs=[
                new_output("stream", name="stdout", text="hi\n"),
                new_output("display_data", data={"text/plain": "x"}, metadata={"other": 1}),
                run_output(saved_c),
            ],
        ),
        new_code_cell("old run", outputs=[run_output(saved_d)]),
        new_code_cell("%%luxx --chat other --new", outputs=[run_output(saved_e)]),
        new_code_cell("%%luxx --chat other", outputs=[run_output(saved_f)]),
    ]
    path = write_notebook(tmp_path / "runs.ipynb", cells)

    conversations = read_conversations(path)
    assert set(conversations) == {"default", "other"}
    assert conversations["default"] == [*a, *c_messages, *d]
    assert conversations["other"] == [*e, *f]  # the run that started it anew dropped b
    assert read_conversations(str(path)) == conversations


def test_a_conversation_started_again_keeps_only_what_follows(tmp_path: Path) -> None:
    first, second, third = chat_run(1, "one"), chat_run(2, "two"), chat_run(3, "three")
    big_messages, big_steps, _ = large_run(seed=40)
    cells = [
        new_code_cell("1", outputs=[run_output(dump(messages=first, steps=[], chat="default"))]),
        new_code_cell(
            "2",
            outputs=[
                run_output(
                    dump(messages=second, steps=[], chat="default", starts_conversation=False)
                )
            ],
        ),
        new_code_cell(
            "3 (reset)",
            outputs=[
                run_output(
                    dump(
                        messages=big_messages,
                        steps=big_steps,
                        chat="default",
                        starts_conversation=True,
                    )
                )
            ],
        ),
        new_code_cell("4", outputs=[run_output(dump(messages=third, steps=[], chat="default"))]),
    ]
    path = write_notebook(tmp_path / "reset.ipynb", cells)
    assert read_conversations(path) == {"default": [*big_messages, *third]}


def test_a_corrupt_packed_run_names_the_notebook(tmp_path: Path) -> None:
    messages, steps, _ = large_run()
    saved = dump(messages=messages, steps=steps, chat="default", starts_conversation=True)
    saved["packed"]["data"] = saved["packed"]["data"][: len(saved["packed"]["data"]) // 2]
    path = write_notebook(
        tmp_path / "broken notebook.ipynb",
        [
            new_code_cell("fine", outputs=[run_output(dump(messages=chat_run(1, "x"), steps=[]))]),
            new_code_cell("broken", outputs=[run_output(saved)]),
        ],
    )
    with pytest.raises(ValueError) as raised:
        read_conversations(path)
    message = str(raised.value)
    assert str(path) in message
    assert "does not decode" in message


def test_a_file_that_is_not_json_is_named(tmp_path: Path) -> None:
    path = tmp_path / "not.ipynb"
    path.write_text("{ this is not json", encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(f"{path} is not a notebook")):
        read_conversations(path)


# ---------------------------------------------------------------------------------------------
# Excerpt

GAP = re.compile(r"\n\[… ([0-9,]+) characters not shown in plain text[^\n]*\]\n")


def numbered_lines(count: int, seed: int = 3) -> str:
    """Lines of varying length, each starting with its number, so any slice is unique."""
    rng = random.Random(seed)
    return "".join(f"{i:06d} {words(seed * 1000 + i, rng.randint(0, 90))}\n" for i in range(count))


def write_in(excerpt: Excerpt, text: str, chunk: int | None) -> None:
    if chunk is None:
        assert excerpt.write(text) == len(text)
        return
    for start in range(0, len(text), chunk):
        piece = text[start : start + chunk]
        assert excerpt.write(piece) == len(piece)


def split_excerpt(value: str, head: int) -> tuple[str, int, str]:
    """(head, dropped count, tail) of an excerpt with a gap line right after ``head``."""
    gap = GAP.search(value, head)
    assert gap is not None, value[:2000]
    assert gap.start() == head, (gap.start(), head)
    assert len(GAP.findall(value)) == 1
    return value[:head], int(gap.group(1).replace(",", "")), value[gap.end() :]


def test_excerpt_is_a_writable_text_stream() -> None:
    excerpt = Excerpt()
    assert excerpt.writable()
    print("printed", 42, file=excerpt)
    excerpt.writelines(["a\n", "b\n"])
    assert excerpt.getvalue() == "printed 42\na\nb\n"


@pytest.mark.parametrize("chunk", [1, 7, None], ids=["1-char", "7-char", "one-write"])
def test_short_text_is_kept_whole(chunk: int | None) -> None:
    text = "Thinking…\n\nThe answer is 4.\n" + "ünï ✓ " * 100
    assert len(text) < EXCERPT_HEAD
    excerpt = Excerpt()
    write_in(excerpt, text, chunk)
    assert excerpt.getvalue() == text


@pytest.mark.parametrize(("head", "tail"), [(EXCERPT_HEAD, EXCERPT_TAIL), (100, 300), (10, 20)])
def test_text_of_exactly_head_plus_tail_is_kept_whole(head: int, tail: int) -> None:
    text = numbered_lines(400)[: head + tail]
    excerpt = Excerpt(head, tail)
    write_in(excerpt, text, 3)
    assert excerpt.getvalue() == text

    one_more = Excerpt(head, tail)
    write_in(one_more, text + "\n", 3)
    kept_head, dropped, kept_tail = split_excerpt(one_more.getvalue(), head)
    assert dropped > 0
    assert kept_head + kept_tail != text + "\n"
    assert head + dropped + len(kept_tail) == len(text) + 1


@pytest.mark.parametrize("chunk", [1, 10, 4_097, None], ids=["1", "10", "4097", "whole"])
@pytest.mark.parametrize(("head", "tail"), [(EXCERPT_HEAD, EXCERPT_TAIL), (100, 300)])
def test_long_text_keeps_its_head_and_a_tail_from_a_line_start(
    chunk: int | None, head: int, tail: int
) -> None:
    text = numbered_lines(3_000)  # about 140,000 characters
    longest_line = max(len(line) + 1 for line in text.splitlines())
    excerpt = Excerpt(head, tail)
    write_in(excerpt, text, chunk)
    value = excerpt.getvalue()

    kept_head, dropped, kept_tail = split_excerpt(value, head)
    assert kept_head == text[:head]
    assert f"{dropped:,}" in value  # as stated, with thousands separators
    assert head + dropped + len(kept_tail) == len(text)
    assert text.endswith(kept_tail)
    assert kept_tail.endswith("002999 " + text.rsplit("002999 ", 1)[1])  # the last line, whole
    # It starts where a line starts, and does not throw away more than one partial line.
    assert text[len(text) - len(kept_tail) - 1] == "\n"
    assert tail - longest_line < len(kept_tail) <= tail
    assert len(value) < head + tail + 200


def test_the_count_is_the_same_however_the_text_was_split() -> None:
    text = numbered_lines(2_000, seed=11)
    rng = random.Random(5)
    values = set()
    for _ in range(5):
        excerpt = Excerpt()
        start = 0
        while start < len(text):
            size = rng.choice([1, 2, 3, 50, 700, 5_000, 20_000])
            excerpt.write(text[start : start + size])
            start += size
        values.add(excerpt.getvalue())
    whole = Excerpt()
    whole.write(text)
    values.add(whole.getvalue())
    assert len(values) == 1


def test_a_tail_without_a_line_break_is_kept_as_it_is() -> None:
    text = "header line\n" + "".join(random.Random(1).choices("abcdefgh ", k=20_000))
    excerpt = Excerpt(50, 300)
    write_in(excerpt, text, 13)
    kept_head, dropped, kept_tail = split_excerpt(excerpt.getvalue(), 50)
    assert kept_head == text[:50]
    assert kept_tail == text[-300:]
    assert 50 + dropped + 300 == len(text)


def test_getvalue_twice_gives_the_same_excerpt() -> None:
    """A stream's getvalue is a read: asking again must not change the count it states."""
    text = "".join(f"line {i}\n" for i in range(100))
    excerpt = Excerpt(10, 20)
    excerpt.write(text)
    first = excerpt.getvalue()
    second = excerpt.getvalue()
    _, dropped, kept_tail = split_excerpt(first, 10)
    assert 10 + dropped + len(kept_tail) == len(text)
    assert second == first


def test_writing_after_getvalue_keeps_counting_right() -> None:
    first_part, second_part = numbered_lines(500, seed=1), numbered_lines(500, seed=2)
    excerpt = Excerpt(100, 300)
    excerpt.write(first_part)
    excerpt.getvalue()
    excerpt.write(second_part)
    text = first_part + second_part
    kept_head, dropped, kept_tail = split_excerpt(excerpt.getvalue(), 100)
    assert kept_head == text[:100]
    assert text.endswith(kept_tail)
    assert 100 + dropped + len(kept_tail) == len(text)


def test_memory_stays_bounded_over_megabytes_of_small_writes() -> None:
    line = "0123456789" * 7 + "abcdefghi\n"  # 80 characters
    piece_count = 5_000_000 // 10
    block = line * 8  # 640 characters, written 10 at a time
    excerpt = Excerpt()
    most = 0
    written = 0
    for i in range(piece_count):
        start = (i * 10) % len(block)
        excerpt.write(block[start : start + 10])
        written += 10
        if excerpt._tail_length > most:
            most = excerpt._tail_length
    assert written == 5_000_000
    assert most <= 8 * 1024, most  # a few KB, not megabytes
    assert sum(len(part) for part in excerpt._tail) == excerpt._tail_length
    assert len(excerpt._tail) <= 1_000

    value = excerpt.getvalue()
    _, dropped, kept_tail = split_excerpt(value, EXCERPT_HEAD)
    assert EXCERPT_HEAD + dropped + len(kept_tail) == written
    assert kept_tail.endswith(line) and kept_tail.startswith("0123456789")
    assert len(value) < EXCERPT_HEAD + EXCERPT_TAIL + 200
