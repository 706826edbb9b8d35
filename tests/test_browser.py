"""What a person sees: ``%%luxx`` in JupyterLab and Notebook 7, in a real Chromium.

JupyterLab runs on 127.0.0.1 with a temporary root, settings and data; its kernels talk to the
loopback test server; Debian's Chromium is driven by Playwright through ``executable_path``
(never a downloaded browser). Screenshots of each state go to ``artifacts/screenshots``.

The tests run in file order and tell one story on one notebook: a live run; the notebook
saved, its kernel shut down and the page reloaded, then the conversation resumed; its export
to HTML; the same cells in Notebook 7.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import pytest
from support.builders import text_stream, tool_call_stream
from support.lab import (
    CHROMIUM_FLAGS,
    Lab,
    open_notebook,
    require_chromium,
    running_lab,
    wait_kernel,
)
from support.server import LLMServer

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "artifacts" / "screenshots"
NAME = "conversation.ipynb"

MARK = "pwned"
EVIL_HOST = "evil.invalid"
PAYLOAD = (
    f"<script>document.title='{MARK}-script'</script>"
    f"<img src=http://{EVIL_HOST}/i.png onerror=\"document.title='{MARK}-img';alert(1)\">"
    f"<svg onload=\"document.title='{MARK}-svg'\"></svg>"
    f'<iframe src="http://{EVIL_HOST}/frame"></iframe>'
)
SETUP = (
    "%load_ext luxx_nb\n"
    "import pandas as pd\n\n"
    'sales = pd.DataFrame({"region": ["north", "south", "east"], "units": [120, 340, 95]})'
)
HOSTILE_SETUP = (
    f"class Hostile:\n    def __repr__(self):\n        return {PAYLOAD!r}\n\n\nevil = Hostile()"
)
PRICES = "Shipping costs $5 and $10 a box."
"""Dollars that are not math: luxx_nb's Markdown leaves them as text (its math is MathML), and
JupyterLab's MathJax must not typeset the saved view ("5 and " as a formula)."""
PROMPT = "Which region sold the most in `sales`? Add a little code and the formula of the mean."
THINKING = (
    "The user wants the best region. I read `sales` with get_variable: south has 340 units. "
    "I will answer with a table, a short code block and the formula of the mean."
)
ANSWER = (
    "**South** sold the most: 340 units.\n\n"
    "| region | units |\n|:--|--:|\n| north | 120 |\n| south | 340 |\n| east | 95 |\n\n"
    '```python\nsales.loc[sales["units"].idxmax(), "region"]\n```\n\n'
    f"{PRICES}\n\n"
    "The mean is $\\bar{x} = \\frac{1}{n}\\sum_{i=1}^{n} x_i$, here 185 units."
)
HOSTILE_PROMPT = "What is in `evil`?"
HOSTILE_ANSWER = (
    f"Its repr is markup, shown as text: {PAYLOAD} "
    f"[a link](javascript:document.title='{MARK}-link') ![pixel](http://{EVIL_HOST}/p.png)"
)
FOLLOW_UP = "And in one word?"


@dataclass
class Watch:
    """What a page did that it must not: open dialogs, or ask the payload's host for anything."""

    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        def on_dialog(dialog: Any) -> None:
            self.dialogs.append(dialog.message)
            dialog.dismiss()

        def on_request(request: Any) -> None:
            if EVIL_HOST in request.url:
                self.requests.append(request.url)

        page.on("dialog", on_dialog)
        page.on("request", on_request)


@pytest.fixture(scope="module")
def chromium() -> str:
    return require_chromium()


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMServer]:
    with LLMServer() as server:
        yield server


@pytest.fixture(scope="module")
def lab(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("jupyterlab")) as lab:
        yield lab


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def watch() -> Watch:
    return Watch()


@pytest.fixture(scope="module")
def page(browser: Any, watch: Watch) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1100, "height": 1150})
    page = context.new_page()
    watch.attach(page)
    try:
        yield page
    finally:
        context.close()


