"""What the rest of luxx_nb needs from a view: three calls, all on the turn's event loop."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from luxx_nb.events import Event

__all__ = ["Renderer"]


@runtime_checkable
class Renderer(Protocol):
    """Shows one run. Views only render events; they never call the provider or run tools."""

    def start(self, *, model: str, local: bool = False) -> None:
        """The run begins: ``model`` answers; ``local`` says it is the tiny local model."""

    def handle(self, event: Event) -> None:
        """Every event of the turn, in order."""

    def finish(self, state: str, message: str | None = None, detail: str | None = None) -> None:
        """Called exactly once, last; ``state`` is "done", "error" or "interrupted"."""
