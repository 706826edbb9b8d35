"""What a run costs the page: JupyterLab in Chromium while an answer streams (issue #18).

    .venv/bin/python benchmarks/page.py            # every case (about 20 minutes)
    .venv/bin/python benchmarks/page.py --quick    # 100 KB and 1 MB, paced at 4 KB
    .venv/bin/python benchmarks/page.py --systems luxx_nb naive --sizes 100000
    .venv/bin/python benchmarks/page.py --systems --variant old=/tmp/old --variant new=. \
        --repeat 3                                 # luxx_nb from two folders, alternated
    .venv/bin/python benchmarks/page.py --systems floor --trace /tmp/traces
    .venv/bin/python benchmarks/page.py --systems luxx_nb --sizes --rates 20 --warm
                                                   # the page's second run of the cell

Each case opens a fresh notebook in JupyterLab (``tests/support/lab.py``), in Debian's
Chromium through Playwright, with three cells: the system's set-up, the cell that streams the
answer from the loopback server (``tests/support``, its own process), and an empty cell that
a person types into (a key every 0.1 s at full speed, every 0.5 s paced). It reads:

- the page's main-thread busy time (CDP ``Performance.getMetrics`` ``TaskDuration``) from the
  click that runs the cell until the page shows the answer's end (plus 0.5 s), as a share of
  that time, beside the idle page's share: 3 s just before, after the set-up cell, with the
  same typing and polls, so "above idle" is what the stream adds (the typing alone is about
  10% of the page at 5 keys a second);
- long tasks (a ``longtask`` PerformanceObserver) during the run: how many, the longest;
- typing: Event Timing's ``keydown`` entries (what INP reads: from the key to the next frame
  presented), p95 and max, beside the idle page's p95. The API reports a key only from
  16 ms, so an unreported key counts as 16 ms (the p95 is an upper bound). Measured before
  with ``requestAnimationFrame`` then ``setTimeout``, which also counted whatever tasks
  queued behind the frame (a widget message), not the frame;
- the first fragment: the wall clock at the frame after its text is in the DOM, against the
  server's wall clock when it sent it (``performance.timeOrigin`` drifts from both), and
  (*at socket ms*) when the WebSocket message holding it reached the page, before the page
  handled it: the kernel's and the Jupyter server's share, the rest is the page's;
- when the cell is over (its prompt shows a number: the kernel's own status is no guide,
  since a widget's comm message sets it idle mid-run), how long the page takes to show the
  answer's last words (read from the output's last text nodes, with no layout), its nodes.

Systems: luxx_nb's ``%%luxx``; ``luxx_nb@NAME`` from ``--variant NAME=DIR`` (another copy of
the package, such as a worktree of the commit before a change); the naive cell (an
``ipywidgets.HTML`` re-rendered whole on every fragment, as in ``bench.py``); chatlab, from
``benchmarks/.peers-venv`` (``bench.py`` installs it there); ``floor``, JupyterLab's own cost
of the smallest widget update at luxx_nb's paced rate (10 a second); ``html``, JupyterLab's own
cost of showing luxx_nb's saved view of the same answer with a plain ``display`` (what the end
of a run cannot cost less than, while the saved view is one ``text/html`` output); ``print``,
JupyterLab's own cost of a stream of plain text, the same answer printed as it arrives. *end
longest ms*: the longest task that ended once the saved view was in the page; *stream long
tasks* and *stream longest ms*, those that ended before it. Full speed: the
answer as fast as the server writes it. Paced: one 4-character fragment every 1/rate seconds,
as a real model sends them. ``--trace`` writes a Chromium trace per case and prints where the
main thread's time went.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the loopback server and Lab are test support

from answers import MARKER, answer  # noqa: E402
from bench import CHATLAB, FRAGMENT, NAIVE, PIECES, luxx_cell, peer_python  # noqa: E402
from support.builders import text_stream  # noqa: E402
from support.lab import CHROMIUM, CHROMIUM_FLAGS, Lab, open_notebook, start_lab, stop  # noqa: E402
from support.server import ServerProcess  # noqa: E402

from luxx_nb.render.live.tree import SLOW_INTERVAL  # noqa: E402

OBSERVE = """() => {
    const luxx = window.__luxx = {long: [], ends: [], slow: [], keys: 0, first: null, saved: null};
    luxx.reset = () => { luxx.long = []; luxx.ends = []; luxx.slow = []; luxx.keys = 0; };
    new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) {
            luxx.long.push(entry.duration);
            luxx.ends.push(entry.startTime + entry.duration);
        }
    }).observe({type: 'longtask'});
    // Event Timing (what INP reads): a key's entry is its keydown's time to the next frame
    // presented after its handlers ran, reported only from 16 ms (the API's least threshold).
    new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) {
            if (entry.name === 'keydown') luxx.slow.push(entry.duration);
        }
    }).observe({type: 'event', durationThreshold: 16});
    document.addEventListener('keydown', () => { luxx.keys += 1; }, true);
    const output = document.querySelectorAll('.jp-Notebook .jp-CodeCell')[1];
    const seen = new MutationObserver(() => {
        if (output.textContent.includes(MARKER)) {
            seen.disconnect();
            // The frame that shows it begins now; the server's clock is the wall clock too.
            requestAnimationFrame(() => { luxx.first = Date.now(); });
        }
    });
    seen.observe(output, {subtree: true, childList: true, characterData: true});
    // When the saved view is in the page: the output area's own children only (a new
    // output), so the observer costs nothing per streamed fragment. A long task that ends
    // after it is the end of the run's (the task that inserted it included).
    const area = output.querySelector('.jp-OutputArea');
    const swap = new MutationObserver(() => {
        if (luxx.saved === null && area.querySelector(':scope > * .luxx-snapshot')) {
            luxx.saved = performance.now();
            swap.disconnect();
        }
    });
    swap.observe(area, {childList: true});
}"""
SOCKETS = """(() => {
    // When the first fragment reaches the page: the first WebSocket message holding MARKER
    // once the measured run is armed, on the page's clock (a listener added before
    // JupyterLab's own, so the time is before the page handles the message).
    const Native = window.WebSocket;
    const watch = window.__luxxSocket = {armed: false, at: null};
    const decoder = new TextDecoder();
    window.WebSocket = class extends Native {
        constructor(...args) {
            super(...args);
            this.addEventListener('message', (event) => {
                if (!watch.armed || watch.at !== null) return;
                const data = event.data;
                if (!(typeof data === 'string' || data instanceof ArrayBuffer)) return;
                const text = typeof data === 'string' ? data : decoder.decode(data);
                if (text.includes(MARKER)) watch.at = Date.now();
            });
        }
    };
})()"""
LAST_TEXT = """() => {
    // The output's last 4,000 characters of text, read backwards: no layout, no whole copy.
    const output = document.querySelectorAll('.jp-Notebook .jp-CodeCell')[1]
        .querySelector('.jp-OutputArea');
    const walker = document.createTreeWalker(output, NodeFilter.SHOW_TEXT);
    let node = output;
    while (node.lastChild) node = node.lastChild;
    walker.currentNode = node;
    const parts = [];
    let size = 0;
    if (node.nodeType === Node.TEXT_NODE) { parts.push(node.data); size += node.data.length; }
    while (size < 4000 && (node = walker.previousNode())) {
        parts.push(node.data);
        size += node.data.length;
    }
    return parts.reverse().join('');
}"""
DONE = """(index) => {
    const prompt = document.querySelectorAll('.jp-Notebook .jp-CodeCell')[index]
        .querySelector('.jp-InputPrompt');
    return /\\[\\d+\\]/.test(prompt.textContent);
}"""
TRACE_CATEGORIES = ["devtools.timeline", "v8.execute", "disabled-by-default-devtools.timeline"]


@dataclass
class Case:
    system: str
    size: int
    rate: float | None  # fragments a second; None is full speed

    @property
    def label(self) -> str:
        size = f"{self.size / 1e6:g} MB" if self.size >= 1_000_000 else f"{self.size / 1e3:g} KB"
        return f"{size} at {self.rate:g}/s" if self.rate else f"{size} full speed"


FLOOR = """\
import time
view = ipywidgets.HTML("Lore"); display(view)
for i in range({count}):
    time.sleep({gap}); view.value = f"Lore {{i}}"