def _write_notebook(lab: Lab, name: str, llm: LLMServer) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    magic = f"%%luxx -m test-model --base-url {llm.base_url}"
    nb.cells = [
        nbformat.v4.new_code_cell(SETUP),
        nbformat.v4.new_code_cell(f"{magic}\n{PROMPT}"),
        nbformat.v4.new_code_cell(HOSTILE_SETUP),
        nbformat.v4.new_code_cell(f"{magic}\n{HOSTILE_PROMPT}"),
    ]
    nbformat.write(nb, lab.root / name)


def _script(llm: LLMServer, *, delay: float) -> None:
    """Both cells' answers; the first streams slowly enough to be watched."""
    llm.reset()
    llm.enqueue(
        tool_call_stream([("get_variable", {"name": "sales"})], delay=0.02),
        text_stream(ANSWER, reasoning=THINKING, fragment_size=4, delay=delay),
        tool_call_stream([("get_variable", {"name": "evil"})]),
        text_stream(HOSTILE_ANSWER, reasoning=f"Thinking about {PAYLOAD}", fragment_size=40),
    )


def _shot(page: Any, name: str, height: int | None = None) -> Path:
    """A screenshot of the page, cut at ``height`` pixels when the rest would be empty."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    size = page.viewport_size
    clip = {"x": 0, "y": 0, "width": size["width"], "height": height} if height else None
    page.screenshot(path=str(path), clip=clip)
    return path


def _to_top(page: Any, cell: int) -> None:
    """Scroll a cell to the top of the notebook, for a screenshot of its output."""
    page.locator(".jp-Notebook .jp-Cell").nth(cell).evaluate(
        "element => element.scrollIntoView({block: 'start'})"
    )


def _run_all(page: Any) -> None:
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def _output(page: Any, cell: int) -> Any:
    return page.locator(".jp-Notebook .jp-CodeCell").nth(cell).locator(".jp-OutputArea")


def _wait_text(locator: Any, pattern: str, timeout: float = 30.0) -> str:
    """Poll the text of ``locator`` until it matches; on failure, leave a screenshot."""
    text, deadline = "", time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = locator.inner_text() if locator.count() else ""
        if re.search(pattern, text):
            return text
        time.sleep(0.05)
    shot = _shot(locator.page, f"failed-{time.strftime('%H%M%S')}")
    raise AssertionError(f"{pattern!r} never appeared; last text: {text!r} (see {shot})")


def _save(page: Any) -> None:
    page.keyboard.press("Control+s")
    page.wait_for_selector(".jp-mod-current.jp-mod-dirty", state="detached", timeout=30_000)


def _assert_inert(page: Any, watch: Watch, title: str) -> None:
    """Nothing of the payloads ran: same title, no dialog, no request, no live element."""
    assert page.title() == title and MARK not in page.title()
    assert not watch.dialogs, watch.dialogs
    assert not watch.requests, watch.requests
    assert page.locator(f"iframe[src*='{EVIL_HOST}'], img[src*='{EVIL_HOST}']").count() == 0
    assert page.locator("a[href^='javascript:'], [onerror], [onload]").count() == 0
    assert page.locator(".luxx-run script, .luxx-snapshot script, .luxx-snapshot svg").count() == 0


def _assert_rendered(snapshot: Any) -> None:
    """The first run's snapshot: folded thinking, a table, highlighted code and a formula."""
    thinking = snapshot.locator("details.luxx-thinking")
    assert thinking.count() == 1 and thinking.get_attribute("open") is None
    assert re.fullmatch(
        r"Thought for \d+(\.\d)? s", thinking.locator("summary").inner_text().strip()
    )
    text = snapshot.locator(".luxx-text")
    assert "south" in text.locator("table").inner_text()
    assert text.locator("pre.luxx-code span").count() > 3
    assert text.locator("math mfrac").count() == 1
    paragraph = text.locator("p", has_text="Shipping costs")
    deadline = time.monotonic() + 3  # MathJax typesets an output after it is shown: give it time
    while time.monotonic() < deadline and snapshot.locator("mjx-container").count() == 0:
        time.sleep(0.1)
    assert snapshot.locator("mjx-container").count() == 0, "JupyterLab typeset the snapshot"
    assert paragraph.inner_text().strip() == PRICES
    assert text.inner_text().rstrip().endswith("here 185 units.")
    status = snapshot.locator(".luxx-status").inner_text().strip()
    assert re.fullmatch(r"test-model · done · \d+\.\d s · \d+ tokens", status), status


