"""A long answer's snapshot comes in chunks the page lays out only near the screen (#18).

Measured in JupyterLab in Chromium (``benchmarks/page.py``): the task that showed a 1 MB
snapshot spent 408 ms laying it out whole. The snapshot now wraps a long step's HTML in
``content-visibility: auto`` chunks of whole blocks; a short answer's markup is unchanged (so
saved notebooks of short answers read as before). These hold that structure, not a timing.
"""

from __future__ import annotations

import re

from benchmarks.answers import answer
from luxx_nb.render.live.stream import BlockStore, StreamCode
from luxx_nb.render.markdown import render_markdown
from luxx_nb.render.markup import CHUNK, CHUNK_STYLE
from luxx_nb.render.saved.snapshot import _CHUNK, _chunked


def drained(text: str) -> list[str]:
    """The blocks a live view hands the snapshot, through the kernel's packed store."""
    html = render_markdown(text)
    blocks = re.findall(r".*?\n(?=<|$)|.+$", html, flags=re.S)
    assert "".join(blocks) == html
    store = BlockStore()
    for start in range(0, len(blocks), 5):
        store.extend(blocks[start : start + 5])
    return list(store.drain())


def test_a_long_answer_is_in_chunks_of_whole_blocks() -> None:
    pieces = drained(answer(1_500_000))
    html = "".join(pieces)
    assert max(map(len, pieces)) < BlockStore.GROUP / 4  # a packed group comes back in pieces
    out = "".join(_chunked(iter(pieces)))
    chunks = out.split(_CHUNK)
    assert chunks[0] == "" and all(chunk.endswith("</div>") for chunk in chunks[1:])
    inner = [chunk[: -len("</div>")] for chunk in chunks[1:]]
    assert "".join(inner) == html  # nothing lost, nothing added inside
    assert len(inner) >= len(html) // (4 * CHUNK)
    assert all(part.startswith("<") for part in inner)  # each begins at a block
    assert max(map(len, inner)) < 4 * CHUNK


def test_a_short_answer_keeps_its_markup() -> None:
    pieces = drained(answer(3_000))
    assert "".join(_chunked(iter(pieces))) == "".join(pieces) == render_markdown(answer(3_000))


def test_the_live_view_chunks_as_the_saved_view_does() -> None:
    """One size and one style for both views: the page's code names ``CHUNK`` and its
    stylesheet gives ``.luxx-chunk`` the saved chunk's style."""
    assert re.findall(r"^const CHUNK = (\d+);$", StreamCode._esm, flags=re.M) == [str(CHUNK)]
    rules = re.findall(r"\.luxx-stream \.luxx-chunk \{ ([^}]*) \}", StreamCode._css)
    assert rules == [CHUNK_STYLE]
    assert CHUNK_STYLE in _CHUNK and BlockStore.PIECE == CHUNK
