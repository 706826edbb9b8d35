"""luxx_nb side by side with a naive view, chatlab and lisette, in real kernels, in one run.

    .venv/bin/python benchmarks/bench.py            # everything (about 10 minutes)
    .venv/bin/python benchmarks/bench.py --quick    # no 1 MB / 10 MB, peers at 10 KB only
    .venv/bin/python benchmarks/bench.py --no-peers

Every system answers the same prompt from the same loopback server (``tests/support`` in
its own process), each in a kernel of its own, one ``%%luxx``-like cell per row: at full
speed, and at 50 tokens a second (one token = one 4-character fragment). The peers are
installed by this script into ``benchmarks/.peers-venv`` (never into the project's
environment) and run there, through their public API, pointed at the loopback server.
Numbers come from ``harness.py``: every byte the kernel publishes on IOPub for the cell, the
kernel's CPU time and its peak memory above the level before the cell. Ratios are to
luxx_nb's row of the same size and speed, measured in the same run.

The engine row compares the engine (HTTP bytes -> SSE -> JSON -> deltas -> steps and events,
no rendering) with the bare floor (httpx reading the same stream, ``json.loads`` of each
``data:`` line), in this process, alternated, best of three each.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import venv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Run by its path, so benchmarks/ is already first on sys.path; the loopback server is test
# support (tests/support), which is not installed.
sys.path.insert(0, str(ROOT / "tests"))

from answers import MARKER, answer  # noqa: E402
from engine import measure  # noqa: E402
from harness import CellRecord, Kernel, max_per_second  # noqa: E402
from support.builders import replay, text_stream, tool_call_stream  # noqa: E402
from support.server import ServerProcess  # noqa: E402

PEERS_VENV = HERE / ".peers-venv"
PEERS = {
    "chatlab": ["chatlab"],
    # The registry's newest toolslm (0.3.48) has no ``funccall`` module, which lisette
    # imports; and lisette's model table needs a recent litellm.
    "lisette": ["lisette", "toolslm==0.3.40", "litellm>=1.110"],
}
"""Each peer in a virtual environment of its own: chatlab's pins (openai<2) and lisette's
(openai 3 through litellm) cannot share one."""
RATE = 50  # tokens a second, the realistic pace
FRAGMENT = 4  # characters per token


@dataclass
class Row:
    system: str
    case: str  # e.g. "100 KB full speed"
    content: int  # bytes of text, thinking, tool arguments and results
    fragments: int
    record: CellRecord | None = None
    first: float | None = None  # seconds from the first fragment leaving the server to the page
    note: str = ""

    def cells(self, base: Row | None) -> list[str]:
        r = self.record
        if r is None:
            return [self.system, self.case, "-", "-", "-", "-", "-", "-", "-", self.note]
        updates = r.updates()
        kilo = self.fragments / 1000

        def ratio(mine: float, theirs: float | None) -> str:
            return f" ({mine / theirs:,.1f}x)" if base is not None and theirs else ""

        b = base.record if base is not None else None
        return [
            self.system,
            self.case,
            f"{r.bytes / self.content:,.2f}x{ratio(r.bytes, b.bytes if b else None)}",
            f"{r.count:,}{ratio(r.count, b.count if b else None)}",
            f"{max_per_second(updates)} / {r.count / max(r.span, 1e-9):.0f}",
            f"{r.span / kilo:.2f}{ratio(r.span, b.span if b else None)}",
            f"{r.cpu / kilo:.2f}{ratio(r.cpu, b.cpu if b else None)}",
            f"{r.peak / 1e6:.1f}{ratio(r.peak, b.peak if b else None)}",
            f"{self.first * 1000:.0f}" if self.first is not None else "-",
            self.note or self.split(),
        ]

    def split(self) -> str:
        """luxx_nb's bytes: the live view, and the snapshot that replaces it at the end."""
        r = self.record
        if r is None or self.system != "luxx_nb":
            return ""
        final = sum(m.size for m in r.messages if m.type in ("update_display_data", "comm_close"))
        live = (r.bytes - final) / self.content
        return f"live {live:.2f}x + final snapshot {final / self.content:.2f}x"