def _assert_hostile_is_text(snapshot: Any) -> None:
    """The second run showed the payload from the repr, the model and its thinking as text."""
    tool = snapshot.locator("details.luxx-tool")
    tool.locator("summary").click()
    assert "evil (Hostile)" in tool.inner_text() and "<script>document.title" in tool.inner_text()
    assert "<iframe src=" in snapshot.locator(".luxx-text").inner_text()


def test_jupyterlab_streams_folds_opens_and_renders(page, lab, llm, watch) -> None:
    _write_notebook(lab, NAME, llm)
    _script(llm, delay=0.05)
    open_notebook(page, lab, lab.page_url("lab/tree", NAME))
    title = page.title()
    _run_all(page)
    first = _output(page, 1)
    live = first.locator(".luxx-run")

    # Thinking streams first, open; the answer starts and the thinking folds.
    _wait_text(live, r"Thinking|Thought for")
    thinking = live.locator("details.luxx-thinking")
    _wait_text(thinking.locator("summary"), r"Thought for \d+(\.\d)? s")
    assert thinking.get_attribute("open") is None
    partial = _wait_text(live.locator(".luxx-stream").last, r"340 units")
    assert "185 units" not in partial, "the screenshot would not be mid-stream"
    assert "streaming" in live.locator(".luxx-status").inner_text()
    _shot(page, "lab-streaming", height=640)

    # The tool call is one click away, while the answer still streams.
    live.get_by_text('get_variable(name="sales")').first.click()
    shown = _wait_text(live, r"arguments[\s\S]*result[\s\S]*north")
    assert '"name": "sales"' in shown and "340" in shown
    _shot(page, "lab-tool-open")

    # The end: "done", and the static snapshot took the live tree's place.
    snapshot = first.locator(".luxx-snapshot")
    snapshot.wait_for(timeout=30_000)
    assert first.locator(".luxx-run").count() == 0, "the live tree and the snapshot both show"
    _assert_rendered(snapshot)
    tool = snapshot.locator("details.luxx-tool")
    assert tool.get_attribute("open") is None
    tool.locator("summary").click()
    assert tool.get_attribute("open") is not None and "north" in tool.inner_text()
    _to_top(page, 1)
    _shot(page, "lab-done")

    second = _output(page, 3).locator(".luxx-snapshot")
    second.wait_for(timeout=30_000)
    _assert_hostile_is_text(second)
    _to_top(page, 2)
    _shot(page, "lab-hostile", height=680)
    _assert_inert(page, watch, title)


