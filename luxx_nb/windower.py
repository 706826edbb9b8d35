"""The windows of a turn's requests, and what they learn when a server refuses one.

``window.fit`` picks one window; a ``Windower`` holds what the windows of a turn (and, kept by
``Chat``, of a conversation with one endpoint) depend on: the estimate, the context size
(given, reported by the server, or read from a refusal), the room for the answer, the tool
definitions' size, and where the last window began. Pure logic: no I/O, no IPython.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .errors import ContextTooSmallError
from .overflow import ContextOverflow
from .window import SHRINK, TokenEstimate, Window, answer_tokens, fit, with_system

__all__ = ["Windower"]


class Windower:
    """The window of each request of a turn, and what it learns when a server refuses one.

    It holds what windows depend on across the rounds of a turn (and, kept by ``Chat``, across
    turns): the estimate, the context size (given, reported by the local server, or read from a
    refusal), the room for the answer and the tool definitions' size.
    """

    def __init__(
        self,
        *,
        estimate: TokenEstimate,
        context: int | None = None,
        system: str | None = None,
        answer: int | None = None,
        max_history: int | None = None,
        extra_chars: int = 0,
    ) -> None:
        self.estimate, self.context, self.system = estimate, context, system
        self.answer, self.max_history, self.extra_chars = answer, max_history, extra_chars
        self.limit: int | None = None  # tokens of messages, once a refusal gave no numbers
        self.learned: int | None = None  # the context a refusal gave
        self.reported: int | None = None  # the context the server said it has, once asked
        self.asked = False  # whether the server answered that question (with a size or not)
        self.start, self.cut = 0, False  # where the last window began, and whether it cut
        self._first: Mapping[str, Any] | None = None  # the conversation ``start`` counts in

    def window(self, messages: Sequence[Mapping[str, Any]]) -> Window:
        """Raises ``ContextTooSmallError`` when the current exchange cannot fit."""
        first = messages[0] if messages else None
        if first is not self._first:  # a new or replaced conversation starts over
            self.start, self.cut, self._first = 0, False, first
        window = fit(
            messages,
            context=self.context,
            estimate=self.estimate,
            system=self.system,
            answer=self.answer,
            max_history=self.max_history,
            overhead=self.overhead,
            limit=self.limit,
            start=self.start,
            cut=self.cut,
        )
        self.start, self.cut = window.first, self.cut or window.cut_results > 0
        return window

    @property
    def overhead(self) -> int:
        """Tokens a request adds besides its messages (the tool definitions), estimated."""
        return int(self.extra_chars / self.estimate.chars_per_token)

    def report(self, size: int | None) -> None:
        """The context size the server reported: it holds where no other size is known."""
        self.asked = True
        if size:
            self.reported = size
            self.context = self.context or size

    def sent(self, window: Window) -> list[Mapping[str, Any]]:
        """The messages of a request as the server counts them: with the system prompt."""
        return with_system(self.system, window.messages)

    def learn(self, window: Window, prompt_tokens: int | None) -> None:
        """An answered request's prompt tokens correct the estimate."""
        self.estimate.learn(self.sent(window), prompt_tokens, self.extra_chars)

    def _room_left(self, overflow: ContextOverflow) -> bool:
        """Whether the refusal counted messages that fit its context with room for an answer
        (it counted in the answer asked for, as vLLM does)."""
        if not overflow.prompt or not overflow.available:
            return False
        room = answer_tokens(self.answer, overflow.available) or 0
        return overflow.prompt + room <= overflow.available

    def refused(
        self, overflow: ContextOverflow, window: Window, messages: Sequence[Mapping[str, Any]]
    ) -> Window | None:
        """The next, smaller window after ``window`` was refused; None when none is smaller.

        The refusal's numbers go first (the context it gives, the prompt tokens it counted);
        when they give nothing smaller (no numbers, or numbers that do not match what the
        server accepts), the next window is ``SHRINK`` times the refused one. Raises
        ``ContextTooSmallError`` when the refusal's own context size cannot hold the prompt.
        """
        if overflow.available:
            self.context = self.learned = overflow.available
        if overflow.prompt:
            self.estimate.learn(self.sent(window), overflow.prompt, self.extra_chars)
        try:
            retry: Window | None = self.window(messages)
        except ContextTooSmallError:
            if overflow.available:
                raise
            retry = None
        if retry is not None and retry.smaller_than(window):
            return retry
        if retry is not None and retry.budget != window.budget and self._room_left(overflow):
            return retry  # the same messages, asking for only the room left for the answer
        if window.sent == 1 and overflow.prompt and overflow.available:
            fits = overflow.available
            if overflow.prompt <= fits:  # the server counted the answer's room in (vLLM does)
                fits -= answer_tokens(self.answer, fits) or 0
            raise ContextTooSmallError(needed=overflow.prompt, available=fits)
        sent, before = self.estimate.tokens(self.sent(window)), self.limit
        self.limit = int(SHRINK * min(sent, self.limit or sent))
        try:
            retry = self.window(messages)
        except ContextTooSmallError:
            retry = None
        if retry is not None and retry.smaller_than(window):
            return retry
        self.limit = before  # a limit that left nothing out is no limit for the next turns
        return None

    def too_long(
        self, overflow: ContextOverflow, window: Window, refusal: str
    ) -> ContextTooSmallError | None:
        """The plain-words error for a refusal of a window of the current exchange alone (the
        server's message is its detail); None when the window still held older exchanges."""
        if window.sent != 1:
            return None
        needed = overflow.prompt or self.estimate.tokens(self.sent(window)) + self.overhead
        available = overflow.available or self.context
        return ContextTooSmallError(needed=needed, available=available, detail=refusal)
