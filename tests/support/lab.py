"""A JupyterLab server and a Chromium page on it, for the browser tests and benchmarks.

JupyterLab (or Notebook 7, the same server; or Voilà serving one notebook as an app) runs on
127.0.0.1 with a temporary root,
settings, data and runtime folder, so nothing of the machine's own Jupyter set-up takes part;
Debian's Chromium is driven by Playwright through ``executable_path`` (never a downloaded
browser). FIELD-NOTES: root needs ``--allow-root``; ``port_retries=0`` makes a busy port fail
loudly; the news pop-up would cover the page; a run started before the kernel is idle *and*
connected is silently lost.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support.ci import in_ci

__all__ = [
    "CHROMIUM",
    "CHROMIUM_FLAGS",
    "TOKEN",
    "Lab",
    "chromium_page",
    "open_notebook",
    "require_chromium",
    "running_lab",
    "start_lab",
    "start_voila",
    "stop",
    "wait_kernel",
]

CHROMIUM = os.environ.get("LUXX_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [  # FIELD-NOTES: what works here; --headless comes from Playwright
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "luxx-browser-test"
KERNEL_READY = """() => {
    const state = document.querySelector('.jp-Notebook-ExecutionIndicator');
    const name = document.querySelector('.jp-Toolbar-kernelName');
    return state?.getAttribute('data-status') === 'idle' && /Python/.test(name?.textContent);
}"""


def require_chromium() -> str:
    """Chromium's path, with Playwright importable. CI must run the browser tests: there a
    missing browser is a failure; elsewhere a skip."""
    reason = None
    if shutil.which(CHROMIUM) is None:
        reason = f"Chromium not found at {CHROMIUM} (./test.sh installs Debian's chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "Python playwright is not installed (pip install -e '.[test]')"
    if reason is not None:
        if in_ci():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return CHROMIUM


@dataclass
class Lab:
    """A JupyterLab server: its address, its root folder, its process and its log."""

    url: str
    root: Path
    process: subprocess.Popen[bytes]
    log: Path

    def api(self, method: str, path: str) -> Any:
        request = urllib.request.Request(
            f"{self.url}{path}", method=method, headers={"Authorization": f"token {TOKEN}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def page_url(self, ui: str, name: str) -> str:
        """``ui`` is ``lab/tree`` for JupyterLab, ``notebooks`` for Notebook 7."""
        return f"{self.url}/{ui}/{name}?token={TOKEN}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _environment(home: Path, env: dict[str, str] | None) -> dict[str, str]:
    """The machine's environment with every Jupyter folder under ``home``."""
    return {
        **os.environ,
        **(env or {}),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
    }


def _serve(name: str, command: list[str], url: str, root: Path, log: Path, env: dict) -> Lab:
    """Start ``command``; return its server once it answers ``/api/status`` (Voilà answers
    it with an HTTP error: answering is what counts)."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    lab = Lab(url, root, process, log)
    deadline = time.monotonic() + 60
    while True:
        try:
            lab.api("GET", "/api/status")
            return lab
        except urllib.error.HTTPError:
            return lab
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                stop(process)
                raise RuntimeError(f"{name} did not start:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.2)


def start_lab(home: Path, *, env: dict[str, str] | None = None) -> Lab:
    """Start JupyterLab with everything under ``home``; return once its API answers."""
    root, settings = home / "root", home / "settings" / "@jupyterlab" / "apputils-extension"
    root.mkdir()
    settings.mkdir(parents=True)
    notification = {"fetchNews": "false", "checkForUpdates": False}
    (settings / "notification.jupyterlab-settings").write_text(json.dumps(notification))
    port = _free_port()
    command = [
        *(sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root"),
        *("--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0"),
        f"--IdentityProvider.token={TOKEN}",
        f"--ServerApp.root_dir={root}",
    ]
    url, log = f"http://127.0.0.1:{port}", home / "jupyterlab.log"
    return _serve("JupyterLab", command, url, root, log, _environment(home, env))


def start_voila(home: Path, notebook: Path, *, env: dict[str, str] | None = None) -> Lab:
    """Start Voilà serving ``notebook`` as an app (``voila notebook.ipynb``) on 127.0.0.1.

    Its page is ``lab.url + "/"``: each load runs the notebook in a new kernel. Voilà 0.5 asks
    no token (measured: ``--token`` and ``--IdentityProvider.token`` are not enforced), so it
    listens on 127.0.0.1 only.
    """
    port = _free_port()
    command = [
        *(sys.executable, "-m", "voila", str(notebook), "--no-browser"),
        *("--Voila.ip=127.0.0.1", f"--port={port}", "--Voila.port_retries=0"),
    ]
    url, log = f"http://127.0.0.1:{port}", home / "voila.log"
    return _serve("Voilà", command, url, notebook.parent, log, _environment(home, env))


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a server started here; on SIGTERM it shuts its kernels down first."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_kernel(page: Any, lab: Lab) -> None:
    """Idle and connected. The indicator alone says "idle" before any kernel exists, so the
    server must see a connection too.

    Once in a CI run (Python 3.10, the suite's first browser test) the page never showed a
    ready kernel in 60 s; the cause left no trace. So a page that shows none in 45 s is loaded
    again, once, and a second wait that fails says what the page and the server showed.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in (1, 2):
        try:
            page.wait_for_function(KERNEL_READY, timeout=45_000)
            break
        except PlaywrightTimeout:
            seen = _kernel_state(page, lab)
            if attempt == 2:
                raise AssertionError(f"no ready kernel after a reload: {seen}") from None
            print(f"no ready kernel in 45 s, loading the page again: {seen}")
            page.reload()
    deadline = time.monotonic() + 60
    while not any(
        s["kernel"]["execution_state"] == "idle" and s["kernel"]["connections"] > 0
        for s in lab.api("GET", "/api/sessions")
    ):
        assert time.monotonic() < deadline, lab.api("GET", "/api/sessions")
        time.sleep(0.1)


def _kernel_state(page: Any, lab: Lab) -> str:
    """What the page shows of its kernel, any dialog, the server's sessions, its log's end."""
    shown = page.evaluate(
        """() => ({
            status: document.querySelector('.jp-Notebook-ExecutionIndicator')
                ?.getAttribute('data-status'),
            kernel: document.querySelector('.jp-Toolbar-kernelName')?.textContent,
            dialog: document.querySelector('.jp-Dialog')?.innerText,
        })"""
    )
    log = lab.log.read_text(errors="replace").splitlines()[-30:]
    return f"{shown}; sessions {lab.api('GET', '/api/sessions')}; log:\n" + "\n".join(log)


def open_notebook(page: Any, lab: Lab, url: str) -> None:
    """Open a notebook page, wait for its kernel, fold JupyterLab's file browser."""
    page.goto(url)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    wait_kernel(page, lab)
    files = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
    if files.count():  # JupyterLab: fold the file browser, the notebook gets the width
        files.click()


@contextmanager
def running_lab(home: Path) -> Iterator[Lab]:
    """A JupyterLab server (``start_lab``) for as long as the block runs."""
    lab = start_lab(home)
    try:
        yield lab
    finally:
        stop(lab.process)


@contextmanager
def chromium_page(chromium: str) -> Iterator[Any]:
    """One page of Debian's Chromium through Playwright, 1100 by 1150, for the block."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        context = browser.new_context(viewport={"width": 1100, "height": 1150})
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()