"""
"""JupyterLab's own cost of a widget update: the smallest one, at luxx_nb's paced rate."""
FLOOR_RATE = 1 / SLOW_INTERVAL
"""Updates a second of a paced stream (``render/live/tree.py``): 10."""
SAVED = """\
import sys
from IPython.display import HTML
sys.path.insert(0, {here!r})
from answers import answer
from luxx_nb.events import StepEvent, TextStep
from luxx_nb.render.markdown import IncrementalMarkdown
from luxx_nb.render.saved.snapshot import HtmlRenderer
text = answer({size})
saved = HtmlRenderer(); saved.start(model="test-model")
saved.handle(StepEvent(step=TextStep(index=0, content=text)))
saved.finish("done")
markdown = IncrementalMarkdown()  # the blocks a live view hands the snapshot
blocks = markdown.feed(text).blocks + markdown.finish("").blocks
page = "".join(saved.pieces({{0: iter(blocks)}}))"""
"""``html``: the same saved view as luxx_nb's of the answer, made in the set-up cell, then
shown by a plain ``display``: JupyterLab's own cost of showing it, with no luxx_nb run."""
SPLIT = """\
from luxx_nb.render.saved.snapshot import _CHUNK, NO_TYPESETTING, SNAPSHOT_CLASS
head, *chunks = page.split(_CHUNK)
outputs, size = [head], 0
for chunk in chunks:
    if size >= {size}:
        outputs.append(""); size = 0
    outputs[-1] += _CHUNK + chunk; size += len(chunk)
wrap = '<div class="' + SNAPSHOT_CLASS + ' ' + NO_TYPESETTING + '">'
for number, output in enumerate(outputs):
    display(HTML(output if number == 0 else wrap + output + "</div>"))"""
