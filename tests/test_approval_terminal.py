"""Terminal IPython, where nobody clicks: a call that asks first is asked on stdin.

A real ``ipython`` in a pseudo-terminal (pexpect, which IPython itself depends on), talking to
the loopback server: ``y`` runs the call, an empty answer declines it, and the loop goes on.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from support.builders import text_stream, tool_call_stream

pexpect = pytest.importorskip("pexpect")

IPYTHON = Path(sys.executable).with_name("ipython")
SETUP = (
    "import luxx_nb; LAUNCHED = []",
    "f = lambda target: LAUNCHED.append(target) or 'ok'",
    "f.__doc__ = 'Launch.\\n\\ntarget: where'; f.__name__ = 'launch'",
    "f.__annotations__ = {'target': str, 'return': str}",
)
ASK = "r = chat.send({prompt!r}); print('STATE', r.state, LAUNCHED, r.text)"
STATE = r"STATE (done|error|stopped|interrupted) [^\r\n]*\r?\n"  # a whole line


def chat_history_tail(child) -> str:
    """The last message of the chat's history, read in the terminal."""
    child.sendline("print('TAIL', chat.history[-1]['content'])")
    child.expect(r"TAIL [^\r\n]*\r?\n")
    return child.after


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
    child = pexpect.spawn(
        str(IPYTHON),
        ["--no-banner", "--colors=NoColor", "--simple-prompt"],
        encoding="utf-8",
        timeout=60,
    )
    try:
        child.expect(r"In \[1\]")
        for line in SETUP:
            child.sendline(line)
        child.sendline(
            "chat = luxx_nb.Chat(base_url="
            f"{llm_server.base_url!r}, api_key='k', model='m', "
            "tools=[luxx_nb.tool(approve=True)(f)])"
        )
        child.sendline(ASK.format(prompt="go"))
        child.expect(r'Run launch\(target="moon"\)\? \[y/N\] ')
        child.sendline("y")
        child.expect(STATE)
        assert child.after.strip() == "STATE done ['moon'] Launched.", child.before + child.after
        child.sendline(ASK.format(prompt="again"))
        child.expect(r'Run launch\(target="mars"\)\? \[y/N\] ')
        child.sendline("")
        child.expect(STATE)
        assert child.after.strip() == "STATE done ['moon'] Not launched.", (
            child.before + child.after
        )
        sent = llm_server.requests[-1].body["messages"][-1]
        assert "The person declined this call." in sent["content"]
        # Ctrl-C while asked: the question is asked on the cell's own thread, so the interrupt
        # ends it there; nothing runs, and no stray reader takes the next line typed
        child.sendline(ASK.format(prompt="third"))
        child.expect(r'Run launch\(target="venus"\)\? \[y/N\] ')
        time.sleep(0.3)  # the question is up: now the person presses Ctrl-C
        child.sendintr()
        child.expect("KeyboardInterrupt")
        child.sendline("print('AFTER', LAUNCHED, chat.last_reply.state)")
        child.expect(r"AFTER [^\r\n]*\r?\n")
        assert child.after.strip() == "AFTER ['moon'] interrupted"
        assert "declined" in chat_history_tail(child)
    finally:
        child.sendline("exit")
        child.close(force=True)
