"""Terminal IPython, where nobody clicks: a call that asks first is asked on stdin.

A real ``ipython`` in a pseudo-terminal (pexpect, which IPython itself depends on), talking to
the loopback server: ``y`` runs the call, an empty answer declines it, Ctrl-C while asked
ends the cell with nothing run, and the loop goes on. The terminal is driven from a fresh,
single-threaded Python process (``support/ipython_terminal.py``): forking a pseudo-terminal
from the test process, which runs the loopback server's threads, may deadlock the child
(Python 3.12 warns of it).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.builders import text_stream, tool_call_stream

pytest.importorskip("pexpect")

IPYTHON = Path(sys.executable).with_name("ipython")
DRIVER = Path(__file__).resolve().parent / "support" / "ipython_terminal.py"


def test_terminal_ipython_asks_on_stdin(llm_server) -> None:
    if not IPYTHON.exists():
        pytest.skip("no ipython next to this Python")
    llm_server.enqueue(
        tool_call_stream([("launch", {"target": "moon"})]),
        text_stream("Launched."),
        tool_call_stream([("launch", {"target": "mars"})]),
        text_stream("Not launched."),
        tool_call_stream([("launch", {"target": "venus"})]),
    )
    run = subprocess.run(
        [sys.executable, str(DRIVER), str(IPYTHON), llm_server.base_url],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["approved"] == "STATE done ['moon'] Launched.", seen
    assert seen["declined"] == "STATE done ['moon'] Not launched.", seen
    declined = llm_server.requests[3].body["messages"][-1]  # what followed the declined call
    assert "The person declined this call." in declined["content"]
    assert seen["interrupted"] == "AFTER ['moon'] interrupted", seen
    assert "declined" in seen["tail"], seen