"""``html-split``: the same saved view in outputs of about ``SPLIT_SIZE`` characters, each
its own ``display`` (the snapshot in pieces, as issue #18 suggests), each piece in the saved
view's own ``div`` (MathJax leaves it alone); tags that span two outputs are closed by the
page's parser, which changes no cost worth measuring."""
SPLIT_SIZE = 65_536
PRINT = PIECES + "for piece in pieces():\n    print(piece, end='')\n"
"""``print``: the same answer read from the same server, printed as it comes: JupyterLab's
own way of showing a stream of text (ipykernel sends stdout every 0.2 s, and the page adds
it to a plain-text output), with no widget and no Markdown."""


def _cells(case: Case, server: ServerProcess) -> list[str]:
    if case.system == "floor":
        seconds = case.size / FRAGMENT / case.rate if case.rate else 2.0
        count = int(seconds * FLOOR_RATE)
        return ["import ipywidgets", FLOOR.format(count=count, gap=1 / FLOOR_RATE), ""]
    if case.system == "html":
        return [SAVED.format(here=str(HERE), size=case.size), "display(HTML(page))", ""]
    if case.system == "html-split":
        return [SAVED.format(here=str(HERE), size=case.size), SPLIT.format(size=SPLIT_SIZE), ""]
    if case.system.startswith("luxx_nb"):
        return ["%load_ext luxx_nb", luxx_cell(server), ""]
    if case.system == "naive":
        return ["import ipywidgets", NAIVE.format(url=server.base_url), ""]
    if case.system == "print":
        return ["import httpx", PRINT.format(url=server.base_url), ""]
    return ["import chatlab", CHATLAB.format(url=server.base_url), ""]


MOCK = ("floor", "html", "html-split")
"""Systems that ask the model server nothing."""

_names = itertools.count()


def _notebook(lab: Lab, case: Case, server: ServerProcess, kernel: str) -> str:
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": kernel, "display_name": "Python 3"}
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in _cells(case, server)]
    name = f"{case.system.replace('@', '-')}-{case.size}-{int(case.rate or 0)}-{next(_names)}.ipynb"
    nbformat.write(notebook, lab.root / name)
    return name


def _metrics(cdp: Any) -> dict[str, float]:
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}


def _run_cell(page: Any, index: int) -> None:
    page.locator(".jp-Notebook .jp-CodeCell").nth(index).locator(".cm-content").click()
    page.keyboard.press("Shift+Enter")


def _last_words(text: str) -> re.Pattern[str]:
    words = re.findall(r"[A-Za-z]{3,}", text)[-5:]
    return re.compile(r"\W+".join(map(re.escape, words)))


PACE = {False: 0.1, True: 0.5}
"""Seconds between two keys typed into the third cell, at full speed and paced: a short run
needs keys close together for a p95, and at a long one fewer keys keep the typing's own cost
(CodeMirror, a frame per key: about 10% of the page at 5 keys a second) from drowning what
the stream adds."""


def _done(page: Any, index: int) -> bool:
    return bool(page.evaluate(DONE, index))


