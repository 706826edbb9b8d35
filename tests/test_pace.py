"""A stream at a model's pace updates the page a few times a second, not once per token.

Measured in JupyterLab in Chromium (``benchmarks/page.py``, issue #18): each view update
costs the page about 4 ms whatever it carries, so a stream of 20 to 50 tokens a second that
sends every token alone keeps the page busy about 10% of the time. The live view coalesces
to the pace of arrival (``render/live/tree.py``, ``paced_interval``): about 10 updates a
second at those paces. This counts the updates a real kernel publishes (messages sent
together are one update, one frame), so a return to an update per token fails here, in
kind, not by a timing.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.builders import text_stream
from support.server import ServerProcess

from benchmarks.answers import MARKER, answer
from benchmarks.harness import Kernel
from luxx_nb.render.live.tree import SLOW_INTERVAL, paced_interval

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def kernel() -> Iterator[Kernel]:
    with Kernel(sys.executable, env={"PYTHONPATH": str(ROOT)}) as kernel:
        kernel.check("%load_ext luxx_nb")
        yield kernel


def test_the_interval_follows_the_pace_of_arrival() -> None:
    assert paced_interval(0) == paced_interval(80) == paced_interval(200) == SLOW_INTERVAL
    assert SLOW_INTERVAL >= 0.1 and paced_interval(1_000) < SLOW_INTERVAL
    assert paced_interval(1_000_000) == pytest.approx(0.034)  # full speed: 30 a second


@pytest.mark.timeout(120)
@pytest.mark.parametrize("rate", [20, 50])
def test_a_paced_stream_updates_the_page_a_few_times_a_second(
    kernel: Kernel, server_process: ServerProcess, rate: int
) -> None:
    fragments = 3 * rate  # three seconds of stream
    text = answer(4 * fragments)
    server_process.reset()
    server_process.enqueue(text_stream(text, fragment_size=4, delay=1 / rate))
    cell = f"%%luxx --model test-model --base-url {server_process.base_url} --no-tools\nGo."
    record = kernel.check(cell, marker=MARKER)
    updates = record.updates()
    seconds = max(record.span, 1.0)
    # 10 a second, plus the run's opening and closing bursts and the status line's tick;
    # an update per token (or 30 a second) would be 60 at 20/s and 90 at 50/s.
    assert len(updates) <= 11 * seconds + 8, (len(updates), seconds, fragments)
    assert len(updates) <= 0.7 * fragments  # never an update per token
    assert record.first_marked() is not None
