"""Drive a real ``ipython`` in a pseudo-terminal through approvals; print what it showed.

Run as a script (``python ipython_terminal.py IPYTHON BASE_URL``) from a fresh process: it is
single-threaded, so forking the pseudo-terminal cannot deadlock the child (the test process
runs the loopback server's threads; Python 3.12 warns of forkpty there). It prints one JSON
object with the lines the terminal showed; the test asserts on them.
"""

from __future__ import annotations

import json
import sys
import time

import pexpect

SETUP = (
    "import luxx_nb; LAUNCHED = []",
    "f = lambda target: LAUNCHED.append(target) or 'ok'",
    "f.__doc__ = 'Launch.\\n\\ntarget: where'; f.__name__ = 'launch'",
    "f.__annotations__ = {'target': str, 'return': str}",
)
ASK = "r = chat.send({prompt!r}); print('STATE', r.state, LAUNCHED, r.text)"
STATE = r"STATE (done|error|stopped|interrupted) [^\r\n]*\r?\n"  # a whole line


def drive(ipython: str, base_url: str) -> dict[str, str]:
    seen: dict[str, str] = {}
    child = pexpect.spawn(
        ipython,
        ["--no-banner", "--colors=NoColor", "--simple-prompt"],
        encoding="utf-8",
        timeout=60,
    )
    try:
        child.expect(r"In \[1\]")
        for line in SETUP:
            child.sendline(line)
        child.sendline(
            f"chat = luxx_nb.Chat(base_url={base_url!r}, api_key='k', model='m', "
            "tools=[luxx_nb.tool(approve=True)(f)])"
        )
        child.sendline(ASK.format(prompt="go"))
        child.expect(r'Run launch\(target="moon"\)\? \[y/N\] ')
        child.sendline("y")
        child.expect(STATE)
        seen["approved"] = child.after.strip()
        child.sendline(ASK.format(prompt="again"))
        child.expect(r'Run launch\(target="mars"\)\? \[y/N\] ')
        child.sendline("")
        child.expect(STATE)
        seen["declined"] = child.after.strip()
        # Ctrl-C while asked: the question is asked on the cell's own thread, so the interrupt
        # ends it there; nothing runs, and no stray reader takes the next line typed
        child.sendline(ASK.format(prompt="third"))
        child.expect(r'Run launch\(target="venus"\)\? \[y/N\] ')
        time.sleep(0.3)  # the question is up: now the person presses Ctrl-C
        child.sendintr()
        child.expect("KeyboardInterrupt")
        child.sendline("print('AFTER', LAUNCHED, chat.last_reply.state)")
        child.expect(r"AFTER [^\r\n]*\r?\n")
        seen["interrupted"] = child.after.strip()
        child.sendline("print('TAIL', chat.history[-1]['content'])")
        child.expect(r"TAIL [^\r\n]*\r?\n")
        seen["tail"] = child.after.strip()
    finally:
        child.sendline("exit")
        child.close(force=True)
    return seen


if __name__ == "__main__":
    print(json.dumps(drive(sys.argv[1], sys.argv[2])))
