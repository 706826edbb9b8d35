"""The pieces that hold a long answer in the kernel: exact text back, in few large pieces."""

from __future__ import annotations

import json
import random

import pytest

from luxx_nb import transcript
from luxx_nb.events import TextBuffer
from luxx_nb.render.live.stream import BlockStore


def fragments(count: int, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    alphabet = 'ab c\n"\\é🙂<>&\u2028'
    return ["".join(rng.choices(alphabet, k=rng.randint(1, 6))) for _ in range(count)]


def test_a_text_buffer_gives_back_exactly_what_was_appended() -> None:
    parts = fragments(256 * 256 * 2 + 777)  # past two large pieces, and a ragged end
    buffer = TextBuffer("start:")
    for part in parts:
        buffer.append(part)
    whole = "start:" + "".join(parts)
    assert len(buffer) == len(whole)
    assert buffer.text() == whole
    assert buffer.text() is buffer.text()  # joined once: every reader shares one string
    assert buffer.text(10) == whole[:10]
    buffer.append("more")
    assert buffer.text() == whole + "more"


def test_a_text_buffer_keeps_few_pieces() -> None:
    buffer = TextBuffer()
    for part in fragments(256 * 256 * 3):
        buffer.append(part)
    pieces = len(buffer._large) + len(buffer._parts) + len(buffer._recent)
    assert pieces <= 3 + 255 + 255


def test_a_block_store_gives_back_every_block_in_order() -> None:
    blocks = [f"<p>{part}</p>\n" for part in fragments(60_000)]
    store = BlockStore()
    for start in range(0, len(blocks), 7):
        store.extend(blocks[start : start + 7])
    assert store.size == sum(map(len, blocks))
    assert store._packed, "long enough to have packed groups"
    assert "".join(store.blocks()) == "".join(blocks)
    drained = store.drain()
    assert store.size == 0 and store.blocks() == []  # handed over at once
    assert "".join(drained) == "".join(blocks)


@pytest.mark.parametrize("slice_size", [1, 5, 64])
def test_json_chunks_equal_json_dumps(monkeypatch: pytest.MonkeyPatch, slice_size: int) -> None:
    monkeypatch.setattr(transcript, "SLICE", slice_size)
    text = "".join(fragments(200))
    value = {
        "messages": [{"role": "assistant", "content": text, "n": 1.5, "ok": True, "x": None}],
        "steps": [text[:50], [], {}],
        7: "int key",
        "lone": "a\ud83db",
    }
    expected = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    assert "".join(transcript.json_chunks(value)) == expected
    assert "".join(transcript.json_string_body(text)) == json.dumps(text, ensure_ascii=False)[1:-1]


def test_a_packed_transcript_with_a_lone_surrogate_reads_back() -> None:
    content = "x\ud83d y " * 4000
    messages = [{"role": "assistant", "content": content}]
    steps = [{"id": "step-1", "index": 1, "type": "text", "content": content}]
    saved = transcript.dump(messages=messages, steps=steps, chat="default")
    assert "packed" in saved
    assert transcript.load(saved)["messages"] == messages
