"""``Reply``: what one turn of a ``Chat`` produced, as its caller gets it back.

Kept whole when the turn ended on an error or an interrupt: the text and thinking that
arrived, every step, the usage, and the error's words (with the key already hidden).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .events import Step, Usage
from .rounds import Turn

__all__ = ["Reply", "reply_of"]


@dataclass(frozen=True, kw_only=True)
class Reply:
    """What one turn produced, kept whole when it ended on an error or an interrupt."""

    text: str
    thinking: str
    steps: list[Step]
    usage: Usage | None
    token_count: int
    message_id: str | None
    error: str | None = None
    error_detail: str | None = field(default=None, repr=False)
    interrupted: bool = False
    model: str = ""
    stopped: bool = False
    """Ended by ``Chat.stop()`` (the Stop button): what arrived is kept, as for an interrupt."""

    @property
    def state(self) -> str:
        if self.stopped:
            return "stopped"
        return "interrupted" if self.interrupted else "error" if self.error else "done"

    def __repr__(self) -> str:
        text = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        extra = f", error={self.error!r}" if self.error else ""
        return (
            f"Reply({self.state}, text={text!r}, steps={len(self.steps)}, "
            f"tokens={self.token_count}{extra})"
        )


def reply_of(
    turn: Turn, *, interrupted: bool = False, model: str, state: str | None = None
) -> Reply:
    """The reply for a turn that has ended, however it ended (``state``: how, when given)."""
    if state is not None:
        interrupted = state == "interrupted"
    usage = turn.usage
    done = turn.done
    return Reply(
        text=turn.text,
        thinking=turn.thinking,
        steps=list(turn.steps),
        usage=usage,
        token_count=done.token_count
        if done
        else (usage.completion_tokens if usage else len(turn.text) // 4),
        message_id=done.message_id if done else None,
        error=turn.error.message if turn.error else None,
        error_detail=turn.error.detail if turn.error else None,
        interrupted=interrupted,
        model=model,
        stopped=state == "stopped",
    )
