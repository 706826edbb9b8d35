"""A RunWidget in a real kernel: displayed, fed from a loop thread, saved with its state."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parents[1]

CELL = """\
import asyncio, threading
from luxx_nb.render import RunWidget
from support.sample_run import replay, sample_events

run = RunWidget(model="demo-model")
display(run)
loop = asyncio.new_event_loop()
threading.Thread(target=loop.run_forever, daemon=True).start()
feed = replay(run, sample_events(), model="demo-model", delay=0.005)
asyncio.run_coroutine_threadsafe(feed, loop).result(timeout=60)
_ = loop.call_soon_threadsafe(loop.stop)
"""


@pytest.fixture
def python3_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A ``python3`` kernelspec for this interpreter, first on JUPYTER_PATH (a fresh CI box)."""
    spec_dir = tmp_path / "jupyter" / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (luxx tests)",
        "language": "python",
        "env": {"PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])},  # support
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    return "python3"


def widget_states(nb: Any) -> dict[str, dict[str, Any]]:
    saved = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    return {model_id: entry["state"] for model_id, entry in saved.items()}


@pytest.mark.timeout(180)
def test_run_widget_in_a_real_kernel(python3_kernel: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(CELL))
    client = nbclient.NotebookClient(
        nb,
        kernel_name=python3_kernel,
        timeout=120,
        resources={"metadata": {"path": str(ROOT)}},
    )
    client.execute()

    outputs = nb.cells[0].outputs
    assert [o.output_type for o in outputs] == ["display_data"], outputs
    data = outputs[0].data
    assert data["text/plain"] == "<luxx run: demo-model>"
    run_id = data["application/vnd.jupyter.widget-view+json"]["model_id"]

    states = widget_states(nb)
    run = states[run_id]
    assert run["_model_name"] == "VBoxModel" and len(run["children"]) == 6
    anywidgets = {k: s for k, s in states.items() if s.get("_model_name") == "AnyModel"}
    streams = [s for s in anywidgets.values() if "kind" in s]
    code = [k for k, s in anywidgets.items() if "kind" not in s]
    # The view's code travels once, in one shared model; each stream widget only points at it.
    assert len(code) == 1 and {s["code"] for s in streams} == {f"IPY_MODEL_{code[0]}"}
    assert all(len(s["_esm"]) < 1_000 for s in streams), [len(s["_esm"]) for s in streams]
    texts = [s for s in streams if s["kind"] == "text"]
    thinking = [s for s in streams if s["kind"] == "thinking"]
    assert len(texts) == 1 and len(thinking) == 1
    assert (
        "<table>" in texts[0]["html"] and "&lt;img src=x onerror=alert(1)&gt;" in texts[0]["html"]
    )
    assert "<math" in texts[0]["html"]
    assert thinking[0]["expanded"] is False and thinking[0]["html"].startswith("<p>")
    status = states[run["children"][0].removeprefix("IPY_MODEL_")]["value"]
    assert ">done<" in status and "42 tokens" in status
    for state in states.values():
        for value in (state.get("value"), state.get("html")):
            assert not isinstance(value, str) or "<img" not in value