def _typing(page: Any, until: Any, least: float, pace: float, limit: float = 1200.0) -> float:
    """Type a key every ``pace`` seconds, for ``least`` seconds and until ``until()``.

    The idle baseline is taken the same way, so the keys, their frames and the polls are
    in the baseline too and the stream's figures are what the stream adds.
    """
    started = time.monotonic()
    while (spent := time.monotonic() - started) < least or not until():
        page.keyboard.type("x")
        time.sleep(pace)
        assert spent < limit, f"not done in {limit:.0f} s"
    return time.monotonic() - started


def _keys(seen: dict) -> tuple[float, float, int]:
    """p95 and max of key-to-frame, and how many keys took more than a frame (16 ms).

    Event Timing reports a key only from 16 ms: an unreported key is counted as 16 ms,
    so the p95 is an upper bound, exact from the first reported key up."""
    slow = sorted(seen["slow"])
    keys = [16.0] * max(0, seen["keys"] - len(slow)) + slow
    if not keys:
        return float("nan"), float("nan"), 0
    return keys[int(0.95 * (len(keys) - 1))], keys[-1], sum(1 for k in slow if k > 16)


def _run_to_end(page: Any, index: int, what: str) -> None:
    """Run cell ``index`` and wait until its prompt shows a number (two minutes at most)."""
    _run_cell(page, index)
    deadline = time.monotonic() + 120
    while not _done(page, index):
        assert time.monotonic() < deadline, f"{what} did not end"
        time.sleep(0.1)


def _warm_up(page: Any, server: ServerProcess) -> None:
    """The streaming cell once with a short answer, so the measured run is the page's second:
    its widget code already loaded, as for every run after a notebook's first."""
    server.reset()
    server.enqueue(text_stream("A short first answer.", fragment_size=FRAGMENT))
    _run_to_end(page, 1, "the warm-up run")


