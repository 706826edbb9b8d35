"""The chat panel as a person uses it: ``ChatView(chat)`` in JupyterLab, Notebook 7 and Voilà,
in Chromium.

One notebook makes a ``Chat`` on the loopback server and shows its ``ChatView``. In the page
the prompt box and ``Send`` are found by their labels. A prompt typed with Shift+Enter keeps
its new line and sends nothing; Enter sends it and its answer streams into the view while no
cell runs: a second prompt sent meanwhile waits (the note says so), a cell run meanwhile
answers at once (JupyterLab, Notebook 7), ``Stop`` ends the turn and the waiting prompt goes
next; then a tool that acts is approved with its button and the side effect read. In Voilà
(``voila notebook.ipynb``, no cell to run) the same turns, Stop and approval. The prompt's
markup is shown as text. Screenshots go to ``artifacts/screenshots``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from support.builders import text_stream, tool_call_stream
from support.lab import (
    Lab,
    chromium_page,
    open_notebook,
    require_chromium,
    running_lab,
    start_voila,
    stop,
)
from support.server import LLMServer

SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
SETUP = '''import time

import luxx_nb
from luxx_nb import Chat, ChatView

LAUNCHED = []


@luxx_nb.tool(approve=True)
def launch(target: str) -> str:
    """Launch a rocket.

    target: where to
    """
    LAUNCHED.append(target)
    return f"launched to {target}"


chat = Chat(model="test-model", base_url="{url}", api_key="sk-none", tools=[launch])
ChatView(chat)'''
PROBE = 'print("LAUNCHED", LAUNCHED, "at", round(time.monotonic(), 2))'
LONG = "The answer goes on and on, word after word. " * 80
PROMPT = "Tell me a <b>long</b> story"


@pytest.fixture(scope="module")
def chromium() -> str:
    return require_chromium()


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMServer]:
    with LLMServer() as server:
        yield server


@pytest.fixture(scope="module")
def notebook(llm: LLMServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    setup = SETUP.replace("{url}", llm.base_url)
    nb.cells = [nbformat.v4.new_code_cell(setup), nbformat.v4.new_code_cell(PROBE)]
    path = tmp_path_factory.mktemp("panel-notebook") / "panel.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def lab(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("jupyterlab-panel")) as lab:
        yield lab


@pytest.fixture(scope="module")
def page(chromium: str) -> Iterator[Any]:
    with chromium_page(chromium) as page:
        yield page


def _wait_text(locator: Any, pattern: str, timeout: float = 30.0) -> str:
    text, deadline = "", time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = locator.inner_text() if locator.count() else ""
        if re.search(pattern, text):
            return text
        time.sleep(0.02)
    _shot(locator.page, f"panel-failed-{time.strftime('%H%M%S')}")
    raise AssertionError(f"{pattern!r} never appeared; last text: {text[-2000:]!r}")


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def _enqueue(llm: LLMServer) -> None:
    llm.reset()
    llm.enqueue(
        text_stream(LONG, fragment_size=6, delay=0.03),
        text_stream("Then the story ended."),
        tool_call_stream([("launch", {"target": "moon"})]),
        text_stream("Launched to the moon."),
        text_stream("You are welcome."),
    )


def _converse(page: Any, llm: LLMServer, name: str, run_cell: Any = None) -> None:
    """The whole conversation in the panel; ``run_cell()`` runs the probe cell meanwhile."""
    view = page.locator(".luxx-chat").first
    box = page.get_by_role("textbox", name="Message")
    send = page.get_by_role("button", name="Send")
    box.wait_for(timeout=60_000)
    assert send.count() == 1

    box.click()
    box.press_sequentially("Tell me a <b>long</b>")
    box.press("Shift+Enter")  # a new line, nothing sent
    box.press_sequentially("story")
    assert box.input_value() == "Tell me a <b>long</b>\nstory"
    time.sleep(0.3)
    assert not llm.requests, "Shift+Enter sent the prompt"
    sent = time.monotonic()
    box.press("Enter")
    _wait_text(view, r"word after word")
    print(f"{name}: Enter to the first text in the page: {time.monotonic() - sent:.2f} s")
    assert box.input_value() == ""
    echo = view.locator("text=Tell me a <b>long</b>")
    assert echo.count() == 1 and view.locator("b", has_text="long").count() == 0

    box.fill("And then?")
    send.click()
    note = page.locator(".luxx-prompt-note")
    _wait_text(note, r"1 message waits for the answer in progress")
    if run_cell is not None:  # the kernel is free for cells while the turn streams
        probe = run_cell()
        assert "stopped" not in view.inner_text() and "done" not in view.inner_text()
        print(f"{name}: a cell ran during the turn: {probe.strip()}")
    stop_button = view.get_by_role("button", name="Stop")
    stop_button.wait_for(timeout=10_000)
    _shot(page, f"{name}-panel-1-streaming")
    clicked = time.monotonic()
    stop_button.click()
    _wait_text(view, r"stopped", timeout=5)
    print(f"{name}: Stop click to 'stopped': {time.monotonic() - clicked:.2f} s")
    text = _wait_text(view, r"Then the story ended\.")
    assert text.count("word after word") < 80
    assert text.index("stopped") < text.index("And then?") < text.index("Then the story")
    _wait_text(note, r"^$")
    requests = [r.body["messages"] for r in llm.requests]
    assert [m["content"] for m in requests[1] if m["role"] == "user"] == [
        "Tell me a <b>long</b>\nstory",
        "And then?",
    ]

    sent = time.monotonic()
    box.fill("Launch to the moon.")
    send.click()
    approve = view.get_by_role("button", name="Approve")
    approve.wait_for(timeout=30_000)
    print(f"{name}: Send to Approve shown: {time.monotonic() - sent:.2f} s")
    assert view.get_by_role("button", name="Deny").count() == 1
    _shot(page, f"{name}-panel-2-approval")
    approve.click()
    _wait_text(view, r"Launched to the moon\.")
    assert "approved by the person" in view.inner_html()
    _wait_text(view, r"done[\s\S]*done[\s\S]*Launched to the moon\.")
    sent = time.monotonic()
    box.fill("Thanks!")
    send.click()
    _wait_text(view, r"You are welcome\.")
    print(f"{name}: Send to the first text, warm: {time.monotonic() - sent:.2f} s")
    _shot(page, f"{name}-panel-3-done")


@pytest.mark.parametrize("ui", ["lab/tree", "notebooks"], ids=["jupyterlab", "notebook7"])
def test_chat_view_send_in_jupyterlab_and_notebook7(page, lab, llm, notebook, ui) -> None:
    name = f"panel-{ui.split('/')[0]}.ipynb"
    (lab.root / name).write_bytes(notebook.read_bytes())
    _enqueue(llm)
    open_notebook(page, lab, lab.page_url(ui, name))
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    probe = page.locator(".jp-Notebook .jp-CodeCell").nth(1).locator(".jp-OutputArea")
    first = _wait_text(probe, r"LAUNCHED \[\] at")

    def run_probe() -> str:
        cell = page.locator(".jp-Notebook .jp-CodeCell").nth(1)
        cell.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        deadline = time.monotonic() + 10
        while (text := probe.inner_text()) == first or "LAUNCHED" not in text:
            assert time.monotonic() < deadline, "the cell did not run during the turn"
            time.sleep(0.02)
        return text

    _converse(page, llm, ui.split("/")[0], run_probe)
    run_probe()
    _wait_text(probe, r"LAUNCHED \['moon'\]")


def test_chat_view_send_in_voila(page, chromium, llm, notebook, tmp_path) -> None:
    _enqueue(llm)
    voila = start_voila(tmp_path, notebook)
    try:
        started = time.monotonic()
        page.goto(f"{voila.url}/")
        page.get_by_role("textbox", name="Message").wait_for(timeout=60_000)
        print(f"voila: page to the prompt box: {time.monotonic() - started:.2f} s")
        _converse(page, llm, "voila")
        assert "LAUNCHED [] at" in page.inner_text("body")  # the notebook's own output
    finally:
        stop(voila.process)
    assert llm.requests[-2].body["messages"][-1]["content"] == "launched to moon"
