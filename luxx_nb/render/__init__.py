"""Views of a run: a live widget tree for notebooks, plain text for terminals.

The widget names load ipywidgets and anywidget only when first used, so the Markdown and
text renderers work where no notebook stack is installed; ``render_markdown`` loads
markdown-it and latex2mathml (60 ms) when first used, so ``%load_ext`` does not wait for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from luxx_nb.render.protocol import Renderer
from luxx_nb.render.text import TextRenderer

if TYPE_CHECKING:
    from luxx_nb.render.markdown import render_markdown
    from luxx_nb.render.widgets import ChatView, RunWidget

__all__ = ["ChatView", "Renderer", "RunWidget", "TextRenderer", "render_markdown"]


def __getattr__(name: str) -> Any:
    if name in ("ChatView", "RunWidget"):
        from luxx_nb.render import widgets

        return getattr(widgets, name)
    if name == "render_markdown":
        from luxx_nb.render.markdown import render_markdown

        return render_markdown
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