def measure(browser: Any, lab: Lab, server: ServerProcess, case: Case, kernel: str,
            trace: Path | None = None, warm: bool = False) -> dict:  # fmt: skip
    """One case in a fresh page (``warm``: after one short run of the same cell); the figures
    of the module docstring."""
    text = answer(case.size)
    delay = 1 / case.rate if case.rate else 0.0
    name = _notebook(lab, case, server, kernel)
    context = browser.new_context(viewport={"width": 1100, "height": 1000})
    context.add_init_script(SOCKETS.replace("MARKER", json.dumps(MARKER)))
    page = context.new_page()
    try:
        workspace = f"lab/workspaces/{Path(name).stem}/tree"  # this notebook alone
        open_notebook(page, lab, lab.page_url(workspace, name))
        _run_to_end(page, 0, "the set-up cell")
        if warm and case.system not in MOCK:
            _warm_up(page, server)
        cdp = context.new_cdp_session(page)
        cdp.send("Performance.enable")
        page.evaluate(OBSERVE.replace("MARKER", json.dumps(MARKER)))
        page.evaluate("() => { window.__luxxSocket.armed = true; }")
        editor = page.locator(".jp-Notebook .jp-CodeCell").nth(2).locator(".cm-content")
        editor.click()
        idle_before = _metrics(cdp)["TaskDuration"]
        pace = PACE[case.rate is not None]
        idle_took = _typing(page, lambda: _done(page, 1) or True, 3.0, pace)
        idle_share = (_metrics(cdp)["TaskDuration"] - idle_before) / idle_took
        idle = page.evaluate("() => window.__luxx")
        page.evaluate("() => window.__luxx.reset()")
        server.reset()
        server.enqueue(text_stream(text, fragment_size=FRAGMENT, delay=delay))
        if trace is not None:
            browser.start_tracing(page=page, path=str(trace), categories=TRACE_CATEGORIES)
        before = _metrics(cdp)
        started = time.monotonic()
        _run_cell(page, 1)
        editor.click()
        took = _typing(page, lambda: _done(page, 1), 1.0, pace)  # the kernel's cell, to its end
        last = _last_words(text)
        ended = time.monotonic()
        complete = False
        while case.system != "floor" and time.monotonic() - ended < 120:
            if complete := bool(last.search(page.evaluate(LAST_TEXT))):
                break
            _typing(page, lambda: True, 0.0, pace)
        behind = time.monotonic() - ended  # how long the page took to catch up with the kernel
        _typing(page, lambda: True, 0.5, pace)  # the last messages are painted
        after = _metrics(cdp)
        window = time.monotonic() - started
        if trace is not None:
            browser.stop_tracing()
        seen = page.evaluate("() => window.__luxx")
        requests = server.requests() if case.system not in MOCK else []
        sent = requests[-1]["time"] + delay if requests else None  # after the role chunk
        p95, worst, slow = _keys(seen)
        socket = page.evaluate("() => window.__luxxSocket.at")
        saved, nan = seen["saved"], float("nan")
        end, during = [], []
        for duration, at in zip(seen["long"], seen["ends"], strict=True):
            (end if saved is not None and at >= saved else during).append(duration)
        busy = after["TaskDuration"] - before["TaskDuration"]
        return {
            "system": case.system,
            "case": case.label,
            "fragments": -(-case.size // FRAGMENT),
            "stream s": took,
            "busy s": busy,
            "busy %": 100 * busy / window,
            "idle %": 100 * idle_share,
            "above idle %": 100 * (busy / window - idle_share),
            "long tasks": len(seen["long"]),
            "longest ms": max(seen["long"], default=0.0),
            "end longest ms": max(end, default=0.0) if saved is not None else nan,
            "stream long tasks": len(during),
            "stream longest ms": max(during, default=0.0),
            "key p95 ms": p95,
            "key max ms": worst,
            "slow keys": f"{slow}/{seen['keys']}",
            "idle key p95 ms": _keys(idle)[0],
            "first ms": seen["first"] - sent * 1000 if seen["first"] and sent else nan,
            "at socket ms": socket - sent * 1000 if socket and sent else nan,
            "nodes": after["Nodes"],
            "behind s": behind,
            "complete": complete,
        }
    finally:
        context.close()


def _kernel_spec(lab: Lab, name: str, argv: list[str], env: dict[str, str]) -> str:
    spec = lab.root.parent / "data" / "kernels" / name
    spec.mkdir(parents=True)
    body = {"argv": argv, "display_name": f"Python ({name})", "language": "python", "env": env}
    (spec / "kernel.json").write_text(json.dumps(body))
    return name


def _kernels(lab: Lab, systems: list[str], variants: list[str]) -> dict[str, str]:
    """The kernel each system runs in: the project's, or chatlab's own environment.

    A variant ``NAME=DIR`` is the system ``luxx_nb@NAME``: luxx_nb imported from ``DIR`` (a
    folder holding another ``luxx_nb`` package, such as a worktree of an earlier commit), so
    one run measures a change against what it changes, case by case, alternated.
    """
    kernels = {system: "python3" for system in systems}
    for variant in variants:
        name, folder = variant.split("=", 1)
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        env = {"PYTHONPATH": str(Path(folder).resolve())}
        kernels[f"luxx_nb@{name}"] = _kernel_spec(lab, f"luxx-{name}", argv, env)
    if "chatlab" in systems:
        python, why = peer_python("chatlab")
        if python is None:
            print(f"chatlab left out: {why}")
            kernels.pop("chatlab")
        else:
            argv = [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
            kernels["chatlab"] = _kernel_spec(lab, "chatlab", argv, {})
    return kernels


COLUMNS = [
    ("system", "{}"), ("case", "{}"), ("fragments", "{:,}"), ("stream s", "{:.1f}"),
    ("busy s", "{:.2f}"), ("busy %", "{:.1f}"), ("idle %", "{:.1f}"), ("above idle %", "{:.1f}"),
    ("long tasks", "{}"), ("longest ms", "{:.0f}"), ("end longest ms", "{:.0f}"),
    ("stream long tasks", "{}"), ("stream longest ms", "{:.0f}"),
    ("key p95 ms", "{:.0f}"),
    ("key max ms", "{:.0f}"), ("slow keys", "{}"), ("idle key p95 ms", "{:.0f}"),
    ("first ms", "{:.0f}"), ("at socket ms", "{:.0f}"), ("nodes", "{:,.0f}"),
    ("behind s", "{:.1f}"), ("complete", "{}"),
]  # fmt: skip


def table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(name for name, _ in COLUMNS) + " |"]
    lines.append("|" + "---|" * len(COLUMNS))
    for row in rows:
        lines.append("| " + " | ".join(f.format(row[name]) for name, f in COLUMNS) + " |")
    return "\n".join(lines)


def trace_summary(path: Path, top: int = 25) -> str:
    """Where the page's main thread spent a traced run: self time by event, and JS by file."""
    events = json.loads(path.read_text())
    events = events["traceEvents"] if isinstance(events, dict) else events
    names = {
        (e["pid"], e["tid"]): e["args"]["name"] for e in events if e.get("name") == "thread_name"
    }
    mains = [key for key, name in names.items() if name == "CrRendererMain"]
    count = {key: 0 for key in mains}
    for e in events:
        if (e.get("pid"), e.get("tid")) in count:
            count[e["pid"], e["tid"]] += 1
    main = max(count, key=count.__getitem__)
    spans = sorted(
        (e for e in events if (e.get("pid"), e.get("tid")) == main and e.get("ph") == "X"
         and "dur" in e),
        key=lambda e: (e["ts"], -e["dur"]),
    )  # fmt: skip
    self_time: dict[str, float] = {}
    stack: list[tuple[dict, list[float]]] = []
    for e in spans:
        while stack and stack[-1][0]["ts"] + stack[-1][0]["dur"] <= e["ts"]:
            stack.pop()
        if stack:
            stack[-1][1][0] -= e["dur"]
        label = e["name"]
        if label in ("FunctionCall", "EvaluateScript", "v8.callFunction"):
            data = e.get("args", {}).get("data", {})
            url = data.get("url", "") or data.get("functionName", "")
            label += " " + (url.rsplit("/", 1)[-1][:40] if url else "?")
        cell = [float(e["dur"])]
        stack.append((e, cell))
        e["_cell"], e["_label"] = cell, label
    for e in spans:
        self_time[e["_label"]] = self_time.get(e["_label"], 0.0) + e["_cell"][0]
    tasks = [e for e in spans if e["name"] in ("RunTask", "ThreadControllerImpl::RunTask")]
    total = sum(e["dur"] for e in tasks) / 1000
    lines = [f"{path.name}: {len(tasks)} tasks, {total:.0f} ms"]
    for label, micros in sorted(self_time.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {micros / 1000:9.1f} ms  {label}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 KB and 1 MB; paced at 4 KB")
    parser.add_argument("--systems", nargs="*", default=["luxx_nb", "naive", "chatlab"])
    parser.add_argument("--sizes", nargs="*", type=int, help="full-speed sizes in characters")
    parser.add_argument("--rates", nargs="*", type=float, default=[20.0, 50.0])
    parser.add_argument("--paced-size", type=int, help="characters of the paced answers")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each case, alternated")
    parser.add_argument(
        "--variant", action="append", default=[], help="NAME=DIR: luxx_nb from DIR, beside"
    )
    parser.add_argument("--trace", type=Path, help="a folder for a Chromium trace of each case")
    parser.add_argument(
        "--warm", action="store_true", help="measure each case as the page's second run"
    )
    args = parser.parse_args()
    sizes = [100_000, 1_000_000] if args.quick else [100_000, 1_000_000, 10**7]
    sizes = sizes if args.sizes is None else args.sizes
    paced = args.paced_size or (4_000 if args.quick else 10_000)
    from playwright.sync_api import sync_playwright

    server = ServerProcess.start()
    lab = start_lab(Path(tempfile.mkdtemp(prefix="luxx-page-")))
    rows: list[dict] = []
    try:
        kernels = _kernels(lab, args.systems, args.variant)
        if args.trace is not None:
            args.trace.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            cases = [Case(s, size, None) for size in sizes for s in kernels]
            cases += [Case(s, paced, rate) for rate in args.rates for s in kernels]
            cases = [case for _ in range(args.repeat) for case in cases]  # alternated
            for number, case in enumerate(cases):
                if case.system in ("naive", "chatlab") and case.size > 100_000:
                    continue  # the naive cell takes minutes a MB (and loses its socket)
                print(f"{case.system}: {case.label} ...", flush=True)
                trace = None
                if args.trace is not None:
                    trace = args.trace / f"{number:02d}-{case.system}-{case.size}.json"
                system = kernels[case.system]
                rows.append(measure(browser, lab, server, case, system, trace, args.warm))
                print(json.dumps(rows[-1]), flush=True)
                if trace is not None:
                    print(trace_summary(trace), flush=True)
            browser.close()
    finally:
        stop(lab.process)
        server.stop()
    print(table(rows))
    if args.repeat > 1:
        print("\nMedians:\n" + table(medians(rows)))
    print(f"load average at the end: {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} cores")


def medians(rows: list[dict]) -> list[dict]:
    """One row per system and case: the median of each figure over its runs."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["system"], row["case"]), []).append(row)
    out = []
    for runs in groups.values():
        row = dict(runs[0])
        for name, value in row.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                row[name] = statistics.median(r[name] for r in runs)
        row["complete"] = all(r["complete"] for r in runs)
        out.append(row)
    return out


if __name__ == "__main__":
    main()
