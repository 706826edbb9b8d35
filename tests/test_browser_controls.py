"""Stop, Approve and Deny as a person clicks them: JupyterLab and Notebook 7 in Chromium.

One notebook, run with "Run All" in JupyterLab and in Notebook 7: a slow answer stopped with
its ``Stop`` button (the state reads ``stopped``, the partial text stays, the next cells run),
then a tool that acts, marked ``@luxx_nb.tool(approve=True)``, approved in one cell and denied
in the next; a last cell reads the tool's side effect. Buttons are found by their labels, as a
person finds them. The loopback server scripts the model; screenshots go to
``artifacts/screenshots``.
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
from support.lab import Lab, chromium_page, open_notebook, require_chromium, running_lab
from support.server import LLMServer

SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
SETUP = '''%load_ext luxx_nb
import luxx_nb
import luxx_nb.render.live.clicks as clicks

LAUNCHED = []


@luxx_nb.tool(approve=True)
def launch(target: str) -> str:
    """Launch a rocket.

    target: where to
    """
    LAUNCHED.append(target)
    return f"launched to {target}"


print("subshells before the first run:", len(clicks.subshells() or []))'''
LONG = "The answer goes on and on, word after word. " * 60


@pytest.fixture(scope="module")
def chromium() -> str:
    return require_chromium()


@pytest.fixture(scope="module")
def llm() -> Iterator[LLMServer]:
    with LLMServer() as server:
        yield server


@pytest.fixture(scope="module")
def lab(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("jupyterlab-controls")) as lab:
        yield lab


@pytest.fixture(scope="module")
def page(chromium: str) -> Iterator[Any]:
    with chromium_page(chromium) as page:
        yield page


def _output(page: Any, cell: int) -> Any:
    return page.locator(".jp-Notebook .jp-CodeCell").nth(cell).locator(".jp-OutputArea")


def _wait_text(locator: Any, pattern: str, timeout: float = 30.0) -> str:
    text, deadline = "", time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = locator.inner_text() if locator.count() else ""
        if re.search(pattern, text):
            return text
        time.sleep(0.02)
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / f"controls-failed-{time.strftime('%H%M%S')}.png"
    locator.page.screenshot(path=str(shot))
    raise AssertionError(f"{pattern!r} never appeared; last text: {text!r} (see {shot})")


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


@pytest.mark.parametrize("ui", ["lab/tree", "notebooks"], ids=["jupyterlab", "notebook7"])
def test_stop_approve_and_deny(page, lab, llm, ui) -> None:
    """Each front end opens its own notebook, so each gets a fresh kernel."""
    name = f"controls-{ui.split('/')[0]}.ipynb"
    shot = ui.split("/")[0]
    magic = f"%%luxx -m test-model --base-url {llm.base_url}"
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.cells = [
        nbformat.v4.new_code_cell(SETUP),
        nbformat.v4.new_code_cell(f"{magic} --no-tools\nTell me a long story."),
        nbformat.v4.new_code_cell(f"{magic} --tools launch\nLaunch to the moon."),
        nbformat.v4.new_code_cell(f"{magic} --tools launch\nLaunch to mars."),
        nbformat.v4.new_code_cell(
            'print("LAUNCHED", LAUNCHED, "subshells now:", len(clicks.subshells()))'
        ),
    ]
    nbformat.write(nb, lab.root / name)
    llm.reset()
    llm.enqueue(
        text_stream(LONG, fragment_size=6, delay=0.03),
        tool_call_stream([("launch", {"target": "moon"})]),
        text_stream("Launched to the moon."),
        tool_call_stream([("launch", {"target": "mars"})]),
        text_stream("You declined: nothing was launched to mars."),
    )
    open_notebook(page, lab, lab.page_url(ui, name))
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

    print(_wait_text(_output(page, 0), r"subshells before the first run: \d+"))
    story = _output(page, 1)
    _wait_text(story, r"word after word\.[\s\S]*word after word")
    stop_button = story.get_by_role("button", name="Stop")
    stop_button.wait_for(timeout=10_000)
    time.sleep(0.5)
    _shot(page, f"{shot}-controls-1-streaming-with-stop")
    clicked = time.monotonic()
    stop_button.click()
    text = _wait_text(story, r"stopped", timeout=5)
    took = time.monotonic() - clicked
    print(f"Stop click to 'stopped' in the page: {took:.2f} s")
    assert took < 1.0, took
    assert "word after word" in text and text.count("word after word") < 60
    _shot(page, f"{shot}-controls-2-stopped")

    moon = _output(page, 2)
    approve = moon.get_by_role("button", name="Approve")
    approve.wait_for(timeout=30_000)
    assert moon.get_by_role("button", name="Deny").count() == 1
    assert "launch" in moon.inner_text() and "moon" in moon.inner_text()
    _shot(page, f"{shot}-controls-3-approval")
    approve.click()
    text = _wait_text(moon, r"Launched to the moon\.")
    assert "approved by the person" in text or "approved" in moon.inner_html()

    mars = _output(page, 3)
    deny = mars.get_by_role("button", name="Deny")
    deny.wait_for(timeout=30_000)
    deny.click()
    _wait_text(mars, r"nothing was launched to mars")
    _shot(page, f"{shot}-controls-4-denied")

    _wait_text(_output(page, 4), r"LAUNCHED \['moon'\]")
    assert "declined by the person" in mars.inner_html()
    sent = llm.requests[-1].body["messages"][-1]
    assert sent["role"] == "tool" and "The person declined this call." in sent["content"]


PLOT = """import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(3, 2))
ax.bar(["north", "south"], [7, 9])
ax.set_title("sold by region")
made_by_the_model = True"""


def test_run_python_approved_draws_a_figure_that_stays_in_the_saved_notebook(
    page, lab, llm
) -> None:
    """JupyterLab: the model's code shows highlighted with Approve / Deny; approved, it runs in
    the notebook (a later cell reads its variable) and its figure shows in the step; the saved
    notebook, reopened with no kernel, still shows the figure."""
    name = "run-python.ipynb"
    magic = f"%%luxx -m test-model --base-url {llm.base_url} --allow-code --no-thinking"
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext luxx_nb\nimport matplotlib.pyplot"),
        nbformat.v4.new_code_cell(f"{magic}\nPlot the sales by region."),
        nbformat.v4.new_code_cell('print("MADE", made_by_the_model)'),
    ]
    nbformat.write(nb, lab.root / name)
    llm.reset()
    llm.enqueue(
        tool_call_stream([("run_python", {"code": PLOT})]),
        text_stream("Here is the chart of sales by region."),
    )
    # A workspace of its own: the default one reopens the earlier tests' notebooks beside
    # this one, and "Run All Cells" would go to whichever of them is current.
    open_notebook(page, lab, lab.page_url("lab/workspaces/run-python/tree", name))
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

    step = _output(page, 1)
    approve = step.get_by_role("button", name="Approve")
    approve.wait_for(timeout=120_000)  # matplotlib's first import may build its font cache
    assert step.get_by_role("button", name="Deny").count() == 1
    assert step.locator(".luxx-approval pre.luxx-code").count() == 1  # highlighted, asked first
    assert "sold by region" in step.inner_text()
    _shot(page, "lab-run-python-1-approval")
    approve.click()
    _wait_text(step, r"Here is the chart of sales by region\.", timeout=60)
    _wait_text(_output(page, 2), r"MADE True")
    figure = step.locator('img[src^="data:image/png;base64,"]')
    step.locator("details.luxx-tool summary").first.click()
    figure.first.wait_for(timeout=10_000)
    width = figure.first.evaluate("img => img.naturalWidth")
    assert width > 100, width  # a real raster, decoded by the browser
    _shot(page, "lab-run-python-2-figure")

    page.keyboard.press("Control+s")
    page.wait_for_selector(".jp-mod-current.jp-mod-dirty", state="detached", timeout=30_000)
    for session in lab.api("GET", "/api/sessions"):
        lab.api("DELETE", f"/api/sessions/{session['id']}")  # shuts its kernel down
    page.reload()
    page.wait_for_selector(".jp-Notebook .luxx-snapshot", timeout=60_000)
    saved = _output(page, 1).locator(".luxx-snapshot")
    saved.locator("details.luxx-tool summary").first.click()
    reopened = saved.locator('img[src^="data:image/png;base64,"]')
    reopened.first.wait_for(timeout=10_000)
    assert reopened.first.evaluate("img => img.naturalWidth") == width
    assert "approved by the person" in saved.inner_text()
    _shot(page, "lab-run-python-3-reopened")
