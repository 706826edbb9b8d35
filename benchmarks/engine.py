"""The engine's speed over the bare floor, measured one way for the benchmark and for CI.

Floor: httpx reading the stream plus ``json.loads`` of each ``data:`` line. Engine: the same
bytes through SSE decoding, chunk parsing and the agent's fold into steps, no rendering.
Both are timed in this process, alternated and best of five, so a busy machine slows
neither more than the other (best of three measured 0.49 once in a CI run on Python 3.12,
against 0.55 to 0.83 in others: one slow sample of each side decided it).

``python benchmarks/engine.py TEXT_FILE`` measures in a fresh process against a fresh test
server and prints the result as JSON. The test suite measures that way: at the end of CI's
whole run, in the process that had run a thousand tests before, the engine took 0.64 s where
the floor took 0.27 s (0.42; the floor as fast as in a fresh process, the engine 1.6 times
slower), while a fresh process measures 0.69. What earlier tests leave in a process is not
the engine's cost.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from luxx_nb.agent import Turn, run_turn
from luxx_nb.config import Settings
from luxx_nb.providers.openai import OpenAIProvider

__all__ = ["engine", "floor", "measure"]


async def floor(url: str) -> int:
    """The bare reader; returns how many data lines it decoded."""
    count = 0
    async with httpx.AsyncClient(timeout=120) as client:
        body = {"model": "m", "messages": [], "stream": True}
        async with client.stream("POST", url + "/chat/completions", json=body) as response:
            async for line in response.aiter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    json.loads(line[6:])
                    count += 1
    return count


async def engine(url: str) -> Turn:
    """The engine without views; returns the turn, so a caller can check what it read."""
    turn = Turn()
    events = run_turn(
        provider=OpenAIProvider(base_url=url),
        messages=[{"role": "user", "content": "hi"}],
        tools={},
        settings=Settings(),
        model="m",
        context=lambda call_id: None,  # type: ignore[arg-type,return-value]
        turn=turn,
    )
    async for _ in events:
        pass
    return turn


def measure(url: str, serve: Callable[[], None]) -> dict[str, float | str]:
    """Best CPU and wall seconds of each, and their ratios; ``serve`` queues the stream once.

    Returns ``floor_cpu``, ``engine_cpu``, ``floor_wall``, ``engine_wall``, ``cpu`` and
    ``wall`` (floor over engine: 1.0 means as fast as the floor), and ``text``, what the
    engine's last run read.
    """
    best = {"floor": (float("inf"), float("inf")), "engine": (float("inf"), float("inf"))}
    text = ""
    for name in ("floor", "engine") * 5:
        serve()
        wall, cpu = time.perf_counter(), time.process_time()
        result = asyncio.run(floor(url) if name == "floor" else engine(url))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if isinstance(result, Turn):
            text = result.text
        best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    return {
        "floor_wall": best["floor"][0],
        "engine_wall": best["engine"][0],
        "floor_cpu": best["floor"][1],
        "engine_cpu": best["engine"][1],
        "cpu": best["floor"][1] / best["engine"][1],
        "wall": best["floor"][0] / best["engine"][0],
        "text": text,
    }


def main() -> None:
    """Measure TEXT_FILE's text in 4-character fragments; print the result as JSON."""
    # Run by its path (test_speed, bench.py): the loopback server is test support, not installed.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from support.builders import replay, text_stream
    from support.server import ServerProcess

    text = Path(sys.argv[1]).read_text(encoding="utf-8")
    body = text_stream(text, fragment_size=4).body
    server = ServerProcess.start()
    try:

        def serve() -> None:
            server.reset()
            server.enqueue(replay(body, chunk_size=65536))

        print(json.dumps(measure(server.base_url, serve)))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