def test_saved_notebook_reopens_without_its_kernel_and_resumes(page, lab, llm, watch) -> None:
    assert page.locator(".luxx-snapshot").count() == 2, "the first test did not finish its run"
    _save(page)
    saved = nbformat.read(lab.root / NAME, as_version=4)
    outputs = saved.cells[1].outputs
    assert [sorted(o.data) for o in outputs] == [["text/html", "text/plain"]], outputs
    assert outputs[0].metadata["luxx_nb"]["messages"][-1]["content"] == ANSWER

    for session in lab.api("GET", "/api/sessions"):
        lab.api("DELETE", f"/api/sessions/{session['id']}")  # shuts its kernel down
    assert lab.api("GET", "/api/kernels") == []
    page.reload()
    page.wait_for_selector(".jp-Notebook .luxx-snapshot", timeout=60_000)
    title = page.title()
    assert "Error displaying widget" not in page.locator(".jp-Notebook").inner_text()
    assert page.locator(".luxx-run").count() == 0
    first = _output(page, 1).locator(".luxx-snapshot")
    _assert_rendered(first)
    first.locator("details.luxx-tool summary").click()
    assert "north" in first.locator("details.luxx-tool").inner_text()
    _to_top(page, 1)
    _shot(page, "lab-reopened")
    _assert_hostile_is_text(_output(page, 3).locator(".luxx-snapshot"))
    _assert_inert(page, watch, title)

    # A new kernel: the conversation comes back from the saved notebook.
    wait_kernel(page, lab)
    llm.reset()
    llm.enqueue(text_stream("South.", fragment_size=3))
    _add_cell(page, "%load_ext luxx_nb\n%luxx resume")
    _add_cell(page, f"%%luxx -m test-model --base-url {llm.base_url}\n{FOLLOW_UP}")
    _wait_text(_output(page, 5), r"done", timeout=60)
    resumed = _output(page, 4).inner_text()
    assert "Conversation 'default': 2 prompt(s), 8 messages resumed." in resumed, resumed
    sent = llm.requests[0].body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "assistant"] * 2 + ["user"]
    assert sent[0]["content"] == PROMPT and sent[3]["content"] == ANSWER
    assert sent[-1]["content"] == FOLLOW_UP
    _save(page)


def _add_cell(page: Any, source: str) -> None:
    """A new code cell at the end, typed as a person would, then run in place."""
    page.locator(".jp-Notebook .jp-Cell").last.click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")  # a new cell below, in command mode
    page.keyboard.press("Enter")  # edit it
    for number, line in enumerate(source.split("\n")):
        if number:
            page.keyboard.press("Enter")
        page.keyboard.type(line)
    page.keyboard.press("Control+Enter")  # run in place: no empty cell is added below


def test_nbconvert_html_shows_the_snapshot_folded_and_runs_nothing(browser, lab, tmp_path) -> None:
    command = [sys.executable, "-m", "nbconvert", "--to", "html", str(lab.root / NAME)]
    subprocess.run([*command, "--output-dir", str(tmp_path)], check=True, capture_output=True)
    exported = tmp_path / NAME.replace(".ipynb", ".html")
    text = exported.read_text(encoding="utf-8")
    assert "Error displaying widget" not in text and "luxx-snapshot" in text
    watch = Watch()
    context = browser.new_context(viewport={"width": 1000, "height": 1000})
    page = context.new_page()
    watch.attach(page)
    # Nothing leaves the machine: the template's CDN scripts fail at once instead of hanging.
    page.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort(),
    )
    try:
        page.goto(exported.as_uri())
        title = page.title()
        snapshots = page.locator(".luxx-snapshot")
        assert snapshots.count() == 3  # two runs, then the one after resuming
        first = snapshots.first
        _assert_rendered(first)
        tool = first.locator("details.luxx-tool")
        assert not tool.locator("pre").first.is_visible()
        tool.locator("summary").click()
        assert tool.locator("pre").first.is_visible() and "north" in tool.inner_text()
        first.scroll_into_view_if_needed()
        _shot(page, "nbconvert-html")
        _assert_hostile_is_text(snapshots.nth(1))
        _assert_inert(page, watch, title)
    finally:
        context.close()


def test_notebook7_shows_the_same_run(page, lab, llm, watch) -> None:
    name = "notebook7.ipynb"
    _write_notebook(lab, name, llm)
    _script(llm, delay=0.005)
    open_notebook(page, lab, lab.page_url("notebooks", name))
    title = page.title()
    _run_all(page)
    first = _output(page, 1)
    _wait_text(first.locator(".luxx-run"), r"340 units")
    snapshot = first.locator(".luxx-snapshot")
    snapshot.wait_for(timeout=30_000)
    _assert_rendered(snapshot)
    snapshot.locator("details.luxx-tool summary").click()
    _shot(page, "notebook7")
    second = _output(page, 3).locator(".luxx-snapshot")
    second.wait_for(timeout=30_000)
    _assert_hostile_is_text(second)
    _assert_inert(page, watch, title)
