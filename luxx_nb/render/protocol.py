"""What a view of a run is and does, declared: the contracts between the chat and its views.

``Renderer`` is every view (the live widget tree, the saved snapshot, plain text): three
calls, all on the turn's event loop. ``Publishes`` is a view that, once the run is over,
replaces what the cell shows by its saved snapshot. ``OpensRuns`` is a view attached to a
chat that shows each of its runs (``ChatView``); ``AcceptsViews`` is what such a view is
attached to (``Chat``).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from luxx_nb.events import Event

__all__ = ["AcceptsViews", "OpensRuns", "Publishes", "Renderer"]


@runtime_checkable
class Renderer(Protocol):
    """Shows one run. Views only render events; they never call the provider or run tools."""

    def start(self, *, model: str, local: bool = False) -> None:
        """The run begins: ``model`` answers; ``local`` says it is the tiny local model."""

    def handle(self, event: Event) -> None:
        """Every event of the turn, in order."""

    def finish(self, state: str, message: str | None = None, detail: str | None = None) -> None:
        """Called exactly once, last; ``state`` is "done", "error" or "interrupted"."""


@runtime_checkable
class Publishes(Renderer, Protocol):
    """A view whose run, once finished, becomes a saved snapshot in the cell's output."""

    def publish(self) -> None:
        """After ``finish``, on the thread that runs the cell, so the update lands in it."""


class OpensRuns(Protocol):
    """A view that shows every run of a chat it is attached to."""

    def open_run(self, *, model: str, local: bool = False) -> Renderer:
        """A new run's view, at the end of this one."""


class AcceptsViews(Protocol):
    """What a view attaches itself to: a chat."""

    def add_view(self, view: OpensRuns) -> None:
        """Show every later run in ``view``."""
