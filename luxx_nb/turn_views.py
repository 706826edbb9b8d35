"""The views of one turn: which renderers show it, each called so a broken one cannot break
the run, and who approves a call where no view can take clicks.

``Chat`` asks ``views_of`` for a turn's renderers (its attached ``ChatView``s, else an inline
run in a notebook) and calls them through ``call_views``; ``fallback`` is the approval gate of
a turn no view can ask for (the terminal on stdin, else nobody: ``approval.no_front_end``).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .approval import ApprovalRequest, Decision, no_front_end, terminal_gate

if TYPE_CHECKING:
    from .render.protocol import Publishes, Renderer

__all__ = ["call_views", "fallback", "views_of"]


def views_of(chat: Any, display: bool | None) -> tuple[list[Renderer], list[Publishes]]:
    """The views of this run (attached ChatViews, else an inline one in a notebook), and
    those of them that publish a snapshot when the run is over."""
    local = chat.endpoint.local
    renderers = [view.open_run(model=chat.model, local=local) for view in chat._views]
    publishing: list[Publishes] = []
    if display or (display is None and not renderers):
        from .render.live.inline import InlineRun, inline_renderer

        renderer = inline_renderer(
            model=chat.model,
            local=local,
            force=bool(display),
            chat=chat.name,
            history=chat.history,
        )
        if renderer is not None:
            renderers.append(renderer)
        if isinstance(renderer, InlineRun):
            publishing.append(renderer)
    return renderers, publishing


def fallback() -> Callable[[ApprovalRequest], Decision]:
    """Who approves where no view can take clicks: the terminal when stdin is one (terminal
    IPython, plain Python), else nobody (a kernel's stdin is its front end's: declined)."""
    from .render.live.clicks import in_kernel

    if not in_kernel() and sys.stdin is not None and sys.stdin.isatty():
        return terminal_gate()
    return no_front_end


def call_views(renderers: Sequence[Any], method: str, *args: Any, **kwargs: Any) -> None:
    """A broken view must not break the run: it is reported once and the run goes on."""
    for renderer in renderers:
        try:
            getattr(renderer, method)(*args, **kwargs)
        except Exception as exc:  # pragma: no cover - depends on the view
            warnings.warn(f"luxx_nb view failed in {method}: {exc!r}", stacklevel=2)
