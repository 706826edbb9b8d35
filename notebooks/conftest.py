"""nbval, taught one thing every Jupyter frontend does: apply ``update_display_data``.

A ``%%luxx`` cell displays its live widget, and when the run ends it updates that same output
with a plain transcript (what GitHub, nbconvert and terminals show). JupyterLab, nbclient and
nbconvert apply the update; nbval 0.11 drops it ("unhandled iopub msg") and would compare the
placeholder instead. Here a display that has an id is held back until its cell goes idle,
with every update to it merged in, so the strict check compares what a person sees.
"""

from __future__ import annotations

from collections import deque
from typing import Any


def _applying_display_updates(get_message: Any) -> Any:
    ready: deque[dict[str, Any]] = deque()

    def display_id(msg: dict[str, Any]) -> str | None:
        return msg.get("content", {}).get("transient", {}).get("display_id")

    def get_kernel_message(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if ready:
            return ready.popleft()
        msg = get_message(self, *args, **kwargs)
        if msg["msg_type"] != "display_data" or display_id(msg) is None:
            return msg
        held, parent = [msg], msg["parent_header"].get("msg_id")
        while True:
            later = get_message(self, *args, **kwargs)
            if later["msg_type"] == "update_display_data" and display_id(later) == display_id(msg):
                msg["content"]["data"] = later["content"]["data"]
                continue
            held.append(later)
            idle = later["msg_type"] == "status" and later["content"]["execution_state"] == "idle"
            if idle and later["parent_header"].get("msg_id") == parent:
                break
        ready.extend(held[1:])
        return msg

    return get_kernel_message


def _install() -> None:
    """Wrap nbval's message reader once; this conftest loads before any notebook runs."""
    from nbval.plugin import IPyNbFile

    if not getattr(IPyNbFile.get_kernel_message, "_luxx", False):
        wrapped = _applying_display_updates(IPyNbFile.get_kernel_message)
        wrapped._luxx = True  # type: ignore[attr-defined]
        IPyNbFile.get_kernel_message = wrapped  # type: ignore[method-assign]


_install()