HEADER = [
    "system",
    "case",
    "IOPub bytes / content",
    "messages",
    "updates/s (max 1 s) / messages/s",
    "wall s per 1k fragments",
    "kernel CPU s per 1k fragments",
    "peak MB",
    "first fragment ms",
    "note",
]


def luxx_cell(server: ServerProcess, prompt: str = "Write a long answer.") -> str:
    return f"%%luxx --model test-model --base-url {server.base_url} --no-tools\n{prompt}"


PIECES = """\
import json, httpx
def pieces():
    body = {{"model": "m", "stream": True, "messages": [{{"role": "user", "content": "hi"}}]}}
    with httpx.Client(timeout=600) as client:
        with client.stream("POST", "{url}/chat/completions", json=body) as response:
            for line in response.iter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    for choice in json.loads(line[6:]).get("choices") or ():
                        if piece := (choice.get("delta") or {{}}).get("content"):
                            yield piece
"""
"""A cell's reader of the answer's text from the model server at ``{url}``, piece by piece."""
NAIVE = (
    PIECES
    + """\
import html, ipywidgets
from IPython.display import display
view = ipywidgets.HTML(); display(view); text = ""
for piece in pieces():
    text += piece
    view.value = "<pre>" + html.escape(text) + "</pre>"  # the whole text
"""
)
CHATLAB = """\
from chatlab import Chat
chat = Chat(model="test-model", base_url="{url}", api_key="sk-bench")
await chat("Write a long answer.")
"""
LISETTE = """\
from lisette import Chat, display_stream
chat = Chat("openai/test-model", api_base="{url}", api_key="sk-bench")
_ = display_stream(chat("Write a long answer.", stream=True))
"""


def peer_python(name: str) -> tuple[str | None, str]:
    """The peer's environment (made on first use); (python, why not) when it cannot be."""
    python = PEERS_VENV / name / "bin" / "python"
    if not python.exists():
        venv.create(python.parents[1], with_pip=True)
    found = subprocess.run([python, "-c", f"import {name}, ipykernel"], capture_output=True)
    if found.returncode:
        print(f"installing {name} into {python.parents[1]} ...", flush=True)
        done = subprocess.run(
            [python, "-m", "pip", "install", "-q", *PEERS[name], "ipykernel"],
            capture_output=True,
            text=True,
        )
        if done.returncode:
            return None, f"pip install failed: {done.stderr.strip().splitlines()[-1:]}"
    return str(python), ""


def first_fragment(record: CellRecord, server: ServerProcess, delay: float) -> float | None:
    """From the first content chunk leaving the server (request + one pause) to the page."""
    requests = server.requests()
    seen = record.first_marked()
    if not requests or seen is None:
        return None
    return seen - (requests[0]["time"] + delay)


def run_cell(
    kernel: Kernel, server: ServerProcess, code: str, responses: list[Any], delay: float
) -> tuple[CellRecord, float | None]:
    server.reset()
    server.enqueue(*responses)
    record = kernel.check(code, marker=MARKER)
    return record, first_fragment(record, server, delay)


def size_label(size: int) -> str:
    return f"{size // 1_000_000} MB" if size >= 1_000_000 else f"{size // 1000} KB"


def luxx_kernel() -> Kernel:
    kernel = Kernel(sys.executable, env={"PYTHONPATH": str(ROOT)})
    kernel.check("%load_ext luxx_nb")
    return kernel


def warm_luxx(kernel: Kernel, server: ServerProcess) -> None:
    """One small turn first: imports and the shared widgets are not the rows' cost."""
    server.reset()
    server.enqueue(text_stream("Warm up."))
    kernel.check(luxx_cell(server))


