"""Does a widget's click reach the kernel while the cell that made the widget still runs?

Issue #14 (Stop, Approve / Deny) depends on the answer. One cell makes a button, displays it
and waits up to 12 s for a click; Chromium (Debian's, through Playwright) clicks it 1 s into
the wait. Usage::

    .venv/bin/python benchmarks/clicks.py lab|notebook stock|unrouted

``stock`` is the cell as a user would write it; ``unrouted`` also drops the button comm's
private ``_reply_subshell_id`` after making it. Measured here (JupyterLab 4.6.6, Notebook
7.6.5, ipykernel 7.4.0, ipywidgets 8.1.9; December 2026):

========  ==========  ===================================================================
front     cell        the click
========  ==========  ===================================================================
Lab       stock       not seen during the cell (after 12 s: none); handled after it ends
Lab       unrouted    handled 1.2 s into the cell, on thread ``subshell-...``, output 0.05 s
Notebook  stock       not seen during the cell, as in Lab
Notebook  unrouted    handled 1.2 s into the cell, on a subshell thread, output 0.02 s
========  ==========  ===================================================================

Why: both front ends send the click to a kernel subshell (``commsOverSubshells``, default
``perCommTarget``), but ipykernel 7.4 routes a comm's incoming messages back to the shell the
comm last *published* from (``BaseComm._reply_subshell_for``), and a widget made by the
running cell published from the main shell, so the click waits behind the cell. Making the
widget inside a fresh ``contextvars.Context()`` does not change that (measured: not seen).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

WAIT = (
    "t0 = time.perf_counter()\n"
    "while time.perf_counter() - t0 < 12 and not clicks:\n"
    "    time.sleep(0.05)\n"
    "print('RESULT', [(round(t - t0, 2), n) for t, n in clicks])\n"
)


def cell(mode: str) -> str:
    """The cell's source: a button whose handler notes when and on which thread it ran."""
    unroute = "b.comm.__dict__.pop('_reply_subshell_id', None)\n" if mode == "unrouted" else ""
    return (
        "import ipywidgets as w, threading, time\nclicks = []\n"
        "b = w.Button(description='Probe')\n"
        "note = lambda _: clicks.append((time.perf_counter(), threading.current_thread().name))\n"
        "b.on_click(note)\n"
        f"display(b)\n{unroute}{WAIT}"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _sessions(base: str) -> list[dict]:
    with urllib.request.urlopen(base + "/api/sessions?token=t") as response:
        return json.load(response)


def probe(front: str, mode: str) -> str:
    """Run the cell in ``front`` (``lab`` or ``notebook``), click, return what it printed."""
    from playwright.sync_api import sync_playwright

    home = Path(tempfile.mkdtemp(prefix="luxx-clicks-"))
    root = home / "root"
    root.mkdir()
    settings = home / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    notification = {"fetchNews": "false", "checkForUpdates": False}
    (settings / "notification.jupyterlab-settings").write_text(json.dumps(notification))
    notebook = {
        "cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "source": cell(mode)}],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (root / "probe.ipynb").write_text(json.dumps(notebook))
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(home / "settings")}
    for name in ("CONFIG", "DATA", "RUNTIME"):
        env[f"JUPYTER_{name}_DIR"] = str(home / name.lower())
    port = _free_port()
    app = "jupyterlab" if front == "lab" else "notebook"
    command = [sys.executable, "-m", app, "--no-browser", "--allow-root", "--ip=127.0.0.1"]
    command += [f"--port={port}", "--ServerApp.port_retries=0", "--IdentityProvider.token=t"]
    command += [f"--ServerApp.root_dir={root}"]
    with (home / "server.log").open("wb") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=log, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _sessions(base)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=os.environ.get("LUXX_CHROMIUM", "/usr/bin/chromium"),
                args=["--no-sandbox", "--disable-gpu", "--no-first-run"],
            )
            page = browser.new_page()
            path = "/lab/tree/probe.ipynb" if front == "lab" else "/notebooks/probe.ipynb"
            page.goto(base + path + "?token=t")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            while not any(
                s["kernel"]["execution_state"] == "idle" and s["kernel"]["connections"] > 0
                for s in _sessions(base)
            ):
                time.sleep(0.2)
            page.locator(".jp-Notebook .jp-Cell").first.click()
            page.keyboard.press("Shift+Enter")
            button = page.locator("button.widget-button", has_text="Probe")
            button.wait_for(timeout=30_000)
            time.sleep(1.0)
            button.click()
            clicked = time.monotonic()
            result = page.locator(".jp-OutputArea-output").filter(has_text="RESULT")
            result.wait_for(timeout=30_000)
            seen = time.monotonic() - clicked
            printed = result.inner_text().strip()
            browser.close()
        return f"{front} {mode}: {printed}; output {seen:.2f} s after the click"
    finally:
        os.killpg(server.pid, 15)
        server.wait()


if __name__ == "__main__":
    print(probe(sys.argv[1], sys.argv[2]))
