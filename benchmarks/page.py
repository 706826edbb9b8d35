"""What a run costs the page: JupyterLab in Chromium while an answer streams (issue #18).

    .venv/bin/python benchmarks/page.py            # every case (about 15 minutes)
    .venv/bin/python benchmarks/page.py --quick    # 100 KB and 1 MB, paced at 4 KB
    .venv/bin/python benchmarks/page.py --systems luxx_nb naive --sizes 100000

Each case opens a fresh notebook in JupyterLab (``tests/support/lab.py``), in Debian's
Chromium through Playwright, with three cells: the system's set-up, the cell that streams the
answer from the loopback server (``tests/support``, its own process), and an empty cell that
a person types into while the answer streams. It reads, for the stream's duration:

- the page's main-thread busy time (CDP ``Performance.getMetrics`` ``TaskDuration``), as a
  share of the stream's duration, beside the idle page's own share measured the same way;
- long tasks (a ``longtask`` PerformanceObserver): how many, the longest;
- typing: for each key, the time from its ``keydown`` to the end of the frame that shows it
  (``requestAnimationFrame`` then a task), p95 and max;
- the first fragment: when its text is first in the DOM, against when the server sent it;
- at the end, the page's DOM nodes, and whether the answer's last words are on the page.

Systems: luxx_nb's ``%%luxx``; the naive cell (an ``ipywidgets.HTML`` re-rendered whole on
every fragment, as in ``bench.py``); chatlab, from ``benchmarks/.peers-venv`` (``bench.py``
installs it there). Full speed: the answer as fast as the server writes it. Paced: one
4-character fragment every 1/rate seconds, as a real model sends them.
"""

from __future__ import annotations

import argparse
import json
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
from bench import CHATLAB, FRAGMENT, NAIVE, luxx_cell, peer_python  # noqa: E402
from support.builders import text_stream  # noqa: E402
from support.lab import CHROMIUM, CHROMIUM_FLAGS, Lab, open_notebook, start_lab, stop  # noqa: E402
from support.server import ServerProcess  # noqa: E402

OBSERVE = """() => {
    window.__luxx = {long: [], keys: [], first: null};
    new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) window.__luxx.long.push(entry.duration);
    }).observe({type: 'longtask'});
    document.addEventListener('keydown', (event) => {
        const pressed = event.timeStamp;
        requestAnimationFrame(() => setTimeout(() => {
            window.__luxx.keys.push(performance.now() - pressed);
        }));
    }, true);
    const output = document.querySelectorAll('.jp-Notebook .jp-CodeCell')[1];
    const seen = new MutationObserver(() => {
        if (output.textContent.includes(MARKER)) {
            window.__luxx.first = performance.timeOrigin + performance.now();
            seen.disconnect();
        }
    });
    seen.observe(output, {subtree: true, childList: true, characterData: true});
}"""


@dataclass
class Case:
    system: str
    size: int
    rate: float | None  # fragments a second; None is full speed

    @property
    def label(self) -> str:
        size = f"{self.size / 1e6:g} MB" if self.size >= 1_000_000 else f"{self.size / 1e3:g} KB"
        return f"{size} at {self.rate:g}/s" if self.rate else f"{size} full speed"


def _cells(case: Case, server: ServerProcess) -> list[str]:
    if case.system == "luxx_nb":
        return ["%load_ext luxx_nb", luxx_cell(server), ""]
    if case.system == "naive":
        return ["import ipywidgets", NAIVE.format(url=server.base_url), ""]
    return ["import chatlab", CHATLAB.format(url=server.base_url), ""]


def _notebook(lab: Lab, case: Case, server: ServerProcess, kernel: str) -> str:
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": kernel, "display_name": "Python 3"}
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in _cells(case, server)]
    name = f"{case.system}-{case.size}-{int(case.rate or 0)}.ipynb"
    nbformat.write(notebook, lab.root / name)
    return name


def _metrics(cdp: Any) -> dict[str, float]:
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}


def _run_cell(page: Any, index: int) -> None:
    page.locator(".jp-Notebook .jp-CodeCell").nth(index).locator(".cm-content").click()
    page.keyboard.press("Shift+Enter")


def _idle(page: Any, lab: Lab) -> bool:
    return all(s["kernel"]["execution_state"] == "idle" for s in lab.api("GET", "/api/sessions"))


def _last_words(text: str) -> re.Pattern[str]:
    words = re.findall(r"[A-Za-z]{3,}", text)[-5:]
    return re.compile(r"\W+".join(map(re.escape, words)))


