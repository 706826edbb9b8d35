"""Views of a run, each reading one state of it (``state``): live widgets (``live/``), the
saved HTML snapshot (``saved/``), plain text (``text``); the front end's code in ``frontend/``.

The widget names load ipywidgets and anywidget only when first used, so the Markdown and
text renderers work where no notebook stack is installed; ``render_markdown`` loads
markdown-it and latex2mathml (60 ms) when first used, so ``%load_ext`` does not wait for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from luxx_nb.render.protocol import Publishes, Renderer
from luxx_nb.render.text import TextRenderer

if TYPE_CHECKING:
    from luxx_nb.render.live.chat_view import ChatView
    from luxx_nb.render.live.tree import RunWidget
    from luxx_nb.render.markdown import render_markdown

__all__ = ["ChatView", "Publishes", "Renderer", "RunWidget", "TextRenderer", "render_markdown"]


def __getattr__(name: str) -> Any:
    if name == "ChatView":
        from luxx_nb.render.live.chat_view import ChatView

        return ChatView
    if name == "RunWidget":
        from luxx_nb.render.live.tree import RunWidget

        return RunWidget
    if name == "render_markdown":
        from luxx_nb.render.markdown import render_markdown

        return render_markdown
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
