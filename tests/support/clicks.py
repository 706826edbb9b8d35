"""Clicks as JupyterLab sends them while a cell runs: a kernel subshell, a button found by its
label among the widgets a cell opened, and the ``comm_msg`` of a click sent to that subshell."""

from __future__ import annotations

import time

from support.kernel import Kernel

__all__ = ["button", "click", "create_subshell"]


def create_subshell(kernel: Kernel) -> str:
    """A subshell, as JupyterLab >= 4.4 creates one: from then on clicks can arrive."""
    kc = kernel.kc
    msg = kc.session.msg("create_subshell_request", {})
    kc.control_channel.send(msg)
    while True:
        reply = kc.get_control_msg(timeout=10)
        if reply["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
            return reply["content"]["subshell_id"]


def click(kernel: Kernel, comm_id: str, subshell: str) -> None:
    """What JupyterLab sends for a button click, to the subshell it chose."""
    kc = kernel.kc
    content = {"comm_id": comm_id, "data": {"method": "custom", "content": {"event": "click"}}}
    msg = kc.session.msg("comm_msg", content)
    msg["header"]["subshell_id"] = subshell
    kc.shell_channel.send(msg)


def button(kernel: Kernel, label: str, since: int, timeout: float = 30) -> str:
    """The comm id of the first button labelled ``label`` opened after message ``since``,
    once a box holds it: a page can show (and a person click) a button only then, and a
    widget's handlers are set between its own opening and its parent's."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            kernel._remember(kernel.kc.get_iopub_msg(timeout=0.2))
        except Exception:
            continue
        held = {
            child
            for state in kernel.states.values()
            for child in state.get("children", ())
            if isinstance(child, str)
        }

        for msg in kernel.messages[since:]:
            content = msg["content"]
            if msg["msg_type"] == "comm_open":
                state = kernel.states[content["comm_id"]]
                labelled = state.get("description") == label
                shown = f"IPY_MODEL_{content['comm_id']}" in held
                if state.get("_model_name") == "ButtonModel" and labelled and shown:
                    return content["comm_id"]
    raise AssertionError(f"no button {label!r} in a box")