def bench_text(
    server: ServerProcess,
    sizes: list[int],
    peer_sizes: list[int],
    realistic: int,
    peers: dict[str, tuple[str | None, str]],
) -> list[tuple[Row, Row | None]]:
    """Full speed at ``sizes`` (peers at ``peer_sizes``), then ``realistic`` at 50 tokens/s."""
    cases = [(size, 0.0) for size in sizes] + [(realistic, 1 / RATE)]
    rows: list[tuple[Row, Row | None]] = []
    for size, delay in cases:
        text = answer(size)
        case = f"{size_label(size)} " + ("full speed" if not delay else f"{RATE} tok/s")
        fragments = -(-size // FRAGMENT)
        # No usage chunk: a server sends one only when asked (stream_options), which only
        # luxx_nb asks for, and lisette fails on its empty ``choices``.
        stream = [text_stream(text, delay=delay, fragment_size=FRAGMENT, usage=False)]
        print(f"{case}: luxx_nb", flush=True)
        with luxx_kernel() as kernel:
            warm_luxx(kernel, server)
            record, first = run_cell(kernel, server, luxx_cell(server), stream, delay)
        base = Row("luxx_nb", case, len(text.encode()), fragments, record, first)
        rows.append((base, None))
        others = [("naive HTML widget", (sys.executable, ""), NAIVE)]
        others += [("chatlab", peers["chatlab"], CHATLAB), ("lisette", peers["lisette"], LISETTE)]
        for name, (interpreter, why), template in others:
            peer = name != "naive HTML widget"
            if peer and (size not in peer_sizes and delay == 0.0):
                continue
            if name == "naive HTML widget" and size > 100_000:
                rows.append((Row(name, case, size, fragments, note="skipped: quadratic"), base))
                continue
            if interpreter is None:
                rows.append((Row(name, case, size, fragments, note=why), base))
                continue
            print(f"{case}: {name}", flush=True)
            try:
                with Kernel(interpreter, env={"PYTHONPATH": ""}) as kernel:
                    code = template.format(url=server.base_url)
                    record, first = run_cell(kernel, server, code, stream, delay)
                rows.append((Row(name, case, size, fragments, record, first), base))
            except Exception as exc:  # a peer that fails is reported, not fatal
                note = f"failed: {type(exc).__name__}: {exc}"[:120]
                rows.append((Row(name, case, size, fragments, note=note), base))
    return rows


def bench_luxx_extra(server: ServerProcess, big: bool) -> list[tuple[Row, Row | None]]:
    """luxx_nb alone: thinking + answer, many tool rounds, and (``big``) 10 MB for memory."""
    rows: list[tuple[Row, Row | None]] = []
    thinking, text = answer(100_000), answer(100_000)
    print("thinking + answer", flush=True)
    with luxx_kernel() as kernel:
        warm_luxx(kernel, server)
        stream = text_stream(text, reasoning=thinking, fragment_size=FRAGMENT)
        record, first = run_cell(kernel, server, luxx_cell(server), [stream], 0.0)
        content = len((thinking + text).encode())
        fragments = -(-len(thinking + text) // FRAGMENT)
        rows.append((Row("luxx_nb", "100 KB thinking + 100 KB text", content, fragments,
                         record, first), None))  # fmt: skip
        print("tool rounds", flush=True)
        rounds, result = 20, answer(2000)
        setup = (
            "import luxx_nb\n@luxx_nb.tool\ndef lookup(query: str) -> str:\n"
            "    '''Look something up.\n\n    query: what to look up\n    '''\n"
            f"    return {result!r}\n"
        )
        kernel.check(setup)
        arguments = {"query": answer(400)}
        responses = [tool_call_stream([("lookup", arguments)]) for _ in range(rounds)]
        final = answer(20_000)
        responses.append(text_stream(final, fragment_size=FRAGMENT))
        options = f"--tools lookup --max-iterations {rounds + 1}"
        cell = luxx_cell(server).replace("--no-tools", options)
        record, first = run_cell(kernel, server, cell, responses, 0.0)
        content = len(final) + rounds * (len(json.dumps(arguments)) + len(result))
        rows.append((Row("luxx_nb", f"{rounds} tool rounds + 20 KB text", content,
                         -(-content // FRAGMENT), record, first), None))  # fmt: skip
    if big:
        print("10 MB (memory)", flush=True)
        text = answer(10_000_000)
        body = text_stream(text, fragment_size=FRAGMENT).body
        with luxx_kernel() as kernel:
            warm_luxx(kernel, server)
            record, first = run_cell(
                kernel, server, luxx_cell(server), [replay(body, chunk_size=65536)], 0.0
            )
        rows.append((Row("luxx_nb", "10 MB full speed (memory)", len(text), len(text) // 4,
                         record, first, note=f"peak {record.peak / len(text):.1f}x the answer; "
                         + Row("luxx_nb", "", len(text), 1, record).split()), None))  # fmt: skip
    return rows


def engine_ratio(server: ServerProcess, size: int = 1_000_000) -> dict[str, float]:
    """Speed of the engine over the bare floor (``engine.measure``), CPU and wall.

    The stream is served in 64 KB writes so that the server is not what is measured.
    """
    body = text_stream(answer(size), fragment_size=FRAGMENT).body

    def serve() -> None:
        server.reset()
        server.enqueue(replay(body, chunk_size=65536))

    result = measure(server.base_url, serve)
    return {
        "cpu": float(result["cpu"]),
        "wall": float(result["wall"]),
        "engine_cpu": float(result["engine_cpu"]),
        "floor_cpu": float(result["floor_cpu"]),
        "events": -(-size // FRAGMENT),
    }


def import_times() -> dict[str, float]:
    """Best of three fresh processes: ``import luxx_nb``; ``%load_ext luxx_nb`` in a kernel."""
    probe = "import time; t = time.perf_counter(); import luxx_nb; print(time.perf_counter() - t)"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    imports = [
        float(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                             env=env, check=True).stdout)
        for _ in range(3)
    ]  # fmt: skip
    loads = []
    for _ in range(3):
        with Kernel(sys.executable, env={"PYTHONPATH": str(ROOT)}) as kernel:
            code = (
                "import time; t = time.perf_counter(); "
                "get_ipython().run_line_magic('load_ext', 'luxx_nb'); "
                "print(time.perf_counter() - t)"
            )
            record = kernel.check(code)
            loads.append(record.span)  # the whole cell, a bound on the load itself
    return {"import": min(imports), "load_ext": min(loads)}


def parallel_tools() -> float:
    """Seconds for 8 sync tools that each sleep 1 s, called in one round."""
    from support.server import LLMServer

    import luxx_nb

    def nap(n: int) -> str:
        """Sleep one second.

        n: which nap
        """
        time.sleep(1.0)
        return f"nap {n}"

    with LLMServer() as server:
        calls = [("nap", {"n": n}) for n in range(8)]
        server.enqueue(tool_call_stream(calls), text_stream("Rested."))
        chat = luxx_nb.Chat(model="m", base_url=server.base_url, api_key="k", tools=[nap])
        started = time.perf_counter()
        reply = chat.send("nap 8 times", display=False)
        elapsed = time.perf_counter() - started
    assert reply.error is None, reply.error
    return elapsed


def table(rows: list[tuple[Row, Row | None]]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for row, base in rows:
        lines.append("| " + " | ".join(row.cells(base)) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="no 1 MB or 10 MB; peers at 10 KB")
    parser.add_argument("--no-peers", action="store_true", help="luxx_nb and the naive view only")
    parser.add_argument("--out", type=Path, default=HERE / "results.md")
    args = parser.parse_args()

    peers = {
        name: (None, "not run (--no-peers)") if args.no_peers else peer_python(name)
        for name in PEERS
    }
    sizes = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
    peer_sizes = [10_000] if args.quick else [10_000, 100_000]
    started = time.time()
    server = ServerProcess.start()
    try:
        rows = bench_text(server, sizes, peer_sizes, 4_000, peers)
        rows += bench_luxx_extra(server, big=not args.quick)
        print("engine, imports, tools", flush=True)
        engine = engine_ratio(server)
    finally:
        server.stop()
    imports = import_times()
    tools = parallel_tools()
    report = "\n".join(
        [
            table(rows),
            "",
            f"Engine (bytes to steps, no rendering) over the bare floor (httpx + json.loads), "
            f"1 MB in {engine['events']:,} events: {engine['cpu']:.2f}x the floor's speed in CPU "
            f"time ({engine['engine_cpu']:.2f} s against {engine['floor_cpu']:.2f} s), "
            f"{engine['wall']:.2f}x in wall time.",
            f"`import luxx_nb`: {imports['import']:.3f} s; `%load_ext luxx_nb` (whole cell): "
            f"{imports['load_ext']:.3f} s. 8 sync tools sleeping 1 s each: {tools:.2f} s.",
            f"Measured {time.strftime('%Y-%m-%d')} in {time.time() - started:.0f} s on "
            f"{os.cpu_count()} cores with `{' '.join(['benchmarks/bench.py', *sys.argv[1:]])}`.",
        ]
    )
    args.out.write_text(report + "\n")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
