"""A realistic run as events, to preview and test views without a model or a network.

It includes hostile strings on purpose (markup in a tool result, an error message, the
answer itself): a view that shows them as text, not markup, is a view that escapes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator

from luxx_nb.events import (
    DoneEvent,
    ErrorEvent,
    Event,
    StatusEvent,
    StepEvent,
    TextBuffer,
    TextStep,
    ThinkingStep,
    ToolCallStep,
    ToolResultStep,
    Usage,
)
from luxx_nb.render.protocol import Renderer

__all__ = ["HOSTILE", "growing", "replay", "sample_events"]

HOSTILE = "<img src=x onerror=alert(1)><script>alert(2)</script>"

THINKING = [
    "The user wants the weather in Paris. ",
    "I should call `get_weather`",
    " with the city.\n\n",
    "Then check the notebook variable too.",
]
ANSWER = [
    "It is **21 °C** and sunny in Paris",
    f" {HOSTILE}.\n\n",
    "| city | temp |\n|:--|--:|\n",
    "| Paris | 21 |\n\n",
    "```python\nprint('hi')\n```\n\n",
    "Energy: $E = mc^2$.",
]


def growing(
    kind: type[ThinkingStep] | type[TextStep], index: int, parts: Iterable[str]
) -> Iterator[StepEvent]:
    """One event per fragment, each with a snapshot of the step, as the agent emits them."""
    buffer = TextBuffer()
    for part in parts:
        buffer.append(part)
        yield StepEvent(step=kind._view(index, buffer), delta=part)


def sample_events() -> list[Event]:
    """Thinking, a tool that works, a tool that fails, an answer, an error, done."""
    return [
        StatusEvent(state="streaming"),
        *growing(ThinkingStep, 0, THINKING),
        StepEvent(
            step=ToolCallStep(
                index=1, id_ref="call_a", name="get_weather", arguments='{"city": "Paris"}'
            )
        ),
        StatusEvent(state="running_tools"),
        StepEvent(
            step=ToolResultStep(
                index=2,
                id_ref="step-1",
                name="get_weather",
                content=f'{{"temp": 21, "note": "{HOSTILE}"}}',
                success=True,
            )
        ),
        StepEvent(
            step=ToolCallStep(
                index=3, id_ref="call_b", name="read_variable", arguments='{"name": "df"}'
            )
        ),
        StepEvent(
            step=ToolResultStep(
                index=4,
                id_ref="step-3",
                name="read_variable",
                content=f"NameError: name 'df' is not defined {HOSTILE}",
                success=False,
                detail=f"Traceback (most recent call last):\n  ...\nNameError: {HOSTILE}",
            )
        ),
        StatusEvent(state="streaming"),
        *growing(TextStep, 5, ANSWER),
        ErrorEvent(message=f"The server closed the stream {HOSTILE}", detail=f"HTTP 502 {HOSTILE}"),
        DoneEvent(
            message_id="msg-1",
            token_count=42,
            usage=Usage(prompt_tokens=120, completion_tokens=42, total_tokens=162),
        ),
    ]


async def replay(
    renderer: Renderer,
    events: Iterable[Event],
    *,
    model: str = "demo-model",
    delay: float = 0.0,
    state: str = "done",
) -> None:
    """Feed ``events`` to ``renderer`` on the running loop, as a chat would."""
    renderer.start(model=model)
    for event in events:
        renderer.handle(event)
        await asyncio.sleep(delay)
    renderer.finish(state)
