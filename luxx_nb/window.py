"""What of a conversation is sent: a window of it that fits the model's context.

The conversation (``Chat.history``, the saved transcript) is always kept whole; only the request
is windowed. A window is cut in this order, and says what it left out:

1. at most ``max_history`` exchanges (a user message and everything that answered it), when set;
2. the content of old tool results, cut to a short head (the current exchange's are kept);
3. the oldest whole exchanges, so a tool call is never sent without its result, nor a result
   without its call;
4. last, the current exchange's own long tool results, each cut to its share of the room left;
5. never the system prompt or the current prompt: when even those do not fit,
   ``ContextTooSmallError`` says by how much, in plain words.

Sizes are estimated from characters, about four to a token for English prose, and the estimate
is corrected by the prompt tokens each answer reports (``TokenEstimate.learn``), so a window
chosen before sending usually fits and the common case costs no refused request. When a server
refuses one anyway, ``overflow.context_overflow`` reads its numbers (requested and available
tokens, in llama.cpp's, OpenAI's, vLLM's and Anthropic's shapes) so one retry with a smaller
window usually suffices; ``windower.py`` holds what a turn's windows learn. Pure logic: no
I/O, no IPython.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import ContextTooSmallError
from .overflow import ContextOverflow, context_overflow
from .providers.wire import DEFAULT_MAX_TOKENS

__all__ = [
    "MAX_REFUSALS",
    "ContextOverflow",
    "TokenEstimate",
    "Window",
    "answer_tokens",
    "context_overflow",
    "exchanges",
    "fit",
    "with_system",
]

CUT_RESULT_TO = 400
"""Characters of an old tool result kept when results are cut to fit."""
LONG_RESULT = 1_000
"""Characters from which a tool result of the current exchange is cut, as a last resort."""
CUT_MARGIN = 1.1
"""The last resort cuts this much more than the estimate says is over, since the estimate
of characters per token is only an estimate."""
MESSAGE_OVERHEAD = 4
"""Tokens a chat template adds per message (role markers, separators), as OpenAI documents."""
ANSWER_SHARE = 4
"""With no ``max_tokens``, a quarter of the context is left for the answer."""
MAX_REFUSALS = 3
"""Requests refused as too long, in one round, before the turn gives up."""
SHRINK = 0.7
"""How much smaller the next window is when a refusal gave no numbers to go by."""
DROP_TO = 0.75
"""When exchanges must go, the window is cut to this share of what fits, and later requests
keep its first exchange for as long as they fit. A server that caches the prompt's beginning
(llama.cpp does; hosted APIs bill it less) then reuses it, where dropping one exchange a turn
would change the beginning of every request. Measured with the local model, 30 paragraph
answers in a row on 2 cores: one exchange dropped per turn made each late turn reprocess
about 7,600 tokens (25 to 108 s a turn)."""


class TokenEstimate:
    """Tokens from characters: ``chars_per_token`` starts at 4 and learns from real usage."""

    def __init__(self, chars_per_token: float = 4.0) -> None:
        self.chars_per_token = chars_per_token

    def chars(self, messages: Sequence[Mapping[str, Any]]) -> int:
        return sum(_chars(message) for message in messages)

    def tokens(self, messages: Sequence[Mapping[str, Any]]) -> int:
        count = self.chars(messages) / self.chars_per_token
        return int(count) + MESSAGE_OVERHEAD * len(messages)

    def learn(
        self, messages: Sequence[Mapping[str, Any]], prompt_tokens: int | None, extra: int = 0
    ) -> None:
        """Correct the ratio from a request the server counted (its usage's prompt tokens).

        ``extra`` is the characters the request sent besides messages (tool definitions).
        """
        if not prompt_tokens:
            return
        text_tokens = prompt_tokens - MESSAGE_OVERHEAD * len(messages)
        chars = self.chars(messages) + extra
        if text_tokens > 0 and chars >= 200:  # too little text says nothing of the ratio
            self.chars_per_token = min(8.0, max(1.0, chars / text_tokens))


def _chars(message: Mapping[str, Any]) -> int:
    total = 0
    for key, value in message.items():
        if key in ("content", "reasoning_content") and isinstance(value, str):
            total += len(value)
        elif isinstance(value, list):  # tool calls, content parts
            total += len(json.dumps(value, ensure_ascii=False))
    return total


def answer_tokens(max_tokens: int | None, context: int | None) -> int | None:
    """The ``max_tokens`` a request asks for: the one set; else, where the context is known,
    the quarter of it a window keeps for the answer (at most the wires' default), so an answer
    that runs on (a small model repeating itself) stops there instead of filling the context.
    None: the wire's default."""
    if max_tokens is not None or not context:
        return max_tokens
    return min(DEFAULT_MAX_TOKENS, context // ANSWER_SHARE)


def with_system(system: str | None, messages: Sequence[Any]) -> list[Any]:
    """The messages of a request: the system prompt first, when there is one."""
    return [{"role": "system", "content": system}, *messages] if system else list(messages)


def exchanges(messages: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """The conversation cut before each user message: each piece a question and its answers.

    Messages before the first user message (none, in a luxx_nb history) join the first piece.
    """
    pieces: list[list[Mapping[str, Any]]] = []
    for message in messages:
        if message.get("role") == "user" or not pieces:
            pieces.append([])
        pieces[-1].append(message)
    return pieces


@dataclass(frozen=True)
class Window:
    """The messages a request sends, and what was left out of the conversation to fit."""

    messages: list[Mapping[str, Any]]
    sent: int
    """Exchanges sent."""
    total: int
    """Exchanges in the conversation."""
    cut_results: int = 0
    cut_chars: int = 0
    cut_current: int = 0
    """Characters cut from the current exchange's own tool results (the last resort)."""
    budget: int | None = None
    """The context, in tokens, the window was fitted to (None: no size was known)."""

    @property
    def first(self) -> int:
        """The number of the first exchange sent (0: the conversation's first)."""
        return self.total - self.sent

    def smaller_than(self, other: Window) -> bool:
        """Whether this window leaves out more than ``other`` did."""
        if self.sent != other.sent:
            return self.sent < other.sent
        return self.cut_chars + self.cut_current > other.cut_chars + other.cut_current

    @property
    def left_out(self) -> bool:
        return self.sent < self.total or self.cut_results > 0 or self.cut_current > 0

    def note(self) -> str:
        """``sent the last 6 of 13 exchanges to fit 4,096 tokens``, or "" when nothing was left."""
        parts = []
        if self.sent < self.total:
            parts.append(f"sent the last {self.sent} of {self.total} exchanges")
        if self.cut_results:
            results = "result" if self.cut_results == 1 else "results"
            parts.append(
                f"cut {self.cut_results} old tool {results} ({self.cut_chars:,} characters)"
            )
        if self.cut_current:
            parts.append(f"cut this turn's tool results by {self.cut_current:,} characters")
        if not parts:
            return ""
        fitted = f" to fit {self.budget:,} tokens" if self.budget else ""
        return " and ".join(parts) + fitted


def fit(
    messages: Sequence[Mapping[str, Any]],
    *,
    context: int | None,
    estimate: TokenEstimate,
    system: str | None = None,
    answer: int | None = None,
    max_history: int | None = None,
    overhead: int = 0,
    limit: int | None = None,
    start: int = 0,
    cut: bool = False,
) -> Window:
    """The window of ``messages`` to send for a model whose context holds ``context`` tokens.

    ``answer`` tokens are left for the reply (``max_tokens``; a quarter of the context when
    None), ``overhead`` for what the request adds besides messages (tool definitions). With no
    ``context`` and no ``limit`` (tokens the messages may take in all) only ``max_history``
    applies. ``start`` (the first exchange an earlier window sent) and ``cut`` (whether it cut
    old tool results) keep a window's beginning where it was while it fits: see
    ``DROP_TO``. Raises ``ContextTooSmallError`` when the system prompt and the current
    exchange alone do not fit.
    """
    pieces = exchanges(messages)
    total = len(pieces)
    first = min(max(0, start), total - 1) if total else 0
    if max_history is not None and max_history >= 1:
        first = max(first, total - max_history)
    pieces = pieces[first:]
    if context is None and limit is None:
        return Window(_join(pieces), sent=len(pieces), total=total)
    budget = limit if limit is not None else 1 << 62
    if context is not None:
        room = answer if answer is not None else context // ANSWER_SHARE
        budget = min(budget, context - min(room, context // 2) - overhead)
    fixed = estimate.tokens(with_system(system, []))

    def size(candidate: list[list[Mapping[str, Any]]]) -> int:
        return fixed + sum(estimate.tokens(piece) for piece in candidate)

    if not cut and size(pieces) <= budget:
        return Window(_join(pieces), sent=len(pieces), total=total, budget=context)
    cuts = [_cut_results(piece) for piece in pieces[:-1]] + [0]  # characters cut, per exchange
    if size(pieces) > budget:  # drop well below the budget, so the next turns keep this start
        while len(pieces) > 1 and size(pieces) > DROP_TO * budget:
            pieces, cuts = pieces[1:], cuts[1:]
    if size(pieces) > budget:  # last, the current exchange's own results, to the room left
        excess = int((size(pieces) - budget) * estimate.chars_per_token * CUT_MARGIN)
        long = [
            m
            for m in pieces[-1]
            if m.get("role") == "tool" and len(str(m.get("content"))) > LONG_RESULT
        ]
        if long:
            chars = sum(len(str(m.get("content"))) for m in long) - excess
            share = chars // len(long) - _MARK_ROOM  # the mark fits in each one's share
            cuts[-1] = _cut_results(pieces[-1], max(CUT_RESULT_TO, share))
    if size(pieces) > budget:
        raise ContextTooSmallError(needed=size(pieces) + overhead, available=budget + overhead)
    results = sum(1 for piece in pieces[:-1] for message in piece if message.get(_CUT_KEY))
    return Window(
        [_unmarked(message) for message in _join(pieces)],
        sent=len(pieces),
        total=total,
        cut_results=results,
        cut_chars=sum(cuts[:-1]),
        cut_current=cuts[-1],
        budget=context,
    )


def _join(pieces: Sequence[Sequence[Mapping[str, Any]]]) -> list[Mapping[str, Any]]:
    return [message for piece in pieces for message in piece]


_CUT_MARK = "\n[… {cut:,} more characters of this tool result were left out to fit the context]"
_MARK_ROOM = 100  # characters ``_CUT_MARK`` takes once formatted, with some to spare
_CUT_KEY = "_luxx_cut"  # marks a message cut here; removed before the window is returned


def _unmarked(message: Mapping[str, Any]) -> Mapping[str, Any]:
    if _CUT_KEY not in message:
        return message
    return {key: value for key, value in message.items() if key != _CUT_KEY}


def _cut_results(piece: list[Mapping[str, Any]], keep: int = CUT_RESULT_TO) -> int:
    """Cut each long tool result of an exchange to its head of ``keep`` characters, in place;
    the characters cut."""
    total = 0
    for i, message in enumerate(piece):
        content = message.get("content")
        if message.get("role") != "tool" or not isinstance(content, str):
            continue
        cut = len(content) - keep
        if cut > len(_CUT_MARK) + 20:
            shortened = content[:keep] + _CUT_MARK.format(cut=cut)
            piece[i] = {**message, "content": shortened, _CUT_KEY: True}
            total += cut
    return total