def measure(browser: Any, lab: Lab, server: ServerProcess, case: Case, kernel: str) -> dict:
    """One case in a fresh page; the figures of the module docstring."""
    text = answer(case.size)
    delay = 1 / case.rate if case.rate else 0.0
    name = _notebook(lab, case, server, kernel)
    context = browser.new_context(viewport={"width": 1100, "height": 1000})
    page = context.new_page()
    try:
        workspace = f"lab/workspaces/{Path(name).stem}/tree"  # this notebook alone
        open_notebook(page, lab, lab.page_url(workspace, name))
        _run_cell(page, 0)
        while not _idle(page, lab):
            time.sleep(0.1)
        cdp = context.new_cdp_session(page)
        cdp.send("Performance.enable")
        page.evaluate(OBSERVE.replace("MARKER", json.dumps(MARKER)))
        idle_start, idle_busy = time.monotonic(), _metrics(cdp)["TaskDuration"]
        time.sleep(3.0)
        idle_share = (_metrics(cdp)["TaskDuration"] - idle_busy) / (time.monotonic() - idle_start)
        server.reset()
        server.enqueue(text_stream(text, fragment_size=FRAGMENT, delay=delay))
        before = _metrics(cdp)
        started = time.monotonic()
        _run_cell(page, 1)
        editor = page.locator(".jp-Notebook .jp-CodeCell").nth(2).locator(".cm-content")
        typed = False
        while time.monotonic() - started < 2 or not _idle(page, lab):
            if not typed:
                editor.click()
                typed = True
            page.keyboard.type("x")
            time.sleep(0.2)
            assert time.monotonic() - started < 1200, "the run did not end in 20 minutes"
        took = time.monotonic() - started  # the kernel's cell, to its idle
        output = page.locator(".jp-Notebook .jp-CodeCell").nth(1).locator(".jp-OutputArea")
        ended, last = time.monotonic(), _last_words(text)
        while not (complete := bool(last.search(output.inner_text()))):
            if time.monotonic() - ended > 120:
                break
            time.sleep(0.2)
        behind = time.monotonic() - ended  # how long the page took to catch up with the kernel
        page.wait_for_timeout(500)  # the last messages are painted
        after = _metrics(cdp)
        seen = page.evaluate("() => window.__luxx")
        sent = server.requests()[-1]["time"] + delay  # the first fragment follows the role chunk
        keys = sorted(seen["keys"])
        busy = after["TaskDuration"] - before["TaskDuration"]
        return {
            "system": case.system,
            "case": case.label,
            "fragments": -(-case.size // FRAGMENT),
            "stream s": took,
            "busy s": busy,
            "busy %": 100 * busy / took,
            "idle %": 100 * idle_share,
            "long tasks": len(seen["long"]),
            "longest ms": max(seen["long"], default=0.0),
            "key p95 ms": keys[int(0.95 * (len(keys) - 1))] if keys else float("nan"),
            "key max ms": keys[-1] if keys else float("nan"),
            "first ms": (seen["first"] / 1000 - sent) * 1000 if seen["first"] else float("nan"),
            "nodes": after["Nodes"],
            "behind s": behind,
            "complete": complete,
        }
    finally:
        context.close()


def _kernels(lab: Lab, systems: list[str]) -> dict[str, str]:
    """The kernel each system runs in: the project's, or chatlab's own environment."""
    kernels = {system: "python3" for system in systems}
    if "chatlab" in systems:
        python, why = peer_python("chatlab")
        if python is None:
            print(f"chatlab left out: {why}")
            kernels.pop("chatlab")
        else:
            spec = lab.root.parent / "data" / "kernels" / "chatlab"
            spec.mkdir(parents=True)
            argv = [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
            spec_json = {"argv": argv, "display_name": "Python (chatlab)", "language": "python"}
            (spec / "kernel.json").write_text(json.dumps(spec_json))
            kernels["chatlab"] = "chatlab"
    return kernels


COLUMNS = [
    ("system", "{}"), ("case", "{}"), ("fragments", "{:,}"), ("stream s", "{:.1f}"),
    ("busy s", "{:.2f}"), ("busy %", "{:.1f}"), ("idle %", "{:.1f}"), ("long tasks", "{}"),
    ("longest ms", "{:.0f}"), ("key p95 ms", "{:.0f}"), ("key max ms", "{:.0f}"),
    ("first ms", "{:.0f}"), ("nodes", "{:,.0f}"), ("behind s", "{:.1f}"), ("complete", "{}"),
]  # fmt: skip


def table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(name for name, _ in COLUMNS) + " |"]
    lines.append("|" + "---|" * len(COLUMNS))
    for row in rows:
        lines.append("| " + " | ".join(f.format(row[name]) for name, f in COLUMNS) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 KB and 1 MB; paced at 4 KB")
    parser.add_argument("--systems", nargs="+", default=["luxx_nb", "naive", "chatlab"])
    parser.add_argument("--sizes", nargs="+", type=int, help="full-speed sizes in characters")
    parser.add_argument("--rates", nargs="+", type=float, default=[20.0, 50.0])
    parser.add_argument("--paced-size", type=int, help="characters of the paced answers")
    args = parser.parse_args()
    sizes = args.sizes or ([100_000, 1_000_000] if args.quick else [100_000, 1_000_000, 10**7])
    paced = args.paced_size or (4_000 if args.quick else 10_000)
    from playwright.sync_api import sync_playwright

    server = ServerProcess.start()
    lab = start_lab(Path(tempfile.mkdtemp(prefix="luxx-page-")))
    rows: list[dict] = []
    try:
        kernels = _kernels(lab, args.systems)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            cases = [Case(s, size, None) for size in sizes for s in kernels]
            cases += [Case(s, paced, rate) for rate in args.rates for s in kernels]
            for case in cases:
                if case.system != "luxx_nb" and case.size > 1_000_000:
                    continue  # the naive cell takes minutes a MB (and loses its socket)
                print(f"{case.system}: {case.label} ...", flush=True)
                rows.append(measure(browser, lab, server, case, kernels[case.system]))
                print(json.dumps(rows[-1]), flush=True)
            browser.close()
    finally:
        stop(lab.process)
        server.stop()
    print(table(rows))
    busy = [r["busy %"] - r["idle %"] for r in rows if r["system"] == "luxx_nb"]
    if busy:
        print(f"luxx_nb busy above idle: median {statistics.median(busy):.1f}% of the stream")


if __name__ == "__main__":
    main()
