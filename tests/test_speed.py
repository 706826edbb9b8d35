"""Speed goals that hold on a busy machine: ratios measured in one run, CPU time, margins.

The engine (bytes -> SSE -> JSON -> deltas -> steps) must run at least half as fast as the
bare floor (httpx reading the same stream and ``json.loads`` of each ``data:`` line). Both
are timed in CPU seconds of a fresh process, against a server in another process, alternated
and best of five, so another job on the machine slows neither; measured here about 0.69.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

from support.builders import text_stream, tool_call_stream
from support.server import LLMServer

import luxx_nb
from luxx_nb.events import TextBuffer

ROOT = Path(__file__).resolve().parents[1]

TEXT = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 18 + "\n\n") * 250


def test_engine_runs_at_least_half_as_fast_as_the_bare_floor(tmp_path: Path) -> None:
    """Measured in a fresh process (see ``benchmarks/engine.py``), 65,000 events."""
    text_file = tmp_path / "text.txt"
    text_file.write_text(TEXT, encoding="utf-8")
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "engine.py"), str(text_file)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result = json.loads(run.stdout)
    assert result["text"] == TEXT  # the engine really read the whole stream
    ratio = result["cpu"]
    assert ratio >= 0.5, f"engine {result['engine_cpu']:.3f} s, floor {result['floor_cpu']:.3f} s"


def test_eight_sync_tools_sleeping_a_second_finish_together(llm_server: LLMServer) -> None:
    def nap(n: int) -> str:
        """Sleep one second.

        n: which nap
        """
        time.sleep(1.0)
        return f"nap {n}"

    llm_server.enqueue(
        tool_call_stream([("nap", {"n": n}) for n in range(8)]), text_stream("Rested.")
    )
    chat = luxx_nb.Chat(model="m", base_url=llm_server.base_url, api_key="k", tools=[nap])
    started = time.perf_counter()
    reply = chat.send("nap", display=False)
    elapsed = time.perf_counter() - started
    assert reply.error is None
    assert len([s for s in reply.steps if s.type == "tool_result"]) == 8
    assert elapsed < 1.5, f"{elapsed:.2f} s: the tools did not run in parallel"


def _best_of_three(code: str) -> float:
    runs = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        for _ in range(3)
    ]
    return min(float(run.stdout.split()[-1]) for run in runs)


def test_import_and_load_ext_are_quick_and_lazy() -> None:
    imported = _best_of_three(
        "import sys, time; t = time.perf_counter(); import luxx_nb\n"
        "assert 'ipywidgets' not in sys.modules and 'IPython' not in sys.modules\n"
        "print(time.perf_counter() - t)"
    )
    loaded = _best_of_three(
        "import time; from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance(); t = time.perf_counter()\n"
        "shell.run_line_magic('load_ext', 'luxx_nb')\n"
        "import sys; assert 'ipywidgets' not in sys.modules\n"
        "print(time.perf_counter() - t)"
    )
    assert imported < 0.3 and loaded < 0.3, (imported, loaded)


def test_a_long_step_costs_about_its_size_in_memory() -> None:
    """1 MB in 4-character fragments: one ``str`` each would hold about 15 MB."""
    fragments = [TEXT[i : i + 4] for i in range(0, len(TEXT), 4)] * 16
    tracemalloc.start()
    buffer = TextBuffer()
    for fragment in fragments:
        buffer.append(fragment)
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(buffer) == 16 * len(TEXT) and buffer.text()[: len(TEXT)] == TEXT
    assert held < 1.5 * len(buffer), f"{held:,} bytes for {len(buffer):,} characters"


def test_every_public_name_is_there_when_asked_for() -> None:
    """The package imports its names when first used (PEP 562); each one must resolve."""
    code = (
        "import sys, luxx_nb\n"
        "assert 'luxx_nb.chat' not in sys.modules, 'import luxx_nb loaded the engine'\n"
        "missing = [n for n in luxx_nb.__all__ if getattr(luxx_nb, n, None) is None]\n"
        "assert not missing, missing\n"
        "assert luxx_nb.tools.on_cancel and luxx_nb.Chat.__module__ == 'luxx_nb.chat'\n"
        "print('ok')"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.stdout.strip() == "ok", run.stderr
