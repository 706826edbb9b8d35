"""A tool that acts, for the tests of Stop and approvals run in the test process.

``launch`` asks first (``approve=True``); what it launched is in ``LAUNCHED``, which a test
clears before its run. The kernel and browser tests define their own in the kernel's code.
"""

from __future__ import annotations

from luxx_nb import tool

LAUNCHED: list[str] = []


@tool(approve=True)
def launch(target: str) -> str:
    """Launch something (a tool that acts).

    target: what to launch
    """
    LAUNCHED.append(target)
    return f"launched {target}"
