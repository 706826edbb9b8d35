"""``ChatView``: one chat's runs as a widget to place anywhere, with its prompt box.

The runs are the live trees of ``tree.py``; the prompt, its queue and the turns it sends are
``panel.py``'s. A view made without a chat (or with ``prompt=False``) only shows runs.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import ipywidgets

from luxx_nb.render.live.panel import Panel, add_to, take_runs
from luxx_nb.render.live.parts import close_tree
from luxx_nb.render.live.tree import RunWidget

if TYPE_CHECKING:
    from luxx_nb.render.protocol import AcceptsViews, Renderer

__all__ = ["ChatView"]


class ChatView(ipywidgets.VBox):
    """The runs of one chat, as a widget to place anywhere (a cell, a sidebar, a layout).

    Given a ``Chat``, it ends with a prompt box and ``Send``: each prompt runs as a turn of
    that chat while no cell runs (``panel.py``).
    """

    def __init__(self, chat: AcceptsViews | None = None, *, prompt: bool = True, **kw: Any):
        super().__init__(**kw)
        self.add_class("luxx-chat")
        self.panel = Panel.of(self, chat) if prompt else None
        if chat is not None:
            chat.add_view(self)

    def __repr__(self) -> str:
        return "<luxx chat view>"

    def send(self, prompt: str) -> Future[Any]:
        """Send ``prompt`` as ``Send`` does (queued, run on luxx's loop); the future gives
        its ``Reply``."""
        if self.panel is None:
            raise RuntimeError("This ChatView has no prompt: make it with ChatView(chat).")
        return self.panel.send(prompt)

    def open_run(self, *, model: str, local: bool = False) -> Renderer:
        """A new run at the bottom of this view; the chat renders the run into it."""
        run = RunWidget(model=model, local=local)
        add_to(self, run)
        return run if self.panel is None else self.panel.renderer(run)

    def clear(self) -> None:
        """Remove every run shown so far, closing their widgets in the kernel and the page."""
        for run in take_runs(self):
            close_tree(run)
