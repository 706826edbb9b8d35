"""Clicks while a cell runs: the small adapter over ipykernel's comm routing that lets them in.

JupyterLab >= 4.4 and Notebook 7 send widget comm messages to a kernel *subshell*
(``commsOverSubshells``), so a handler can run on the subshell's thread while the cell holds
the main shell. But ipykernel 7.4 routes a comm's incoming message back to the shell the comm
last *published* from (``BaseComm._reply_subshell_for``, fed by ``publish_msg`` from the parent
header's ``subshell_id``), and a widget made by a running cell publishes from the main shell,
so its click would wait for the cell's end (measured: ``benchmarks/clicks.py``).

``route_to_sender(widget)`` replaces that routing for one widget's comm with "where the front
end sent it": an instance attribute shadowing the method, so later publishes (a button
disabled from the run's loop thread) change nothing. ``clicks_can_arrive()`` says whether a
click can arrive during the cell at all: in a kernel with subshells that a front end has
created (JupyterLab and Notebook 7 make one when their widget manager connects); nbclient,
papermill and front ends without subshells make none, and there a button must not pretend.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["clicks_can_arrive", "in_kernel", "route_to_sender", "subshells"]


def _kernel() -> Any:
    module = sys.modules.get("ipykernel.kernelbase")
    if module is None:
        return None
    kernel_class = module.Kernel
    return kernel_class.instance() if kernel_class.initialized() else None


def in_kernel() -> bool:
    """Whether this process is a Jupyter kernel (its stdin is the front end's, not a terminal)."""
    return _kernel() is not None


def subshells() -> list[str] | None:
    """The kernel's subshells (None where the kernel has none: ipykernel < 7, not a kernel)."""
    kernel = _kernel()
    thread = getattr(kernel, "shell_channel_thread", None)
    manager = getattr(thread, "manager", None)
    if manager is None:
        return None
    try:
        return list(manager.list_subshell())
    except Exception:  # pragma: no cover - another ipykernel
        return None


def clicks_can_arrive() -> bool:
    """Whether a widget's click can reach this kernel while a cell runs."""
    return bool(subshells())


def route_to_sender(widget: Any) -> None:
    """Handle ``widget``'s incoming messages on the subshell the front end sent them to."""
    comm = getattr(widget, "comm", None)
    if comm is None or not hasattr(comm, "_reply_subshell_for"):
        return

    def reply_subshell_for(data: Any, default: str | None) -> str | None:
        return default

    comm._reply_subshell_for = reply_subshell_for
